"""The RBF SVM stays exact on small tables and approximates the same kernel on large ones, with the same quality."""

import numpy as np
from sklearn.datasets import make_moons
from sklearn.metrics import roc_auc_score
from sklearn.svm import SVC

from families.diagnosis.candidates import RbfSvm


def test_rbf_svm_is_exact_below_the_row_limit_and_approximates_the_kernel_above():
    X, y = make_moons(3000, noise=0.3, random_state=0)
    test_X, test_y = make_moons(1000, noise=0.3, random_state=1)
    exact = RbfSvm(C=1.0, max_exact_rows=10_000).fit(X, y)
    assert isinstance(exact.model_, SVC)
    np.testing.assert_allclose(exact.decision_function(test_X), SVC(C=1.0).fit(X, y).decision_function(test_X))
    approximate = RbfSvm(C=1.0, max_exact_rows=1000, random_state=0).fit(X, y)
    assert not isinstance(approximate.model_, SVC)  # a linear SVM on Nystroem features
    exact_auc, approximate_auc = (roc_auc_score(test_y, m.decision_function(test_X)) for m in (exact, approximate))
    assert approximate_auc > 0.9 and abs(exact_auc - approximate_auc) < 0.02  # a non-linear boundary, learnt either way


def test_the_representation_candidates_train_as_any_other_and_hold_a_floor_on_wdbc(wdbc_csv):
    """PCA and the denoising autoencoder, each 8 numbers wide, then logistic regression: opt-in, named in a block."""
    from families import family_class, load_params
    from families.diagnosis.candidates import ClassifierGrids

    params = load_params()
    grids = ClassifierGrids.model_validate({"pca_logistic_regression": {}, "dae_logistic_regression": {"C": [1.0]}})
    assert "dae_logistic_regression" not in ClassifierGrids.every_default().enabled()  # never trained by default
    settings = params.families["diagnosis"]
    data = settings.data.model_copy(update={"path": wdbc_csv})  # a fresh clone has no data/raw until the pipeline runs
    settings = settings.model_copy(update={"candidates": grids, "data": data})
    family = family_class("diagnosis")(settings, params.project.seed)
    split = family.split(family.load())
    assert family.candidate_names() == ["pca_logistic_regression", "dae_logistic_regression"]
    for name in family.candidate_names():
        fitted = family.fit(name, split.train)
        assert fitted.model[:-1].transform(split.test[0].head(3)).shape == (3, 8)  # prepare, then represent
        assert family.evaluate(fitted.model, split.test).metrics["roc_auc"].value >= 0.97, name
    curve = fitted.curves["represent_validation_loss"]  # the autoencoder's loss per epoch, logged on its MLflow run
    assert len(curve) == fitted.model.named_steps["represent"].epochs_run_ and min(curve) < curve[0]
