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
