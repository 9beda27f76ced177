"""What a user declares for the clinical text family (its params.yaml block) and the candidates' settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from medmaas.settings import CandidateGrids, DataFile, FamilySettings, Frozen, ServingSettings

BUNDLED_DATA = Path("data/raw/icd10cm_chapters.csv")
DRUG_REVIEW_TEXTS = "drug_review_texts.csv"  # written beside the bundled file by the same export


class TextData(DataFile):
    """One row per text: its label, and optionally a group (a patient, an ICD category) kept on one side of the
    split."""

    path: Path = BUNDLED_DATA
    id_column: str | None = "code"
    text_column: str = "description"
    label_column: str = "chapter"
    labels: list[str] | None = Field(
        None, min_length=2, description="the label values as they are in the file; left out: whatever the file holds"
    )
    group_column: str | None = Field(
        "category", description="rows sharing a value never sit on both sides of the split (a patient, an ICD category)"
    )
    min_rows: PositiveInt = 200
    min_texts_per_label: PositiveInt = Field(10, description="a rarer label fails the gate")
    max_characters: PositiveInt = Field(
        5000, le=100_000, description="a longer text fails the gate (and is refused by the service)"
    )

    @model_validator(mode="after")
    def _distinct(self):
        if self.labels is not None and len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be distinct")
        if self.text_column == self.label_column:
            raise ValueError("text_column and label_column must differ")
        return self


class TextSplit(Frozen):
    test_fraction: float = Field(0.2, gt=0.05, lt=0.5)
    validation_fraction: float = Field(
        0.1,
        gt=0.0,
        lt=0.5,
        description="of the training side, by group: early stopping, tuning and the quantisation rule",
    )


class LinearGrid(Frozen):
    """TF-IDF of word 1-2-grams and character 2-5-grams (within words), then a linear classifier; C is tuned on the
    validation split."""

    C: list[PositiveFloat] = [1.0, 10.0]
    min_df: PositiveInt = Field(2, description="a term in fewer training texts is dropped")


class EmbeddingGrid(Frozen):
    """Frozen all-MiniLM-L6-v2 sentence embeddings (mean pooled, normalised), then logistic regression."""

    C: list[PositiveFloat] = [1.0, 10.0]
    max_length: PositiveInt = Field(128, le=512)
    batch_size: PositiveInt = 64


class FineTuneSettings(Frozen):
    """all-MiniLM-L6-v2 with a linear head on its mean-pooled embedding: the head first fitted on the frozen embeddings
    (logistic regression), then everything fine-tuned (AdamW), with early stopping on the validation split."""

    learning_rate: PositiveFloat = 2e-5
    weight_decay: float = Field(0.01, ge=0)
    batch_size: PositiveInt = 16
    max_length: PositiveInt = Field(
        128, le=512, description="tokens; batches are padded to their longest text, not to this"
    )
    max_epochs: PositiveInt = 2
    patience: PositiveInt = 1
    probe_C: PositiveFloat = Field(
        1.0, description="inverse regularisation of the logistic regression that sets the head before fine-tuning"
    )
    max_train_examples: PositiveInt | None = Field(
        4000, description="a seeded, label-stratified subset of the training side (the CPU budget); null: all"
    )
    max_validation_examples: PositiveInt | None = Field(
        1000, description="a seeded subset of the validation split for early stopping and the int8 rule; null: all"
    )
    quantize: bool = Field(
        True, description="serve the int8 network (dynamic quantisation of the linear layers) when it keeps accuracy"
    )
    max_accuracy_loss: float = Field(
        0.005,
        ge=0,
        le=1,
        description="int8 is served only when its validation accuracy is at most this below the float network's",
    )


class TextGrids(CandidateGrids):
    minilm_finetuned: FineTuneSettings | None = None
    tfidf_logistic_regression: LinearGrid | None = None
    tfidf_linear_svm: LinearGrid | None = None
    minilm_embeddings: EmbeddingGrid | None = None


class TextServing(ServingSettings):
    max_items_per_request: int = Field(64, ge=1, le=1000)
    max_body_bytes: int = Field(1_000_000, ge=1_000, le=100_000_000)
    max_top_k: PositiveInt = Field(10, description="/classify answers at most this many labels per text")
    max_explained_words: PositiveInt = Field(200, description="/explain refuses longer texts (one prediction per word)")
    log_predictions: bool = Field(
        False, description="the text service never logs texts: de-identification misses a few names"
    )


class ClinicalTextSettings(FamilySettings):
    data: TextData = TextData()
    split: TextSplit = TextSplit()
    serving: TextServing = TextServing()
    top_k: PositiveInt = Field(
        3, description="top-k accuracy is reported at this k, and /classify answers this many labels by default"
    )
    bootstrap_resamples: int = Field(200, ge=50, le=20000)
    candidates: TextGrids = Field(
        default_factory=TextGrids.every_default, description="left out: every candidate with its default settings"
    )
