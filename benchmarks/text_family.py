"""Clinical text speed: de-identification, fit time per candidate, texts/s at inference (TF-IDF, frozen MiniLM, the
fine-tuned MiniLM in float32 and int8), model sizes, and the service at 1 and 8 clients.

    python benchmarks/text_family.py [--train 4000] [--epochs 1]

Needs the ICD-10-CM export (`make pipeline`, or `medmaas ingest clinical_text`); the service figures need a
clinical_text champion in the repository's registry. Each candidate is fitted on ``--train`` texts of the grouped
training side, on one thread as the pipeline fits it; inference runs on one thread and on every core, on the GPU
when torch sees one. The SYNTHETIC notes come from tests/synthetic_notes.py.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from loadgen import free_port, load, server_env, start_bento, stop, throwaway_key  # noqa: E402

import medmaas  # noqa: E402,F401

ROOT = Path(__file__).resolve().parent.parent


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f} texts/s ({1000 * seconds / count:.2f} ms/text)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", type=int, default=4000, help="training texts per candidate")
    parser.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs")
    args = parser.parse_args()
    import numpy as np
    import pandas as pd
    import torch
    from synthetic_notes import HELD_OUT, SyntheticNotes

    from blocks.deidentify import Deidentifier
    from families import family_class, load_params
    from families.clinical_text.family import DEIDENTIFIED, TEXTS
    from families.clinical_text.settings import FineTuneSettings
    from medmaas.champions import NoChampion, resolve_from_registry

    params = load_params()
    family = family_class("clinical_text")(params.families["clinical_text"], params.project.seed)
    frame = pd.read_csv(family.settings.data.resolved_path(), dtype=str)
    started = time.perf_counter()
    deidentifier = Deidentifier()
    print(f"de-identifier ready (spaCy model, vocabulary) in {time.perf_counter() - started:.1f} s")
    notes = [n.text for n in SyntheticNotes(1).notes(HELD_OUT, 50)]
    for name, texts in (("SYNTHETIC notes", notes), ("ICD-10-CM descriptions", frame["description"].tolist()[:5000])):
        started = time.perf_counter()
        deidentifier.replace(texts)
        print(f"de-identification, {name}: {_rate(len(texts), time.perf_counter() - started)}")

    tables = {
        TEXTS: frame.assign(characters=frame["description"].str.len()),
        DEIDENTIFIED: pd.DataFrame({"identifier": [], "count": []}),
    }
    split = family.split(tables)
    train = split.train.take(
        np.sort(
            np.random.default_rng(0).choice(
                len(split.train.codes), min(args.train, len(split.train.codes)), replace=False
            )
        )
    )
    train.validation = np.arange(len(train.codes)) % 10 == 0
    test = list(split.test.texts[:2000])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    overrides = {
        "minilm_finetuned": FineTuneSettings(max_epochs=args.epochs, patience=args.epochs, max_train_examples=None)
    }
    family.settings = family.settings.model_copy(
        update={"candidates": family.settings.candidates.model_copy(update=overrides)}
    )
    print(f"fitting on {len(train.codes)} texts ({device}; the fine-tuning for {args.epochs} epoch(s))")
    models = {}
    for candidate in family.candidate_names():
        fitted = family.fit(candidate, train)
        models[candidate] = fitted.model
        print(f"  {candidate}: fit {fitted.fit_seconds:.1f} s, {fitted.hyperparameters}")
    if (alternative := getattr(models.get("minilm_finetuned"), "_alternative", None)) is not None:
        models[f"minilm_finetuned ({alternative[0]})"] = alternative[1]
    for threads in sorted({1, torch.get_num_threads()}):
        torch.set_num_threads(threads)
        for name, model in models.items():
            model.predict_proba(test[:32])  # warm-up
            started = time.perf_counter()
            model.predict_proba(test)
            print(
                f"inference, {threads} thread(s), {name} ({model.size_mb():.1f} MB): "
                f"{_rate(len(test), time.perf_counter() - started)}"
            )

    try:
        champion = resolve_from_registry(family)
    except NoChampion as error:
        print(f"no service figures: {error}")
        return
    key_env, headers = throwaway_key()
    port = free_port()
    server, cold = start_bento("serving.clinical_text:ClinicalTextService", port, ROOT, server_env(**key_env))
    print(f"service ({champion.info['candidate']} v{champion.version}) ready in {cold:.1f} s")
    try:
        for clients in (1, 8):
            bodies = [{"texts": [t]} for t in test[:400]]
            result = asyncio.run(load(f"http://127.0.0.1:{port}/classify", bodies, clients, headers))
            print(
                f"HTTP /classify, one text per request, {clients} clients: {result['req/s']:.0f} texts/s, "
                f"p50 {result['p50 ms']:.0f} ms, p99 {result['p99 ms']:.0f} ms, errors {result['errors']}"
            )
        bodies = [{"texts": test[i : i + 32]} for i in range(0, 640, 32)]
        result = asyncio.run(load(f"http://127.0.0.1:{port}/classify", bodies, 1, headers))
        print(
            f"HTTP /classify, 32 texts per request, 1 client: {32 * result['req/s']:.0f} texts/s, p50 "
            f"{result['p50 ms']:.0f} ms, errors {result['errors']}"
        )
        result = asyncio.run(load(f"http://127.0.0.1:{port}/explain", [{"text": t} for t in test[:50]], 1, headers))
        print(
            f"HTTP /explain (occlusion), 1 client: {result['req/s']:.1f} req/s, p50 {result['p50 ms']:.0f} ms, errors "
            f"{result['errors']}"
        )
    finally:
        stop(server)


if __name__ == "__main__":
    main()
