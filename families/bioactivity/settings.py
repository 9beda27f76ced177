"""What a user declares for the bioactivity family (its params.yaml block) and the candidates' grids."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, PositiveFloat, PositiveInt, model_validator

from medmaas.settings import CandidateGrids, DataFile, FamilySettings, Frozen

BUNDLED_DATA = Path("data/raw/b3db.csv")


class MoleculeData(DataFile):
    """One row per compound: an id, its SMILES and a binary label."""

    path: Path = BUNDLED_DATA
    id_column: str | None = "compound_id"
    smiles_column: str = "smiles"
    label_column: str = "bbb"
    task: Literal["classification"] = Field(
        "classification", description="a binary label; a numeric one (regression) is not supported yet"
    )
    labels: list[str] = Field(
        ["BBB+", "BBB-"], min_length=2, max_length=2, description="the two label values, as they are in the file"
    )
    positive_label: str = "BBB+"
    min_rows: PositiveInt = 100
    max_smiles_length: PositiveInt = Field(400, description="a longer SMILES is refused (the gate and the service)")

    @model_validator(mode="after")
    def _positive_is_a_label(self):
        if self.positive_label not in self.labels:
            raise ValueError(f"positive_label must be one of labels {self.labels}")
        return self


class Featurisation(Frozen):
    """Morgan (ECFP-like) count fingerprints plus RDKit 2D descriptors, computed once per canonical SMILES."""

    radius: int = Field(2, ge=1, le=4, description="2 is ECFP4")
    n_bits: int = Field(1024, ge=64, le=8192)
    descriptors: bool = Field(
        True, description="add the RDKit descriptors in chemistry.DESCRIPTORS (size, polarity, H-bonding, logP)"
    )


class MoleculeSplit(Frozen):
    """How the held-out molecules are drawn. The primary method gives the headline figure; the other two are refitted
    beside it for every candidate and reported by name, so a reader sees how much an easier split flatters a model."""

    method: Annotated[
        Literal["scaffold_sorted", "scaffold_grouped", "random"],
        BeforeValidator(lambda v: "scaffold_grouped" if v == "scaffold" else v),
    ] = Field(
        "scaffold_sorted",
        description=(
            "scaffold_sorted: the MoleculeNet scaffold split (Bemis-Murcko scaffold sets by size, the largest to "
            "training, the rarest "
            "held out; deterministic); scaffold_grouped: scaffold groups drawn at random, class-stratified "
            "(scikit-learn's "
            "StratifiedGroupKFold; `scaffold` is read as this); random: molecules drawn at random, stratified "
            "(scaffolds leak)"
        ),
    )
    test_fraction: float = Field(0.2, gt=0.05, lt=0.5)
    cv_folds: int = Field(3, ge=2, le=10, description="tuning folds inside the training side, grouped by scaffold")
    grouped_folds: int = Field(
        5, ge=2, le=10, description="folds of the scaffold_grouped figure reported beside the primary (mean and SD)"
    )


class Applicability(Frozen):
    """A molecule whose nearest training neighbour (Tanimoto on Morgan bits) is less similar than this is flagged."""

    min_similarity: float = Field(0.3, ge=0.0, le=1.0)


class LogisticGrid(Frozen):
    C: list[PositiveFloat] = [0.03, 0.1, 0.3]


class RandomForestGrid(Frozen):
    n_estimators: list[PositiveInt] = [300]
    min_samples_leaf: list[PositiveInt] = [1]
    max_features: list[PositiveFloat | Literal["sqrt", "log2"]] = ["sqrt"]


class HistBoostingGrid(Frozen):
    learning_rate: list[PositiveFloat] = [0.1]
    max_iter: list[PositiveInt] = [300]
    max_leaf_nodes: list[PositiveInt] = [31]


class MlpGrid(Frozen):
    hidden: list[PositiveInt] = [256]
    dropout: list[float] = [0.2]
    learning_rate: list[PositiveFloat] = [1e-3]
    max_epochs: PositiveInt = 60
    patience: PositiveInt = 6


class MoleculeGrids(CandidateGrids):
    logistic_regression: LogisticGrid | None = None
    random_forest: RandomForestGrid | None = None
    hist_gradient_boosting: HistBoostingGrid | None = None
    mlp: MlpGrid | None = None


class ServingLimits(Frozen):
    max_explained_atoms: PositiveInt = Field(
        100, description="/explain refuses larger molecules (one prediction per atom)"
    )


class BioactivitySettings(FamilySettings):
    data: MoleculeData = MoleculeData()
    features: Featurisation = Featurisation()
    split: MoleculeSplit = MoleculeSplit()
    applicability: Applicability = Applicability()
    explain: ServingLimits = ServingLimits()
    decision_threshold: float = Field(0.5, gt=0.0, lt=1.0)
    candidates: MoleculeGrids = Field(
        default_factory=MoleculeGrids.every_default, description="left out: every candidate with its default grid"
    )
