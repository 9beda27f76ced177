"""Images in, one array and one table out: the same decoding for a folder of PNG/JPEG, a MedMNIST .npz, DICOM files and
an uploaded file, so what the service is sent is prepared exactly as what the model was trained on.

The table has one row per file: what the gate checks (readable, mode, size, value range, label) and what the split
groups by (patient, near-duplicate hashes). File names, patient ids and DICOM headers never leave it: the family lists
its identifying columns, and no DICOM field but the pixels, their windowing and the pixel spacing is read.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import secrets
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from families.imaging.near_duplicates import near_hashes

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
DICOM_MAGIC_OFFSET = 128


class UnreadableImage(ValueError):
    """A file that is not an image this family reads, with the reason (never its content or name)."""


@dataclass(frozen=True)
class Decoded:
    pixels: np.ndarray  # (channels, size, size) uint8
    mode: str  # as stored: L, RGB, RGBA, P, I;16, DICOM MONOCHROME2 ...
    width: int
    height: int
    image: Image.Image = field(
        repr=False, compare=False
    )  # as decoded, before resizing: what the near-duplicate hashes read
    bands: int  # channels as stored (1 grey, 2 grey + alpha, 3 colour, 4 colour + alpha)
    pixel_spacing_mm: float | None = None

    @property
    def near_hashes(self) -> str:
        """Computed when asked (a data set's table asks; a service scoring an upload does not: 16 perceptual hashes per
        image)."""
        return near_hashes(self.image)


@dataclass
class ImageSet:
    """Decoded images (unreadable ones are zeros) and one row per file."""

    pixels: np.ndarray  # (n, channels, size, size) uint8
    table: pd.DataFrame


def is_dicom(data: bytes) -> bool:
    return data[DICOM_MAGIC_OFFSET : DICOM_MAGIC_OFFSET + 4] == b"DICM"


def _stretched(values: np.ndarray) -> Image.Image:
    """Any numeric range -> 8-bit grey, the minimum black and the maximum white."""
    values = np.asarray(values, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    return Image.fromarray(((values - low) / (high - low or 1.0) * 255).astype(np.uint8))


def _to_pixels(image: Image.Image, size: int, channels: int) -> np.ndarray:
    """Grey or RGB (a palette or an alpha channel is flattened first), resized to size x size."""
    if image.mode in ("P", "PA", "LA", "RGBA"):
        image = image.convert("RGBA")
        flat = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(flat, image)
    if image.mode.startswith("I") or image.mode == "F":  # 16-bit grey: stretch to 8 bits
        image = _stretched(np.asarray(image))
    image = image.convert("L" if channels == 1 else "RGB").resize((size, size), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


def decode_picture(data: bytes, size: int, channels: int, max_pixels: int) -> Decoded:
    """PNG or JPEG bytes -> Decoded; a truncated, non-image or oversized file raises UnreadableImage."""
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        if width * height > max_pixels:
            raise UnreadableImage(f"{width}x{height} pixels is more than {max_pixels} (max_pixels)")
        if image.format not in ("PNG", "JPEG"):
            raise UnreadableImage(f"{image.format} images are not read; send PNG, JPEG or DICOM")
        mode = image.mode
        if image.format == "JPEG":
            image.draft(
                "L" if channels == 1 else "RGB", (size * 2, size * 2)
            )  # decode at a reduced scale: 5-10x faster
        image.load()
    except UnreadableImage:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        reason = (
            "truncated or corrupt image data"
            if isinstance(error, OSError) and "truncated" in str(error)
            else "not a readable PNG or JPEG image"
        )
        raise UnreadableImage(reason) from None
    return Decoded(_to_pixels(image, size, channels), mode, width, height, image, len(image.getbands()))


def decode_dicom(data: bytes, size: int, channels: int, max_pixels: int) -> Decoded:
    """DICOM bytes -> Decoded: modality LUT, then the header's VOI LUT or window when it has one, else the full range;
    MONOCHROME1 inverted. Only pixel data, LUTs and windowing, photometric interpretation and pixel spacing are read,
    and any failure is a fixed reason: an error message would quote the header value that broke it (a name, an id)."""
    try:
        with _quiet_dicom():
            return _decoded_dicom(data, size, channels, max_pixels)
    except UnreadableImage:
        raise
    except Exception:  # noqa: BLE001 (pydicom and numpy fail in many ways on a malformed header; none may be repeated)
        raise UnreadableImage(
            "DICOM: no readable pixel data, or a malformed pixel, LUT, window or spacing field"
        ) from None


def _decoded_dicom(data: bytes, size: int, channels: int, max_pixels: int) -> Decoded:
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=False)
    except InvalidDicomError:
        raise UnreadableImage("not a DICOM file") from None
    rows, columns = int(ds.Rows), int(ds.Columns)
    if rows * columns > max_pixels:
        raise UnreadableImage(f"{columns}x{rows} pixels is more than {max_pixels} (max_pixels)")
    if int(getattr(ds, "NumberOfFrames", 1) or 1) > 1:
        raise UnreadableImage("multi-frame DICOM (a series or a cine) is not read; send one frame per file")
    if "PixelData" not in ds:
        raise UnreadableImage("DICOM: the file has no pixel data")
    try:
        values = ds.pixel_array
    except Exception:  # noqa: BLE001 (a missing decoder plugin or corrupt pixel data)
        raise UnreadableImage("DICOM: compressed or corrupt pixel data this installation cannot decode") from None
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2"))
    if photometric in ("MONOCHROME1", "MONOCHROME2"):
        values = apply_modality_lut(values, ds).astype(np.float64)
        if "WindowCenter" in ds or "VOILUTSequence" in ds:
            values = apply_voi_lut(values, ds).astype(np.float64)
        if photometric == "MONOCHROME1":
            values = values.max() - values
        if not np.isfinite(values).all():
            raise UnreadableImage("DICOM: the rescale or window fields give non-finite pixel values")
        image = _stretched(values)
    elif photometric == "RGB" and values.ndim == 3:
        image = Image.fromarray(values.astype(np.uint8), "RGB")
    else:
        raise UnreadableImage(
            f"DICOM: photometric interpretation {photometric if photometric.isalnum() else '(unusual)'} is not read"
        )
    spacing = getattr(ds, "PixelSpacing", None)
    return Decoded(
        _to_pixels(image, size, channels),
        f"DICOM {photometric}",
        columns,
        rows,
        image,
        len(image.getbands()),
        float(spacing[0]) if spacing else None,
    )


def decode_file(data: bytes, size: int, channels: int, max_pixels: int) -> Decoded:
    """Any file this family reads, by its content (never by its name)."""
    try:
        return (decode_dicom if is_dicom(data) else decode_picture)(data, size, channels, max_pixels)
    except UnreadableImage:
        raise
    except Exception:  # noqa: BLE001 (a decoder's own failure must be a reason, never a 500 or a stopped run)
        raise UnreadableImage("an image this installation cannot decode") from None


def _row(decoded: Decoded | None, reason: str | None, label: object, data: bytes) -> dict:
    pixels = decoded.pixels if decoded is not None else None
    return {
        "label": label,
        "readable": decoded is not None,
        "reason": reason,
        "mode": decoded.mode if decoded else None,
        "bands": decoded.bands if decoded else None,
        "width": decoded.width if decoded else None,
        "height": decoded.height if decoded else None,
        "pixel_min": int(pixels.min()) if pixels is not None else None,
        "pixel_max": int(pixels.max()) if pixels is not None else None,
        "near_hashes": decoded.near_hashes if decoded else None,
        "content_sha1": hashlib.sha1(data).hexdigest(),
        "pixel_spacing_mm": decoded.pixel_spacing_mm if decoded else None,
    }


def decode_files(files: Iterable[tuple[bytes, object]], size: int, channels: int, max_pixels: int) -> ImageSet:
    """(bytes, label) pairs -> ImageSet, in order; an unreadable file is a row with its reason and zero pixels."""
    rows, arrays = [], []
    blank = np.zeros((channels, size, size), dtype=np.uint8)
    for data, label in files:
        try:
            decoded, reason = decode_file(data, size, channels, max_pixels), None
        except UnreadableImage as error:
            decoded, reason = None, str(error)
        rows.append(_row(decoded, reason, label, data))
        arrays.append(decoded.pixels if decoded else blank)
    table = pd.DataFrame(rows)
    table.insert(0, "position", np.arange(len(table)))
    return ImageSet(np.stack(arrays) if arrays else np.zeros((0, channels, size, size), np.uint8), table)


def image_files(folder: Path) -> list[Path]:
    """PNG and JPEG files one level below ``folder`` (the class folders), sorted."""
    return sorted(p for p in folder.glob("*/*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_folder(folder: Path, size: int, channels: int, max_pixels: int, patients_csv: Path | None = None) -> ImageSet:
    """One sub-folder per class; with ``patients_csv`` (file relative to ``folder``, patient_id) each row's patient."""
    files = image_files(folder)
    images = decode_files(((p.read_bytes(), p.parent.name) for p in files), size, channels, max_pixels)
    images.table["file"] = [str(p.relative_to(folder)) for p in files]
    images.table["patient"] = None
    if patients_csv is not None:
        patients = pd.read_csv(patients_csv, dtype=str)
        missing = {"file", "patient_id"} - set(patients.columns)
        if missing:
            raise ValueError(f"{patients_csv.name} lacks the columns {sorted(missing)} (imaging.data.patients_csv)")
        images.table["patient"] = images.table["file"].map(dict(zip(patients["file"], patients["patient_id"])))
    images.table["official_split"] = None
    return images


def read_dicom_folder(folder: Path, labels_csv: Path, size: int, channels: int, max_pixels: int) -> ImageSet:
    """Every file under ``folder`` that is DICOM; its label from ``labels_csv`` by StudyInstanceUID. The patient (for
    the split) is a keyed hash of PatientID, kept in memory only."""
    labels = pd.read_csv(labels_csv, dtype=str)
    if missing := {"study_id", "label"} - set(labels.columns):
        raise ValueError(f"{labels_csv.name} lacks the columns {sorted(missing)} (imaging.data.labels_csv)")
    by_study = dict(zip(labels["study_id"], labels["label"]))
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    contents, studies, patients, kept = [], [], [], []
    for path in files:
        data = path.read_bytes()
        if not is_dicom(data):
            continue
        study, patient = _dicom_keys(data)
        contents.append((data, by_study.get(study)))
        kept.append(path)
        studies.append(study)
        patients.append(patient)
    images = decode_files(contents, size, channels, max_pixels)
    images.table["file"] = [str(p.relative_to(folder)) for p in kept]
    images.table["patient"] = patients
    images.table["study"] = studies
    images.table["official_split"] = None
    return images


logging.getLogger("pydicom").setLevel(logging.CRITICAL)  # pydicom's warnings quote header values (a name, an id)


@contextmanager
def _quiet_dicom() -> Iterator[None]:
    """pydicom also sends those warnings through the warnings module: silenced while a header is read."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


PATIENT_KEY = secrets.token_bytes(
    32
)  # per process: a PatientID's hash cannot be recomputed from a list of record numbers


def _dicom_keys(data: bytes) -> tuple[str, str]:
    """(StudyInstanceUID, keyed hash of PatientID) from the header; ("", a hash of the bytes) when it cannot be read."""
    import pydicom

    try:
        with _quiet_dicom():
            header = pydicom.dcmread(
                io.BytesIO(data), stop_before_pixels=True, specific_tags=["StudyInstanceUID", "PatientID"]
            )
            study, patient = str(header.get("StudyInstanceUID", "")), str(header.get("PatientID", "")) or None
    except Exception:  # noqa: BLE001 (the decode that follows names the file as unreadable)
        study, patient = "", None
    identity = patient.encode() if patient else hashlib.sha1(data).digest()
    return study, hmac.new(PATIENT_KEY, identity, hashlib.sha256).hexdigest()[:16]


NPZ_SPLITS = ("train", "val", "test")


def read_npz(path: Path, size: int, channels: int, labels: list[str]) -> ImageSet:
    """A MedMNIST file: ``<split>_images`` (n, h, w) or (n, h, w, 3) uint8 and ``<split>_labels`` (n, 1) integers, any
    of its sizes; the official split is kept. Labels become ``labels[i]``; an integer out of range stays a number."""
    with np.load(path, allow_pickle=False) as archive:
        missing = [f"{s}_{k}" for s in NPZ_SPLITS for k in ("images", "labels") if f"{s}_{k}" not in archive.files]
        if missing:
            raise ValueError(f"{path.name} is not a MedMNIST file: it lacks {', '.join(missing)}")
        parts = {s: (archive[f"{s}_images"], archive[f"{s}_labels"]) for s in NPZ_SPLITS}
    rows, arrays = [], []
    for split, (images, codes) in parts.items():
        codes = np.asarray(codes).reshape(len(codes), -1)
        if codes.shape[1] != 1:
            raise ValueError(
                f"{path.name}: {split}_labels has {codes.shape[1]} columns; multi-label MedMNIST sets are not read"
            )
        for array, code in zip(images, codes[:, 0]):
            image = Image.fromarray(np.asarray(array, dtype=np.uint8))
            decoded = Decoded(
                _to_pixels(image, size, channels), image.mode, image.width, image.height, image, len(image.getbands())
            )
            label = labels[int(code)] if 0 <= int(code) < len(labels) else int(code)
            rows.append({**_row(decoded, None, label, np.ascontiguousarray(array).tobytes()), "official_split": split})
            arrays.append(decoded.pixels)
    table = pd.DataFrame(rows)
    table.insert(0, "position", np.arange(len(table)))
    table["file"], table["patient"] = None, None
    return ImageSet(np.stack(arrays), table)
