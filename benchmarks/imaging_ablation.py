"""Does augmentation help the imaging CNN? The same network with and without it, over several seeds, on Br35H's grouped
split.

    python benchmarks/imaging_ablation.py [--seeds 0 1 2] [--max-epochs 40]

Each seed draws its own grouped split (near-duplicate groups: families/imaging/near_duplicates.py) and its own
initialisation; both networks see the same split, so the per-seed difference is paired. Prints held-out ROC-AUC per seed
with its bootstrap CI (resampling image groups), the epochs each network ran, then mean and SD over seeds. Needs the
Br35H export (`make pipeline`, or `medmaas ingest imaging`). One thread, as the pipeline trains a candidate.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import medmaas  # noqa: E402,F401


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-epochs", type=int, default=None, help="default: the params' value")
    args = parser.parse_args()
    from blocks.torch_training import one_torch_thread
    from families import family_class, load_params

    params = load_params()
    settings = params.families["imaging"]
    if args.max_epochs:
        candidates = settings.candidates.model_copy(
            update={
                name: getattr(settings.candidates, name).model_copy(update={"max_epochs": args.max_epochs})
                for name in ("cnn", "cnn_no_augmentation")
            }
        )
        settings = settings.model_copy(update={"candidates": candidates})
    tables = family_class("imaging")(settings, 0).load()
    results = {"cnn": [], "cnn_no_augmentation": []}
    for seed in args.seeds:
        family = family_class("imaging")(settings, seed)
        split = family.split(tables)
        for name in results:
            with one_torch_thread():
                fitted = family.fit(name, split.train)
            roc_auc = family.evaluate(fitted.model, split.test).metrics["roc_auc"]
            results[name].append(roc_auc.value)
            print(
                f"seed {seed} {name:20s} test ROC-AUC {roc_auc}  epochs run {fitted.training['epochs_run']:.0f} (best "
                f"{fitted.training['best_epoch']:.0f}) "
                f"of {getattr(settings.candidates, name).max_epochs}; {fitted.fit_seconds:.0f} s",
                flush=True,
            )
    for name, scores in results.items():
        print(f"{name:20s} mean {np.mean(scores):.3f} SD {np.std(scores, ddof=1):.3f} over seeds {args.seeds}")
    difference = np.subtract(results["cnn"], results["cnn_no_augmentation"])
    print(
        f"augmented - plain, paired by seed: mean {difference.mean():+.3f} SD {difference.std(ddof=1):.3f} "
        f"({', '.join(f'{d:+.3f}' for d in difference)})"
    )


if __name__ == "__main__":
    main()
