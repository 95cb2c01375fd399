"""Count tables of the shapes labs have: 1–7 targets, no/one/two controls, with or without a load,
2–4 cycles, blocks as SMILES or ids, an affinity file by id, by SMILES outside the library or none,
parquet / CSV / gzip CSV, a few hundred or 1,500 compounds, one or three selection rounds.

A :class:`Shape` writes its table (KinDEL's count-column names, ``seq_<sample>_<replicate>``, or
``seq_<sample>_r<round>_<replicate>`` for several rounds) and
its held-out file into a directory and gives the Hydra overrides that map it. The reads are
Poisson draws around a per-block enrichment, so models have something to learn."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

TARGET_NAMES = ("BRD4", "HSA", "sEH", "MAPK14", "DDR1", "KRAS", "EGFR")
CONTROL_NAMES = ("matrix", "beads")
LETTERS = "abcd"
FRAGMENTS = ("C", "CC", "CCC", "C(C)C", "CC(C)C", "COC", "CCOC", "CN", "CCN", "C(F)", "CC(F)(F)", "C(Cl)")
RINGS = ("", "c1ccc(cc1)", "C1CCC(CC1)", "c1ccc(nc1)", "C1CCN(CC1)")


@dataclass(frozen=True)
class Shape:
    targets: int = 3  # 1: KinDEL's one-target file, its sample called ``target``
    controls: int = 1  # 0: none; 2: two, each shared by several targets
    load: bool = True
    cycles: int = 3
    blocks: str = "smiles"  # smiles | ids
    heldout: str = "none"  # none | id (library members by id) | outside (SMILES only, blocks outside the library)
    file: str = "parquet"  # parquet | csv | csv.gz
    compounds: int = 300
    rounds: int = 1  # 3: each target read after rounds 1, 2 and 3 (the enrichment once per round)
    seed: int = 0

    @property
    def target_names(self) -> list[str]:
        return ["MAPK14"] if self.targets == 1 else list(TARGET_NAMES[: self.targets])

    @property
    def samples(self) -> list[str]:
        """The target samples as the file names them."""
        return ["target"] if self.targets == 1 else self.target_names

    @property
    def control_names(self) -> list[str]:
        return list(CONTROL_NAMES[: self.controls])

    @property
    def control_of(self) -> dict[str, str]:
        """Two controls: every other target uses the second."""
        return {t: CONTROL_NAMES[k % 2] for k, t in enumerate(self.target_names)} if self.controls == 2 else {}

    @property
    def block_columns(self) -> list[str]:
        prefix = "smiles_{}" if self.blocks == "smiles" else "bb{}_id"
        keys = LETTERS if self.blocks == "smiles" else "1234"
        return [prefix.format(keys[c]) for c in range(self.cycles)]

    @property
    def table_file(self) -> str:
        return f"selection.{self.file}"

    def write(self, root: Path) -> Path:
        """The table (and ``heldout.csv``) in ``root``; returns ``root``."""
        root.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(self.seed)
        # sparse, as a DEL is: at least 30 blocks a cycle, so a pair of blocks is in few compounds
        per_cycle = max(int(np.ceil((2 * self.compounds) ** (1 / self.cycles))), 30) + 2
        # the last 3 blocks of each cycle are never in the library (the held-out file's unseen blocks)
        blocks = [_blocks(c, per_cycle + 3) for c in range(self.cycles)]
        effect = rng.normal(0.0, 1.0, (len(self.samples), self.cycles, per_cycle + 3))
        combos = _distinct_combos(rng, self.compounds, self.cycles, per_cycle)
        table = self._frame(combos, blocks)
        load = rng.lognormal(0.0, 0.5, self.compounds)
        bead = {c: rng.lognormal(0.0, 0.3, self.compounds) for c in self.control_names}
        depth = 8.0
        if self.load:
            table["seq_load"] = rng.poisson(depth * load)
        for c in self.control_names:
            for r in (1, 2):
                table[f"seq_{c}_{r}"] = rng.poisson(depth * load * bead[c])
        for k, (sample, target) in enumerate(zip(self.samples, self.target_names)):
            enrich = np.exp(0.8 * sum(effect[k, c, combos[:, c]] for c in range(self.cycles)))
            control = self.control_of.get(target, self.control_names[0] if self.controls else None)
            for rnd in range(1, self.rounds + 1):
                rate = load * enrich**rnd * (bead[control] if control else 1.0)
                rate *= depth * self.compounds / rate.sum()
                name = f"seq_{sample}_" if self.rounds == 1 else f"seq_{sample}_r{rnd}_"
                for r in (1, 2, 3):
                    table[f"{name}{r}"] = rng.poisson(rate)
        path = root / self.table_file
        if self.file == "parquet":
            table.to_parquet(path, index=False)
        else:
            table.to_csv(path, index=False)  # pandas compresses .csv.gz by its suffix
        if self.heldout != "none":
            self._heldout(rng, combos, blocks, effect).to_csv(root / "heldout.csv", index=False)
        return root

    def _frame(self, combos: np.ndarray, blocks: list[list[str]]) -> pd.DataFrame:
        out = {"molecule_hash": [f"{i:016x}" for i in range(7_000_000, 7_000_000 + len(combos))]}
        out["smiles"] = [_molecule(blocks, row) for row in combos]
        for c, name in enumerate(self.block_columns):
            out[name] = [blocks[c][b] if self.blocks == "smiles" else f"BB{c + 1}_{b:03d}" for b in combos[:, c]]
        return pd.DataFrame(out)

    def _heldout(self, rng, combos, blocks, effect) -> pd.DataFrame:
        """40 compounds with every target's Kd: library members by id, or compounds of unseen blocks."""
        n = 40
        if self.heldout == "id":
            pick = rng.choice(len(combos), n, replace=False)
            rows, ids = combos[pick], [f"{i:016x}" for i in 7_000_000 + pick]
        else:
            rows = combos[:n].copy()
            rows[:, 0] = len(blocks[0]) - 1 - rng.integers(0, 3, n)  # a cycle-1 block the library never used
            ids = None
        frames = []
        for k, target in enumerate(self.target_names):
            pkd = 6.0 + 0.8 * sum(effect[k, c, rows[:, c]] for c in range(self.cycles)) / np.log(10)
            frame = {"smiles": [_molecule(blocks, r) for r in rows], "target": target, "kd": 10 ** (9 - pkd)}
            if ids is not None:
                frame = {"molecule_hash": ids, **frame}
            frames.append(pd.DataFrame(frame))
        return pd.concat(frames, ignore_index=True)

    def overrides(self, root: Path) -> list[str]:
        """What maps this table: the count table's columns, its controls and load, its score."""
        out = [
            "data=counts",
            f"data.root={root}",
            f"data.train_file={root / self.table_file}",
            f"data.test_file={root / 'heldout.csv' if self.heldout != 'none' else 'null'}",
            f"data.prepare.counts.blocks=[{','.join(self.block_columns)}]",
            f"data.prepare.counts.controls=[{','.join(self.control_names)}]",
            f"data.prepare.counts.load={'seq_load' if self.load else 'null'}",
            f"data.prepare.counts.score={'ratio_lb' if self.controls else 'normalized_z'}",
        ]
        if self.targets == 1:
            out.append("data.prepare.counts.names={target: MAPK14}")
        if self.control_of:
            out.append(
                "data.prepare.counts.control_of={" + ", ".join(f"{t}: {c}" for t, c in self.control_of.items()) + "}"
            )
        return out


def _blocks(cycle: int, n: int) -> list[str]:
    """``n`` distinct block SMILES of one cycle (a fragment, a ring, a cycle mark)."""
    mark = ("O", "S", "OC", "SC")[cycle]
    out = [f"{f}{r}{x}{mark}" for x in ("", "C") for r in RINGS for f in FRAGMENTS]
    if n > len(out):
        raise ValueError(f"{n} blocks asked of a pool of {len(out)}")
    return out[:n]


def _molecule(blocks: list[list[str]], row) -> str:
    """The blocks joined by amides and ended by the DNA linker atom, as a DEL compound is written."""
    return "C(=O)N".join(blocks[c][b] for c, b in enumerate(row)) + "C(=O)N[Dy]"


def _distinct_combos(rng, n: int, cycles: int, per_cycle: int) -> np.ndarray:
    """``n`` distinct block combinations (int [n, cycles]) from ``per_cycle`` blocks a cycle."""
    seen: set = set()
    out = []
    while len(out) < n:
        row = tuple(int(x) for x in rng.integers(0, per_cycle, cycles))
        if row not in seen:
            seen.add(row)
            out.append(row)
    return np.array(out, np.int64)
