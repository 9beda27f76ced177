"""De-identification on SYNTHETIC notes with known spans (tests/synthetic_notes.py): recall per identifier type, and the
clinical content that must survive. The held-out templates were written before the recognizers were first measured."""

import pytest
from synthetic_notes import (
    HELD_OUT,
    HELD_OUT_STYLES,
    NAME_LOCALES,
    ROUND_2_STYLES,
    STRUCTURED,
    STYLES,
    TUNING,
    TUNING_STYLES,
    SyntheticNotes,
    score,
)
from synthetic_notes_round3 import ROUND_3_HELD_OUT, ROUND_3_STYLES, ROUND_3_TUNING

from blocks.deidentify import PLACEHOLDERS, Deidentifier


@pytest.fixture(scope="module")
def deidentifier() -> Deidentifier:
    return Deidentifier()


@pytest.fixture(scope="module", params=[("tuning", TUNING, 11), ("held-out", HELD_OUT, 12)], ids=lambda p: p[0])
def measured(request, deidentifier):
    _, templates, seed = request.param
    notes = SyntheticNotes(seed).notes(templates, 30)
    runs = deidentifier.run([n.text for n in notes])
    return notes, runs, score(notes, [r.found for r in runs])


def test_structured_identifiers_are_found_at_least_99_percent_and_names_90(measured):
    # given SYNTHETIC notes, when de-identified, then each structured type reaches the goals
    _, _, figures = measured
    for kind in STRUCTURED:
        assert figures[kind]["share"] >= 0.99, (kind, figures[kind])
    assert figures["PERSON"]["share"] >= 0.90, figures["PERSON"]
    for kind in ("AGE_OVER_89", "SSN", "URL", "IP_ADDRESS", "ACCOUNT", "HEALTH_PLAN", "LICENCE", "DEVICE", "ZIP"):
        assert figures[kind]["share"] >= 0.95, (kind, figures[kind])
    assert figures["ADDRESS"]["share"] >= 0.90 and figures["VEHICLE"]["share"] >= 0.90


def test_clinical_content_survives(measured):
    # doses, lab values, vitals, ages up to 89 and eponyms are not identifiers: they must come out untouched
    _, _, figures = measured
    for kind in ("CLINICAL:dose", "CLINICAL:lab", "CLINICAL:vital", "CLINICAL:age", "CLINICAL:eponym"):
        assert figures[kind]["share"] >= 0.98, (kind, figures[kind])
    assert figures["CLINICAL:drug"]["share"] >= 0.80, figures[
        "CLINICAL:drug"
    ]  # brand names are taken for names now and then (docs/families.md)


def test_no_structured_identifier_string_remains_in_the_output(measured):
    notes, runs, _ = measured
    leaked = [
        (span.kind, span.text)
        for note, run in zip(notes, runs)
        for span in note.spans
        if span.kind in STRUCTURED and span.text in run.text
    ]
    assert leaked == []


def test_placeholders_are_typed_and_the_rest_of_the_text_is_kept(deidentifier):
    text = (
        "Seen by Dr. Jane Smith on 03/14/2021, MRN 4471823; call 617-555-0199. A 67-year-old on metformin 500 mg, "
        "HbA1c 7.8%."
    )
    run = deidentifier.run([text])[0]
    assert (
        run.text
        == "Seen by Dr. [NAME] on [DATE], MRN [MRN]; call [PHONE]. A 67-year-old on metformin 500 mg, HbA1c 7.8%."
    )
    assert run.counts() == {"PERSON": 1, "DATE": 1, "MRN": 1, "PHONE": 1}
    assert set(PLACEHOLDERS.values()) >= {
        "[NAME]",
        "[DATE]",
        "[AGE]",
        "[PHONE]",
        "[EMAIL]",
        "[SSN]",
        "[MRN]",
        "[ADDRESS]",
        "[ZIP]",
        "[URL]",
        "[IP]",
    }


def test_eponyms_ages_up_to_89_and_the_year_alone_stay(deidentifier):
    kept = [
        "History of Parkinson's disease and Hodgkin lymphoma since 2015.",
        "An 89-year-old with Crohn's disease.",
        "Osteochondropathy of the left hip; Foster-Kennedy syndrome.",
    ]
    assert deidentifier.replace(kept) == kept
    assert deidentifier.replace(["A 92-year-old woman, aged 95 by her own account"]) == [
        "A [AGE]-year-old woman, aged [AGE] by her own account"
    ]


def test_empty_and_identifier_free_texts_pass_unchanged(deidentifier):
    assert deidentifier.replace(["", "no identifiers here", "BP 120/80"]) == ["", "no identifiers here", "BP 120/80"]


def test_the_cli_deidentifies_every_text_column_of_a_csv_and_names_a_missing_one(tmp_path):
    from typer.testing import CliRunner

    from cli import app

    source, target = tmp_path / "notes.csv", tmp_path / "clean.csv"
    source.write_text(
        'note_id,note,age,doctor\n1,"Seen by Dr. Jane Smith on 03/14/2021, MRN 4471823",67,Dr. Jane Smith\n'
        '2,"Call 617-555-0199 or jane.smith@example.org",45,\n'
    )
    result = CliRunner().invoke(app, ["deidentify", str(source), "-o", str(target)])
    assert result.exit_code == 0, result.output
    written = target.read_text()
    assert (
        "Jane" not in written and "4471823" not in written and "617-555" not in written and "example.org" not in written
    )
    assert "Seen by Dr. [NAME] on [DATE], MRN [MRN]" in written and ",67," in written  # numeric columns as they were
    assert "replaced:" in result.output and "Jane" not in result.output
    missing = CliRunner().invoke(app, ["deidentify", str(source), "-o", str(target), "--column", "letter"])
    assert missing.exit_code == 2 and "no column 'letter'" in missing.output and "Traceback" not in missing.output


def _templates(styles: tuple[str, ...], book: dict[str, list[str]]) -> list[str]:
    return [template for style in styles for template in book[style]]


@pytest.fixture(
    scope="module",
    params=[
        ("tuned on, round 1", _templates(TUNING_STYLES + HELD_OUT_STYLES, STYLES), 24),
        ("tuned on, round 2", _templates(ROUND_2_STYLES, STYLES), 23),
        ("tuned on, round 3", _templates(ROUND_3_TUNING, ROUND_3_STYLES), 31),
        ("never tuned on, round 3", _templates(ROUND_3_HELD_OUT, ROUND_3_STYLES), 32),
    ],
    ids=lambda p: p[0],
)
def styles(request, deidentifier):
    # whole notes of 23 styles: discharge summary, clinic letter, telephone encounter, consult, radiology, nursing,
    # triage, referral; round 2: operative, pathology, social work, medication reconciliation, home visit; round 3 (an
    # author who never saw the rules): ICU, physiotherapy, antenatal, psychiatry, dental, anticoagulation, paramedic,
    # genetic counselling, palliative family meeting, SBAR. Names of 24 origins.
    name, templates, seed = request.param
    notes = SyntheticNotes(seed, NAME_LOCALES).notes(templates, 20)
    return name, score(notes, [r.found for r in deidentifier.run([n.text for n in notes])])


def test_names_in_every_style_and_of_every_origin_are_found(styles):
    # tuned on: 0.996-1.000. Never tuned on (round 3's held-out half, misses never read): 0.962 (0.864 before the
    # gazetteer and the role rules). The goal of 0.99 on styles never tuned on is not met (benchmarks page)
    name, figures = styles
    assert figures["PERSON"]["share"] >= (0.99 if name.startswith("tuned") else 0.95), figures["PERSON"]
    for kind in ("DATE", "PHONE", "ZIP", "ACCOUNT", "MRN", "ADDRESS"):
        assert figures.get(kind, {"share": 1.0})["share"] >= 0.99, (kind, figures[kind])
    for kind in ("CLINICAL:dose", "CLINICAL:lab", "CLINICAL:vital", "CLINICAL:age", "CLINICAL:eponym"):
        assert figures[kind]["share"] == 1.0, (kind, figures[kind])
    assert figures["CLINICAL:drug"]["share"] >= 0.99, figures["CLINICAL:drug"]


@pytest.mark.parametrize(
    "text",
    [
        "Pt's daughter, Olusegun, reports that he fell twice this week.",
        "FONTAINE, KWAME  MRN: 4471823\nSeen for follow-up.",
        "Marguerite Albuquerque (DOB 03/14/1931) lives alone.",
        "Consult requested by Dr. van der Berg-Ó Súilleabháin regarding Crohn's disease.",
        "Yours sincerely,\nŁukasz Zięcik\nConsultant",
        "Olusegun (son) called with questions about metformin 500 mg.",
    ],
    ids=[
        "relation then name",
        "LAST, FIRST in capitals",
        "name opening the note",
        "particles and hyphen",
        "signature",
        "name then relation",
    ],
)
def test_the_names_the_first_review_found_left_are_replaced(deidentifier, text):
    # the three misses quoted in issue #26, and other positions it names
    out = deidentifier.replace([text])[0]
    for name in (
        "Olusegun",
        "FONTAINE",
        "KWAME",
        "Marguerite",
        "Albuquerque",
        "Berg",
        "Súilleabháin",
        "Łukasz",
        "Zięcik",
    ):
        assert name not in out, out
    assert (
        "[NAME]" in out
        and ("Crohn's disease" in out or "Crohn" not in text)
        and ("metformin 500 mg" in out or "metformin" not in text)
    )


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Consent signed in presence of Ondřej.", ["Ondřej"]),
        ("MED REC for TAUFAN WERNECKE", ["TAUFAN", "WERNECKE"]),
        ("Noxolo (son-in-law) will collect the prescription.", ["Noxolo"]),
        ("Checked by Marina (pharm tech), authorised Ige de Bruin (pharmacist).", ["Marina", "Ige", "Bruin"]),
        ("Present: Dr Akar, sons Vajèn and Gloria", ["Akar", "Vajèn", "Gloria"]),
        ("Not detainable. Crisis team (Tiara) to call tomorrow.", ["Tiara"]),
        ("Community midwife Tirtayasa to visit. Key worker Heather.", ["Tirtayasa", "Heather"]),
        ("Offered counselling. Marcel will send leaflet.", ["Marcel"]),
        ("Bereavement call. Spoke to Havse (wife of the late Udyati U. Bumb).", ["Havse", "Udyati", "Bumb"]),
        # round 4: from the styles drawn for tuning (tests/synthetic_notes_round4.py); the held-out half is never read
        ("Grader: Hans-Uwe Serra  Clinical lead: Dindi", ["Hans-Uwe", "Serra", "Dindi"]),
        ("Lead clinician | Crystal Timonen\nKey worker | Nela (CNS)", ["Crystal", "Timonen", "Nela"]),
        ("Gronostaj, Onni | NHS no 537227169 | screened", ["Gronostaj", "Onni", "537227169"]),
        ("LINDNER, NEVISE, aged 97", ["LINDNER", "NEVISE"]),
        ("Patient | Reed, Phillip\nHosp no | MR-552754173", ["Reed", "Phillip", "MR-552754173"]),
        ("Pt: LOPES, MODUPE   Unit no: H626936882", ["LOPES", "MODUPE", "H626936882"]),
        ("Bag returned to lab. Reported by Cristal RN.", ["Cristal"]),
    ],
    ids=[
        "a lone first name, no rule",
        "all capitals, no rule",
        "relation in law",
        "name then role",
        "sons, both",
        "team (name)",
        "role then name",
        "lone name then will",
        "the late",
        "grader, clinical lead",
        "role | name",
        "LAST, First | id",
        "LAST, FIRST, aged",
        "Hosp no | id",
        "unit no",
        "reported by",
    ],
)
def test_names_and_numbers_in_phrasings_the_second_to_fourth_rounds_found_are_replaced(deidentifier, text, names):
    out = deidentifier.replace([text])[0]
    assert not [name for name in names if name in out], out


@pytest.mark.parametrize(
    "text",
    [
        "Hx Guillain-Barre syndrome and Sjogren syndrome, Bell's palsy.",
        "Warfarin stopped, Augmentin 10 mg PO daily started.",
        "I have been on Yaz for 4 months. People will gain weight.",
        "Plan agreed with consultant Neurologist.",
        "Hope this helps. Urine NAD. Review Mon.",
        "Plan, Review - Monday\nPlan, Review | Monday",
    ],
    ids=[
        "hyphenated eponyms",
        "an unknown brand before a dose",
        "a brand after on",
        "a role alone",
        "English words",
        "headings",
    ],
)
def test_clinical_words_brands_and_english_words_are_no_names(deidentifier, text):
    assert deidentifier.replace([text])[0] == text


def test_long_runs_of_particles_and_capitalised_words_cannot_hang_the_name_patterns():
    # "De De De ..." once made the particle patterns backtrack for seconds per pattern (a hostile client's 5,000
    # characters): each pattern must finish far inside a generous deadline (regex raises TimeoutError past it)
    import regex

    from blocks.deidentify import NAME_RUN, PATTERNS, PERSON_PATTERNS, STRICT_PATTERNS, TITLED_PATTERNS

    flags = regex.DOTALL | regex.MULTILINE
    texts = (
        "De " * 1600 + "x",
        "Dr. " + "De la " * 800,
        "Van Der " * 600 + "son",
        "Ab " * 1600 + ", Cd 42",
        "sons " + "Ab, " * 1200 + "and Cd",
        "lives at 1 " + "A" * 5000,
        "Mac an " * 800 + "x",
    )
    for text in texts:
        for pattern, _ in PERSON_PATTERNS + TITLED_PATTERNS + STRICT_PATTERNS + PATTERNS["ADDRESS"]:
            list(regex.finditer(pattern, text, flags=flags, timeout=5.0))
        list(NAME_RUN.finditer(text, timeout=5.0))
