"""Groups for a leak-free split: rows joined by any shared key (a patient, an identical file or text, a near-duplicate
hash), transitively. Each connected component is one group, and a group never sits on both sides of a split."""

from __future__ import annotations

import numpy as np
import pandas as pd


def connected_groups(
    keys: dict[str, pd.Series], rows: int, pairs: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """A group number per row; ``keys`` maps a key's name to its value per row (missing values join nothing); ``pairs``
    (rows, rows) joins rows found alike by a distance rather than an equal key."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    series = [
        pd.Series(values).reset_index(drop=True).astype("string").radd(f"{name}:") for name, values in keys.items()
    ]
    if not series and pairs is None:
        return np.arange(rows)
    starts, ends, size = [], [], rows
    if series:  # each row joined to a node per key value it holds
        stacked = pd.concat(series, keys=range(len(series))).dropna()
        key_codes, _ = pd.factorize(stacked)
        starts.append(stacked.index.get_level_values(1).to_numpy())
        ends.append(rows + key_codes)
        size += int(key_codes.max()) + 1 if len(key_codes) else 0
    if pairs is not None:
        starts.append(pairs[0])
        ends.append(pairs[1])
    start, end = np.concatenate(starts), np.concatenate(ends)
    graph = coo_matrix((np.ones(len(start)), (start, end)), shape=(size, size))
    return np.asarray(connected_components(graph, directed=False)[1][:rows])


def grouped_folds(labels: np.ndarray, groups: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(training rows, held-out rows) of each of ``folds`` label-stratified folds in which a group is never split
    (scikit-learn's StratifiedGroupKFold, shuffled with ``seed``)."""
    from sklearn.model_selection import StratifiedGroupKFold

    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels, groups))


def grouped_holdout(
    labels: np.ndarray, groups: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """One hold-out of about ``test_fraction`` of the rows by group: the first of ``round(1 / test_fraction)`` grouped
    folds."""
    from sklearn.model_selection import StratifiedGroupKFold

    splitter = StratifiedGroupKFold(n_splits=max(2, round(1 / test_fraction)), shuffle=True, random_state=seed)
    train, test = next(splitter.split(np.zeros(len(labels)), labels, groups))
    return np.asarray(train), np.asarray(test)


def stratified_subset(labels: np.ndarray, limit: int | None, seed: int) -> np.ndarray | None:
    """The rows, in order, of a seeded, label-stratified subset of at most ``limit`` rows (a CPU budget); None: all."""
    if limit is None or limit >= len(labels):
        return None
    from sklearn.model_selection import train_test_split

    rows, _ = train_test_split(np.arange(len(labels)), train_size=limit, stratify=labels, random_state=seed)
    return np.sort(rows)


FIRST_ROWS = 10  # a failed check names this many rows, by position


def first_of_each_group(groups: np.ndarray) -> np.ndarray:
    """The first row of each group, in row order (one observation per group, e.g. per scan among its near-copies)."""
    _, first = np.unique(groups, return_index=True)
    return np.sort(first)


def rows_by_position(mask: np.ndarray, noun: str = "rows") -> str:
    """How a gate names failing rows: how many, and the first by position (never by a value, which may identify a
    patient)."""
    rows = np.flatnonzero(mask)
    return f"{len(rows)} {noun}; the first by position (0-based): {', '.join(map(str, rows[:FIRST_ROWS]))}"
