"""The clinical text family's data: the texts as arrays, and the two bundled sets (ICD-10-CM chapters, drug review
texts)."""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pandas as pd

from blocks.drug_reviews import read_drug_reviews


@dataclass
class Texts:
    """One side of a split: de-identified texts, label codes (index into the labels), split groups; on the training
    side, which rows are the validation split."""

    texts: np.ndarray
    codes: np.ndarray
    groups: np.ndarray
    labels: list[str]
    validation: np.ndarray | None = None

    def take(self, rows: np.ndarray) -> Texts:
        return Texts(
            self.texts[rows],
            self.codes[rows],
            self.groups[rows],
            self.labels,
            None if self.validation is None else self.validation[rows],
        )

    def validation_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions of the rows that fit and of the validation rows (the training side, once the split set them)."""
        if self.validation is None:
            raise ValueError("these texts carry no validation split (only the training side of a split does)")
        return np.flatnonzero(~self.validation), np.flatnonzero(self.validation)


def icd10cm_chapters() -> pd.DataFrame:
    """ICD-10-CM's code descriptions with their chapter (by its code range) and 3-character category. Kept: the leaves
    once the 7th-character extensions are set aside, so "S52.521" stays and its "initial encounter" / "sequela" variants
    go; chapter 22 (U codes, special purposes) is dropped, and so are the few descriptions found under two chapters."""
    import simple_icd_10_cm as icd

    rows = []
    for code in icd.get_all_codes(with_dots=True):
        if not icd.is_category_or_subcategory(code) or icd.is_extended_subcategory(code):
            continue
        if any(not icd.is_extended_subcategory(child) for child in icd.get_children(code)):
            continue
        chapter = icd.get_ancestors(code)[-1]
        title = icd.get_description(chapter)
        if chapter == "22":
            continue
        rows.append((code, icd.get_description(code), title[title.rindex("(") + 1 : -1], code[:3], title))
    frame = pd.DataFrame(rows, columns=["code", "description", "chapter", "category", "chapter_title"]).drop_duplicates(
        "code"
    )
    ambiguous = (
        frame.groupby("description")["chapter"].transform("nunique") > 1
    )  # the same words under two chapters: no answer to learn
    return frame[~ambiguous].reset_index(drop=True)


def drug_review_texts() -> pd.DataFrame:
    """The Drugs.com reviews of the recommendation family, as text and sentiment (negative / neutral / positive)."""
    reviews = read_drug_reviews()
    text = reviews["review"].map(lambda t: html.unescape(str(t)).strip().strip('"').strip())
    return pd.DataFrame(
        {
            "review_id": [f"R{n:04d}" for n in range(len(reviews))],
            "review": text.to_numpy(),
            "sentiment": reviews["rating"].to_numpy(),
        }
    )
