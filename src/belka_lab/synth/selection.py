"""A simulated DEL selection: read counts per target and replicate, a no-target control, the
library load, and a held-out file of true affinities — the built-in data of the count kind.

The compounds are the synthetic library's (``synth/generate.py``: a triazine core, three
building blocks, the hidden per-target rule of ``synth/rule.py``). The screen is simulated the way
it happens:

1. **Synthesis yield**: each compound's amount in the pool is log-normal (``load_sigma``).
2. **Affinity**: the hidden rule's score ``s`` (unit spread × ``signal``, plus noise) sets each
   compound's dissociation constant per target, pKd = ``pkd_mean`` + ``pkd_scale``·s.
3. **Selection**: the fraction of a compound captured by a target is its occupancy
   [P]/([P] + Kd) at ``concentration`` (molar), plus a background that survives washing
   (``background``) and, for the few bead/matrix binders (``matrix_binders``), their capture
   by the matrix; the no-target control captures background and matrix binding alone.
   With ``rounds`` > 1 the selection is repeated on what the last round captured: round r's
   amount is load · (occupancy + background + matrix)^r, read as ``seq_<target>_r<r>_<rep>``.
4. **Amplification and sequencing**: each replicate multiplies every compound by a PCR factor
   (log-normal, ``pcr_sigma``) and draws its reads from a Poisson distribution (or a negative
   binomial with ``dispersion``) whose expectations sum to ``depth`` reads per compound.

Written, in KinDEL's column names: ``selection.parquet`` (``molecule_hash``, ``smiles``,
``smiles_a/b/c``, ``seq_<target>_<r>``, ``seq_matrix_<r>``, ``seq_load``), ``heldout.csv``
(``molecule_hash`` — empty for compounds outside the library —, ``smiles``, ``target``, ``kd`` in
nM, ``blocks``: ``seen`` or ``unseen``, and the compound's blocks ``smiles_a/b/c``) and
``selection.json`` (the settings and the truth's summary). Half the held-out compounds are
library members, half are made of building blocks held out of the library (``unseen``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from belka_lab.core.errors import InputError
from belka_lab.core.io import staged
from belka_lab.core.progress import bar as progress_bar
from belka_lab.dataset.schema import BELKA_TARGETS
from belka_lab.synth.config import SynthConfig
from belka_lab.synth.generate import Taken, molecules, sample_triples
from belka_lab.synth.rule import build_library, scores

MARKER = "selection.json"
FORMAT = 2  # 2: heldout.csv names each compound's building blocks (smiles_a, smiles_b, smiles_c)


@dataclass(frozen=True)
class SelectionConfig:
    n_compounds: int = 100_000
    seed: int = 0
    n_bb1: int = 120
    n_amines: int = 300
    replicates: int = 3
    rounds: int = 1  # selection rounds per target: round r's input is round r-1's capture
    depth: float = 10.0  # reads per compound per replicate, on average (each sample's total / compounds)
    load_depth: float = 5.0
    load_sigma: float = 0.7
    signal: float = 2.0
    block_effect: float = 1.0
    noise: float = 0.5
    pkd_mean: float = 2.0
    pkd_scale: float = 0.8
    concentration: float = 1e-6
    background: float = 2e-3
    matrix_binders: float = 0.01
    matrix_capture: float = 0.05
    pcr_sigma: float = 0.25
    dispersion: float | None = None  # negative-binomial size; None: Poisson
    n_heldout: int = 1500
    chunk_molecules: int = 1_000_000

    def __post_init__(self):
        if self.replicates < 1 or self.rounds < 1 or self.depth <= 0 or self.n_compounds < 10:
            raise InputError(
                f"selection: replicates={self.replicates}, rounds={self.rounds}, depth={self.depth}, "
                f"n_compounds={self.n_compounds}: need at least 1 replicate and round, a positive depth and 10 "
                f"compounds"
            )

    def library(self) -> SynthConfig:
        return SynthConfig(
            n_train=self.n_compounds,
            n_test=0,
            seed=self.seed,
            n_bb1=self.n_bb1,
            n_amines=self.n_amines,
            signal=self.signal,
            block_effect=self.block_effect,
            noise=self.noise,
            chunk_molecules=self.chunk_molecules,
        )


def _hash(smiles: list[str]) -> list[str]:
    return [hashlib.sha1(s.encode()).hexdigest()[:16] for s in smiles]


def _reads(rng, amount: np.ndarray, total: float, cfg: SelectionConfig) -> np.ndarray:
    """One replicate's counts of compounds present in `amount` (any scale), `total` reads in all."""
    amplified = amount * rng.lognormal(0.0, cfg.pcr_sigma, len(amount))
    lam = total * amplified / amplified.sum()
    if cfg.dispersion is None:
        return rng.poisson(lam).astype(np.int64)
    size = float(cfg.dispersion)
    return rng.negative_binomial(size, size / (size + lam)).astype(np.int64)


def _same(stored: dict, cfg: SelectionConfig) -> bool:
    """Whether a selection simulated with ``stored`` settings is ``cfg``'s: a setting added since it
    was written counts as its default (a selection of 0.9 has no ``rounds``: one round)."""
    defaults = {f.name: f.default for f in fields(SelectionConfig)}
    return all(stored.get(k, defaults[k]) == v for k, v in asdict(cfg).items()) and set(stored) <= set(defaults)


def simulate(out_dir: str | os.PathLike, cfg: SelectionConfig | None = None, progress: bool = True) -> Path:
    """Write the simulated selection into ``out_dir`` (built under a temporary name, renamed when
    complete; an existing directory with the same settings is reused)."""
    cfg = cfg if cfg is not None else SelectionConfig()
    out = Path(out_dir)
    marker = out / MARKER
    if marker.exists():
        stored = json.loads(marker.read_text())
        if _same(stored.get("config") or {}, cfg):
            if stored.get("format", 1) == FORMAT:
                return out
            print(f"simulate: {out} was simulated by an older belka_lab (no blocks in heldout.csv); simulating again")
            shutil.rmtree(out)  # the marker says the directory is this simulator's own
    if out.exists():
        raise InputError(f"{out} exists but holds another selection; remove it or choose another directory")
    syn = cfg.library()
    lib = build_library(syn)
    rng = np.random.default_rng(cfg.seed + 7)
    targets = BELKA_TARGETS
    with staged(out) as stage:
        tmp = stage.path
        n_unseen = cfg.n_heldout // 2
        bar = progress_bar(cfg.n_compounds + n_unseen, "simulated compounds", enabled=progress)
        taken = Taken(lib)
        t = sample_triples(
            rng, cfg.n_compounds, lib.bb1_train, lib.amine_train, lib.amine_train, lib, "triazine", taken, 1 << 20, bar
        )
        unseen = sample_triples(
            rng, n_unseen, lib.bb1_held, lib.amine_held, lib.amine_held, lib, "triazine", Taken(lib), 1 << 20, bar
        )
        bar.close()
        s = scores(lib, np.concatenate([t, unseen]), rng, syn).astype(np.float64)
        pkd = cfg.pkd_mean + cfg.pkd_scale * s  # [n + unseen, targets]
        kd = 10.0 ** (-pkd)  # molar
        n = len(t)
        load = rng.lognormal(0.0, cfg.load_sigma, n)
        matrix = (rng.random(n) < cfg.matrix_binders) * cfg.matrix_capture
        occupancy = cfg.concentration / (cfg.concentration + kd[:n])
        control_capture = cfg.background + matrix
        smiles = molecules(lib, t, "triazine").to_pylist()
        cols: dict[str, object] = {
            "molecule_hash": _hash(smiles),
            "smiles": smiles,
            "smiles_a": lib.bb1_smiles[t[:, 0]],
            "smiles_b": lib.amine_smiles[t[:, 1]],
            "smiles_c": lib.amine_smiles[t[:, 2]],
        }
        total = cfg.depth * n
        for k, target in enumerate(targets):
            amount = load * (occupancy[:, k] + control_capture)
            for rnd in range(1, cfg.rounds + 1):  # each round captures from the last round's capture
                name = f"seq_{target}_" if cfg.rounds == 1 else f"seq_{target}_r{rnd}_"
                for r in range(cfg.replicates):
                    cols[f"{name}{r + 1}"] = _reads(rng, amount, total, cfg)
                amount = amount * (occupancy[:, k] + control_capture)
        for r in range(cfg.replicates):
            cols[f"seq_matrix_{r + 1}"] = _reads(rng, load * control_capture, total, cfg)
        cols["seq_load"] = _reads(rng, load, cfg.load_depth * n, cfg)
        pq.write_table(pa.table(cols), tmp / "selection.parquet")

        pick = rng.choice(n, min(cfg.n_heldout - n_unseen, n), replace=False)
        unseen_smiles = molecules(lib, unseen, "triazine").to_pylist()
        blocks_of = np.stack(  # each compound's building blocks, the library's and the unseen ones
            [
                np.concatenate([cols["smiles_a"], lib.bb1_smiles[unseen[:, 0]]]),
                np.concatenate([cols["smiles_b"], lib.amine_smiles[unseen[:, 1]]]),
                np.concatenate([cols["smiles_c"], lib.amine_smiles[unseen[:, 2]]]),
            ],
            axis=1,
        )
        rows = []
        for k, target in enumerate(targets):
            for i in pick:
                rows.append((cols["molecule_hash"][i], smiles[i], target, kd[i, k] * 1e9, "seen", *blocks_of[i]))
            for j, smi in enumerate(unseen_smiles):
                rows.append(("", smi, target, kd[n + j, k] * 1e9, "unseen", *blocks_of[n + j]))
        heldout = ["molecule_hash", "smiles", "target", "kd", "blocks", "smiles_a", "smiles_b", "smiles_c"]
        pd.DataFrame(rows, columns=heldout).to_csv(tmp / "heldout.csv", index=False)
        truth = {
            "format": FORMAT,
            "config": asdict(cfg),
            "targets": list(targets),
            "compounds": n,
            "matrix_binders": int((matrix > 0).sum()),
            "occupancy_over_half": {t_: int((occupancy[:, k] > 0.5).sum()) for k, t_ in enumerate(targets)},
            "heldout": {"seen": len(pick), "unseen": n_unseen},
        }
        (tmp / MARKER).write_text(json.dumps(truth, indent=2))
    return out
