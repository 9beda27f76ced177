"""The imaging champion's out-of-distribution detector (families/imaging/ood.py), on SYNTHETIC lesion images with a
known ground truth: what it is fitted on, how its threshold is set, and that it flags what is unlike those images."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from families.imaging.model import ImageModel, downsampled
from families.imaging.ood import Mahalanobis, far_images, fit_detector, measure, near_shifts
from families.imaging.synthetic import synthetic_lesions

SIZE = 32


class PixelLogistic:
    """A model without layers: the detector's baseline falls back to area-averaged pixels."""

    def fit(self, pixels, codes):
        self.model = LogisticRegression(max_iter=500).fit(downsampled(pixels, 8), codes)
        return self

    def predict_proba(self, pixels):
        return self.model.predict_proba(downsampled(pixels, 8))


@pytest.fixture(scope="module")
def fitted():
    images = synthetic_lesions(360, SIZE, seed=3)
    codes = (images.labels == "normal").astype(int)
    model = ImageModel(PixelLogistic().fit(images.pixels, codes), ["lesion", "normal"], SIZE, 1, 10**6, 0)
    validation = np.arange(len(codes)) % 5 == 0
    detector, trained = fit_detector(model, images.pixels, codes, validation, seed=0, percentile=99.0)
    return model, detector, trained, images.pixels[validation]


def test_the_threshold_is_the_stated_percentile_of_the_served_score_on_validation_images_it_never_trained_on(fitted):
    model, detector, trained, held = fitted
    assert detector.threshold == pytest.approx(np.percentile(detector.scores(model, held), 99.0))
    assert detector.validation_images == len(held) == 72
    assert detector.served in ("reconstruction", "mahalanobis")
    served_auc = np.mean([v for k, v in detector.chosen_by.items() if k.startswith(detector.served)])
    other_auc = np.mean([v for k, v in detector.chosen_by.items() if not k.startswith(detector.served)])
    assert served_auc >= other_auc  # served: the better of the two on validation
    assert len(trained.validation_losses) == trained.stopped.epochs_run
    assert min(trained.validation_losses) < trained.validation_losses[0]  # the autoencoder learned something
    assert "99th percentile" in detector.describe()["how"]


def test_far_off_images_and_corrupted_copies_are_flagged_and_new_ordinary_images_pass(fitted):
    model, detector, _, _ = fitted
    new = synthetic_lesions(120, SIZE, seed=4).pixels  # never seen by the model or the detector
    passed = detector.scores(model, new) <= detector.threshold
    assert passed.mean() >= 0.9
    for name, images in {**far_images(20, SIZE, 1, seed=5), **near_shifts(new, seed=5)}.items():
        if name in ("rotated 90 degrees", "blurred"):
            continue  # a symmetric synthetic organ turned or smoothed is still that organ: no claim here
        flagged = detector.scores(model, images) > detector.threshold
        assert flagged.mean() >= 0.9, name
    table = measure(detector, model, new, seed=6, n_far=20)
    served = table[(table.score == detector.served) & (table["shift"] == "all")].set_index("kind")
    assert served.loc["far", "roc_auc"] >= 0.95
    assert (table.ci_low <= table.roc_auc).all() and (table.roc_auc <= table.ci_high).all()


def test_the_mahalanobis_baseline_is_the_distance_to_the_nearest_class_mean():
    rng = np.random.default_rng(0)
    features = np.r_[rng.normal(0, 1, (200, 3)), rng.normal(10, 1, (200, 3))]
    codes = np.r_[np.zeros(200, int), np.ones(200, int)]
    baseline = Mahalanobis.fit(features, codes)
    first_mean, second_mean, between, far = baseline.score(
        np.array([[0.0, 0, 0], [10, 10, 10], [5, 5, 5], [40, 40, 40]])
    )
    assert max(first_mean, second_mean) < 0.5 < between < far
