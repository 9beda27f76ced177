"""Bioactivity speed: featurisation, the champion's predictions in-process and over HTTP, and a 100,000-molecule scoring
run.

    python benchmarks/bioactivity.py [--molecules 100000]

Needs a bioactivity champion in the repository's registry (`make pipeline`). The large batch is
made from the bundled B3DB molecules by appending one or two of a few fragments to each SMILES
(new molecules, so the feature cache does not help); it is scored with `medmaas predict`, whose wall
time and peak memory are printed. Fit times per candidate are in the leaderboard (`fit_s`).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import free_port, load, server_env, start_bento, stop, throwaway_key  # noqa: E402

import medmaas  # noqa: E402,F401

ROOT = Path(__file__).resolve().parent.parent
FRAGMENTS = ["C", "CC", "O", "N", "F", "Cl", "OC", "C(=O)O", "C#N", "CCC", "CO", "NC", "S"]


def perturbed(smiles: list[str], count: int) -> list[str]:
    from families.bioactivity.chemistry import canonical

    made, seen = [], set(smiles)
    for fragment in [*FRAGMENTS, *(a + b for a in FRAGMENTS for b in FRAGMENTS)]:
        for text in smiles:
            if len(made) >= count:
                return made
            new = canonical(text + fragment)
            if new is not None and new not in seen:
                seen.add(new)
                made.append(new)
    return made


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--molecules", type=int, default=100_000)
    args = parser.parse_args()
    from families import family_class, load_params
    from families.bioactivity.chemistry import FEATURE_CACHE, MoleculeFeaturizer
    from medmaas.champions import resolve_from_registry

    params = load_params()
    family = family_class("bioactivity")(params.families["bioactivity"], params.project.seed)
    bundled = pd.read_csv(ROOT / family.bundled_data)["smiles"].tolist()
    started = time.perf_counter()
    batch = perturbed(bundled, args.molecules)
    print(f"made {len(batch)} new molecules from {len(bundled)} in {time.perf_counter() - started:.1f} s")

    sample = batch[:5000]
    for descriptors in (False, True):
        FEATURE_CACHE.clear()
        started = time.perf_counter()
        MoleculeFeaturizer(n_bits=family.settings.features.n_bits, descriptors=descriptors).transform(sample)
        print(
            f"featurisation ({'counts + descriptors' if descriptors else 'counts only'}): "
            f"{len(sample) / (time.perf_counter() - started):,.0f} molecules/s"
        )

    champion = resolve_from_registry(family)
    model = champion.load()
    FEATURE_CACHE.clear()
    started = time.perf_counter()
    model.predict_proba(sample[:2000])
    model.similarity(sample[:2000])
    print(
        f"in-process, {champion.info['candidate']} v{champion.version}: {2000 / (time.perf_counter() - started):,.0f} "
        "molecules/s (features, model, domain)"
    )

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "molecules.csv"
        pd.DataFrame({"compound_id": [f"X{i:06d}" for i in range(len(batch))], "smiles": batch}).to_csv(
            path, index=False
        )
        started = time.perf_counter()
        scored = subprocess.run(
            [
                str(Path(sys.executable).parent / "medmaas"),
                "predict",
                "bioactivity",
                str(path),
                "-o",
                str(Path(tmp) / "scored.csv"),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
        peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
        if scored.returncode != 0:
            print(scored.stderr[-2000:])
            return
        out = pd.read_csv(Path(tmp) / "scored.csv")
        print(
            f"medmaas predict, {len(out):,} molecules: {seconds:.0f} s wall, peak memory {peak_gb:.2f} GB, "
            f"{(~out['in_domain']).mean():.1%} outside the applicability domain"
        )

    key_env, headers = throwaway_key()
    port = free_port()
    server, cold = start_bento("serving.bioactivity:BioactivityService", port, ROOT, server_env(**key_env))
    print(f"service ready in {cold:.1f} s")
    try:
        for clients in (1, 8):
            bodies = [{"molecules": [m]} for m in batch[5000:5400]]
            result = asyncio.run(load(f"http://127.0.0.1:{port}/predict", bodies, clients, headers))
            print(
                f"HTTP /predict, one molecule per request, {clients} clients: {result['req/s']:.0f} req/s, "
                f"p50 {result['p50 ms']:.0f} ms, p99 {result['p99 ms']:.0f} ms, errors {result['errors']}"
            )
    finally:
        stop(server)


if __name__ == "__main__":
    main()
