"""The hidden binding rule: substructure motifs of each block with per-position, per-protein
weights, the BB2 × BB3 interaction, a per-block effect not visible in structure, per-molecule
noise; the triazine library's pools and terms, and the other core's own (``own_library``: its own
blocks, motif weights only partly shared, re-weighted positions, a core term)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from belka_lab.core.errors import InputError
from belka_lab.dataset.schema import BELKA_TARGETS as PROTEINS
from belka_lab.synth.blocks import OTHER_LIBRARY_LINKERS, bb1_forms, canonical, enumerate_amines, enumerate_amino_acids
from belka_lab.synth.config import SynthConfig
from belka_lab.tokens.characters import CHAR_VOCAB

MOTIFS = [
    "Br",
    "Cl",
    "F",
    "I",
    "C#N",
    "C#C",
    "S(C)(=O)=O",
    "OC",
    "ccnc",
    "cncc",
    "s2",
    "o2",
    "[nH]",
    "C(F)(F)F",
    "C(=O)OC",
    "C2CC2",
    "N(C)C",
    "B(O)O",
    "OCO",
    "C=C",
    "[N+]",
    "c2ccc3",
    "C2CCN",
    "SC",
    "CO",
    "N(C)",
    "C(C)",
]


@dataclass
class Library:
    """Building-block pools, their motif features and the hidden rule's per-block terms."""

    bb1_mol: np.ndarray  # fragment strings as they appear in molecules
    bb1_smiles: np.ndarray  # canonical building-block SMILES (Kaggle columns)
    amine_mol: np.ndarray
    amine_smiles: np.ndarray
    bb1_train: np.ndarray  # indices into the pools usable in train
    amine_train: np.ndarray
    bb1_held: np.ndarray
    amine_held: np.ndarray
    s1: np.ndarray  # [n_bb1, 3] per-block score terms
    s2: np.ndarray  # [n_amines, 3] as BB2
    s3: np.ndarray  # [n_amines, 3] as BB3
    u2: np.ndarray  # [n_amines, 3] interaction factors
    u3: np.ndarray
    weights: dict[str, np.ndarray]  # the motif weights [n_motifs, 3] behind s1, s2, s3, u2, u3
    interaction: float = 1.0  # scale of the BB2 x BB3 interaction in this library's core
    core_term: np.ndarray | None = None  # [3] the core's own contribution, added to every molecule


def _motifs(fragments: np.ndarray) -> np.ndarray:
    return np.stack([np.char.find(fragments.astype(str), m) >= 0 for m in MOTIFS], axis=1).astype(np.float64)


def build_library(cfg: SynthConfig) -> Library:
    rng = np.random.default_rng(cfg.seed)
    aa = enumerate_amino_acids()
    am = enumerate_amines()
    aa = [aa[i] for i in np.sort(rng.choice(len(aa), size=min(cfg.n_bb1, len(aa)), replace=False))]
    am = [am[i] for i in np.sort(rng.choice(len(am), size=min(cfg.n_amines, len(am)), replace=False))]
    bb1_mol, bb1_block = zip(*(bb1_forms(t) for t in aa))
    bb1_smiles, amine_smiles = canonical(list(bb1_block)), canonical(am)
    allowed = set(CHAR_VOCAB)
    for s in list(bb1_mol) + am:
        if not set(s) <= allowed:
            raise RuntimeError(f"synthetic fragment {s!r} has characters outside the dictionary")

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        perm = rng.permutation(n)
        k = max(1, int(round(n * cfg.holdout_fraction)))
        return np.sort(perm[k:]), np.sort(perm[:k])

    bb1_train, bb1_held = split(len(aa))
    amine_train, amine_held = split(len(am))

    f1, fa = _motifs(np.array(bb1_mol)), _motifs(np.array(am))
    n_p, n_m = len(PROTEINS), len(MOTIFS)

    def sparse_weights() -> np.ndarray:
        w = rng.normal(0.0, 1.0, size=(n_m, n_p))
        return w * (rng.random((n_m, n_p)) < 0.35)

    w1, w2, w3 = sparse_weights(), sparse_weights(), sparse_weights()
    wi2, wi3 = sparse_weights(), sparse_weights()
    s1 = f1 @ w1 + rng.normal(0, cfg.block_effect, (len(aa), n_p))
    s2 = fa @ w2 + rng.normal(0, cfg.block_effect, (len(am), n_p))
    s3 = fa @ w3 + rng.normal(0, cfg.block_effect, (len(am), n_p))
    return Library(
        bb1_mol=np.array(bb1_mol, dtype=object),
        bb1_smiles=np.array(bb1_smiles, dtype=object),
        amine_mol=np.array(am, dtype=object),
        amine_smiles=np.array(amine_smiles, dtype=object),
        bb1_train=bb1_train,
        amine_train=amine_train,
        bb1_held=bb1_held,
        amine_held=amine_held,
        s1=s1,
        s2=s2,
        s3=s3,
        u2=fa @ wi2,
        u3=fa @ wi3,
        weights={"w1": w1, "w2": w2, "w3": w3, "wi2": wi2, "wi3": wi3},
    )


def build_other_library(cfg: SynthConfig, lib: Library) -> Library:
    """The ``other_core`` library of ``other_core="own_library"``: blocks enumerated but not chosen
    for `lib` (none in its train or held-out pools) and amines with linkers of its own, as many as
    `lib`'s held-out pools, and a rule that transfers only in part from `lib`'s:

    - each motif weight matrix is ``core_transfer * w + sqrt(1 - core_transfer**2) * w_new``;
    - each attachment position's terms are scaled per protein by ``exp(N(0, 0.5))``;
    - the core adds its own per-protein term ``N(0, 1)``; the BB2 x BB3 interaction is kept;
    - each new block has its own unseen effect ``N(0, block_effect)``, as every block does.

    Its random draws come from their own stream, so `lib` and the train file do not depend on it."""
    rng = np.random.default_rng([cfg.seed, 7])
    used_bb1, used_am = set(lib.bb1_mol), set(lib.amine_mol)
    aa = [t for t in enumerate_amino_acids() if bb1_forms(t)[0] not in used_bb1]
    am = sorted({a for a in enumerate_amines() if a not in used_am} | set(enumerate_amines(OTHER_LIBRARY_LINKERS, [])))
    n1 = min(len(aa), max(1, len(lib.bb1_held)))
    n2 = min(len(am), max(1, len(lib.amine_held)))
    if n1 < 8:
        raise InputError(
            f"the other_core library needs BB1 blocks outside the main pool, but only {len(aa)} of the enumeration "
            f"are left (n_bb1={cfg.n_bb1}); lower n_bb1 or set other_core=shared_blocks"
        )
    aa = [aa[i] for i in np.sort(rng.choice(len(aa), size=n1, replace=False))]
    am = [am[i] for i in np.sort(rng.choice(len(am), size=n2, replace=False))]
    bb1_mol, bb1_block = zip(*(bb1_forms(t) for t in aa))
    f1, fa = _motifs(np.array(bb1_mol)), _motifs(np.array(am))
    n_p = len(PROTEINS)
    rho = cfg.core_transfer

    def moved(w: np.ndarray) -> np.ndarray:
        fresh = rng.normal(0.0, 1.0, w.shape) * (rng.random(w.shape) < 0.35)
        return rho * w + np.sqrt(1.0 - rho**2) * fresh

    w = {k: moved(v) for k, v in lib.weights.items()}
    position = np.exp(rng.normal(0.0, 0.5, (3, n_p)))
    s1 = position[0] * (f1 @ w["w1"]) + rng.normal(0, cfg.block_effect, (n1, n_p))
    s2 = position[1] * (fa @ w["w2"]) + rng.normal(0, cfg.block_effect, (n2, n_p))
    s3 = position[2] * (fa @ w["w3"]) + rng.normal(0, cfg.block_effect, (n2, n_p))
    every1, every2 = np.arange(n1), np.arange(n2)
    return Library(
        bb1_mol=np.array(bb1_mol, dtype=object),
        bb1_smiles=np.array(canonical(list(bb1_block)), dtype=object),
        amine_mol=np.array(am, dtype=object),
        amine_smiles=np.array(canonical(am), dtype=object),
        bb1_train=every1,
        amine_train=every2,
        bb1_held=every1[:0],
        amine_held=every2[:0],
        s1=s1,
        s2=s2,
        s3=s3,
        u2=fa @ w["wi2"],
        u3=fa @ w["wi3"],
        weights=w,
        core_term=rng.normal(0.0, 1.0, n_p),
    )


def shared_blocks_library(lib: Library) -> Library:
    """The ``other_core`` library of ``other_core="shared_blocks"`` (0.3.0's rule): `lib`'s blocks
    and rule, the interaction at 0.3 of its strength."""
    return replace(lib, interaction=0.3)


def _structural(lib: Library, t: np.ndarray) -> np.ndarray:
    interaction = lib.u2[t[:, 1]] * lib.u3[t[:, 2]] * lib.interaction
    out = lib.s1[t[:, 0]] + lib.s2[t[:, 1]] + lib.s3[t[:, 2]] + 0.5 * interaction
    return out if lib.core_term is None else out + lib.core_term


def scores(lib: Library, t: np.ndarray, rng, cfg: SynthConfig) -> np.ndarray:
    """float32 [n, 3]: the structural score scaled to unit spread over `t`, plus noise; a chunk at a time."""
    chunk = max(cfg.chunk_molecules, 1)
    parts = range(0, len(t), chunk)
    mean = sum(_structural(lib, t[i : i + chunk]).sum(axis=0) for i in parts) / max(len(t), 1)
    var = sum(((_structural(lib, t[i : i + chunk]) - mean) ** 2).sum(axis=0) for i in parts) / max(len(t), 1)
    scale = cfg.signal / np.sqrt(var).clip(1e-9)
    out = np.empty((len(t), len(PROTEINS)), np.float32)
    for i in parts:
        structural = _structural(lib, t[i : i + chunk])
        out[i : i + chunk] = structural * scale + rng.normal(0, cfg.noise, structural.shape)
    return out
