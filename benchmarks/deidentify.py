"""De-identification on SYNTHETIC notes of 13 styles (tests/synthetic_notes.py) and on the real drug reviews.

    python benchmarks/deidentify.py [--notes 20]

Per style group (the styles tuned on; round-2 styles never tuned on): recall per identifier type with a bootstrap
95% CI over templates (a template's notes are not independent), token-level precision (replaced tokens that belong to an
identifier / all replaced tokens),
clinical content kept, and notes per second. Then how many spans it replaces in the 979 real drug reviews (which hold
no patient names: every replaced "name" there is a false positive, mostly brand names).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import medmaas  # noqa: E402,F401

RESAMPLES = 1000


def token_precision(notes, runs) -> float:
    """Of the word tokens a de-identifier replaced, the share inside a planted identifier span."""
    import regex

    replaced = inside = 0
    for note, run in zip(notes, runs):
        identifiers = [range(s.start, s.end) for s in note.spans if not s.kind.startswith("CLINICAL")]
        for found in run.found:
            for token in regex.finditer(r"\w+", note.text[found.start : found.end]):
                position = found.start + token.start()
                replaced += 1
                inside += any(position in span for span in identifiers)
    return inside / replaced if replaced else float("nan")


def recall_with_ci(notes, runs, per_template: int, seed: int = 0) -> dict[str, str]:
    """Per type: recall (a span counts when every character was replaced; CLINICAL: kept untouched) and its bootstrap
    CI, resampling whole templates (a template's notes miss alike: notes are not independent)."""
    import numpy as np

    hits: dict[str, list[tuple[int, bool]]] = {}
    for number, (note, run) in enumerate(zip(notes, runs)):
        covered = {i for f in run.found for i in range(f.start, f.end)}
        for span in note.spans:
            characters = set(range(span.start, span.end))
            ok = not (characters & covered) if span.kind.startswith("CLINICAL") else characters <= covered
            hits.setdefault(span.kind, []).append((number, ok))
    rng, out = np.random.default_rng(seed), {}
    for kind, pairs in sorted(hits.items()):
        templates = len(notes) // per_template
        by_note = np.zeros((templates, 2))
        for number, ok in pairs:
            by_note[number // per_template] += (ok, 1)
        draws = rng.integers(0, templates, size=(RESAMPLES, templates))
        sums = by_note[draws].sum(axis=1)
        with np.errstate(invalid="ignore"):
            ratios = sums[:, 0] / sums[:, 1]  # a resample without this type has no recall for it: left out (nan)
        point = by_note[:, 0].sum() / by_note[:, 1].sum()
        out[kind] = (
            f"{point:.3f} ({np.nanquantile(ratios, 0.025):.3f}-{np.nanquantile(ratios, 0.975):.3f}), "
            f"n={int(by_note[:, 1].sum())} "
            f"in {int((by_note[:, 1] > 0).sum())} templates"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notes", type=int, default=20, help="notes per template")
    args = parser.parse_args()
    import pandas as pd
    from synthetic_notes import HELD_OUT_STYLES, NAME_LOCALES, ROUND_2_STYLES, STYLES, TUNING_STYLES, SyntheticNotes
    from synthetic_notes_round3 import ROUND_3_HELD_OUT, ROUND_3_STYLES, ROUND_3_TUNING
    from synthetic_notes_round4 import ROUND_4_HELD_OUT, ROUND_4_STYLES, ROUND_4_TUNING

    from blocks.deidentify import Deidentifier

    started = time.perf_counter()
    deidentifier = Deidentifier()
    print(f"ready in {time.perf_counter() - started:.1f} s (spaCy, vocabularies, name gazetteer)")
    groups = {
        "tuned on (round 1, 8 styles)": ([t for style in TUNING_STYLES + HELD_OUT_STYLES for t in STYLES[style]], 24),
        "tuned on (round 2, 5 styles)": ([t for style in ROUND_2_STYLES for t in STYLES[style]], 23),
        "tuned on (round 3, 5 styles)": ([t for style in ROUND_3_TUNING for t in ROUND_3_STYLES[style]], 31),
        "never tuned on (round 3, 5 styles, an author who never saw the rules)": (
            [t for style in ROUND_3_HELD_OUT for t in ROUND_3_STYLES[style]],
            32,
        ),
        "round 4, tuning half (5 styles)": ([t for style in ROUND_4_TUNING for t in ROUND_4_STYLES[style]], 41),
        "never tuned on (round 4, 5 styles, another author who never saw the rules)": (
            [t for style in ROUND_4_HELD_OUT for t in ROUND_4_STYLES[style]],
            42,
        ),
    }
    for name, (templates, seed) in groups.items():
        notes = SyntheticNotes(seed, NAME_LOCALES).notes(templates, args.notes)
        started = time.perf_counter()
        runs = deidentifier.run([n.text for n in notes])
        seconds = time.perf_counter() - started
        print(
            f"\n{name}: {len(notes)} notes, {len(notes) / seconds:.0f} notes/s; token-level precision "
            f"{token_precision(notes, runs):.3f}"
        )
        for kind, figure in recall_with_ci(notes, runs, args.notes).items():
            print(f"  {kind:18s} {figure}")
    reviews = pd.read_csv(Path(__file__).resolve().parent.parent / "data" / "raw" / "drug_review_texts.csv", dtype=str)
    column = "review" if "review" in reviews.columns else reviews.columns[-1]
    runs = deidentifier.run(reviews[column].fillna("").tolist())
    counts = pd.Series([f.entity for r in runs for f in r.found]).value_counts()
    print(f"\nreal drug reviews ({len(runs)}, column {column!r}): {int(counts.sum())} spans replaced; {dict(counts)}")


if __name__ == "__main__":
    main()
