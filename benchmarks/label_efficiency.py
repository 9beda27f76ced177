"""Label efficiency of a representation step: raw features, PCA and a denoising autoencoder of the same width, each
followed by logistic regression, with 5%, 10%, 25% and 100% of the training labels.

    python benchmarks/label_efficiency.py [--seeds 10] [--data wdbc b3db]

WDBC: the diagnosis family's split (held-out patients). B3DB: Morgan fingerprints (radius 2, 2,048 bits, no
descriptors) on the bioactivity family's sorted scaffold split. The representations learn from every training row's
features (no label: what Deep Patient's autoencoder did with 704,587 records); the classifier (C = 1, class-balanced)
sees only the labelled share, drawn per seed and stratified. Each seed redraws the labelled rows and reinitialises
PCA's solver and the autoencoder. Reported: held-out ROC-AUC, the mean over seeds with a 95% t-interval, and the
autoencoder minus raw features, paired by seed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import medmaas  # noqa: E402,F401

FRACTIONS = (0.05, 0.10, 0.25, 1.0)


def wdbc():
    from families import family_class, load_params

    params = load_params()
    family = family_class("diagnosis")(params.families["diagnosis"], params.project.seed)
    split = family.split(family.load())
    (train_x, train_y), (test_x, test_y) = split.train, split.test
    positive = family.settings.data.positive_label
    numbers = train_x.select_dtypes("number").columns  # WDBC's 30 features are all measurements
    return train_x[numbers], (train_y == positive).to_numpy(), test_x[numbers], (test_y == positive).to_numpy(), 8, 64


def b3db():
    from families import family_class, load_params
    from families.bioactivity.chemistry import MoleculeFeaturizer

    params = load_params()
    family = family_class("bioactivity")(params.families["bioactivity"], params.project.seed)
    split = family.split(family.load())
    train, test = split.train, split.test[0]
    bits = MoleculeFeaturizer(radius=2, n_bits=2048, descriptors=False).fit(train.smiles)
    return bits.transform(train.smiles), train.labels, bits.transform(test.smiles), test.labels, 64, 256


def interval(values, signed: bool = False):
    import numpy as np
    from scipy import stats

    values = np.asarray(values)
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    form = "+.3f" if signed else ".3f"
    low, high = values.mean() - half, values.mean() + half if signed else min(values.mean() + half, 1.0)  # an AUC
    return f"{values.mean():{form}} ({low:{form}} to {high:{form}})"


def study(name: str, data, seeds: int) -> None:
    import numpy as np
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from blocks.autoencoder import DenoisingAutoencoder

    train_x, train_y, test_x, test_y, width, hidden = data
    train_x, test_x = np.asarray(train_x, dtype=float), np.asarray(test_x, dtype=float)
    scaler = StandardScaler().fit(train_x)
    scores: dict[tuple[str, float], list[float]] = {}
    seconds = 0.0
    for seed in range(seeds):
        started = time.perf_counter()
        batch = 64 if len(train_x) < 2000 else 256  # the same number of steps per epoch, roughly, on both data sets
        autoencoder = DenoisingAutoencoder(
            code=width, hidden=hidden, batch_size=batch, max_epochs=100, random_state=seed
        )
        autoencoder.fit(train_x)
        seconds += time.perf_counter() - started
        pca = PCA(width, svd_solver="randomized", random_state=seed).fit(scaler.transform(train_x))
        views = {
            "raw features": (scaler.transform(train_x), scaler.transform(test_x)),
            f"PCA ({width})": (pca.transform(scaler.transform(train_x)), pca.transform(scaler.transform(test_x))),
            f"denoising autoencoder ({width})": (autoencoder.transform(train_x), autoencoder.transform(test_x)),
        }
        for fraction in FRACTIONS:
            rows = np.arange(len(train_y))
            if fraction < 1.0:
                rows, _ = train_test_split(rows, train_size=fraction, stratify=train_y, random_state=seed)
            for view, (fit_on, score_on) in views.items():
                model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000)
                model.fit(fit_on[rows], train_y[rows])
                auc = roc_auc_score(test_y, model.predict_proba(score_on)[:, 1])
                scores.setdefault((view, fraction), []).append(auc)
        print(f"{name}: seed {seed + 1} of {seeds} done", file=sys.stderr, flush=True)
    views = list(dict.fromkeys(view for view, _ in scores))
    print(
        f"\n## {name}: {len(train_y)} training rows ({train_x.shape[1]} features), {len(test_y)} held out; {seeds} "
        f"seeds; autoencoder {seconds / seeds:.1f} s per fit\n"
    )
    print("| labels | " + " | ".join(views) + " | autoencoder - raw, paired |")
    print("|---|" + "---|" * (len(views) + 1))
    for fraction in FRACTIONS:
        cells = [interval(scores[(view, fraction)]) for view in views]
        paired = np.subtract(scores[(views[2], fraction)], scores[(views[0], fraction)])
        print(f"| {fraction:.0%} | " + " | ".join(cells) + f" | {interval(paired, signed=True)} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--data", nargs="+", default=["wdbc", "b3db"], choices=["wdbc", "b3db"])
    args = parser.parse_args()
    for name in args.data:
        study(
            {"wdbc": "WDBC (diagnosis)", "b3db": "B3DB fingerprints (bioactivity)"}[name], globals()[name](), args.seeds
        )


if __name__ == "__main__":
    main()
