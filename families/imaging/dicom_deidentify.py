"""DICOM de-identification: the Basic Application Level Confidentiality Profile (DICOM PS3.15 Annex E), done as a
keep-list.

The profile lists the attributes to remove or replace; a list of what to remove misses whatever a vendor puts
elsewhere (a name in a private tag, a phone number in a description). So this keeps only what the pixels need to be
read and measured (the pixel and image-plane modules, windowing and rescaling, the modality and SOP class, series
and instance numbers) and drops every other element, private tags, overlays and curves included. Then:

- patient name and patient ID become one pseudonym per patient (a keyed hash: the same patient in two runs, or two
  studies, gets the same pseudonym, so a split by patient still works; it cannot be reversed without the key);
- the study, series, SOP instance and frame-of-reference UIDs are remapped to ``2.25.<keyed hash>``: consistent
  across files and runs, so a study's files still belong together;
- study, series, acquisition and content dates are shifted by one offset per patient (1 to 3 years back, keyed):
  intervals within a patient's studies are kept ("Retain Longitudinal Temporal Information with Modified Dates");
- ``PatientIdentityRemoved`` is YES and ``DeidentificationMethod`` says what was done.

Pixel data are untouched. Text burned into the pixels (a name on a scout image, an ultrasound label) is not found:
a site with such images must screen them (``BurnedInAnnotation`` is kept to help).

The key is the state's row-digest key (medmaas/identity.py): keep it secret and keep it, or pseudonyms change.
"""

from __future__ import annotations

import hashlib
import hmac
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from medmaas import identity

KEPT = frozenset(
    {
        # image pixel module and what reads it
        "SamplesPerPixel",
        "PhotometricInterpretation",
        "Rows",
        "Columns",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
        "PlanarConfiguration",
        "PixelAspectRatio",
        "SmallestImagePixelValue",
        "LargestImagePixelValue",
        "NumberOfFrames",
        "PixelData",
        "RedPaletteColorLookupTableDescriptor",
        "GreenPaletteColorLookupTableDescriptor",
        "BluePaletteColorLookupTableDescriptor",
        "RedPaletteColorLookupTableData",
        "GreenPaletteColorLookupTableData",
        "BluePaletteColorLookupTableData",
        # modality and VOI LUTs (windowing), rescaling
        "RescaleIntercept",
        "RescaleSlope",
        "WindowCenter",
        "WindowWidth",
        "VOILUTFunction",
        "VOILUTSequence",
        "ModalityLUTSequence",
        "LUTDescriptor",
        "LUTData",
        # image plane: what a measurement needs
        "PixelSpacing",
        "ImagerPixelSpacing",
        "SliceThickness",
        "SpacingBetweenSlices",
        "ImagePositionPatient",
        "ImageOrientationPatient",
        "SliceLocation",
        "PatientOrientation",
        "PatientPosition",
        # what the image is
        "SOPClassUID",
        "Modality",
        "ImageType",
        "BodyPartExamined",
        "ViewPosition",
        "Laterality",
        "ImageLaterality",
        "SeriesNumber",
        "InstanceNumber",
        "AcquisitionNumber",
        "LossyImageCompression",
        "LossyImageCompressionRatio",
        "LossyImageCompressionMethod",
        "BurnedInAnnotation",
        "SpecificCharacterSet",
        "KVP",
        "ExposureTime",
        "XRayTubeCurrent",
        "Exposure",
        "RepetitionTime",
        "EchoTime",
        "MagneticFieldStrength",
        "ScanningSequence",
        "SequenceVariant",
    }
)  # numbers and code strings only: a kept LO or SH (RescaleType, ConvolutionKernel) could carry any vendor text
REMAPPED_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")
SHIFTED_DATES = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")
FILE_META_KEPT = frozenset({"FileMetaInformationVersion", "MediaStorageSOPClassUID", "TransferSyntaxUID"})
METHOD = "PS3.15 Basic Profile as a keep-list, dates shifted (medmaas)"  # LO: at most 64 characters
METHOD_CODES = (
    ("113100", "Basic Application Confidentiality Profile"),  # DCM codes, PS3.16 CID 7050
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
)
SHIFT_DAYS = (365, 3 * 365)  # the per-patient offset, in days back


@dataclass
class DicomReport:
    """What a run did, in counts only: never a value, a file name or a pseudonym."""

    written: int = 0
    not_dicom: int = 0
    duplicates: int = 0  # files whose SOP instance UID another file already had: the same instance, written once
    unreadable: list[int] = field(
        default_factory=list
    )  # positions (0-based, sorted by path) of files that could not be read
    removed: Counter = field(default_factory=Counter)  # what kind of element was removed: private, sequence, or its VR

    def summary(self) -> str:
        unreadable = (
            f"; {len(self.unreadable)} DICOM files could not be read (positions, 0-based: "
            f"{', '.join(map(str, self.unreadable[:10]))})"
            if self.unreadable
            else ""
        )
        removed = ", ".join(f"{kind} {count}" for kind, count in self.removed.most_common()) or "none"
        duplicates = f"; {self.duplicates} repeated SOP instances written once" if self.duplicates else ""
        return (
            f"wrote {self.written} de-identified files; skipped {self.not_dicom} files that are not "
            f"DICOM{duplicates}{unreadable}; "
            f"elements removed: {removed}"
        )


def _keyed(key: bytes, purpose: str, value: str) -> bytes:
    return hmac.new(key, f"{purpose}\0{value}".encode(), hashlib.sha256).digest()


def remapped_uid(uid: str, key: bytes) -> str:
    """A UID under the 2.25 (UUID-derived) root: the same input always maps to the same output under one key."""
    return "2.25." + str(int.from_bytes(_keyed(key, "dicom-uid", uid)[:16], "big"))


def pseudonym(patient: str, key: bytes) -> str:
    return "ANON-" + _keyed(key, "dicom-patient", patient)[:6].hex().upper()


def _shifted(value: str, days: int) -> str:
    try:
        moved = date(int(value[:4]), int(value[4:6]), int(value[6:8])) - timedelta(days=days)
    except (ValueError, IndexError):
        return ""  # not a date DICOM can read: emptied rather than kept
    return moved.strftime("%Y%m%d")


def _code(value: str, meaning: str):
    from pydicom.dataset import Dataset

    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
    return item


def _keep_only(dataset, removed: Counter, top_level: bool = True) -> None:
    """Drop every element not in KEPT, recursing into the sequences kept (a LUT sequence's items). UIDs and dates are
    kept only at the top level, where they are remapped and shifted; inside an item they go."""
    replaced = (*REMAPPED_UIDS, *SHIFTED_DATES) if top_level else ()
    for element in list(dataset):
        if element.tag.is_private:
            removed["private"] += 1
        elif element.keyword in KEPT or element.keyword in replaced:
            if element.VR == "SQ":
                for item in element.value:
                    _keep_only(item, removed, top_level=False)
            continue
        else:
            removed["sequence" if element.VR == "SQ" else str(element.VR)] += 1
        del dataset[element.tag]


def deidentify_dataset(dataset, removed: Counter, key: bytes) -> None:
    """In place: keep-list, pseudonyms, remapped UIDs, shifted dates, and the profile's markers; ``key`` is
    identity.secret().

    The patient is its issuer and PatientID; without an ID, its name; without either, its study (one pseudonym and one
    date offset per study, then). A patient whose files carry an ID in some and not in others gets two pseudonyms."""
    issuer = str(dataset.get("IssuerOfPatientID", "") or "")
    patient = (
        f"{issuer}\0{dataset.get('PatientID')}"
        if dataset.get("PatientID")
        else str(dataset.get("PatientName", "") or "") or f"study\0{dataset.get('StudyInstanceUID', '')}"
    )
    days = SHIFT_DAYS[0] + int.from_bytes(_keyed(key, "dicom-dates", patient)[:4], "big") % (
        SHIFT_DAYS[1] - SHIFT_DAYS[0]
    )
    _keep_only(dataset, removed)
    for keyword in REMAPPED_UIDS:
        if keyword in dataset:
            setattr(dataset, keyword, remapped_uid(str(getattr(dataset, keyword)), key))
    for keyword in SHIFTED_DATES:
        if keyword in dataset:
            setattr(dataset, keyword, _shifted(str(getattr(dataset, keyword)), days))
    dataset.PatientName = dataset.PatientID = pseudonym(patient, key)
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = METHOD
    dataset.DeidentificationMethodCodeSequence = [_code(value, meaning) for value, meaning in METHOD_CODES]
    dataset.LongitudinalTemporalInformationModified = "MODIFIED"
    meta = getattr(dataset, "file_meta", None)
    if meta is not None:
        for element in list(meta):
            if element.keyword not in FILE_META_KEPT:
                del meta[element.tag]
        if "SOPInstanceUID" in dataset:
            meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID


def deidentify_folder(source: Path, target: Path) -> DicomReport:
    """Every DICOM file under ``source`` de-identified into ``target``, named by its new SOP instance UID (a file name
    may hold a patient's name); other files are skipped and counted. ``target`` must be empty or absent."""
    import pydicom

    from families.imaging.loaders import _quiet_dicom, is_dicom

    if target.exists() and any(target.iterdir()):
        raise FileExistsError(f"the output folder {target} is not empty: de-identified files go into an empty folder")
    if target.resolve().is_relative_to(source.resolve()):
        raise ValueError("the output folder must not be inside the input folder")
    target.mkdir(parents=True, exist_ok=True)
    report, key = DicomReport(), identity.secret()  # the key file read once, not once per UID
    for position, path in enumerate(sorted(p for p in source.rglob("*") if p.is_file())):
        try:
            data = path.read_bytes()
            if not is_dicom(data):
                report.not_dicom += 1
                continue
            with _quiet_dicom():
                dataset = pydicom.dcmread(io.BytesIO(data))
                deidentify_dataset(dataset, report.removed, key)
                name = str(dataset.get("SOPInstanceUID", "") or remapped_uid(f"position {position}", key))
                with open(
                    target / f"{name}.dcm", "xb"
                ) as out:  # never over another file: a repeated SOP instance UID is a duplicate
                    dataset.save_as(out, enforce_file_format=True)
        except FileExistsError:
            report.duplicates += 1
            continue
        except Exception:  # noqa: BLE001 (a broken file is counted by position; its content and name are never echoed)
            report.unreadable.append(position)
            continue
        report.written += 1
    return report
