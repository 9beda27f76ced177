"""The denoising autoencoder transformer (blocks/autoencoder.py): it learns structure from features alone, repeats
itself under a seed, and fits scikit-learn's pipelines and searches."""

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from blocks.autoencoder import DenoisingAutoencoder


def low_rank(n: int, seed: int):
    """40 noisy features driven by 3 hidden factors; the label by the first factor."""
    rng = np.random.default_rng(seed)
    factors = rng.normal(size=(n, 3))
    features = factors @ rng.normal(size=(3, 40)) + 0.3 * rng.normal(size=(n, 40))
    return features, (factors[:, 0] > 0).astype(int)


def test_the_code_keeps_what_the_hidden_factors_carry_and_drops_the_noise():
    rows, labels = low_rank(900, 0)
    X, y, test_X, test_y = rows[:600], labels[:600], rows[600:], labels[600:]
    autoencoder = DenoisingAutoencoder(code=3, hidden=32, random_state=0).fit(X)
    code = autoencoder.transform(X)
    assert code.shape == (600, 3)
    model = LogisticRegression().fit(code, y)
    assert roc_auc_score(test_y, model.predict_proba(autoencoder.transform(test_X))[:, 1]) >= 0.95
    losses = autoencoder.validation_losses_
    assert len(losses) == autoencoder.epochs_run_ and min(losses) < 0.5 * losses[0]


def test_a_seed_gives_the_same_code_and_another_seed_another():
    X, _ = low_rank(200, 1)
    first, again, other = (DenoisingAutoencoder(code=4, random_state=s).fit(X).transform(X) for s in (5, 5, 6))
    assert np.array_equal(first, again) and not np.allclose(first, other)


def test_it_is_a_step_of_a_pipeline_that_a_grid_search_clones_and_refits():
    X, y = low_rank(300, 2)
    search = GridSearchCV(
        make_pipeline(DenoisingAutoencoder(code=3, max_epochs=30, random_state=0), LogisticRegression()),
        {"logisticregression__C": [0.1, 1.0]},
        cv=3,
        scoring="roc_auc",
    ).fit(X, y)
    assert search.best_score_ > 0.9
    assert clone(search.best_estimator_).get_params()["denoisingautoencoder__code"] == 3
