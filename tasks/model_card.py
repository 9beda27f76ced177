"""The model card logged with every registered version (and the one `medmaas champion` shows)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pandas as pd

from medmaas.family import Family, Split
from medmaas.provenance import Provenance


def protocol(family: Family, decision, best, board: pd.DataFrame | None, on_test) -> str:
    """One paragraph a reviewer reads first: what chose the model, what the test set measured, and what the gate
    found."""
    primary = family.primary_metric
    candidates = (
        int((board["fit_s"] != "").sum()) if board is not None and "fit_s" in board else 1
    )  # variants and failures have no fit time
    rows = best.evaluation.rows
    unit = f"resampling whole {rows.unit}s" if rows is not None and rows.unit != "row" else "resampling rows"
    parts = [
        f"{candidates} candidate{'s' if candidates != 1 else ''} trained on the training side only. "
        f"`{best.fitted.candidate}` was chosen by "
        f"its training-side {primary} (cross-validation or a validation split grouped like the test split; a network's "
        "validation "
        f"split also stopped its training, so its score there is somewhat optimistic), not by the test set.",
        f"The test set then measured the chosen model once: {primary} {best.evaluation.metrics[primary]} (bootstrap "
        f"95% CI, {unit}).",
    ]
    if on_test is not None:
        parts.append(
            on_test.sentence(primary)
            + " Other candidates' held-out figures are shown for the record; they chose nothing."
        )
    acceptance = family.settings.acceptance
    parts.append(
        "Floors and ceilings were checked on "
        + ("the CI's cautious end." if acceptance.floors_on == "lower_bound" else "the point estimates.")
    )
    if decision.comparisons:
        parts += [c.sentence(primary) + "." for c in decision.comparisons]
        parts.append(
            f"Rule: promote when each paired 95% CI has its low end >= -{acceptance.max_regression}; with a margin "
            "this small "
            "against the CI's width, a challenger no better than the champion is usually kept as challenger."
        )
    elif decision.champion_version is None:
        parts.append("There was no champion to compare with.")
    return " ".join(parts)


def render_model_card(
    family: Family,
    decision,
    best,
    split: Split,
    provenance: Provenance,
    data_summary: dict[str, Any],
    subgroups: pd.DataFrame | None = None,
    board: pd.DataFrame | None = None,
    on_test=None,
) -> str:
    metrics = best.evaluation.metrics
    descriptions = {m.name: m for m in family.metrics}
    status = "champion" if decision.promoted else "challenger (not promoted)"
    lines = [
        f"# Model card: {decision.registered_model} version {decision.challenger_version}",
        "",
        f"*{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC · family `{family.name}` · candidate "
        f"`{best.fitted.candidate}` · status: **{status}***",
        "",
        "## Protocol",
        protocol(family, decision, best, board, on_test),
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
        "## Held-out metrics of the chosen model (test set, bootstrap 95% CI)",
        "| metric | value | 95% CI | meaning |",
        "|---|---|---|---|",
        *[
            f"| {n} | {e.value:.4f} | [{e.low:.4f}, {e.high:.4f}] | {descriptions[n].description} "
            f"({descriptions[n].reading}) |"
            for n, e in metrics.items()
        ],
        "",
        f"Hyperparameters chosen on the training split: `{best.fitted.hyperparameters}`"
        + (
            f" (training-side {family.primary_metric} {best.fitted.tuning_score:.4f})."
            if best.fitted.tuning_score is not None
            else "."
        ),
        "",
        *(
            ["## Held-out metrics by subgroup", subgroups.to_markdown(index=False), ""]
            if subgroups is not None and len(subgroups)
            else []
        ),
        *[
            line
            for name, table in best.evaluation.tables.items()
            for line in (f"## {name[:1].upper()}{name[1:]}", table.to_markdown(index=False), "")
        ],
        *(
            [
                "## Every candidate: the training-side score that ranked them, and the same held-out set (for the "
                "record)",
                board.to_markdown(index=False),
                "",
            ]
            if board is not None and len(board)
            else []
        ),
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
