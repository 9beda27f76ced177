"""Image drift as `medmaas monitor imaging <folder>` judges it, on folders written from Br35H's held-out images.

    python benchmarks/imaging_drift.py [--alias champion]

Needs an imaging version registered with a detector (`make pipeline`). The held-out images are halved by scan
(near-duplicate group): the reference is made from half A as registration makes it from the whole held-out side, and
four folders are written from half B: as it is (no drift expected), darkened by 15%, blurred, and pydicom's CT and MR
test slices with the scans darkened by 40%. Each is read, gated and compared by the monitor's own step
(tasks/monitor.py). Then the choice of summary: the same comparison with the autoencoder's code in place of the
penultimate features (each reduced to 8 principal components on the training side).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import medmaas  # noqa: E402,F401


def write_folder(folder: Path, pixels, extra: list[Path] = ()) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    for i, image in enumerate(pixels):
        Image.fromarray(image[0]).save(folder / f"{i:04d}.png")
    for path in extra:
        shutil.copy(path, folder / path.name)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alias", default="champion", help="the registered version to monitor (champion, challenger)")
    args = parser.parse_args()
    import numpy as np
    import pandas as pd
    import pydicom.data
    import torch
    from sklearn.decomposition import PCA

    from blocks.grouping import first_of_each_group, grouped_holdout
    from families import family_class, load_params
    from families.imaging.ood import near_shifts
    from medmaas.champions import Champion
    from medmaas.drift import Thresholds, compare, profile
    from medmaas.family import Split
    from medmaas.flavors import load_model
    from tasks.monitor import Batch, check_batch

    params = load_params()
    family = family_class("imaging")(params.families["imaging"], params.project.seed)
    uri = f"models:/{family.registered_model}@{args.alias}"
    model = load_model(uri)
    if getattr(getattr(model, "ood", None), "embedding", None) is None:
        sys.exit(f"the imaging {args.alias} carries no image summary: retrain it (`medmaas train imaging`)")
    split = family.split(family.load())
    half_a, half_b = grouped_holdout(split.test.codes, split.test.groups, 0.5, family.seed)
    reference_side = split.test.take(half_a)
    reference = family.drift_reference(model, Split(split.train, reference_side, "held-out half A", {}))
    from mlflow.tracking import MlflowClient

    version = MlflowClient().get_model_version_by_alias(family.registered_model, args.alias).version
    champion = Champion(family, family.registered_model, str(version), uri)
    scans = split.test.pixels[half_b]
    dicoms = [Path(pydicom.data.get_testdata_file(n, download=False)) for n in ("CT_small.dcm", "MR_small.dcm")]
    batches = {
        "held-out scans as they are": (scans, []),
        "darkened 15%": ((scans * 0.85).astype(np.uint8), []),
        "blurred": (near_shifts(scans, 0)["blurred"], []),
        "CT and MR slices + scans darkened 40%": ((scans * 0.6).astype(np.uint8), dicoms),
    }
    print(
        f"imaging {args.alias}: reference from {len(half_a)} held-out images, batches of {len(half_b)} from other "
        "scans (the monitor counts near-copies once)\n"
    )
    print("| folder | status | drifted columns | largest PSI |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, (pixels, extra)) in enumerate(batches.items()):
            folder = write_folder(Path(tmp) / str(i), pixels, extra)
            batch = Batch(family.read_monitoring_batch(folder), name)
            report = check_batch.fn(family, champion, model, reference, batch)
            drifted = report.drifted_columns()
            psi = report.features.table()["psi"].max() if report.features else float("nan")
            print(f"| {name} | {report.status} | {', '.join(drifted) or 'none'} | {psi:.2f} |")
    print(f"\nThe last folder's report, as `medmaas monitor imaging <folder>` prints it:\n\n{report.to_markdown()}")

    detector = model.ood
    batch_scans = first_of_each_group(split.test.groups[half_b])

    def code(pixels):
        with torch.no_grad():
            return detector.autoencoder.encoder(detector.autoencoder.inputs(pixels)).numpy()

    from families.imaging.ood import penultimate

    print("\nThe summary's embedding, by measurement (features drifted, of 8 components and the score):\n")
    print("| embedding | " + " | ".join(batches) + " |\n|---|" + "---|" * len(batches))
    for label, embed in (("penultimate features", lambda p: penultimate(model, p)), ("autoencoder code", code)):
        pca = PCA(8, random_state=0).fit(embed(split.train.pixels))

        def summary(pixels):
            frame = pd.DataFrame(pca.transform(embed(pixels))).add_prefix("pc")
            frame["ood_score"] = detector.scores(model, pixels)
            return frame

        ref = profile(summary(reference_side.pixels), {})
        counts = [len(compare(ref, summary(p[batch_scans]), Thresholds()).drifted) for p, _ in batches.values()]
        print(f"| {label} | " + " | ".join(str(c) for c in counts) + " |")


if __name__ == "__main__":
    main()
