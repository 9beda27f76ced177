"""SYNTHETIC clinical notes with known identifier spans, for measuring de-identification (no real patient anywhere).

No public clinical de-identification corpus ships in a package, so notes are filled from templates with seeded Faker
values, and every span is recorded as it is written: identifiers (which must be replaced) and clinical content (drug
names, doses, lab values, ages up to 89, eponyms: which must survive). Two template sets: ``TUNING`` was used while
writing blocks/deidentify.py; ``HELD_OUT`` was written before its first measurement and never tuned on.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

STRUCTURED = ("MRN", "PHONE", "EMAIL", "SSN", "DATE")  # the types held to recall >= 0.99

# {slot} -> (identifier type or "CLINICAL:<kind>", generator name). Clinical slots must survive de-identification.
SLOTS = {
    "name": ("PERSON", "name"),
    "doctor": ("PERSON", "last_name"),
    "doctor_full": ("PERSON", "name_plain"),
    "relative": ("PERSON", "first_name"),
    "name_lf": ("PERSON", "last_first"),
    "name_caps_lf": ("PERSON", "last_first_caps"),
    "name_caps": ("PERSON", "name_caps"),
    "nurse_first": ("PERSON", "first_name"),
    "name_plain_2": ("PERSON", "name_plain"),
    "date": ("DATE", "date"),
    "date2": ("DATE", "date"),
    "phone": ("PHONE", "phone"),
    "fax": ("PHONE", "phone"),
    "email": ("EMAIL", "email"),
    "ssn": ("SSN", "ssn"),
    "mrn": ("MRN", "mrn"),
    "account": ("ACCOUNT", "account"),
    "plan": ("HEALTH_PLAN", "plan"),
    "licence": ("LICENCE", "licence"),
    "device": ("DEVICE", "device"),
    "vin": ("VEHICLE", "vin"),
    "plate": ("VEHICLE", "plate"),
    "url": ("URL", "url"),
    "ip": ("IP_ADDRESS", "ip"),
    "street": ("ADDRESS", "street"),
    "city": ("ADDRESS", "city"),
    "zip": ("ZIP", "zip"),
    "old_age": ("AGE_OVER_89", "old_age"),
    "age": ("CLINICAL:age", "age"),
    "drug": ("CLINICAL:drug", "drug"),
    "drug2": ("CLINICAL:drug", "drug"),
    "dose": ("CLINICAL:dose", "dose"),
    "lab": ("CLINICAL:lab", "lab"),
    "lab2": ("CLINICAL:lab", "lab"),
    "eponym": ("CLINICAL:eponym", "eponym"),
    "vital": ("CLINICAL:vital", "vital"),
}

TUNING = [
    "Patient: {name}\nDOB: {date}\nMRN: {mrn}\n"
    "A {age}-year-old admitted with chest pain. Started {drug} {dose}. {lab}.",
    "Discharge summary for {name_lf} (MRN {mrn}). Seen by Dr. {doctor} on {date}. Follow up call {phone}. Continue "
    "{drug} {dose}.",
    "{name} is a {age} yo with a history of {eponym}. Labs on {date}: {lab}, {lab2}. Plan: {drug} {dose} daily.",
    "Contact: {email} / {phone}. Address: {street}, {city} {zip}. Insurance member ID {plan}.",
    "SSN {ssn}. Account number {account}. Admitted {date}, discharged {date2}. {vital}.",
    "Pacemaker serial number {device} checked on {date}. Patient reports no syncope. {drug} {dose} continued.",
    "Referred by {doctor_full}, MD. Fax {fax}. Portal: {url}. Login from {ip}.",
    "The patient, a {old_age}-year-old widow, lives at {street}. Daughter {relative} visits weekly. {eponym} stable.",
    "Vehicle involved: VIN {vin}, license plate {plate}. Driver {name} sustained a femur fracture on {date}.",
    "DEA license {licence} on file for the prescriber. {drug} {dose} for pain; {lab}.",
]
HELD_OUT = [
    "CC: {name} called on {date} asking about {drug}. Callback number {phone}. Chart #{mrn}.",
    "{date}: {age}-year-old seen in clinic. BP and HR: {vital}. Hx of {eponym}. Rx {drug2} {dose}. Next visit {date2}.",
    "Electronically signed by {doctor_full}, MD on {date}. Email {email}. Pt id: {mrn}.",
    "Emergency contact: spouse {relative} at {phone}. Home: {street}, {city} {zip}.",
    "Claim {account} submitted to plan {plan}; subscriber SSN {ssn}. Service date {date}.",
    "Note: {name} ({old_age} y/o) with {eponym}; {lab}; {lab2}. Continue {drug} {dose} and {drug2}.",
    "Device: insulin pump S/N {device}. Telemetry uploaded from {ip} to {url} on {date}.",
    "Pt arrived by car (plate {plate}). Provider license number {licence}. Mrs. {doctor} accompanied the patient.",
    "Medical record number: {mrn}. Admitted {date}; {age} years old; {drug} {dose}; {vital}; {lab}.",
    "Patient {name} reached at {fax} (fax) on {date2}; MRN {mrn}; {lab}.",
]

# Note styles for names in every position (issue #26): whole notes, several lines, identifiers where real notes put
# them. Split by style (never by note): the rules in blocks/deidentify.py were tuned on TUNING_STYLES only;
# HELD_OUT_STYLES were written at the same time and measured, not looked at, while tuning.
STYLES = {
    "discharge_summary": [
        "DISCHARGE SUMMARY\n{name_caps_lf}  MRN: {mrn}\nAdmitted: {date}  Discharged: {date2}\nAttending: "
        "{doctor_full}, MD\n"
        "HPI: {age}F with {eponym} admitted with dyspnea. Started {drug} {dose}.\nDisposition: home with daughter "
        "{relative}.",
        "{name} was admitted on {date} for {eponym}. {relative}, her son, was at the bedside. Discharged on {drug} "
        "{dose}; "
        "follow-up with Dr. {doctor} in 2 weeks.",
        "Discharge Summary - {name_lf}\nPCP: Dr. {doctor_full}\nCourse: {lab}; {vital}. Wife ({relative}) updated by "
        "phone {phone}.",
    ],
    "telephone_encounter": [
        "TELEPHONE ENCOUNTER {date}\nCaller: {relative} (daughter)\nRe: {name}, DOB {date2}\n{relative} reports the "
        "patient is more confused "
        "since starting {drug}. Advised to hold it. Call back {phone}.",
        "Spoke with pt {name} re: {lab}. Pt's husband, {relative}, asked about {drug2}. RN {nurse_first} {doctor}.",
        "Phone note: message left for {name} at {phone}. Per {relative} (neighbour) the patient is away until {date}.",
    ],
    "radiology_report": [
        "EXAM: CT head without contrast\nPATIENT: {name_caps_lf}\nACCESSION: {account}\nCLINICAL HISTORY: {age} yo, "
        "fall.\n"
        "FINDINGS: No acute hemorrhage.\nRead by: {doctor_full}, MD  {date}",
        "MRI brain {date}. Comparison: prior from {date2}. Referring: Dr. {doctor}. Impression: findings of {eponym}. "
        "Dictated by {doctor_full}.",
        "{name_caps} - CXR PA/LAT - {date}\nNo consolidation. Discussed with Dr. {doctor} at {phone}.",
    ],
    "nursing_note": [
        "0700 Received pt {name} from ED. A&Ox3. {vital}. Family: son {relative} at bedside, phone {phone}.",
        "Nursing: pt ambulated with PT. Visitor {name} (friend) present. {drug} {dose} given at 2100. - {nurse_first} "
        "{doctor}, RN",
        "Shift note {date}: {name}, {age} y/o, pain controlled on {drug}. Caregiver {relative} taught insulin "
        "technique.",
    ],
    "clinic_letter": [
        "Dear Dr. {doctor},\n\nI saw {name} in clinic today ({date}). {relative}, her partner, accompanied her. She is "
        "a {age}-year-old "
        "with {eponym}; {lab}. I have started {drug} {dose}.\n\n"
        "Yours sincerely,\n{doctor_full}\nConsultant Neurologist",
        "Re: {name_caps_lf} (DOB {date}; NHS/MRN {mrn})\nThank you for referring this pleasant {age}-year-old man. His "
        "brother "
        "{relative} gave much of the history. Plan: {drug2} {dose}.\n{doctor_full}, MD",
        "{name} attended the diabetes clinic on {date} with her mother, {relative}. {lab}. Continue {drug}.\nCc: Dr. "
        "{doctor_full}",
    ],
    "consult": [
        "CONSULT NOTE\nRequesting physician: {doctor_full}\nReason: {eponym}\n{name} is a {age} y/o seen at the "
        "request of Dr. {doctor}. "
        "Lives with her sister {relative}. Recommend {drug} {dose}.",
        "Cardiology consult for {name_lf} on {date}. Pt's daughter, {relative}, reports syncope. {vital}. Seen with "
        "attending {doctor_full}.",
        "ID consult. {name} (MRN {mrn}) with {lab}. Started {drug2}. Discussed with {relative} (health care proxy) at "
        "{phone}.",
    ],
    "emergency_triage": [
        "ED TRIAGE {date} 14:32\n{name_caps_lf}, {age}M, arrived by EMS. CC: chest pain. {vital}. Accompanied by wife "
        "{relative}.",
        "Triage: {name}, brought in by friend {relative}. {vital}. Hx {eponym}. Meds: {drug}. Triage RN: {nurse_first} "
        "{doctor}.",
        "{name} presents after fall at home. Neighbor {relative} found her. {age} years old. EMS contact {phone}.",
    ],
    "referral_letter": [
        "Referral to Dr. {doctor_full}\nPatient: {name} DOB: {date}\nAddress: {street}, {city} {zip}\nReason: "
        "{eponym}. Her son {relative} "
        "will bring her.\nReferring GP: Dr. {doctor}",
        "To whom it may concern: please see {name_lf} regarding {lab}. Current meds: {drug} {dose}. Contact daughter "
        "{relative} on {phone}.",
        "Dear colleague, I would be grateful if you could review {name}, {age}, with {eponym}. Next of kin: {relative} "
        "(husband).",
    ],
    # round 2, written before the round-1 held-out styles above joined the tuning set; measured once (0.923), then tuned
    # on (round 3, tests/synthetic_notes_round3.py, is the held-out set now)
    "operative_note": [
        "OPERATIVE NOTE\nSurgeon: {doctor_full}\nAssistant: {nurse_first} {doctor}\nPatient: {name_caps_lf}\nDate of "
        "surgery: {date}\n"
        "Procedure: laparoscopic cholecystectomy. EBL 20 mL. Family ({relative}, daughter) informed.",
        "Pre-op: {name}, {age}, {eponym}. Consent signed in presence of {relative}. Anesthesia by {doctor_full}. "
        "Post-op {drug} {dose}.",
    ],
    "pathology_report": [
        "SURGICAL PATHOLOGY REPORT\nName: {name_lf}    Acc#: {account}\nCollected: {date}\nDIAGNOSIS: "
        "benign.\nPathologist: {doctor_full}, MD",
        "Specimen from {name} received {date}. Gross: 2 cm nodule. Signed out by Dr. {doctor} ({phone}).",
    ],
    "social_work_note": [
        "SW note: met with {name} and her granddaughter {relative} re: discharge planning. {name_plain_2} (pt's "
        "landlord) can be reached at {phone}.",
        "Social work: {relative} {doctor}, niece and POA, lives at {street}, {city} {zip}. Pt {name} agrees to SNF "
        "placement.",
    ],
    "medication_reconciliation": [
        "MED REC {date} for {name_caps}\n- {drug} {dose}\n- {drug2}\nReviewed with the patient's wife {relative}. "
        "Pharmacist: {doctor_full}, PharmD",
        "{name} brought her pill bottles; {relative} (son-in-law) manages them. Stopped {drug}. Verified by "
        "{nurse_first} {doctor}, RPh.",
    ],
    "home_visit": [
        "HOME HEALTH VISIT\nClient: {name}\nAddress: {street}\nPresent: {relative} (spouse), {name_plain_2} "
        "(aide)\n{vital}. Wound healing.",
        "Visited {name} at home on {date}. Her cousin {relative} was present. {lab}. Next visit {date2} with nurse "
        "{nurse_first}.",
    ],
}
TUNING_STYLES = ("discharge_summary", "telephone_encounter", "radiology_report", "nursing_note")
HELD_OUT_STYLES = (
    "clinic_letter",
    "consult",
    "emergency_triage",
    "referral_letter",
)  # round 1: measured once, then tuned on (see docs/families.md)
ROUND_2_STYLES = (  # measured once, then tuned on
    "operative_note",
    "pathology_report",
    "social_work_note",
    "medication_reconciliation",
    "home_visit",
)
NAME_LOCALES = (
    "en_US",
    "en_GB",
    "en_IN",
    "es_MX",
    "fr_FR",
    "de_DE",
    "it_IT",
    "pl_PL",
    "pt_BR",
    "nl_NL",
    "tr_TR",
    "vi_VN",
    "fil_PH",
    "ga_IE",
    "zu_ZA",
    "tw_GH",
    "hu_HU",
    "cs_CZ",
    "sv_SE",
    "fi_FI",
    "ro_RO",
    "id_ID",
    "yo_NG",
    "en_NG",
)

DRUGS = [
    "metformin",
    "lisinopril",
    "atorvastatin",
    "Lasix",
    "furosemide",
    "warfarin",
    "Eliquis",
    "apixaban",
    "insulin glargine",
    "Lantus",
    "amoxicillin",
    "Augmentin",
    "prednisone",
    "Zoloft",
    "sertraline",
    "levothyroxine",
    "Synthroid",
    "omeprazole",
    "Nexium",
    "heparin",
    "vancomycin",
    "ceftriaxone",
    "morphine",
    "Dilaudid",
    "gabapentin",
    "Lipitor",
    "Plavix",
    "clopidogrel",
    "aspirin",
    "Keppra",
]
DOSES = [
    "500 mg twice daily",
    "10 mg PO daily",
    "40 mg IV",
    "0.5 mg/kg",
    "20 units at bedtime",
    "81 mg",
    "1 g IV q12h",
    "2.5 mg BID",
    "100 mcg",
    "4 mg q6h PRN",
    "25 mg nightly",
    "5 mL of 10 mg/mL",
]
LABS = [
    "HbA1c 7.8%",
    "creatinine 1.4 mg/dL",
    "potassium 5.1 mmol/L",
    "WBC 12.3 x10^9/L",
    "hemoglobin 9.8 g/dL",
    "troponin 0.04 ng/mL",
    "INR 2.6",
    "sodium 131 mEq/L",
    "eGFR 48 mL/min/1.73m2",
    "LDL 162 mg/dL",
    "TSH 6.2 mIU/L",
    "platelets 98,000/uL",
    "BNP 1250 pg/mL",
]
VITALS = [
    "BP 142/88, HR 96",
    "T 38.4 C, RR 22",
    "SpO2 91% on room air",
    "BP 118/76 mmHg",
    "weight 82 kg, BMI 31.2",
    "pain 7/10",
]
EPONYMS = [
    "Parkinson's disease",
    "Crohn's disease",
    "Hodgkin lymphoma",
    "Alzheimer's disease",
    "Graves' disease",
    "Cushing syndrome",
    "Barrett's esophagus",
    "Guillain-Barre syndrome",
    "Bell's palsy",
    "Hashimoto thyroiditis",
    "Addison's disease",
    "Down syndrome",
    "Kaposi sarcoma",
    "Wilms tumor",
    "Meniere's disease",
    "Raynaud phenomenon",
    "Sjogren syndrome",
    "Tourette syndrome",
]


@dataclass(frozen=True)
class Span:
    kind: str  # an identifier type of blocks.deidentify.PLACEHOLDERS, or CLINICAL:<kind> (content that must survive)
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class SyntheticNote:
    text: str
    spans: tuple[Span, ...]


class SyntheticNotes:
    """Seeded: the same seed gives the same notes."""

    def __init__(self, seed: int, name_locales: tuple[str, ...] = ("en_US",)):
        from faker import Faker

        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)
        self.random = random.Random(seed)
        self.namers = [Faker(locale) for locale in name_locales]  # names of many origins; everything else from en_US
        for offset, namer in enumerate(self.namers):
            namer.seed_instance(seed * 1000 + offset)

    def _person(self):
        return self.random.choice(self.namers)

    def _date(self) -> str:
        day = self.fake.date_between("-60y", "today")
        formats = [
            "%m/%d/%Y",
            "%Y-%m-%d",
            "%B %d, %Y",
            "%d %b %Y",
            "%m-%d-%y",
            "%b %d",
            "%B %Y",
            "%-m/%-d/%Y",
            "%d.%m.%Y",
        ]
        return day.strftime(self.random.choice(formats))

    def value(self, generator: str) -> str:
        f, r = self.fake, self.random
        values = {
            "name": lambda: (
                f"{self._person().first_name()} "
                f"{r.choice(['', f.random_uppercase_letter() + '. '])}{self._person().last_name()}"
            ),
            "name_plain": lambda: f"{self._person().first_name()} {self._person().last_name()}",
            "last_name": lambda: self._person().last_name(),
            "first_name": lambda: self._person().first_name(),
            "last_first": lambda: f"{self._person().last_name()}, {self._person().first_name()}",
            "last_first_caps": lambda: f"{self._person().last_name()}, {self._person().first_name()}".upper(),
            "name_caps": lambda: f"{self._person().first_name()} {self._person().last_name()}".upper(),
            "date": self._date,
            "phone": f.phone_number,
            "email": f.email,
            "ssn": f.ssn,
            "mrn": lambda: r.choice(["", "MR-", "H"]) + str(r.randint(10**5, 10**9)),
            "account": lambda: f.bothify("??######").upper(),
            "plan": lambda: f.bothify("???#########").upper(),
            "licence": lambda: f.bothify("??#######").upper(),
            "device": lambda: f.bothify("??##-####-##??").upper(),
            "vin": f.vin,
            "plate": f.license_plate,
            "url": f.url,
            "ip": f.ipv4,
            "street": f.street_address,
            "city": lambda: f"{f.city()}, {f.state_abbr()}",
            "zip": f.zipcode,
            "old_age": lambda: str(r.randint(90, 104)),
            "age": lambda: str(r.randint(18, 89)),
            "drug": lambda: r.choice(DRUGS),
            "dose": lambda: r.choice(DOSES),
            "lab": lambda: r.choice(LABS),
            "vital": lambda: r.choice(VITALS),
            "eponym": lambda: r.choice(EPONYMS),
        }
        return values[generator]()

    def note(self, template: str) -> SyntheticNote:
        text, spans, position = "", [], 0
        for match in re.finditer(r"\{(\w+)\}", template):
            text += template[position : match.start()]
            kind, generator = SLOTS[match.group(1)]
            value = self.value(generator)
            spans.append(Span(kind, len(text), len(text) + len(value), value))
            text += value
            position = match.end()
        return SyntheticNote(text + template[position:], tuple(spans))

    def notes(self, templates: list[str], per_template: int) -> list[SyntheticNote]:
        return [self.note(t) for t in templates for _ in range(per_template)]


def score(notes: list[SyntheticNote], found: list) -> dict[str, dict[str, float]]:
    """Per identifier type: recall (an identifier counts when every character of it was replaced); for CLINICAL:<kind>,
    the share that survived untouched. ``found``: per note, the spans a de-identifier replaced (``.start``,
    ``.end``)."""
    hits: dict[str, list[bool]] = {}
    for note, spans in zip(notes, found):
        covered = set()
        for s in spans:
            covered.update(range(s.start, s.end))
        for span in note.spans:
            chars = set(range(span.start, span.end))
            ok = not (chars & covered) if span.kind.startswith("CLINICAL") else chars <= covered
            hits.setdefault(span.kind, []).append(ok)
    return {kind: {"share": sum(v) / len(v), "n": len(v)} for kind, v in sorted(hits.items())}
