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
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from belka_lab.core.errors import InputError
from belka_lab.core.io import staged
from belka_lab.core.progress import bar as progress_bar
from belka_lab.dataset.schema import BELKA_TARGETS as PROTEINS
from belka_lab.synth.blocks import CORES
from belka_lab.synth.config import SynthConfig
from belka_lab.synth.rule import Library, build_library, build_other_library, scores, shared_blocks_library
from belka_lab.tokens.characters import MAX_LEN

SYNTH_MARKER = "synth.json"


class Taken:
    """One bit for every (bb1, bb2, bb3) index triple of the pools: which molecules are drawn."""

    def __init__(self, lib: Library):
        n_am = len(lib.amine_mol)
        self.bits = np.zeros((len(lib.bb1_mol) * n_am * n_am + 7) // 8, np.uint8)

    def has(self, keys: np.ndarray) -> np.ndarray:
        return ((self.bits[keys >> 3] >> (keys & 7).astype(np.uint8)) & 1).astype(bool)

    def add(self, keys: np.ndarray) -> None:
        np.bitwise_or.at(self.bits, keys >> 3, np.left_shift(np.uint8(1), (keys & 7).astype(np.uint8)))


def sample_triples(rng, n, pool1, pool2, pool3, lib: Library, core: str, taken: Taken, chunk: int, bar=None):
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


def molecules(lib: Library, t: np.ndarray, core: str) -> pa.Array:
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
    smiles = molecules(lib, t, core).take(pa.array(mol_idx))
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


def generate(out_dir: str | os.PathLike, cfg: SynthConfig | None = None, progress: bool = True) -> Path:
    """Write train.parquet, test.parquet, test_solution.parquet and synth.json into out_dir.

    The directory is built under a temporary name and renamed when complete; an existing
    directory with a matching synth.json is reused as is.
    """
    cfg = cfg if cfg is not None else SynthConfig()
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
        taken = Taken(lib)  # train and share draw from one bitmap: no share molecule is in train
        train = sample_triples(
            rng, cfg.n_train, lib.bb1_train, lib.amine_train, lib.amine_train, lib, "triazine", taken, chunk, bar
        )
        sizes = np.full(3, cfg.n_test // 3) + (np.arange(3) < cfg.n_test % 3)
        groups = {
            "share": sample_triples(
                rng, sizes[0], lib.bb1_train, lib.amine_train, lib.amine_train, lib, "triazine", taken, chunk, bar
            ),
            "non_share": sample_triples(
                rng, sizes[1], lib.bb1_held, lib.amine_held, lib.amine_held, lib, "triazine", Taken(lib), chunk, bar
            ),
            "other_core": sample_triples(
                rng,
                sizes[2],
                np.arange(len(other.bb1_mol)),
                np.arange(len(other.amine_mol)),
                np.arange(len(other.amine_mol)),
                other,
                "pyrimidine",
                Taken(other),
                chunk,
                bar,
            ),
        }
        libs = {"share": lib, "non_share": lib, "other_core": other}
        del taken
        bar.close()
        train_scores = scores(lib, train, rng, cfg)
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
                labels = (scores(libs[group], t, rng, cfg) > threshold).astype(np.int8)
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
