"""Online imaging: the imaging champion behind a typed HTTP API, images uploaded as multipart form files.

    bentoml serve serving.imaging:ImagingService          (or: medmaas serve imaging)
    curl -H "Authorization: Bearer $KEY" -F images=@scan1.png -F images=@scan2.dcm localhost:3000/predict

PNG, JPEG or DICOM, several per request; each is prepared exactly as the training images were (grey or RGB, resized). A
file that cannot be read gets a 400 naming its position (``images[1]``) and the reason: never its name, which may hold a
patient's, nor any DICOM header field. Single-image requests are batched adaptively into one network call.
"""

from __future__ import annotations

import base64
import threading
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import AfterValidator, Field

from families.imaging.family import PREDICTED, Imaging
from families.imaging.loaders import UnreadableImage
from serving import tracing
from serving.base import Answer, ClassPrediction, answered_by, champion_service
from serving.bodies import strict_api
from serving.champion import PredictionRecorder, resolve_champion

CHAMPION = resolve_champion("imaging", Imaging)
RECORD = PredictionRecorder(CHAMPION)  # summaries only: the uploaded images are never stored
SETTINGS = CHAMPION.family.settings
LIMITS = SETTINGS.serving
MODEL = (
    CHAMPION.load()
)  # its own preparation (size, channels, pixel limit) checks uploads, whatever params.yaml says now


def _image_bytes(path: Path) -> bytes:
    if path.stat().st_size > LIMITS.max_file_bytes:
        raise ValueError(f"the file is larger than {LIMITS.max_file_bytes} bytes (serving.max_file_bytes)")
    return path.read_bytes()


def _readable(path: Path) -> Path:
    """Refused at parsing (a 400 for this request only, before it joins a batch): too large, or not an image we read."""
    try:
        MODEL.prepare(_image_bytes(path))
    except UnreadableImage as error:
        raise ValueError(str(error)) from None
    return path


ImageFile = Annotated[Path, AfterValidator(_readable)]


class ImagePrediction(ClassPrediction):
    ood_score: float | None = Field(
        description="how unlike the training images this image is (the detector's score; model_info says which score "
        "and its threshold); null when the version carries no detector"
    )
    in_distribution: bool | None = Field(
        description="false: the image is unlike the training images (a CT, a photo, a blank or corrupted frame), "
        "so the probabilities are not to be trusted; null when the version carries no detector"
    )


class ImageExplanation(Answer):
    explained_class: str = Field(description="the predicted class, whose map this is")
    probabilities: dict[str, float]
    heatmap_png: str = Field(description="the map over the prepared image, as a base64 PNG")
    heatmap: list[list[float]] = Field(description="the raw map, rows of the prepared image (size x size), in [0, 1]")
    method: str


def _heatmap_png(pixels: np.ndarray, heatmap: np.ndarray) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from blocks.plots import png
    from families.imaging.plots import overlay

    fig, ax = plt.subplots(figsize=(3, 3))
    overlay(ax, pixels, heatmap)
    return base64.b64encode(png(fig)).decode()


@champion_service("imaging", LIMITS, CHAMPION)
class ImagingService:
    def __init__(self) -> None:
        self.model = MODEL
        self.network_in_use = threading.Lock()  # Grad-CAM hooks the network: no forward pass may run beside it

    def _prepared(self, paths: list[Path]) -> np.ndarray:
        with tracing.step("imaging", "prepare images", items=len(paths)):
            return np.stack([self.model.prepare(_image_bytes(p)).pixels for p in paths])

    def _answer(self, pixels: np.ndarray, record: bool = False) -> list[ImagePrediction]:
        """Probabilities, and the out-of-distribution score when the version carries a detector (registered since).
        ``record``: log each image's summary (embedding components, score, intensity; never the image) for drift."""
        with tracing.step("imaging", "forward pass", items=len(pixels)):
            probability = self.model.predict_proba(pixels)
        predicted = self.model.predicted_codes(probability)
        detector = getattr(self.model, "ood", None)
        scores: list[float | None] = [None] * len(pixels)
        inside: list[bool | None] = [None] * len(pixels)
        if detector is not None:
            summary = detector.summary(self.model, pixels) if detector.embedding is not None else None
            values = summary["ood_score"] if summary is not None else detector.scores(self.model, pixels)
            scores, inside = [float(v) for v in values], [bool(v <= detector.threshold) for v in values]
            if record:  # predictions, not the explanations that score the same images again
                RECORD.out_of_distribution(inside.count(False))
            if record and summary is not None:
                summary[PREDICTED] = self.model.watched_probability(probability)
                names = [self.model.classes[k] for k in predicted]
                RECORD("predict", summary.to_dict(orient="records"), predicted.tolist(), names)
        return [
            ImagePrediction(
                probabilities={c: float(p) for c, p in zip(self.model.classes, row)},
                predicted=self.model.classes[k],
                ood_score=score,
                in_distribution=within,
                **answered_by(CHAMPION),
            )
            for row, k, score, within in zip(probability, predicted, scores, inside)
        ]

    @strict_api(batchable=True, batch_dim=0, max_batch_size=LIMITS.max_batch_size, max_latency_ms=LIMITS.max_latency_ms)
    def predict(
        self, images: Annotated[list[ImageFile], Field(min_length=1, max_length=LIMITS.max_items_per_request)]
    ) -> list[ImagePrediction]:
        """Class probabilities per uploaded image (PNG, JPEG or DICOM), in request order, each with whether the image is
        like the training images (``in_distribution``)."""
        pixels = self._prepared(images)
        with self.network_in_use:
            return self._answer(pixels, record=True)

    @strict_api()
    def explain(self, image: ImageFile) -> ImageExplanation:
        """Where the model looked for the predicted class, over the prepared image: Grad-CAM (Selvaraju et al., 2017)
        for the CNN, occlusion for a pixel baseline."""
        pixels = self._prepared([image])
        with self.network_in_use:
            answer = self._answer(pixels)[0]
            heatmap = self.model.explanation_maps(pixels, np.array([self.model.classes.index(answer.predicted)]))
        return ImageExplanation(
            explained_class=answer.predicted,
            probabilities=answer.probabilities,
            heatmap_png=_heatmap_png(pixels[0], heatmap[0]),
            heatmap=np.round(heatmap[0], 4).tolist(),
            method=self.model.explanation_method,
            **answered_by(CHAMPION),
        )

    @strict_api()
    def model_info(self) -> dict[str, Any]:
        """Which model answers: version, training data hash, held-out metrics (grouped split), model card, input
        preparation."""
        data = SETTINGS.data
        return {
            **CHAMPION.info,
            "labels": self.model.classes,
            "positive_label": data.positive_label,
            "image_size": data.image_size,
            "channels": data.channels,
            "max_file_bytes": LIMITS.max_file_bytes,
            "max_images_per_request": LIMITS.max_items_per_request,
            "out_of_distribution": detector.describe() if (detector := getattr(self.model, "ood", None)) else None,
        }
