"""Imaging speed: CNN training (images/s per epoch), inference in-process, and the service at 1, 8 and 32 clients.

    python benchmarks/imaging.py [--epochs 3]

Needs the Br35H export (`make pipeline`, or `medmaas ingest imaging`) and, for the service figures, an imaging champion
in the repository's registry. Training runs the params' CNN on the grouped training side for a few epochs on one thread
(as the pipeline trains each candidate) and on every core; on a GPU when torch sees one.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import BIN, Upload, free_port, load, server_env, start, stop, throwaway_key  # noqa: E402

import medmaas  # noqa: E402,F401

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    import torch

    from families import family_class, load_params
    from families.imaging.loaders import image_files
    from families.imaging.network import ImageCNN
    from medmaas.champions import NoChampion, resolve_from_registry

    params = load_params()
    family = family_class("imaging")(params.families["imaging"], params.project.seed)
    started = time.perf_counter()
    tables = family.load()
    print(
        f"decoded and prepared {len(tables['images'])} images ({family.settings.data.image_size} px) in "
        f"{time.perf_counter() - started:.1f} s"
    )
    split = family.split(tables)
    spec = family.settings.candidates.cnn or family.settings.candidates.cnn_no_augmentation
    device = "cuda" if torch.cuda.is_available() else "cpu"
    for augmented in (True, False):
        network = ImageCNN(
            width=spec.width,
            batch_size=spec.batch_size,
            max_epochs=args.epochs,
            patience=args.epochs,
            augmentation=family.settings.augmentation if augmented else None,
            random_state=family.seed,
        )
        network.fit(split.train.pixels, split.train.codes, split.train.groups)
        trained = len(split.train.codes) * (1 - family.settings.split.validation_fraction)
        print(
            f"training on {device}, one thread, {'with' if augmented else 'without'} augmentation: "
            f"{network.seconds_per_epoch_:.1f} s per epoch, "
            f"{trained / network.seconds_per_epoch_:,.0f} images/s"
        )
    network.grad_cam(split.test.pixels[:2], split.test.codes[:2])  # captum's first call imports and sets up: not timed
    for threads in (1, torch.get_num_threads()):
        torch.set_num_threads(threads)
        started = time.perf_counter()
        network.predict_proba(split.test.pixels)
        print(
            f"inference in-process, {threads} thread(s), batches of 256: "
            f"{len(split.test.codes) / (time.perf_counter() - started):,.0f} images/s"
        )
        started = time.perf_counter()
        network.grad_cam(split.test.pixels[:64], split.test.codes[:64])
        print(f"Grad-CAM in-process, {threads} thread(s): {64 / (time.perf_counter() - started):,.0f} images/s")

    try:
        champion = resolve_from_registry(family)
    except NoChampion as error:
        print(f"no service figures: {error}")
        return
    files = [(p.name, p.read_bytes()) for p in image_files(family.settings.data.resolved_path())[:400]]
    key_env, headers = throwaway_key()
    port = free_port()
    server, cold = start(
        [str(BIN / "bentoml"), "serve", "serving.imaging:ImagingService", "--host", "127.0.0.1", "--port", str(port)],
        f"http://127.0.0.1:{port}/readyz",
        ROOT,
        server_env(**key_env),
    )
    print(f"service ({champion.info['candidate']} v{champion.version}) ready in {cold:.1f} s")
    try:
        for clients in (1, 8, 32):
            bodies = [Upload([("images", file)]) for file in files]
            result = asyncio.run(load(f"http://127.0.0.1:{port}/predict", bodies, clients, headers))
            print(
                f"HTTP /predict, one JPEG per request, {clients} clients: {result['req/s']:.0f} images/s, "
                f"p50 {result['p50 ms']:.0f} ms, p99 {result['p99 ms']:.0f} ms, errors {result['errors']}"
            )
        result = asyncio.run(
            load(f"http://127.0.0.1:{port}/explain", [Upload([("image", file)]) for file in files[:50]], 1, headers)
        )
        print(
            f"HTTP /explain (Grad-CAM and its PNG), 1 client: {result['req/s']:.1f} req/s, p50 {result['p50 ms']:.0f} "
            f"ms, errors {result['errors']}"
        )
    finally:
        stop(server)


if __name__ == "__main__":
    main()
