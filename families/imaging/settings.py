"""What a user declares for the imaging family (its params.yaml block): where the images are, how they are read and
sized, the split, the augmentation and the candidates' grids."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from families.imaging.near_duplicates import DEFAULT_RADIUS
from medmaas.settings import CandidateGrids, DataFile, FamilySettings, Frozen, ServingSettings

BUNDLED_DATA = Path("data/raw/br35h")


class ImageData(DataFile):
    """Images and their labels, in one of three layouts (families/imaging/loaders.py):

    - ``folder``: one sub-folder per class (PNG or JPEG); an optional ``patients_csv`` (columns ``file``,
    ``patient_id``)
      keeps each patient's images on one side of the split;
    - ``npz``: a MedMNIST file (``train_images``, ``train_labels``, ``val_*``, ``test_*``), with its official split;
    - ``dicom``: a folder of DICOM files and ``labels_csv`` (columns ``study_id``, ``label``) keyed by the
      de-identified StudyInstanceUID; no identifying header field is ever read into a table.
    """

    path: Path = BUNDLED_DATA
    format: Literal["folder", "npz", "dicom"] = "folder"
    id_column: str | None = None  # images have no id column; patients come from patients_csv
    labels: list[str] = Field(
        ["tumour", "normal"],
        min_length=2,
        description="class names: folder names, or for npz the label integers' names in order",
    )
    positive_label: str | None = Field(
        "tumour",
        description="the class sensitivity is reported for (binary: the ROC's positive class); "
        "null for a multiclass set with no single class of interest",
    )
    patients_csv: Path | None = Field(
        None, description="folder: a CSV of file (relative to path) -> patient_id, to split by patient"
    )
    labels_csv: Path | None = Field(None, description="dicom: a CSV of study_id -> label")
    image_size: int = Field(
        64, ge=16, le=256, description="every image is resized to this square size (its aspect ratio is not kept)"
    )
    channels: Literal[1, 3] = Field(1, description="1: every image is converted to grey; 3: to RGB")
    min_side: PositiveInt = Field(16, description="a smaller original image fails the gate")
    max_pixels: PositiveInt = Field(40_000_000, description="a larger image is refused unread (a decompression bomb)")
    min_images_per_class: PositiveInt = 20
    min_rows: PositiveInt = 100

    @model_validator(mode="after")
    def _consistent(self):
        if self.positive_label is not None and self.positive_label not in self.labels:
            raise ValueError(f"positive_label must be one of labels {self.labels}")
        if self.positive_label is None and len(self.labels) == 2:
            raise ValueError("positive_label is required when there are two labels")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be distinct")
        if self.format == "dicom" and self.labels_csv is None:
            raise ValueError("labels_csv is required when format is dicom")
        return self


class ImageSplit(Frozen):
    """folder and dicom: held-out images by group (patient, and near-duplicates: flipped, turned, re-contrasted or
    shifted copies, always together); npz: the file's own train / val / test split."""

    test_fraction: float = Field(0.2, gt=0.05, lt=0.5)
    near_duplicate_radius: int = Field(
        DEFAULT_RADIUS,
        ge=0,
        le=16,
        description=(
            "Hamming radius on the 64-bit perceptual hashes within which two images are one group (measured on Br35H: "
            "families/imaging/near_duplicates.py); 0 joins only copies identical up to a flip or a quarter turn"
        ),
    )
    validation_fraction: float = Field(
        0.15, gt=0.0, lt=0.5, description="of the training side, by group, for early stopping"
    )


class Augmentation(Frozen):
    """Random transforms applied to each training batch (never to validation or test images)."""

    flip_horizontal: bool = Field(
        True, description="left-right flips: only where anatomy allows it (not for a chest X-ray's heart side)"
    )
    flip_vertical: bool = False
    rotation_degrees: float = Field(10.0, ge=0, le=180)
    scale: tuple[float, float] = Field((0.9, 1.1), description="zoom range (crop when above 1)")
    translate: float = Field(0.05, ge=0, le=0.5, description="shift, as a fraction of the side")
    brightness: float = Field(0.1, ge=0, le=1)
    contrast: float = Field(0.1, ge=0, le=1)
    noise_std: float = Field(0.02, ge=0, le=1)


class CnnGrid(Frozen):
    width: PositiveInt = Field(16, description="channels of the first stage; each of the three stages doubles it")
    learning_rate: PositiveFloat = 2e-3
    weight_decay: float = Field(1e-4, ge=0)
    batch_size: PositiveInt = 64
    max_epochs: PositiveInt = Field(
        40, description="the CPU budget: with early stopping, most runs stop sooner (augmented on Br35H: 31)"
    )
    patience: PositiveInt = 5
    max_train_images: PositiveInt | None = Field(
        None, description="train on at most this many images (a seeded, class-stratified subset): a CPU budget"
    )


class PixelLogisticGrid(Frozen):
    pixels: PositiveInt = Field(16, description="the image is downsampled to pixels x pixels")
    C: list[PositiveFloat] = [0.01, 0.1]


class PixelBoostingGrid(Frozen):
    pixels: PositiveInt = 16
    learning_rate: list[PositiveFloat] = [0.1]
    max_iter: list[PositiveInt] = [200]


class ImageGrids(CandidateGrids):
    cnn: CnnGrid | None = None
    cnn_no_augmentation: CnnGrid | None = Field(
        None, description="the same network trained without augmentation: the ablation"
    )
    pixel_logistic_regression: PixelLogisticGrid | None = None
    pixel_gradient_boosting: PixelBoostingGrid | None = None


class ImageServing(ServingSettings):
    max_items_per_request: int = Field(16, ge=1, le=256)
    max_body_bytes: int = Field(20_000_000, ge=1_000, le=200_000_000)
    max_batch_size: int = Field(32, ge=1)
    max_file_bytes: PositiveInt = Field(10_000_000, description="an uploaded file larger than this is refused")


class OutOfDistribution(Frozen):
    """The detector every registered version carries (families/imaging/ood.py): each answer says whether the image is
    like the training images."""

    enabled: bool = Field(True, description="false: versions carry no detector and answers no ood_score")
    percentile: float = Field(
        99.0,
        ge=50.0,
        le=100.0,
        description="the threshold: this percentile of the score on in-distribution validation images (so about "
        "1 in 100 ordinary images is flagged at 99)",
    )


class ImagingSettings(FamilySettings):
    data: ImageData = ImageData()
    split: ImageSplit = ImageSplit()
    augmentation: Augmentation = Augmentation()
    serving: ImageServing = ImageServing()
    out_of_distribution: OutOfDistribution = OutOfDistribution()
    decision_threshold: float = Field(
        0.5, gt=0.0, lt=1.0, description="binary: the positive class is predicted at or above this probability"
    )
    error_grid: bool = Field(
        False,
        description="log the most confident held-out errors, as images under their Grad-CAM maps, to the MLflow "
        "run: patient images in the tracking store, so off unless the data may be shown",
    )
    candidates: ImageGrids = Field(
        default_factory=ImageGrids.every_default, description="left out: every candidate with its default grid"
    )
