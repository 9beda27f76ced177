"""DICOM de-identification (PS3.15 Basic Profile, as a keep-list): no planted value survives anywhere in the output, and
the images still load through the imaging family's DICOM loader."""

import pandas as pd
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from families.imaging.dicom_deidentify import deidentify_folder

# attributes of DICOM PS3.15 Table E.1-1 (the Basic Profile's list) that pydicom's dictionary knows
PROFILE = """AccessionNumber AcquisitionComments AcquisitionDate AcquisitionDateTime
AcquisitionDeviceProcessingDescription AcquisitionTime ActualHumanPerformersSequence AdditionalPatientHistory
AdmissionID AdmittingDate AdmittingDiagnosesDescription AdmittingTime AffectedSOPInstanceUID Allergies Arbitrary
AuthorObserverSequence BranchOfService CassetteID CommentsOnThePerformedProcedureStep
ConfidentialityConstraintOnPatientDataDescription ContentCreatorName ContentDate ContentTime ContrastBolusAgent
ContributionDescription CountryOfResidence CurrentPatientLocation CurveDate CurveTime CustodialOrganizationSequence
DataSetTrailingPadding DerivationDescription DetectorID DeviceSerialNumber DeviceUID DigitalSignaturesSequence
DischargeDiagnosisDescription DistributionAddress DistributionName DoseReferenceUID EthnicGroup FailedSOPInstanceUIDList
FiducialUID FillerOrderNumberImagingServiceRequest FrameComments FrameOfReferenceUID GantryID GeneratorID
GraphicAnnotationSequence HumanPerformerName HumanPerformerOrganization IconImageSequence IdentifyingComments
ImageComments ImagePresentationComments ImagingServiceRequestComments Impressions InstanceCreatorUID InstitutionAddress
InstitutionCodeSequence InstitutionName InstitutionalDepartmentName InsurancePlanIdentification
IntendedRecipientsOfResultsIdentificationSequence InterpretationApproverSequence InterpretationAuthor
InterpretationDiagnosisDescription InterpretationIDIssuer InterpretationRecorder InterpretationText
InterpretationTranscriber IrradiationEventUID IssuerOfAdmissionID IssuerOfPatientID IssuerOfServiceEpisodeID
LastMenstrualDate MAC MediaStorageSOPInstanceUID MedicalAlerts MedicalRecordLocator MilitaryRank
ModifiedAttributesSequence ModifiedImageDescription ModifyingDeviceID NameOfPhysiciansReadingStudy
NamesOfIntendedRecipientsOfResults Occupation OperatorsName OriginalAttributesSequence OrderCallbackPhoneNumber
OrderEnteredBy OrderEntererLocation OtherPatientIDs OtherPatientIDsSequence OtherPatientNames ParticipantSequence
PatientAddress PatientAge PatientBirthDate PatientBirthName PatientBirthTime PatientComments PatientID
PatientInstitutionResidence PatientInsurancePlanCodeSequence PatientMotherBirthName PatientName
PatientPrimaryLanguageCodeSequence PatientReligiousPreference PatientSex PatientSexNeutered PatientSize PatientState
PatientTelephoneNumbers PatientTransportArrangements PatientWeight PerformedLocation PerformedProcedureStepDescription
PerformedProcedureStepID PerformedProcedureStepStartDate PerformedProcedureStepStartTime PerformedStationAETitle
PerformedStationGeographicLocationCodeSequence PerformedStationName PerformedStationNameCodeSequence
PerformingPhysicianIdentificationSequence PerformingPhysicianName PersonAddress PersonIdentificationCodeSequence
PersonName PersonTelephoneNumbers PhysicianApprovingInterpretation PhysiciansOfRecord
PhysiciansOfRecordIdentificationSequence PhysiciansReadingStudyIdentificationSequence
PlacerOrderNumberImagingServiceRequest PlateID PreMedication PregnancyStatus ProtocolName ReasonForImagingServiceRequest
ReasonForStudy ReferencedPatientAliasSequence ReferencedPatientSequence ReferencedPerformedProcedureStepSequence
ReferencedSOPInstanceMACSequence ReferencedStudySequence ReferringPhysicianAddress
ReferringPhysicianIdentificationSequence ReferringPhysicianName ReferringPhysicianTelephoneNumbers RegionOfResidence
RequestAttributesSequence RequestedContrastAgent RequestedProcedureComments RequestedProcedureDescription
RequestedProcedureID RequestedProcedureLocation RequestingPhysician RequestingService ResponsibleOrganization
ResponsiblePerson ResultsComments ResultsDistributionListSequence ResultsIDIssuer ReviewerName
ScheduledHumanPerformersSequence ScheduledPatientInstitutionResidence ScheduledPerformingPhysicianIdentificationSequence
ScheduledProcedureStepDescription ScheduledProcedureStepEndDate ScheduledProcedureStepStartDate ScheduledStationAETitle
ScheduledStationName SeriesDate SeriesDescription SeriesInstanceUID SeriesTime ServiceEpisodeDescription
ServiceEpisodeID SmokingStatus SOPInstanceUID SourceImageSequence SpecialNeeds StationName StorageMediaFileSetUID
StudyComments StudyDate StudyDescription StudyID StudyIDIssuer StudyInstanceUID StudyTime
SynchronizationFrameOfReferenceUID TemplateExtensionCreatorUID TemplateExtensionOrganizationUID TextComments TextString
TimezoneOffsetFromUTC TopicAuthor TopicKeywords TopicSubject TopicTitle TransactionUID UID
VerifyingObserverIdentificationCodeSequence VerifyingObserverName VerifyingObserverSequence VerifyingOrganization
VisitComments""".split()
PLANTED_DATE = "19610314"


def planted(number: int, vr: str):
    """A value no real header holds, of the attribute's type, that names its attribute's number."""
    return {
        "PN": f"PLANTED^NAME{number}",
        "DA": PLANTED_DATE,
        "TM": "101112",
        "DT": PLANTED_DATE + "101112",
        "UI": f"1.2.826.0.1.999.{number}",
        "AS": "093Y",
        "DS": f"{number}.777",
        "IS": str(770000 + number),
        "US": 7,
        "SS": 7,
        "UL": 7,
        "SL": 7,
        "FL": 7.0,
        "FD": 7.0,
        "OB": f"PLANTED{number}".encode(),
        "OW": f"PLANTED{number}".encode(),
        "UN": f"PLANTED{number}".encode(),
        "AT": 0x00100010,
    }.get(vr, f"PLANTED{number}")


def person_item(number: int) -> Dataset:
    item = Dataset()
    item.PatientName, item.PatientID, item.InstitutionName = (
        f"PLANTED^NESTED{number}",
        f"PLANTED{number}N",
        f"PLANTED{number}I",
    )
    return item


def scan(patient: str, study: str, sop: str) -> pydicom.Dataset:
    dataset = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for number, keyword in enumerate(PROFILE):
        if tag_for_keyword(keyword) is None or tag_for_keyword(keyword) >> 16 in (
            0x0000,
            0x0002,
        ):  # command and file meta groups: not dataset elements
            continue
        vr = dictionary_VR(tag_for_keyword(keyword))
        value = Sequence([person_item(number)]) if vr == "SQ" else planted(number, vr)
        setattr(dataset, keyword, value)
    lut = Dataset()  # a kept sequence (windowing) whose item carries what no item should
    lut.add_new(0x00283002, "US", [2, 0, 16])  # LUTDescriptor
    lut.add_new(0x00283006, "US", [0, 65535])  # LUTData
    lut.LUTExplanation = "PLANTED LUT TEXT"
    lut.StudyDate, lut.StudyInstanceUID, lut.PatientName = PLANTED_DATE, "1.2.826.0.1.999.7777", "PLANTED^INLUT"
    dataset.VOILUTSequence = Sequence([lut])
    dataset.RescaleType, dataset.ConvolutionKernel = "PLANTED RESCALE", "PLANTED KERNEL"
    dataset.PatientID, dataset.PatientName, dataset.StudyInstanceUID, dataset.SOPInstanceUID = (
        patient,
        f"PLANTED^{patient}",
        study,
        sop,
    )
    dataset.file_meta.MediaStorageSOPInstanceUID = sop
    block = dataset.private_block(0x0099, "PLANTED VENDOR", create=True)
    block.add_new(0x01, "LO", "PLANTED PRIVATE NAME")
    return dataset


@pytest.fixture(scope="module")
def deidentified(tmp_path_factory):
    source, target = tmp_path_factory.mktemp("scans"), tmp_path_factory.mktemp("out") / "clean"
    files = {
        "john-smith-1950-a.dcm": ("PLANTEDPATIENT1", "1.2.826.0.1.999.5000", "1.2.826.0.1.999.5001"),
        "john-smith-1950-b.dcm": ("PLANTEDPATIENT1", "1.2.826.0.1.999.5000", "1.2.826.0.1.999.5002"),
        "mary-jones.dcm": ("PLANTEDPATIENT2", "1.2.826.0.1.999.6000", "1.2.826.0.1.999.6001"),
    }
    for name, (patient, study, sop) in files.items():
        scan(patient, study, sop).save_as(source / name, enforce_file_format=True)
    (source / "notes.txt").write_text("not an image")
    report = deidentify_folder(source, target)
    return source, target, report


def every_value(dataset) -> list[str]:
    values = [repr(element.value) for element in dataset.file_meta] if hasattr(dataset, "file_meta") else []
    return values + [repr(element.value) for element in dataset.iterall() if element.keyword != "PixelData"]


def test_no_planted_value_is_left_in_any_element_of_any_file(deidentified):
    source, target, report = deidentified
    outputs = sorted(target.iterdir())
    assert report.written == 3 and report.not_dicom == 1 and not report.unreadable and len(outputs) == 3
    for path in outputs:
        dataset = pydicom.dcmread(path)
        leftovers = [
            value
            for value in every_value(dataset)
            if "PLANTED" in value or PLANTED_DATE in value or "1.2.826.0.1.999" in value
        ]
        assert not leftovers, (path.name, leftovers[:5])
        assert not any(element.tag.is_private for element in dataset.iterall())
        assert dataset.PatientIdentityRemoved == "YES" and "PS3.15" in dataset.DeidentificationMethod
        assert "smith" not in path.name and "jones" not in path.name


def test_a_patients_files_keep_one_pseudonym_one_date_offset_and_their_study(deidentified):
    source, target, _ = deidentified
    cleaned = [pydicom.dcmread(p) for p in sorted(target.iterdir())]
    by_patient = {}
    for dataset in cleaned:
        by_patient.setdefault(str(dataset.PatientID), []).append(dataset)
    assert sorted(len(files) for files in by_patient.values()) == [1, 2]
    first, second = next(files for files in by_patient.values() if len(files) == 2)
    assert first.StudyInstanceUID == second.StudyInstanceUID and first.SOPInstanceUID != second.SOPInstanceUID
    assert first.StudyDate == second.StudyDate and first.StudyDate != PLANTED_DATE
    assert (
        pydicom.valuerep.validate_value("UI", first.StudyInstanceUID, 2) is None and len(first.StudyInstanceUID) <= 64
    )
    original = pydicom.dcmread(next(p for p in source.iterdir() if p.name.endswith("-a.dcm")))
    assert first.PixelData == original.PixelData  # the pixels are untouched


def test_the_deidentified_files_load_through_the_imaging_loader_grouped_by_patient(deidentified):
    from families.imaging.loaders import read_dicom_folder

    _, target, _ = deidentified
    studies = {str(pydicom.dcmread(p).StudyInstanceUID) for p in target.iterdir()}
    labels = target.parent / "labels.csv"
    pd.DataFrame({"study_id": sorted(studies), "label": ["lesion", "normal"]}).to_csv(labels, index=False)
    table = read_dicom_folder(target, labels, 32, 1, 10**8).table
    assert table["readable"].all() and table["label"].notna().all()
    assert table["patient"].nunique() == 2


def test_the_cli_deidentifies_a_folder_and_refuses_a_non_empty_output(deidentified, tmp_path):
    from typer.testing import CliRunner

    from cli import app

    source, target, _ = deidentified
    done = CliRunner().invoke(app, ["deidentify", str(source), "--output", str(tmp_path / "fresh")])
    assert done.exit_code == 0 and "wrote 3 de-identified files" in done.output and "PLANTED" not in done.output, (
        done.output
    )
    again = CliRunner().invoke(app, ["deidentify", str(source), "--output", str(target)])
    assert again.exit_code == 2 and "is not empty" in again.output and "Traceback" not in again.output


def test_a_repeated_instance_is_written_once_and_files_without_an_id_are_told_apart_by_name(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    scan("P1", "1.2.3", "1.2.3.4").save_as(source / "a.dcm", enforce_file_format=True)
    scan("P1", "1.2.3", "1.2.3.4").save_as(source / "b.dcm", enforce_file_format=True)  # the same SOP instance again
    for name, who in (("c.dcm", "PLANTED^ONE"), ("d.dcm", "PLANTED^TWO")):
        anonymous = scan("", "1.2.3", f"1.2.3.{len(name) + ord(name[0])}")
        del anonymous.PatientID
        anonymous.PatientName = who
        anonymous.save_as(source / name, enforce_file_format=True)
    report = deidentify_folder(source, tmp_path / "out")
    assert (report.written, report.duplicates, report.unreadable) == (
        3,
        1,
        [],
    ) and "1 repeated SOP instances" in report.summary()
    pseudonyms = {str(pydicom.dcmread(p).PatientName) for p in (tmp_path / "out").iterdir()}
    assert len(pseudonyms) == 3 and not any("PLANTED" in p for p in pseudonyms)


def test_an_unreadable_dicom_is_counted_by_position_and_the_rest_are_written(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    scan("P", "1.2.3", "1.2.3.4").save_as(source / "a.dcm", enforce_file_format=True)
    (source / "b.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 64)  # the magic, then garbage
    report = deidentify_folder(source, tmp_path / "out")
    assert report.written == 1 and report.unreadable == [1] and "positions, 0-based: 1" in report.summary()


def test_nothing_kept_can_hold_free_text():
    # the keep-list's safety rests on this: a kept LO, SH, ST, LT, UT, UC or PN could carry a name a vendor put there
    from families.imaging.dicom_deidentify import KEPT

    assert all(tag_for_keyword(keyword) is not None for keyword in KEPT)
    text = {
        keyword: dictionary_VR(tag_for_keyword(keyword))
        for keyword in KEPT
        if {"LO", "SH", "ST", "LT", "UT", "UC", "PN", "AE"} & set(dictionary_VR(tag_for_keyword(keyword)).split(" or "))
    }
    assert text == {}
