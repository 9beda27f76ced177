"""The images of a split's side (pixels, labels, groups, hashes) and the groups a leak-free split keeps together."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from blocks.grouping import connected_groups
from families.imaging.near_duplicates import near_duplicate_pairs, parsed


@dataclass
class Images:
    """One side of a split: prepared pixels, class codes (index into labels), split groups, and for an npz file's
    training side which rows are its official validation images."""

    pixels: np.ndarray
    codes: np.ndarray
    groups: np.ndarray
    rows: np.ndarray  # positions in the data set (the gate's numbering)
    validation: np.ndarray | None = None
    hashes: np.ndarray | None = None  # near_duplicates' (n, kinds, turns) perceptual hashes
    distance_to_training: np.ndarray | None = (
        None  # held-out side: Hamming distance to the nearest training image (the memorisation audit)
    )

    def take(self, rows: np.ndarray) -> Images:
        def part(values):
            return None if values is None else values[rows]

        return Images(
            self.pixels[rows],
            self.codes[rows],
            self.groups[rows],
            self.rows[rows],
            part(self.validation),
            part(self.hashes),
            part(self.distance_to_training),
        )


def split_groups(table: pd.DataFrame, radius: int) -> np.ndarray:
    """Images joined by a shared patient, an identical file or near-duplicate hashes within ``radius``, transitively:
    each connected component is one group, so no patient and no near-duplicate sits on both sides."""
    hashes, present = parsed(table["near_hashes"])
    return connected_groups(
        {c: table[c] for c in ("patient", "content_sha1") if c in table},
        len(table),
        pairs=near_duplicate_pairs(hashes, present, radius),
    )
