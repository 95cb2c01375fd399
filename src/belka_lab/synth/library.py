"""A synthetic DNA-encoded library in BELKA's Kaggle format, with a hidden binding rule.

Molecules are a 1,3,5-triazine core carrying three building blocks, as in BELKA:
BB1 is an Fmoc-protected amino acid whose amine attaches to the core and whose acid is
amidated to the DNA linker (``...C(=O)N[Dy]``); BB2 and BB3 are primary amines.
Building blocks are enumerated from small chemistry pieces and checked with RDKit once
each; molecules are assembled by vectorised string joins (no per-molecule RDKit call),
so tens of millions of molecules can be written.

Labels come from a hidden per-protein rule: substructure motifs of each block (weights
per position), an interaction between the BB2 and BB3 motifs, a per-block effect not
visible in structure, and per-molecule noise; thresholds give BELKA's positive rates.
The test set has BELKA's three groups: ``share`` (blocks seen in train),
``non_share`` (blocks never seen in train, triazine core) and ``other_core``: by default
(``other_core="own_library"``) another library, like BELKA's kin0 — a pyrimidine core with
building blocks of its own (none in train or in ``non_share``) and a binding rule that depends
on the core: each motif weight is only partly the triazine library's (``core_transfer``), each
attachment position's terms are re-weighted per protein, and the core adds its own per-protein
term. ``other_core="shared_blocks"`` is the rule of belka_lab 0.3.0 and earlier: the
pyrimidine molecules reuse the pools' blocks and the triazine rule with a weaker interaction.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from belka_lab.core.errors import InputError
from belka_lab.core.io import staged
from belka_lab.core.progress import bar as progress_bar
from belka_lab.dataset.schema import PROTEINS
from belka_lab.tokens.characters import CHAR_VOCAB, MAX_LEN

SYNTH_MARKER = "synth.json"

# --- chemistry pieces; every attachment atom is written first, rings use digits 2 and 3 ---
SUBSTITUENTS = [
    "",
    "F",
    "Cl",
    "Br",
    "I",
    "C",
    "OC",
    "C(F)(F)F",
    "C#N",
    "S(C)(=O)=O",
    "C(=O)OC",
    "C(N)=O",
    "O",
    "N(C)C",
    "C#C",
    "C=C",
    "[N+](=O)[O-]",
    "OC(F)(F)F",
    "SC",
    "B(O)O",
]
RINGS = [
    "c2ccc({S})cc2",
    "c2cccc({S})c2",
    "c2ccccc2{S}",
    "c2ccnc({S})c2",
    "c2cncc({S})c2",
    "c2ccc({S})o2",
    "c2ccc({S})s2",
    "c2ncc({S})s2",
    "C2CCC({S})CC2",
    "c2cnn(C)c2",
    "c2ccc3c(c2)OCO3",
    "c2ccc3[nH]ccc3c2",
    "C2CC2",
    "C2CCOC2",
    "C2CCCC2",
    "C2CCN(C(=O)C)CC2",
    "C2CCN(C(=O)OC)CC2",
    "c2ccc3ccccc3c2",
    "C2CCS(=O)(=O)C2",
]
AMINE_LINKERS = ["", "C", "CC", "C(C)", "CCC"]
OTHER_LIBRARY_LINKERS = ["CCCC", "C(C)C", "CC(C)", "C(C)(C)"]  # amines only the other_core library uses
ALIPHATIC_AMINES = [
    "NCC(C)C",
    "NCCOC",
    "NCC#C",
    "NCCO",
    "NCC(F)(F)F",
    "NCCSC",
    "NCCN(C)C",
    "NC(C)(C)C",
    "NCC=C",
    "NCCC#N",
    "NCC(=O)OC",
    "NCCCO",
    "NC(C)CO",
    "NCC(C)(C)O",
]
ALKYL_SIDE_CHAINS = [
    "C",
    "CC",
    "C(C)C",
    "CC(C)C",
    "C(C)CC",
    "CCSC",
    "CO",
    "C(C)O",
    "CC#C",
    "CCC(=O)OC",
    "CC(N)=O",
    "CCCCN(C)C",
    "C2CCCCC2",
    "C2CC2",
    "CCC(F)(F)F",
    "CC=C",
    "CCCC",
]
ACID_IN_MOLECULE = "C(=O)N[Dy]"
ACID_IN_BLOCK = "C(=O)O"
FMOC = "C(=O)OCC1c2ccccc2-c2ccccc21"  # appended to BB1's amine N
BB1_TEMPLATES = ["[C@@H]({R})({A})N", "[C@H]({R})({A})N", "[C@@H]({R})(C{A})N"]
BB1_ARYL = ["c2cc({A})ccc2N", "c2ccc({A})cc2N", "c2cc({A})c({S})cc2N", "c2cc({A})cc({S})c2N"]
CORES = {
    "triazine": ("c1nc(", ")nc(", ")n1"),
    "pyrimidine": ("c1cc(", ")nc(", ")n1"),
}
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
DEFAULT_RATES = (0.0046, 0.0041, 0.0074)


def _fill(template: str, **parts: str) -> str:
    for key, value in parts.items():
        template = template.replace("({" + key + "})", f"({value})" if value else "")
        template = template.replace("{" + key + "}", value)
    return template


def _rings() -> list[str]:
    return sorted({_fill(r, S=s) for r in RINGS for s in SUBSTITUENTS})


def enumerate_amines(linkers: list[str] = AMINE_LINKERS, aliphatic: list[str] = ALIPHATIC_AMINES) -> list[str]:
    """Primary amines written attachment-N first (molecule side = building block side)."""
    return sorted({"N" + link + ring for link in linkers for ring in _rings()} | set(aliphatic))


def enumerate_amino_acids() -> list[str]:
    """BB1 templates with ``{A}`` for the acid, amine N last; see :func:`bb1_forms`."""
    side_chains = ALKYL_SIDE_CHAINS + ["C" + r for r in _rings()] + _rings()
    out = {_fill(t, R=r) for t in BB1_TEMPLATES for r in side_chains}
    out |= {_fill(t, S=s) for t in BB1_ARYL for s in SUBSTITUENTS if s}
    return sorted(out)


def bb1_forms(template: str) -> tuple[str, str]:
    """(fragment as it appears in the molecule, the Fmoc-protected building block)."""
    return template.replace("{A}", ACID_IN_MOLECULE), template.replace("{A}", ACID_IN_BLOCK) + FMOC


@dataclass(frozen=True)
class SynthConfig:
    n_train: int = 200_000
    n_test: int = 30_000
    seed: int = 0
    n_bb1: int = 300
    n_amines: int = 700
    holdout_fraction: float = 0.2
    rates: tuple[float, float, float] = DEFAULT_RATES
    signal: float = 2.0
    block_effect: float = 1.0  # per-block effect not visible in structure: memorised on seen blocks only
    noise: float = 1.0
    chunk_molecules: int = 1_000_000
    other_core: str = "own_library"  # own_library (like kin0) | shared_blocks (0.3.0's rule)
    core_transfer: float = 0.5  # own_library: correlation of its motif weights with the triazine library's

    def __post_init__(self):
        if self.other_core not in OTHER_CORE_RULES:
            raise InputError(f"synth other_core={self.other_core!r}: choose one of {', '.join(OTHER_CORE_RULES)}")
        if not 0.0 <= self.core_transfer <= 1.0:
            raise InputError(f"synth core_transfer={self.core_transfer}: must be between 0 and 1")


OTHER_CORE_RULES = ("own_library", "shared_blocks")


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


def _canonical(smiles: list[str]) -> list[str]:
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    out = []
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            raise RuntimeError(f"synthetic building block {s!r} is not valid SMILES")
        out.append(Chem.MolToSmiles(mol))
    return out


def _motifs(fragments: np.ndarray) -> np.ndarray:
    return np.stack([np.char.find(fragments.astype(str), m) >= 0 for m in MOTIFS], axis=1).astype(np.float64)


def build_library(cfg: SynthConfig) -> Library:
    rng = np.random.default_rng(cfg.seed)
    aa = enumerate_amino_acids()
    am = enumerate_amines()
    aa = [aa[i] for i in np.sort(rng.choice(len(aa), size=min(cfg.n_bb1, len(aa)), replace=False))]
    am = [am[i] for i in np.sort(rng.choice(len(am), size=min(cfg.n_amines, len(am)), replace=False))]
    bb1_mol, bb1_block = zip(*(bb1_forms(t) for t in aa))
    bb1_smiles, amine_smiles = _canonical(list(bb1_block)), _canonical(am)
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
        bb1_smiles=np.array(_canonical(list(bb1_block)), dtype=object),
        amine_mol=np.array(am, dtype=object),
        amine_smiles=np.array(_canonical(am), dtype=object),
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


class _Taken:
    """One bit for every (bb1, bb2, bb3) index triple of the pools: which molecules are drawn."""

    def __init__(self, lib: Library):
        n_am = len(lib.amine_mol)
        self.bits = np.zeros((len(lib.bb1_mol) * n_am * n_am + 7) // 8, np.uint8)

    def has(self, keys: np.ndarray) -> np.ndarray:
        return ((self.bits[keys >> 3] >> (keys & 7).astype(np.uint8)) & 1).astype(bool)

    def add(self, keys: np.ndarray) -> None:
        np.bitwise_or.at(self.bits, keys >> 3, np.left_shift(np.uint8(1), (keys & 7).astype(np.uint8)))


def _sample_triples(rng, n, pool1, pool2, pool3, lib: Library, core: str, taken: _Taken, chunk: int, bar=None):
    """n distinct (bb1, bb2, bb3) index triples whose molecules fit in MAX_LEN and are not yet in
    `taken` (they are added to it). Drawn `chunk` candidates at a time: the memory is the
    triples themselves (int16, 6 bytes a molecule) and `taken`'s bitmap."""
    n_am = len(lib.amine_mol)
    len1 = np.array([len(s) for s in lib.bb1_mol])
    lena = np.array([len(s) for s in lib.amine_mol])
    core_len = sum(len(p) for p in CORES[core])
    out = np.empty((n, 3), np.int16 if max(len(lib.bb1_mol), n_am) < 2**15 else np.int32)
    got = stalls = 0
    while got < n:
        m = min(max(chunk, 1), int((n - got) * 1.3) + 64)
        t = np.stack([rng.choice(pool1, m), rng.choice(pool2, m), rng.choice(pool3, m)], axis=1).astype(np.int64)
        t = t[len1[t[:, 0]] + lena[t[:, 1]] + lena[t[:, 2]] + core_len <= MAX_LEN]
        keys = (t[:, 0] * n_am + t[:, 1]) * n_am + t[:, 2]
        fresh = ~taken.has(keys)
        t, keys = t[fresh], keys[fresh]
        _, first = np.unique(keys, return_index=True)
        first = np.sort(first)[: n - got]
        taken.add(keys[first])
        out[got : got + len(first)] = t[first]
        got += len(first)
        if bar is not None:
            bar.update(len(first))
        stalls = stalls + 1 if len(first) == 0 else 0
        if stalls == 20:
            raise InputError(
                f"cannot draw {n} distinct molecules from {len(pool1)} x {len(pool2)} x {len(pool3)} building blocks "
                f"(the {core} molecules that fit in {MAX_LEN} characters run out); lower n_train/n_test or raise "
                f"n_bb1/n_amines (synth --n-bb1/--n-amines)"
            )
    return out


def _structural(lib: Library, t: np.ndarray) -> np.ndarray:
    interaction = lib.u2[t[:, 1]] * lib.u3[t[:, 2]] * lib.interaction
    out = lib.s1[t[:, 0]] + lib.s2[t[:, 1]] + lib.s3[t[:, 2]] + 0.5 * interaction
    return out if lib.core_term is None else out + lib.core_term


def _scores(lib: Library, t: np.ndarray, rng, cfg: SynthConfig) -> np.ndarray:
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


def _molecules(lib: Library, t: np.ndarray, core: str) -> pa.Array:
    a, b, c = CORES[core]
    parts = [
        pa.array(lib.bb1_mol[t[:, 0]], pa.string()),
        a,
        pa.array(lib.amine_mol[t[:, 1]], pa.string()),
        b,
        pa.array(lib.amine_mol[t[:, 2]], pa.string()),
        c,
    ]
    return pc.binary_join_element_wise(*parts, "")


def _write_rows(
    writer: pq.ParquetWriter,
    lib: Library,
    t: np.ndarray,
    core: str,
    proteins: np.ndarray,
    ids: np.ndarray,
    labels: np.ndarray | None,
) -> None:
    """Write one row per (molecule, protein) pair; `proteins` is a [M, 3] bool pairing mask."""
    mol_idx, prot_idx = np.nonzero(proteins)
    smiles = _molecules(lib, t, core).take(pa.array(mol_idx))
    cols = {
        "id": pa.array(ids, pa.int64()),
        "buildingblock1_smiles": pa.array(lib.bb1_smiles[t[mol_idx, 0]], pa.string()),
        "buildingblock2_smiles": pa.array(lib.amine_smiles[t[mol_idx, 1]], pa.string()),
        "buildingblock3_smiles": pa.array(lib.amine_smiles[t[mol_idx, 2]], pa.string()),
        "molecule_smiles": smiles,
        "protein_name": pa.array(np.array(PROTEINS, dtype=object)[prot_idx], pa.string()),
    }
    if labels is not None:
        cols["binds"] = pa.array(labels[mol_idx, prot_idx].astype(np.int64))
    writer.write_table(pa.table(cols))


TRAIN_SCHEMA = pa.schema(
    [("id", pa.int64())]
    + [(f"buildingblock{i}_smiles", pa.string()) for i in (1, 2, 3)]
    + [("molecule_smiles", pa.string()), ("protein_name", pa.string()), ("binds", pa.int64())]
)
TEST_SCHEMA = pa.schema([f for f in TRAIN_SCHEMA if f.name != "binds"])
SOLUTION_SCHEMA = pa.schema([("id", pa.int64()), ("binds", pa.int64()), ("split_group", pa.string())])


def generate(out_dir: str | os.PathLike, cfg: SynthConfig = SynthConfig(), progress: bool = True) -> Path:
    """Write train.parquet, test.parquet, test_solution.parquet and synth.json into out_dir.

    The directory is built under a temporary name and renamed when complete; an existing
    directory with a matching synth.json is reused as is.
    """
    out = Path(out_dir)
    marker = out / SYNTH_MARKER
    if marker.exists() and json.loads(marker.read_text()).get("config") == _jsonable(cfg):
        return out
    if out.exists():
        raise InputError(
            f"{out} exists but was not written by this generator with these settings; remove it or choose another "
            f"directory"
        )
    lib = build_library(cfg)
    other = build_other_library(cfg, lib) if cfg.other_core == "own_library" else shared_blocks_library(lib)
    with staged(out) as stage:
        tmp = stage.path

        rng = np.random.default_rng(cfg.seed + 1)
        n_am = len(lib.amine_mol)
        chunk = max(1, cfg.chunk_molecules)
        bar = progress_bar(cfg.n_train + cfg.n_test, "synthetic molecules", enabled=progress)
        taken = _Taken(lib)  # train and share draw from one bitmap: no share molecule is in train
        train = _sample_triples(
            rng, cfg.n_train, lib.bb1_train, lib.amine_train, lib.amine_train, lib, "triazine", taken, chunk, bar
        )
        sizes = np.full(3, cfg.n_test // 3) + (np.arange(3) < cfg.n_test % 3)
        groups = {
            "share": _sample_triples(
                rng, sizes[0], lib.bb1_train, lib.amine_train, lib.amine_train, lib, "triazine", taken, chunk, bar
            ),
            "non_share": _sample_triples(
                rng, sizes[1], lib.bb1_held, lib.amine_held, lib.amine_held, lib, "triazine", _Taken(lib), chunk, bar
            ),
            "other_core": _sample_triples(
                rng,
                sizes[2],
                np.arange(len(other.bb1_mol)),
                np.arange(len(other.amine_mol)),
                np.arange(len(other.amine_mol)),
                other,
                "pyrimidine",
                _Taken(other),
                chunk,
                bar,
            ),
        }
        libs = {"share": lib, "non_share": lib, "other_core": other}
        del taken
        bar.close()
        train_scores = _scores(lib, train, rng, cfg)
        threshold = np.array([np.quantile(train_scores[:, k], 1.0 - r) for k, r in enumerate(cfg.rates)])
        train_labels = (train_scores > threshold).astype(np.int8)
        del train_scores

        n_p = len(PROTEINS)
        with pq.ParquetWriter(tmp / "train.parquet", TRAIN_SCHEMA) as w:
            written = progress_bar(len(train), "synthetic train", enabled=progress)
            for lo in range(0, len(train), chunk):
                sl = slice(lo, lo + chunk)
                pair = np.ones((len(train[sl]), n_p), bool)
                ids = np.arange(lo * n_p, min(lo + chunk, len(train)) * n_p)
                _write_rows(w, lib, train[sl], "triazine", pair, ids, train_labels[sl])
                written.update(len(train[sl]))
            written.close()

        next_id = len(train) * n_p
        sol_tables = []
        with pq.ParquetWriter(tmp / "test.parquet", TEST_SCHEMA) as w:
            for group, t in groups.items():
                core = "pyrimidine" if group == "other_core" else "triazine"
                labels = (_scores(libs[group], t, rng, cfg) > threshold).astype(np.int8)
                if group == "other_core":  # like BELKA, not every test molecule is paired with every protein
                    pair = rng.random((len(t), n_p)) < 0.7
                    pair[np.arange(len(t)), rng.integers(0, n_p, len(t))] = True
                else:
                    pair = np.ones((len(t), n_p), bool)
                ids = np.arange(next_id, next_id + int(pair.sum()))
                next_id += len(ids)
                _write_rows(w, libs[group], t, core, pair, ids, None)
                sol_tables.append(
                    pa.table(
                        {
                            "id": ids,
                            "binds": labels[pair].astype(np.int64),
                            "split_group": pa.array([group] * len(ids), pa.string()),
                        },
                        schema=SOLUTION_SCHEMA,
                    )
                )
        pq.write_table(pa.concat_tables(sol_tables), tmp / "test_solution.parquet")

        meta = {
            "config": _jsonable(cfg),
            "n_train_molecules": len(train),
            "n_train_rows": len(train) * n_p,
            "n_test_rows": int(next_id - len(train) * n_p),
            "train_positive_rate": dict(zip(PROTEINS, train_labels.mean(axis=0).round(6).tolist())),
            "n_building_blocks": {"bb1": len(lib.bb1_mol), "amines": n_am},
            "other_core_building_blocks": {"bb1": len(other.bb1_mol), "amines": len(other.amine_mol)},
        }
        (tmp / SYNTH_MARKER).write_text(json.dumps(meta, indent=2))
    return out


def _jsonable(cfg: SynthConfig) -> dict:
    d = asdict(cfg)
    d["rates"] = list(d["rates"])
    return d
