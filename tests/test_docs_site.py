"""The documentation site builds with no warning, its generated pages hold what the code says, and the README stays
short."""

import os
import re
import sys

import pytest
from support import run_to_end

from medmaas.environment import PROJECT_ROOT


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    built = run_to_end(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(target)],
        waiting_for="mkdocs build --strict",
        timeout_s=300,
        cwd=PROJECT_ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert built.returncode == 0, built.stderr[-3000:]
    assert "WARNING" not in built.stderr, built.stderr[-3000:]
    return target


def test_every_page_of_the_nav_is_built(site):
    import yaml

    nav = yaml.safe_load((PROJECT_ROOT / "mkdocs.yml").read_text())["nav"]

    def pages(entries):
        for entry in entries:
            value = next(iter(entry.values())) if isinstance(entry, dict) else entry
            yield from (pages(value) if isinstance(value, list) else [value])

    for page in pages(nav):
        built = site / ("index.html" if page == "index.md" else f"{page.removesuffix('.md')}/index.html")
        assert built.is_file(), page


def test_the_configuration_reference_lists_every_key_with_its_default_from_the_code(site):
    from families.imaging.near_duplicates import DEFAULT_RADIUS

    page = (site / "configuration-reference" / "index.html").read_text()
    assert "imaging.split.near_duplicate_radius" in page and f"<code>{DEFAULT_RADIUS}</code>" in page
    for key in (
        "prognosis.acceptance.floors_on",
        "clinical_text.data.text_column",
        "project.seed",
        "diagnosis.serving.max_body_bytes",
    ):
        assert key in page, key


def test_the_api_reference_renders_the_family_contract(site):
    page = (site / "api" / "index.html").read_text()
    assert "training_keys" in page and "HeldOutRows" in page


def test_the_readme_is_a_page_long_and_points_into_the_site():
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 10_000
    for link in re.findall(r"\]\((docs/[\w./-]+\.md)\)", readme):
        page = link.removeprefix("docs/")
        assert (PROJECT_ROOT / link).is_file() or page in ("results.md", "configuration-reference.md"), (
            link
        )  # the last two are generated


def test_every_family_has_a_page_whose_leaderboard_is_generated_from_the_pipelines_outputs(site):
    from families import load_params

    params = load_params(PROJECT_ROOT / "params.yaml")
    pages = {path: path.read_text() for path in (PROJECT_ROOT / "docs" / "families").glob("*.md")}
    for name, block in params.families.items():
        (page,) = [path for path, text in pages.items() if f"<!-- leaderboard: {name} -->" in text]
        built = (site / "families" / page.stem / "index.html").read_text()
        board = PROJECT_ROOT / "reports" / (block.registered_model or name) / "leaderboard.md"
        if board.is_file():  # the first candidate of the board the pipeline wrote is on the page, not the marker
            first = board.read_text().splitlines()[2].split("|")[1].strip()
            assert re.search(rf"<td[^>]*>{re.escape(first)}</td>", built), (name, first)
        else:
            assert "No leaderboard yet" in built, name
        assert "<!-- leaderboard" not in built
