"""Online bioactivity: the bioactivity champion behind a typed HTTP API.

    bentoml serve serving.bioactivity:BioactivityService          (or: medmaas serve bioactivity)

SMILES in; the probability of the positive label (BBB+ for B3DB), the canonical SMILES and the applicability domain out:
the molecule's highest ECFP4 Tanimoto similarity to a training molecule, and whether it reaches the declared threshold
(below it the answer is an extrapolation, and says so).
"""

from __future__ import annotations

from typing import Annotated, Any

import bentoml
import numpy as np
from pydantic import AfterValidator, BaseModel, Field, Strict

from families.bioactivity.chemistry import atom_symbols, canonical
from families.bioactivity.family import Bioactivity
from serving import tracing
from serving.base import Answer, answered_by, champion_service
from serving.bodies import strict_api
from serving.champion import resolve_champion

CHAMPION = resolve_champion("bioactivity", Bioactivity)
SETTINGS = CHAMPION.family.settings
LIMITS = SETTINGS.serving
POSITIVE = SETTINGS.data.positive_label


def _canonical(smiles: str) -> str:
    found = canonical(smiles)
    if found is None:
        raise ValueError("not a SMILES that RDKit can parse and sanitise")
    return found


Smiles = Annotated[
    str,
    Strict(),
    Field(min_length=1, max_length=SETTINGS.data.max_smiles_length, examples=["CN1CCC[C@H]1c1cccnc1"]),
    AfterValidator(_canonical),
]


class Applicability(BaseModel):
    max_similarity: float = Field(description="highest Tanimoto similarity (ECFP4 bits) to a training molecule")
    in_domain: bool = Field(
        description="max_similarity reaches min_similarity; false: unlike anything trained on, an extrapolation"
    )
    min_similarity: float


class MoleculePrediction(Answer):
    canonical_smiles: str
    probability: float = Field(description=f"probability of {POSITIVE}")
    predicted: str
    applicability: Applicability


class AtomContribution(BaseModel):
    atom: int = Field(description="the atom's index in canonical_smiles (RDKit's order)")
    symbol: str
    contribution: float = Field(
        description=f"probability of {POSITIVE} minus the probability with this atom's fingerprint environments left "
        "out"
    )


class MoleculeExplanation(Answer):
    canonical_smiles: str
    probability: float
    atoms: list[AtomContribution] = Field(description="largest effect first")
    method: str


@champion_service("bioactivity", LIMITS, CHAMPION)
class BioactivityService:
    def __init__(self) -> None:
        with tracing.step("bioactivity", "load model", **tracing.naming(CHAMPION.registered_model, CHAMPION.version)):
            self.model = CHAMPION.load()
        self.threshold = SETTINGS.applicability.min_similarity

    @strict_api()
    def predict(
        self, molecules: Annotated[list[Smiles], Field(min_length=1, max_length=LIMITS.max_items_per_request)]
    ) -> list[MoleculePrediction]:
        """Probability of the positive label and the applicability domain, per molecule (SMILES), in request order."""
        with tracing.step("bioactivity", "forward pass", items=len(molecules)):
            probability = self.model.predict_proba(molecules)[:, 1]
        with tracing.step("bioactivity", "applicability domain", items=len(molecules)):
            similarity = self.model.similarity(molecules)
        return [
            MoleculePrediction(
                canonical_smiles=smiles,
                probability=float(p),
                predicted=POSITIVE if p >= SETTINGS.decision_threshold else self.model.classes[0],
                applicability=Applicability(
                    max_similarity=float(s), in_domain=bool(s >= self.threshold), min_similarity=self.threshold
                ),
                **answered_by(CHAMPION),
            )
            for smiles, p, s in zip(molecules, probability, similarity)
        ]

    @strict_api()
    def explain(self, molecule: Smiles) -> MoleculeExplanation:
        """Why: per atom, how much the probability falls when the fingerprint environments around it are left out
        (the similarity-map weights of Riniker and Landrum, 2013)."""
        symbols = atom_symbols(molecule)
        if len(symbols) > SETTINGS.explain.max_explained_atoms:
            raise bentoml.exceptions.InvalidArgument(
                f"molecule: {len(symbols)} atoms; /explain takes at most {SETTINGS.explain.max_explained_atoms}"
            )
        full = float(self.model.predict_proba([molecule])[0, 1])
        without = self.model.estimator.predict_proba(self.model.featurizer.without_each_atom(molecule))[:, 1]
        weights = full - without
        order = np.argsort(-np.abs(weights), kind="stable")
        return MoleculeExplanation(
            canonical_smiles=molecule,
            probability=full,
            atoms=[AtomContribution(atom=int(i), symbol=symbols[i], contribution=float(weights[i])) for i in order],
            method="atom removal on the Morgan fingerprint (descriptors kept)",
            **answered_by(CHAMPION),
        )

    @strict_api()
    def model_info(self) -> dict[str, Any]:
        """Which model answers: version, training data hash, held-out metrics (scaffold split), model card, domain
        threshold."""
        return {
            **CHAMPION.info,
            "labels": self.model.classes,
            "positive_label": POSITIVE,
            "min_similarity": self.threshold,
            "training_molecules": int(len(self.model.domain)),
        }
