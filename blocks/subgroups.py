"""Held-out metrics per declared subgroup, for any family whose held-out rows carry the subgroup's column.

A family says how to read a column's values per held-out row, how to take a part of its held-out set, and what limits a
part's precision (rows, the smaller class, events, patients); the table and its flags are the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from medmaas.settings import Frozen

FEW = 30  # fewer informative units than this: the group's CI is wide and the card says so


class DeclaredSubgroups(Frozen):
    """The data settings' part that names the columns whose groups get their own held-out metrics."""

    subgroups: list[str] = Field(
        default_factory=list, description="columns whose groups get their own held-out metrics in the model card"
    )
    bands: dict[str, list[float]] = Field(
        default_factory=dict, description="edges that cut a numeric subgroup column into bands, e.g. {age: [40, 60]}"
    )


def banded(values: pd.Series, edges: list[float] | None) -> pd.Series:
    """A column's values as groups: as they are, or cut into bands at ``edges`` (left-closed)."""
    if not edges:
        return values.astype(object)
    bounds = [-np.inf, *sorted(edges), np.inf]
    names = [
        f"< {bounds[1]:g}",
        *(f"{lo:g}-{hi:g}" for lo, hi in zip(bounds[1:-2], bounds[2:-1])),
        f">= {bounds[-2]:g}",
    ]
    return pd.cut(values.astype(float), bounds, right=False, labels=names).astype(object)


def subgroup_table(
    columns: list[str],
    bands: dict[str, list[float]],
    shown: list[str],
    values_of: Callable[[str], pd.Series | None],
    metrics_of: Callable[[np.ndarray], dict[str, Any]],
    informative_count: Callable[[np.ndarray], tuple[int, str]],
) -> pd.DataFrame | None:
    """Per subgroup: n, the ``shown`` metrics with CIs, the informative count and a flag under ``FEW``; failures named.

    ``values_of(column)``: the column per held-out row, None when the model does not see it; ``metrics_of(members)`` and
    ``informative_count(members)`` read the held-out rows selected by a boolean mask.
    """
    if not columns:
        return None
    rows = []
    for column in columns:
        values = values_of(column)
        if values is None:
            rows.append({"subgroup": column, "note": "not among the model's inputs, so it cannot be grouped on"})
            continue
        try:
            groups = banded(values, bands.get(column))
        except (TypeError, ValueError) as error:  # e.g. bands on a text column
            rows.append({"subgroup": column, "note": f"cannot be grouped: {type(error).__name__}"})
            continue
        for value in groups.dropna().unique():
            members = (groups == value).to_numpy()
            row: dict[str, Any] = {"subgroup": column, "value": str(value), "n": int(members.sum())}
            try:
                metrics = metrics_of(members)
                row |= {
                    m: str(metrics[m]) if np.isfinite(metrics[m].value) else "n/a (undefined in this group)"
                    for m in shown
                }
            except Exception as error:  # e.g. one class only in the group: the metric does not exist there
                row |= {m: f"n/a ({type(error).__name__})" for m in shown}
            count, what = informative_count(members)
            row[what] = count
            row["note"] = f"{what} < {FEW}: read with care" if count < FEW else ""
            rows.append(row)
    return pd.DataFrame(rows)
