"""SYNTHETIC patient x treatment outcomes with known low-rank structure, for tests and benchmarks only.

No real patient is behind them, and no shipped model is trained on them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def synthetic_low_rank_outcomes(
    n_patients: int = 2000,
    n_treatments: int = 200,
    per_patient: int = 20,
    rank: int = 5,
    noise: float = 0.5,
    selection: float = 1.0,
    seed: int = 0,
) -> pd.DataFrame:
    """SYNTHETIC outcomes on a 1-5 scale with known low-rank structure, for tests and benchmarks only:
    no real patient is behind any row.

    Affinity a(u, i) = b(i) + p(u)·q(i) (p, q ~ N(0, 1/rank), b ~ N(0, 0.5)); the outcome is 3 + 1.2·a + N(0, noise²),
    rounded and clipped to 1-5. Each patient takes ``per_patient`` treatments drawn without replacement with probability
    ∝ exp(selection · a): treatments are chosen for their expected benefit, so what is observed is not missing at
    random, as in care.
    """
    rng = np.random.default_rng(seed)
    p = rng.normal(0.0, 1 / np.sqrt(rank), size=(n_patients, rank)).astype(np.float32)
    q = rng.normal(0, 1, (n_treatments, rank)).astype(np.float32)
    bias = rng.normal(0, 0.5, n_treatments).astype(np.float32)
    patients, treatments, outcomes = [], [], []
    chunk = max(1, 20_000_000 // n_treatments)
    for start in range(0, n_patients, chunk):
        affinity = bias + p[start : start + chunk] @ q.T
        gumbel = np.asarray(rng.gumbel(size=affinity.shape), dtype=np.float32)
        chosen = np.argpartition(-(selection * affinity + gumbel), per_patient - 1, axis=1)[:, :per_patient]
        chosen.sort(axis=1)
        value = np.take_along_axis(affinity, chosen, axis=1) * 1.2 + 3 + rng.normal(0, noise, chosen.shape)
        patients.append(np.repeat(np.arange(start, start + len(chosen)), per_patient))
        treatments.append(chosen.ravel())
        outcomes.append(np.clip(np.rint(value), 1, 5).ravel())
    patient = np.concatenate(patients)
    width = len(str(n_patients))
    return pd.DataFrame(
        {
            "patient_id": np.char.add("SYN", np.char.zfill(patient.astype(str), width)),
            "treatment_id": np.char.add(
                "T", np.char.zfill(np.concatenate(treatments).astype(str), len(str(n_treatments)))
            ),
            "outcome": np.concatenate(outcomes).astype(int),
        }
    )
