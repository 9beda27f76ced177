"""The model card logged with every registered version (and the one `medmaas champion` shows)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pandas as pd

from medmaas.family import Family, Split
from medmaas.provenance import Provenance


def render_model_card(family: Family, decision, best, split: Split, provenance: Provenance, data_summary: dict[str, Any],
                      subgroups: pd.DataFrame | None = None, board: pd.DataFrame | None = None) -> str:
    metrics = best.evaluation.metrics
    descriptions = {m.name: m for m in family.metrics}
    status = "champion" if decision.promoted else "challenger (not promoted)"
    lines = [
        f"# Model card: {decision.registered_model} version {decision.challenger_version}",
        "",
        f"*{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC · family `{family.name}` · candidate `{best.fitted.candidate}` · status: **{status}***",
        "",
        "## Intended use",
        family.intended_use,
        "",
        "## Out of scope",
        family.out_of_scope,
        "",
        "## Data",
        f"- files: {', '.join(provenance.data_files)} (MD5 `{provenance.data_md5}`, as in dvc.lock)",
        *[f"- {key}: {value}" for key, value in data_summary.items()],
        f"- split: {split.description}",
        f"- sizes: {', '.join(f'{k} {v}' for k, v in split.sizes.items())}",
        "",
        "## Held-out metrics (bootstrap 95% CI)",
        "| metric | value | 95% CI | meaning |",
        "|---|---|---|---|",
        *[f"| {n} | {e.value:.4f} | [{e.low:.4f}, {e.high:.4f}] | {descriptions[n].description} ({descriptions[n].reading}) |"
          for n, e in metrics.items()],
        "",
        f"Hyperparameters chosen on the training split: `{best.fitted.hyperparameters}`"
        + (f" (tuning score {best.fitted.tuning_score:.4f})." if best.fitted.tuning_score is not None else "."),
        "",
        *(["## Held-out metrics by subgroup", subgroups.to_markdown(index=False), ""] if subgroups is not None and len(subgroups) else []),
        *(["## Every candidate on the same held-out set", board.to_markdown(index=False), ""] if board is not None and len(board) else []),
        "## Calibration and plots",
        "See `plots/` in this version's run: " + ", ".join(sorted(best.evaluation.figures)) + ".",
        "",
        "## Promotion",
        decision.summary(),
        "",
        *[f"- {'pass' if c.passed else 'FAIL'}: {c.detail}" for c in decision.checks],
        "",
        "## Limitations",
        *[f"- {item}" for item in family.limitations()],
        "",
        "## Provenance",
        f"- git commit `{provenance.git_commit}`; params hash `{provenance.params_hash}`; seed {family.seed}",
        f"- started by: {provenance.started_by}",
        "- no patient identifier is stored in this card, the run, or the model's input example",
    ]
    return "\n".join(lines) + "\n"
