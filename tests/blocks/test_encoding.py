"""FeatureMatrix: raw values <-> the numeric matrix the explainer and the array endpoint use."""

import numpy as np
import pandas as pd

from blocks.encoding import FeatureMatrix


def test_mixed_kinds_survive_the_round_trip_and_an_invalid_code_becomes_missing():
    matrix = FeatureMatrix(
        {
            "feature_names": ["age", "race", "smoker"],
            "kinds": {"age": "numeric", "race": "categorical", "smoker": "boolean"},
            "categories": {"race": ["black", "other", "white"]},
        }
    )
    frame = pd.DataFrame({"age": [23.0, 41.5], "race": ["white", "black"], "smoker": [True, False]})
    numbers = matrix.to_matrix(frame)
    assert numbers.tolist() == [[23.0, 2.0, 1.0], [41.5, 0.0, 0.0]]
    back = matrix.to_frame(numbers)
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert (
        back["smoker"].dtype == bool
        and back["race"].dtype == object
        and list(back.columns) == ["age", "race", "smoker"]
    )
    assert matrix.to_frame(np.array([[30.0, 7.0, 1.0]]))["race"].tolist() == [None]
