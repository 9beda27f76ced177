"""The GitHub workflow: valid against GitHub's schema, least permissions, pinned actions, and the README's commands."""

import re
import sys
from pathlib import Path

import yaml
from support import run_to_end

from medmaas.environment import PROJECT_ROOT

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "ci.yml"


def readme_commands() -> list[str]:
    """The two set-up commands at the top of the README (its first code block), without their comments."""
    block = re.search(r"```bash\n(.*?)```", (PROJECT_ROOT / "README.md").read_text(), re.S).group(1)
    return [line.split("#")[0].strip() for line in block.strip().splitlines()]


def test_the_workflow_is_valid_for_github():
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = run_to_end(
        [str(checker), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        waiting_for="check-jsonschema",
        timeout_s=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflow_passes_a_security_audit():
    auditor = Path(sys.executable).parent / "zizmor"
    result = run_to_end([str(auditor), "--offline", str(WORKFLOW)], waiting_for="zizmor", timeout_s=120)
    assert result.returncode == 0 and "No findings" in result.stdout, result.stdout + result.stderr


def test_jobs_run_the_readme_commands_with_least_permissions_and_pinned_actions():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert {"pull_request", "push", "workflow_dispatch", "schedule"} <= set(triggers)
    assert workflow["permissions"] == {"contents": "read"} and workflow["concurrency"]["cancel-in-progress"] is True
    assert "download.pytorch.org/whl/cpu" in workflow["env"]["PIP_EXTRA_INDEX_URL"]
    runs = {name: [step["run"] for step in job["steps"] if "run" in step] for name, job in workflow["jobs"].items()}
    assert readme_commands() == ["make pipeline", "make test"]
    assert runs["test"] == ["make test"] and runs["pipeline"][0] == "make pipeline"
    assert "dvc metrics diff origin/main" in runs["pipeline"][1] and "GITHUB_STEP_SUMMARY" in runs["pipeline"][1]
    for job in workflow["jobs"].values():
        assert job["timeout-minutes"] <= 60
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
                if step["uses"].startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False  # no token left in .git for later steps
    setup = [s for job in workflow["jobs"].values() for s in job["steps"] if "setup-python" in s.get("uses", "")]
    assert {s["with"]["python-version"] for s in setup} == {"3.11"}
