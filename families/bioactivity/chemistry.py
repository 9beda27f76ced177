"""RDKit, once: SMILES in, canonical molecules, features, scaffolds, fingerprint bits and atom weights out.

Features are computed once per canonical SMILES and kept (``FEATURE_CACHE``): the tuning folds,
the random-split comparison and repeated requests reuse them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import Descriptors, rdFingerprintGenerator
from rdkit.Chem.Scaffolds import MurckoScaffold
from sklearn.base import BaseEstimator, TransformerMixin

rdBase.DisableLog("rdApp.*")  # RDKit prints each parse failure with the molecule; the gate reports positions instead

# size, polarity, H-bonding and lipophilicity: what the blood-brain barrier is known to select on (CNS MPO)
DESCRIPTORS = (
    "MolWt",
    "MolLogP",
    "TPSA",
    "NumHDonors",
    "NumHAcceptors",
    "NumRotatableBonds",
    "RingCount",
    "NumAromaticRings",
    "FractionCSP3",
    "HeavyAtomCount",
    "NHOHCount",
    "NOCount",
    "NumHeteroatoms",
    "MolMR",
)
_DESCRIPTOR_FNS = dict(Descriptors.descList)
CACHE_BYTES = 256 * 2**20  # per process: about 60,000 molecules at 1,024 bits
FEATURE_CACHE: OrderedDict[tuple, np.ndarray] = OrderedDict()


def molecule(smiles: Any) -> Chem.Mol | None:
    """The sanitised molecule, or None when the text is not a SMILES RDKit can parse and sanitise."""
    if not isinstance(smiles, str) or not smiles.strip():
        return None
    return Chem.MolFromSmiles(smiles.strip())


def canonical(smiles: Any) -> str | None:
    mol = molecule(smiles)
    return Chem.MolToSmiles(mol) if mol is not None else None


def scaffold(canonical_smiles: str) -> str:
    """The Bemis-Murcko scaffold; "" for an acyclic molecule (they share one group)."""
    return MurckoScaffold.MurckoScaffoldSmiles(mol=Chem.MolFromSmiles(canonical_smiles))


def _generator(radius: int, n_bits: int):
    return rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)


def fingerprint_bits(canonical_smiles: Sequence[str], radius: int, n_bits: int) -> np.ndarray:
    """Packed Morgan bit vectors (one row of n_bits/8 bytes per molecule), for Tanimoto similarity."""
    generator = _generator(radius, n_bits)
    return np.array(
        [np.packbits(generator.GetFingerprintAsNumPy(Chem.MolFromSmiles(s)).astype(bool)) for s in canonical_smiles],
        dtype=np.uint8,
    ).reshape(len(canonical_smiles), -1)


class SimilarityIndex:
    """Packed fingerprints to compare against, unpacked once to 0/1 floats: the common bits of a query block with all of
    them are one matrix product (BLAS), ten times faster on 2 cores than popcounts of ANDed words."""

    def __init__(self, packed: np.ndarray) -> None:
        self.bits = np.unpackbits(packed, axis=1).astype(np.float32)
        self.counts = self.bits.sum(axis=1)

    def max_tanimoto(self, queries: np.ndarray, chunk: int = 2048) -> np.ndarray:
        """For each packed query row, its highest Tanimoto similarity to any indexed row."""
        best = np.zeros(len(queries))
        for start in range(0, len(queries), chunk):
            bits = np.unpackbits(queries[start : start + chunk], axis=1).astype(np.float32)
            common = bits @ self.bits.T
            union = bits.sum(axis=1)[:, None] + self.counts[None, :] - common
            best[start : start + chunk] = np.max(np.where(union > 0, common / np.maximum(union, 1.0), 1.0), axis=1)
        return best


def _descriptors(mol: Chem.Mol) -> np.ndarray:
    values = np.array([_DESCRIPTOR_FNS[name](mol) for name in DESCRIPTORS], dtype=np.float64)
    return np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def _features_of(mol: Chem.Mol, generator, descriptors: bool) -> np.ndarray:
    counts = generator.GetCountFingerprintAsNumPy(mol).astype(np.float32)
    return np.concatenate([counts, _descriptors(mol)]) if descriptors else counts


def _environment_atoms(mol: Chem.Mol, center: int, radius: int) -> set[int]:
    atoms = {center}
    for bond in Chem.FindAtomEnvironmentOfRadiusN(mol, radius, center) if radius else ():
        found = mol.GetBondWithIdx(bond)
        atoms |= {found.GetBeginAtomIdx(), found.GetEndAtomIdx()}
    return atoms


class MoleculeFeaturizer(TransformerMixin, BaseEstimator):
    """Canonical SMILES -> Morgan counts (+ descriptors): the first step of every bioactivity model, so a model takes
    SMILES."""

    def __init__(self, radius: int = 2, n_bits: int = 1024, descriptors: bool = True):
        self.radius = radius
        self.n_bits = n_bits
        self.descriptors = descriptors

    def fit(self, X, y=None):
        return self

    def feature_names(self) -> list[str]:
        return [f"morgan_{i}" for i in range(self.n_bits)] + (list(DESCRIPTORS) if self.descriptors else [])

    def transform(self, X) -> np.ndarray:
        smiles = list(X.iloc[:, 0] if hasattr(X, "iloc") and getattr(X, "ndim", 1) == 2 else X)
        generator = _generator(self.radius, self.n_bits)
        rows = []
        for text in smiles:
            key = (self.radius, self.n_bits, self.descriptors, text)
            row = FEATURE_CACHE.get(key)
            if row is not None:
                FEATURE_CACHE.move_to_end(key)
            else:
                mol = Chem.MolFromSmiles(text)
                if mol is None:
                    raise ValueError("a SMILES did not parse; canonicalise and check molecules before scoring")
                row = _features_of(mol, generator, self.descriptors)
                FEATURE_CACHE[key] = row
                if len(FEATURE_CACHE) * row.nbytes > CACHE_BYTES:  # least recently used out
                    FEATURE_CACHE.popitem(last=False)
            rows.append(row)
        return np.vstack(rows) if rows else np.zeros((0, len(self.feature_names())), dtype=np.float32)

    def without_each_atom(self, canonical_smiles: str) -> np.ndarray:
        """One feature row per atom, without the counts of every Morgan environment that includes that atom (descriptors
        kept): the input of the similarity-map weights of Riniker and Landrum (2013), as RDKit's SimilarityMaps removes
        them. (The generator's own ``ignoreAtoms`` leaves Morgan counts unchanged, and SimilarityMaps' count path
        crashes here.)"""
        mol = Chem.MolFromSmiles(canonical_smiles)
        generator = _generator(self.radius, self.n_bits)
        output = rdFingerprintGenerator.AdditionalOutput()
        output.AllocateBitInfoMap()
        full = _features_of(mol, generator, self.descriptors)
        generator.GetCountFingerprintAsNumPy(mol, additionalOutput=output)
        rows = np.repeat(full[None, :], mol.GetNumAtoms(), axis=0)
        for bit, environments in output.GetBitInfoMap().items():
            for center, radius in environments:
                for atom in _environment_atoms(mol, center, radius):
                    rows[atom, bit] -= 1
        return rows


def atom_symbols(canonical_smiles: str) -> list[str]:
    return [atom.GetSymbol() for atom in Chem.MolFromSmiles(canonical_smiles).GetAtoms()]
