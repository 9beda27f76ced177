"""Every test session gets its own MLflow store, Prefect home, report folder and API keys (never the repo's)."""

import os
import tempfile
from pathlib import Path

# Once per process: a test module that imports this file would otherwise run it again and move the state mid-session.
_SESSION_DIR = Path(os.environ.get(f"MEDMAAS_TEST_SESSION_{os.getpid()}") or tempfile.mkdtemp(prefix="medmaas-test-"))
os.environ[f"MEDMAAS_TEST_SESSION_{os.getpid()}"] = str(_SESSION_DIR)
os.environ["MEDMAAS_STATE_DIR"] = str(_SESSION_DIR / "state")
os.environ["MEDMAAS_OUTPUT_DIR"] = str(_SESSION_DIR / "output")
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{_SESSION_DIR / 'state' / 'mlflow' / 'mlflow.db'}"
os.environ["PREFECT_HOME"] = str(_SESSION_DIR / "state" / "prefect")


import pytest  # noqa: E402
import yaml  # noqa: E402
from support import api_key, merged  # noqa: E402

import medmaas  # noqa: E402, F401
from medmaas.environment import PROJECT_ROOT  # noqa: E402

# services (in-process or started by a test) refuse to start without an active key in this session's keys file
api_key()
REPO_PARAMS = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION_DIR


@pytest.fixture(scope="session")
def wdbc_csv(session_dir) -> Path:
    from families.diagnosis.family import Diagnosis

    return Diagnosis.export_bundled(session_dir / "data" / "wdbc.csv")


@pytest.fixture(scope="session")
def diabetes_csv(session_dir) -> Path:
    from families.progression.family import Progression

    return Progression.export_bundled(session_dir / "data" / "diabetes.csv")


@pytest.fixture(scope="session")
def pbcseq_csv(session_dir) -> Path:
    from families.progression_visits.family import ProgressionVisits

    return ProgressionVisits.export_bundled(session_dir / "data" / "pbcseq.csv")


@pytest.fixture(scope="session")
def gbsg2_csv(session_dir) -> Path:
    """GBSG2; the export writes NCCTG lung (ncctg_lung.csv) beside it."""
    from families.prognosis.family import Prognosis

    return Prognosis.export_bundled(session_dir / "data" / "gbsg2.csv")


@pytest.fixture(scope="session")
def drug_reviews_csv(session_dir) -> Path:
    from families.recommendation.family import Recommendation

    return Recommendation.export_bundled(session_dir / "data" / "drug_reviews.csv")


@pytest.fixture(scope="session")
def b3db_csv(session_dir) -> Path:
    from families.bioactivity.family import Bioactivity

    return Bioactivity.export_bundled(session_dir / "data" / "b3db.csv")


@pytest.fixture(scope="session")
def br35h_folder(session_dir) -> Path:
    from families.imaging.family import Imaging

    return Imaging.export_bundled(session_dir / "data" / "br35h")


@pytest.fixture(scope="session")
def icd10cm_csv(session_dir) -> Path:
    """ICD-10-CM descriptions and chapters; the drug reviews' texts are written beside it (drug_review_texts.csv)."""
    from families.clinical_text.family import ClinicalText

    return ClinicalText.export_bundled(session_dir / "data" / "icd10cm_chapters.csv")


@pytest.fixture(scope="session")
def write_params(request, session_dir, wdbc_csv, diabetes_csv, pbcseq_csv, gbsg2_csv, drug_reviews_csv):
    """Write a params file: the repo's, pointed at the test's copies of the data, with overrides merged in."""
    counter = iter(range(10_000))
    copies = {
        "diagnosis": wdbc_csv,
        "progression": diabetes_csv,
        "progression_visits": pbcseq_csv,
        "prognosis": gbsg2_csv,
        "recommendation": drug_reviews_csv,
    }

    def write(overrides: dict | None = None, keep_families: tuple[str, ...] = ("diagnosis",)) -> Path:
        if "bioactivity" in keep_families:  # parsing 7,800 SMILES: only for the sessions that need it
            copies["bioactivity"] = request.getfixturevalue("b3db_csv")
        if "imaging" in keep_families:  # copying 3,000 JPEGs: likewise
            copies["imaging"] = request.getfixturevalue("br35h_folder")
        if "clinical_text" in keep_families:
            copies["clinical_text"] = request.getfixturevalue("icd10cm_csv")
        params = {k: v for k, v in REPO_PARAMS.items() if k == "project" or k in keep_families}
        params = merged(params, {name: {"data": {"path": str(copies[name])}} for name in keep_families})
        params = merged(params, overrides or {})
        path = session_dir / f"params-{next(counter)}.yaml"
        path.write_text(yaml.safe_dump(params, sort_keys=False))
        return path

    return write


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for the whole session (~20 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def pytest_collection_modifyitems(items):
    """A test that starts Prefect (a whole flow) is slow by definition: refuse one that is not marked so."""
    unmarked = [
        item.nodeid
        for item in items
        if "prefect_harness" in item.fixturenames and item.get_closest_marker("slow") is None
    ]
    if unmarked:
        raise pytest.UsageError("mark these @pytest.mark.slow (they run a whole flow):\n  " + "\n  ".join(unmarked))
