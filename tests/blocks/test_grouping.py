"""The split helpers every grouped family shares (blocks/grouping.py)."""

import numpy as np
import pandas as pd

from blocks.grouping import connected_groups, grouped_folds, grouped_holdout, rows_by_position, stratified_subset


def _data(rows=400, seed=0):
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 80, rows)
    labels = (groups % 3 == 0).astype(int)  # a label shared within a group, about a third positive
    return labels, groups


def test_a_grouped_holdout_never_splits_a_group_keeps_the_share_and_the_label_mix():
    labels, groups = _data()
    train, test = grouped_holdout(labels, groups, 0.25, seed=7)
    assert set(groups[train]).isdisjoint(groups[test]) and len(train) + len(test) == len(labels)
    assert 0.15 < len(test) / len(labels) < 0.35
    assert abs(labels[test].mean() - labels.mean()) < 0.1
    again = grouped_holdout(labels, groups, 0.25, seed=7)
    assert np.array_equal(again[1], test) and not np.array_equal(grouped_holdout(labels, groups, 0.25, seed=8)[1], test)


def test_grouped_folds_cover_every_row_once_and_the_first_is_the_holdout():
    labels, groups = _data()
    folds = grouped_folds(labels, groups, 4, seed=3)
    held = np.concatenate([test for _, test in folds])
    assert len(folds) == 4 and sorted(held.tolist()) == list(range(len(labels)))
    assert all(set(groups[train]).isdisjoint(groups[test]) for train, test in folds)
    assert np.array_equal(folds[0][1], grouped_holdout(labels, groups, 0.25, seed=3)[1])


def test_rows_by_position_counts_them_and_names_only_the_first_ten_positions():
    mask = np.zeros(50, dtype=bool)
    mask[[3, 5, *range(20, 40)]] = True
    text = rows_by_position(mask, "images")
    assert text.startswith("22 images; the first by position (0-based): 3, 5, 20,") and text.endswith(", 27")


def test_rows_sharing_any_key_are_one_group():
    keys = {"patient": pd.Series(["a", "a", "b", None]), "file": pd.Series(["x", "y", "y", "z"])}
    groups = connected_groups(keys, 4)
    assert groups[0] == groups[1] == groups[2] != groups[3]


def test_a_stratified_subset_keeps_the_label_mix_in_row_order_and_none_means_all():
    labels = np.array([0] * 300 + [1] * 100)
    rows = stratified_subset(labels, 40, seed=1)
    assert len(rows) == 40 and np.all(np.diff(rows) > 0) and labels[rows].sum() == 10
    assert np.array_equal(rows, stratified_subset(labels, 40, seed=1)) and stratified_subset(labels, None, 1) is None
    assert stratified_subset(labels, 400, 1) is None
