"""The imaging champion's out-of-distribution detector: its cost per image beside the classifier's, and its table.

    python benchmarks/imaging_ood.py [--images 512]

Needs an imaging champion registered with a detector in the repository's registry (`make pipeline`). Times, in-process
on the held-out images of the family's split: the classifier alone, each score, and what `/predict` computes (the
classifier and the served score); then prints the out-of-distribution table as measured at registration (held-out
images against far-off images and shifted copies; families/imaging/ood.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import medmaas  # noqa: E402,F401

ROOT = Path(__file__).resolve().parent.parent


def per_image_ms(work, images, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        work(images)
        best = min(best, time.perf_counter() - started)
    return 1000 * best / len(images)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--alias", default="champion", help="the registered version to time (champion, challenger)")
    args = parser.parse_args()
    from families import family_class, load_params
    from medmaas.flavors import load_model

    params = load_params()
    family = family_class("imaging")(params.families["imaging"], params.project.seed)
    model = load_model(f"models:/{family.registered_model}@{args.alias}")
    detector = getattr(model, "ood", None)
    if detector is None:
        sys.exit(f"the imaging {args.alias} carries no detector: retrain it (`medmaas train imaging`)")
    pixels = family.split(family.load()).test.pixels[: args.images]
    print(f"imaging {args.alias}, {len(pixels)} held-out images, best of 3, ms per image:")
    print(f"  classifier alone        {per_image_ms(model.predict_proba, pixels):.3f}")
    for score in ("reconstruction", "mahalanobis"):
        print(f"  {score:<23} {per_image_ms(lambda x, s=score: detector.scores(model, x, s), pixels):.3f}")
    served = per_image_ms(lambda x: (model.predict_proba(x), detector.scores(model, x)), pixels)
    print(f"  /predict's work ({detector.served}) {served:.3f}")
    print(f"threshold {detector.threshold:.4g}: {detector.describe()['how']}")
    table = ROOT / "reports" / family.registered_model / "out_of_distribution.md"
    print(table.read_text() if table.is_file() else f"(no {table.relative_to(ROOT)} yet)")


if __name__ == "__main__":
    main()
