"""Groups for a leak-free split: rows joined by any shared key (a patient, an identical file or text, a near-duplicate
hash), transitively. Each connected component is one group, and a group never sits on both sides of a split."""

from __future__ import annotations

import numpy as np
import pandas as pd


def connected_groups(keys: dict[str, pd.Series], rows: int, pairs: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """A group number per row; ``keys`` maps a key's name to its value per row (missing values join nothing); ``pairs``
    (rows, rows) joins rows found alike by a distance rather than an equal key."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    series = [pd.Series(values).reset_index(drop=True).astype("string").radd(f"{name}:") for name, values in keys.items()]
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
    return connected_components(graph, directed=False)[1][:rows]
