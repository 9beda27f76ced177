"""Online clinical text: the clinical text champion behind a typed HTTP API.

    bentoml serve serving.clinical_text:ClinicalTextService          (or: medmaas serve clinical_text)

Every text is de-identified (blocks/deidentify.py) before the model sees it, and nothing of a text is ever logged:
the audit line names the route, the key, the model and the status only. ``/deidentify`` returns the de-identified
texts themselves; ``/explain`` shows the words of the de-identified text with their weights.
"""

from __future__ import annotations

from typing import Annotated, Any

import bentoml
import numpy as np
from pydantic import AfterValidator, BaseModel, Field, Strict

from blocks.deidentify import PLACEHOLDERS, Deidentifier
from families.clinical_text.family import ClinicalText
from serving import tracing
from serving.base import Answer, answered_by, champion_service
from serving.bodies import strict_api
from serving.champion import resolve_champion

CHAMPION = resolve_champion("clinical_text", ClinicalText)
SETTINGS = CHAMPION.family.settings
LIMITS = SETTINGS.serving


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must hold some text")
    return text


Text = Annotated[
    str,
    Strict(),
    Field(
        min_length=1,
        max_length=SETTINGS.data.max_characters,
        examples=["Seen by Dr. Jane Smith for type 2 diabetes with nephropathy"],
    ),
    AfterValidator(_not_blank),
]
Texts = Annotated[list[Text], Field(min_length=1, max_length=LIMITS.max_items_per_request)]


class LabelProbability(BaseModel):
    label: str
    probability: float


class Classification(Answer):
    predicted: str
    top: list[LabelProbability] = Field(description="the most probable labels, most probable first")
    identifiers_replaced: int = Field(description="identifiers replaced in the text before it was classified")


class WordWeight(BaseModel):
    word: str = Field(description="a word of the de-identified text (identifiers appear as [NAME], [DATE], ...)")
    weight: float = Field(description="the predicted label's probability minus its probability without this word")


class Explanation(Answer):
    predicted: str
    probability: float
    words: list[WordWeight] = Field(description="in the text's order")
    method: str


class DeidentifiedText(BaseModel):
    text: str = Field(description="the text with each identifier replaced by a typed placeholder")
    replaced: dict[str, int] = Field(description="how many identifiers of each type were replaced")


@champion_service("clinical_text", LIMITS, CHAMPION)
class ClinicalTextService:
    def __init__(self) -> None:
        with tracing.step("clinical_text", "load model", **tracing.naming(CHAMPION.registered_model, CHAMPION.version)):
            self.model = CHAMPION.load()
        self.deidentifier = Deidentifier()

    @strict_api()
    def classify(
        self, texts: Texts, top_k: Annotated[int, Strict(), Field(ge=1, le=LIMITS.max_top_k)] = SETTINGS.top_k
    ) -> list[Classification]:
        """The most probable labels per text, in request order; each text is de-identified first."""
        with tracing.step("clinical_text", "de-identify", items=len(texts)):
            runs = self.deidentifier.run(texts)
        with tracing.step("clinical_text", "forward pass", items=len(runs)):
            probability = self.model.predict_proba([run.text for run in runs])
        order = np.argsort(-probability, axis=1, kind="stable")[:, : min(top_k, len(self.model.classes))]
        return [
            Classification(
                predicted=self.model.classes[best[0]],
                identifiers_replaced=len(run.found),
                top=[LabelProbability(label=self.model.classes[k], probability=float(row[k])) for k in best],
                **answered_by(CHAMPION),
            )
            for run, row, best in zip(runs, probability, order)
        ]

    @strict_api()
    def explain(self, text: Text) -> Explanation:
        """Why: per word of the de-identified text, how much the predicted label's probability falls without it
        (occlusion)."""
        if len(text.split()) > LIMITS.max_explained_words:  # counted as sent: one prediction per word
            raise bentoml.exceptions.InvalidArgument(
                f"text: more than {LIMITS.max_explained_words} words; /explain takes at most that many"
            )
        cleaned = self.deidentifier.replace([text])[0]
        label = int(self.model.predict_proba([cleaned])[0].argmax())
        words, weights, probability = self.model.word_weights(cleaned, label)
        return Explanation(
            predicted=self.model.classes[label],
            probability=probability,
            words=[WordWeight(word=w, weight=float(v)) for w, v in zip(words, weights)],
            method="occlusion: the predicted label's probability minus its probability with the word left out",
            **answered_by(CHAMPION),
        )

    @strict_api()
    def deidentify(self, texts: Texts) -> list[DeidentifiedText]:
        """Each text with names, dates, phone numbers, ids, addresses and other Safe Harbor identifiers replaced."""
        return [DeidentifiedText(text=run.text, replaced=dict(run.counts())) for run in self.deidentifier.run(texts)]

    @strict_api()
    def model_info(self) -> dict[str, Any]:
        """Which model answers: version, training data hash, held-out metrics (grouped split), model card, limits."""
        return {
            **CHAMPION.info,
            "labels": list(self.model.classes),
            "top_k": SETTINGS.top_k,
            "max_top_k": LIMITS.max_top_k,
            "max_characters": SETTINGS.data.max_characters,
            "max_texts_per_request": LIMITS.max_items_per_request,
            "placeholders": sorted(set(PLACEHOLDERS.values())),
        }
