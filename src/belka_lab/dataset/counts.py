"""A DEL count table → the prepared directory (``data.prepare.format=counts``).

The table has one row per compound: an id, its SMILES, the building blocks of its 2–4 cycles
(SMILES or ids), and read counts — for each target its replicates, for each no-target control
(beads, matrix) its replicates, and optionally the library load. Columns are found by
:class:`CountTable`'s pattern: KinDEL's names (``seq_target_1..3``, ``seq_matrix_1..3``,
``seq_load``) work without a mapping; ``docs/del_counts.md`` gives the mapping of a DELi output.

Streamed in record batches like Kaggle files. Besides the tokens and block ids every format
writes, a count library gets::

    train/counts.npy   int32 [N, S]  every count column (targets' replicates, controls', load)
    train/scores.npy   float32 [N, T] the configured enrichment score per target, on the scale
                                      models regress on (log10 of a ratio; a z-score as is)
    train/labels.npy   int8 [N, T]    1 where the score reaches the threshold (the hits)

and a manifest entry ``count_table`` naming the columns, each target's replicates and control,
the totals (each column's summed reads) and the score. The test part is the held-out affinity
file when one is given (``smiles``, ``target``, ``kd`` and optionally the id column and
``blocks``): its compounds are predicted and scored against −log Kd.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from belka_lab.core.errors import InputError, preview
from belka_lab.core.io import staged
from belka_lab.core.progress import bar as progress_bar
from belka_lab.dataset import affinity_file, enrichment, read, repeats, store
from belka_lab.dataset.molecules import Blocks, announce, check_smiles, encode, finish_blocks, versions
from belka_lab.dataset.options import PrepareOptions
from belka_lab.dataset.schema import check_targets
from belka_lab.tokens.characters import CHAR_VOCAB, MAX_LEN, VOCAB_SIZE

KINDEL_COUNTS = r"^seq_(?P<sample>.+)_(?P<replicate>\d+)$"


@dataclass(frozen=True)
class CountTable:
    """The count table's columns and how its compounds are scored.

    ``counts`` is a regular expression with groups ``sample`` and ``replicate``: every column it
    matches is a count column. ``samples`` names them instead, sample → its replicate columns
    (``{PTMOD: [corrected_index4, corrected_index5], beads: [corrected_index7]}``, a DELi cube).
    Samples named in ``controls`` are no-target controls; every other sample is a target
    (``targets`` keeps and orders a subset), renamed by ``names`` (KinDEL's
    one-target files call theirs ``target``: ``names={target: MAPK14}``). Each target's control is
    ``control_of[target]``, else the first control; a table without controls (``controls: []``)
    leaves its targets without one, and only ``normalized_z`` and the count likelihoods apply.
    ``load`` is the pre-selection count column (or null). ``score`` is one of
    :data:`belka_lab.dataset.enrichment.SCORES`; a compound is a hit (label 1) for a target where
    the score reaches ``threshold``, or, with no threshold, where it is in the top
    ``hit_fraction`` of that target's scores."""

    id: str | None = "molecule_hash"
    smiles: str = "smiles"
    blocks: list[str] = field(default_factory=lambda: ["smiles_a", "smiles_b", "smiles_c"])
    counts: str = KINDEL_COUNTS
    samples: dict | None = None
    controls: list[str] | None = field(default_factory=lambda: ["matrix"])
    load: str | None = "seq_load"
    targets: list[str] | None = None
    names: dict | None = None
    control_of: dict | None = None
    score: str = "ratio_lb"
    threshold: float | None = None
    hit_fraction: float = 0.01

    def __post_init__(self):
        if not 2 <= len(self.blocks) <= 4:
            raise InputError(f"data.prepare.counts.blocks={list(self.blocks)}: give the block columns of 2 to 4 cycles")
        if self.score not in enrichment.SCORES:
            raise InputError(f"data.prepare.counts.score={self.score!r}: choose one of {', '.join(enrichment.SCORES)}")
        if not 0.0 < self.hit_fraction < 1.0:
            raise InputError(f"data.prepare.counts.hit_fraction={self.hit_fraction}: must be between 0 and 1")
        try:
            pattern = re.compile(self.counts)
        except re.error as e:
            raise InputError(f"data.prepare.counts.counts={self.counts!r} is not a regular expression: {e}") from None
        if not {"sample", "replicate"} <= set(pattern.groupindex):
            raise InputError(
                f"data.prepare.counts.counts={self.counts!r} needs the named groups (?P<sample>…) and (?P<replicate>…)"
            )


@dataclass
class Layout:
    """Which count column is what: ``columns`` in counts.npy order; per target its replicate
    columns (indices into ``columns``) and its control; per control its replicate columns."""

    columns: list[str]
    targets: dict[str, list[int]]
    control_of: dict[str, str | None]  # None: the target has no no-target control
    controls: dict[str, list[int]]
    load: int | None

    def to_json(self, totals: list[int], table: CountTable, threshold: dict) -> dict:
        return {
            "columns": self.columns,
            "targets": {t: {"columns": c, "control": self.control_of[t]} for t, c in self.targets.items()},
            "controls": self.controls,
            "load": self.load,
            "totals": totals,
            "score": table.score,
            "threshold": threshold,
        }


def layout(path: Path, names: list[str], table: CountTable) -> Layout:
    """The count columns of a file with columns ``names``, or one InputError saying what is missing."""
    pattern = re.compile(table.counts)
    samples: dict[str, list[tuple[int, str]]] = {}
    if table.samples:
        absent = [c for cols in table.samples.values() for c in cols if c not in names]
        if absent:
            raise InputError(
                f"{path}: the count columns {absent[:5]} named in data.prepare.counts.samples are missing (columns: "
                f"{preview(names)})"
            )
        samples = {s: [(r + 1, c) for r, c in enumerate(cols)] for s, cols in table.samples.items()}
    for name in names if not table.samples else []:
        m = pattern.match(name)
        if m and name != table.load:
            samples.setdefault(m.group("sample"), []).append((int(m.group("replicate")), name))
    if not samples:
        raise InputError(
            f"{path}: no column matches the count pattern {table.counts!r} (columns: {preview(names)}); set "
            f"data.prepare.counts.counts to a pattern with (?P<sample>…) and (?P<replicate>…) that does"
        )
    controls_named = list(table.controls or [])
    missing = [c for c in controls_named if c not in samples]
    if missing:
        raise InputError(
            f"{path}: no count columns for the control(s) {missing} (samples found: {sorted(samples)}); name the "
            f"file's no-target controls in data.prepare.counts.controls, or set data.prepare.counts.controls=[] "
            f"when the selection has none"
        )
    found = [s for s in samples if s not in controls_named]
    wanted = list(table.targets) if table.targets is not None else sorted(found)
    lacking = [t for t in wanted if t not in samples]
    if lacking or not wanted:
        raise InputError(
            f"{path}: no count columns for the target(s) {lacking or '(none)'} (samples found: {sorted(samples)})"
        )
    if table.load is not None and table.load not in names:
        raise InputError(
            f"{path}: the load column {table.load!r} is missing (columns: {preview(names)}); set "
            f"data.prepare.counts.load to its name, or to null when the selection has no load counts"
        )
    columns: list[str] = []

    def take(sample: str) -> list[int]:
        reps = sorted(samples[sample])
        numbers = [r for r, _ in reps]
        if len(set(numbers)) != len(numbers):
            raise InputError(f"{path}: sample {sample!r} has two columns for one replicate ({[c for _, c in reps]})")
        start = len(columns)
        columns.extend(c for _, c in reps)
        return list(range(start, len(columns)))

    names, pairs = dict(table.names or {}), dict(table.control_of or {})
    targets = {names.get(t, t): take(t) for t in wanted}
    check_targets(list(targets), f"{path} (count targets)")
    controls = {c: take(c) for c in controls_named}
    control_of: dict[str, str | None] = {}
    for t in targets:
        c = pairs.get(t, controls_named[0] if controls_named else None)
        if c is not None and c not in controls:
            raise InputError(
                f"{path}: data.prepare.counts.control_of pairs target {t} with {c!r}, which is not one of the "
                f"controls {controls_named or '(none)'}; name it in data.prepare.counts.controls"
            )
        control_of[t] = c
    uncontrolled = [t for t, c in control_of.items() if c is None]
    if uncontrolled and table.score in enrichment.NEEDS_CONTROL:
        verb = "has" if len(uncontrolled) == 1 else "have"
        raise InputError(
            f"{path}: score={table.score} compares target reads with a no-target control, and "
            f"{', '.join(uncontrolled)} {verb} none (samples found: {sorted(samples)}); set "
            f"data.prepare.counts.score=normalized_z (no control needed), or name the control in "
            f"data.prepare.counts.controls"
        )
    load = None
    if table.load is not None:
        columns.append(table.load)
        load = len(columns) - 1
    return Layout(columns, targets, control_of, controls, load)


INT32_MAX = int(np.iinfo(np.int32).max)


def _counts(path: Path, batch: pa.RecordBatch, columns: list[str], first_row: int) -> np.ndarray:
    """int32 [rows, columns] counts; one InputError naming the column, the rows and what is wrong
    with a count that is missing, negative, fractional, too large or not a number."""
    out = np.empty((batch.num_rows, len(columns)), np.int32)
    for j, name in enumerate(columns):
        col = batch.column(name)
        if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            raise InputError(f"{path}: count column {name!r} holds {col.type}, not numbers; counts are whole numbers")
        missing = col.is_null().to_numpy(zero_copy_only=False)
        values = pc.fill_null(col, 0).to_numpy(zero_copy_only=False).astype(np.float64)
        kinds = {
            "missing": missing,
            "not a number": ~missing & np.isnan(values),
            "negative": ~missing & (values < 0),
            "fractional": ~missing & np.isfinite(values) & (values != np.floor(values)),
            f"above {INT32_MAX:,} (the largest count a table holds)": ~missing & (values > INT32_MAX),
        }
        bad = np.logical_or.reduce(list(kinds.values()))
        if bad.any():
            rows = first_row + np.flatnonzero(bad)
            shown = ["null" if m else f"{v:g}" for m, v in zip(missing[bad][:3], values[bad][:3])]
            what = ", ".join(f"{int(m.sum())} {kind}" for kind, m in kinds.items() if m.any())
            raise InputError(
                f"{path}: count column {name!r} has {what} (rows {preview(rows.tolist())}, e.g. {', '.join(shown)}); "
                f"counts are whole numbers from 0 to {INT32_MAX:,}"
            )
        out[:, j] = values
    return out


def _blocks_of(path: Path, batch: pa.RecordBatch, table: CountTable, first_row: int) -> list[pa.Array]:
    """The block column of each cycle as strings; a compound missing a cycle's block is named."""
    out = []
    for name in table.blocks:
        col = batch.column(name)
        if not pa.types.is_string(col.type):
            col = pc.cast(col, pa.string())
        missing = pc.fill_null(pc.equal(pc.utf8_length(col), 0), True).to_numpy(zero_copy_only=False)
        if missing.any():
            rows = first_row + np.flatnonzero(missing)
            raise InputError(
                f"{path}: {int(missing.sum())} compounds have no block in cycle column {name!r} (rows "
                f"{preview(rows.tolist())}): every row needs one block per cycle ({len(table.blocks)} cycles); give "
                f"compounds with fewer cycles their own table, or a placeholder block"
            )
        out.append(col)
    return out


def _ingest(path: Path, tmp: Path, blocks: Blocks, table: CountTable, lay: Layout, options, wanted_ids: set):
    needed = [table.smiles, *table.blocks] + ([table.id] if table.id else [])
    batches, total = read.table_batches(path, needed + lay.columns, options.batch_rows)
    cycles = len(table.blocks)
    writers = {
        "tokens": store.NpyAppender(tmp / "train" / "tokens.npy", np.uint8, (MAX_LEN,)),
        "counts": store.NpyAppender(tmp / "train" / "counts.npy", np.int32, (len(lay.columns),)),
        "bb_ids": store.NpyAppender(tmp / "train" / "bb_ids.npy", np.int32, (cycles,)),
    }
    totals = np.zeros(len(lay.columns), np.int64)
    id_hashes = store.NpyAppender(tmp / "id_hashes.npy", np.int64)  # every row's id, hashed: repeats are refused
    unknown = 0
    found: set = set()
    bar = progress_bar(total, f"prepare {path.name}", "compound", options.progress)
    row = 0
    for batch in batches:
        n = batch.num_rows
        rows = np.arange(row, row + n)
        smiles = batch.column(table.smiles)
        check_smiles(path, smiles, rows, table.smiles, "rows")
        tokens, n_unk, _ = encode(path, smiles, rows, "unk" if options.unknown_chars == "unk" else "error")
        counts = _counts(path, batch, lay.columns, row)
        bb = np.stack([blocks.lookup(col) for col in _blocks_of(path, batch, table, row)], axis=1)
        if table.id:
            ids = batch.column(table.id).cast(pa.string())
            id_hashes.append(_hash_ids(ids))
            if wanted_ids:
                found.update(pc.filter(ids, pc.is_in(ids, pa.array(sorted(wanted_ids)))).to_pylist())
        writers["tokens"].append(tokens)
        writers["counts"].append(counts)
        writers["bb_ids"].append(bb)
        totals += counts.sum(axis=0, dtype=np.int64)
        unknown += n_unk
        row += n
        bar.update(n)
    bar.close()
    for w in writers.values():
        w.close()
    id_hashes.close()
    if table.id:
        _check_repeats(path, table, store.load(id_hashes.path), options)
    id_hashes.path.unlink()
    return totals, row, unknown, found


def _hash_ids(ids: pa.Array) -> np.ndarray:
    """int64 hashes of id strings (pandas' hash of each value; a null hashes as the empty id)."""
    values = np.asarray(pc.fill_null(ids, "").to_pylist(), dtype=object)
    return pd.util.hash_array(values).view(np.int64)


def _check_repeats(path: Path, table: CountTable, hashes: np.ndarray, options) -> None:
    """A compound is one row: an id on two rows is named, with whether their counts differ."""
    repeated, examples = repeats.repeated_ids(hashes, max(options.batch_rows, 1))
    if not repeated:
        return
    wanted = set(examples)
    named: list[str] = []
    batches, _ = read.table_batches(path, [table.id], options.batch_rows)
    for batch in batches:
        ids = batch.column(0).cast(pa.string())
        hit = np.isin(_hash_ids(ids), list(wanted))
        named += [v for v, h in zip(ids.to_pylist(), hit) if h and v not in named]
    raise InputError(
        f"{path}: {repeated} rows repeat the {table.id} of an earlier row (ids {preview(named)}); a count table has "
        f"one row per compound: sum the counts of a compound's rows into one, or give distinct compounds distinct ids"
    )


def _check_totals(path: Path, lay: Layout, totals: np.ndarray) -> None:
    for sample, cols in [*lay.targets.items(), *lay.controls.items()]:
        if totals[cols].sum() == 0:
            raise InputError(
                f"{path}: {sample}'s counts ({', '.join(lay.columns[c] for c in cols)}) sum to zero: nothing was read "
                f"for it; check the column mapping (data.prepare.counts) or leave that sample out"
            )


def compound_scores(counts: np.ndarray, lay: Layout, totals: np.ndarray, score: str, n_compounds: int) -> np.ndarray:
    """float64 [n, T]: the raw ``score`` of each compound for each target (enrichment.py)."""
    out = np.empty((len(counts), len(lay.targets)), np.float64)
    for k, (target, cols) in enumerate(lay.targets.items()):
        k_t, n_t = counts[:, cols].sum(axis=1, dtype=np.int64), float(totals[cols].sum())
        if score == "normalized_z":
            out[:, k] = enrichment.normalized_z(k_t, n_t, n_compounds)
            continue
        ctrl = lay.controls[lay.control_of[target]]
        k_c, n_c = counts[:, ctrl].sum(axis=1, dtype=np.int64), float(totals[ctrl].sum())
        if score == "ratio":
            out[:, k] = enrichment.ratio(k_t, n_t, k_c, n_c)
        elif score == "ratio_lb":
            out[:, k] = enrichment.ratio_bound(k_t, n_t, k_c, n_c, 2.0)
        else:
            out[:, k] = enrichment.poisson_ratio(k_t, n_t, len(cols), k_c, n_c, len(ctrl))
    return out


def regression_scale(raw: np.ndarray, score: str) -> np.ndarray:
    """What models regress on: log10 of a ratio (floored at 0.01: a bound or a Poisson ratio is 0
    for compounds never read on the target), a z-score as it is."""
    if score == "normalized_z":
        return raw.astype(np.float32)
    return np.log10(np.maximum(raw, 1e-2)).astype(np.float32)


def _scores_and_labels(tmp: Path, lay: Layout, totals: np.ndarray, table: CountTable, n: int, chunk: int) -> dict:
    """scores.npy and labels.npy a chunk at a time; the raw scores [n, T] float32 stay in memory
    for the hit threshold (1.2 GB for 100M compounds and three targets)."""
    counts = store.load(tmp / "train" / "counts.npy")
    n_t = len(lay.targets)
    raw = np.empty((n, n_t), np.float32)
    scores = store.NpyAppender(tmp / "train" / "scores.npy", np.float32, (n_t,))
    for lo in range(0, n, chunk):
        part = compound_scores(np.asarray(counts[lo : lo + chunk]), lay, totals, table.score, n)
        raw[lo : lo + chunk] = part
        scores.append(regression_scale(part, table.score))
    scores.close()
    if table.threshold is not None:
        threshold = {t: float(table.threshold) for t in lay.targets}
    else:
        threshold = {t: float(np.quantile(raw[:, k], 1.0 - table.hit_fraction)) for k, t in enumerate(lay.targets)}
    cut = np.array(list(threshold.values()), np.float32)
    # ties at the quantile (a score most compounds share, such as a lower bound of 0): strictly above it
    strict = np.zeros(n_t, bool)
    if table.threshold is None:
        strict = np.array([(raw[:, k] >= cut[k]).mean() > 0.5 for k in range(n_t)])
    labels = store.NpyAppender(tmp / "train" / "labels.npy", np.int8, (n_t,))
    for lo in range(0, n, chunk):
        r = raw[lo : lo + chunk]
        labels.append(np.where(strict, r > cut, r >= cut).astype(np.int8))
    labels.close()
    return threshold


def prepare_counts(train_file, heldout_file, out_dir, options: PrepareOptions) -> Path:
    """Build the prepared directory of a count table at ``out_dir`` (atomically)."""
    table = CountTable(**(options.counts or {}))
    train_file, out = Path(train_file), Path(out_dir)
    affinity = Path(heldout_file) if heldout_file else None
    t0 = time.time()
    with staged(out, store.MANIFEST) as stage:
        tmp = stage.path
        (tmp / "train").mkdir()
        (tmp / "test").mkdir()
        blocks = Blocks()
        lay = layout(train_file, read.column_names(train_file), table)
        targets = tuple(lay.targets)
        te = (
            affinity_file.ingest(affinity, tmp, targets, table, options)
            if affinity
            else affinity_file.empty(tmp, len(table.blocks))
        )
        totals, n, unknown, found = _ingest(train_file, tmp, blocks, table, lay, options, te["ids"])
        absent = sorted(te["ids"] - found)
        if absent:  # KinDEL's held-out library members come from the whole library, not its top 1M rows
            print(
                f"prepare: {affinity}: the {table.id} of {len(absent)} compounds is not in {train_file} "
                f"({preview(absent)}): they are scored as library members this table does not hold; if the ids "
                f"should all be here, this is another selection's affinity file",
                file=sys.stderr,
            )
        _check_totals(train_file, lay, totals)
        announce(options, "enrichment scores and labels")
        threshold = _scores_and_labels(tmp, lay, totals, table, n, max(options.batch_rows, 1))
        made = finish_blocks(tmp, blocks, len(blocks.ids), options)
        labels = store.load(tmp / "train" / "labels.npy")
        stage.manifest = {
            "format_version": store.FORMAT_VERSION,
            "format": "counts",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seconds": round(time.time() - t0, 1),
            "targets": list(targets),
            "vocab": CHAR_VOCAB,
            "max_len": MAX_LEN,
            "vocab_size": VOCAB_SIZE + int(unknown + te["unknown_chars"] > 0),
            "count_table": lay.to_json(totals.tolist(), table, threshold),
            "counts": {
                "train_rows": n,
                "train_molecules": n,
                "test_rows": te["rows"],
                "test_molecules": te["molecules"],
                "building_blocks": made["building_blocks"],
                "building_blocks_test_only": 0,
                "cycles": len(table.blocks),
            },
            "positives": {t: int((labels[:, i] == 1).sum()) for i, t in enumerate(targets)},
            "unknown_labels": {t: 0 for t in targets},
            "unknown_chars": {"train": unknown, "test": te["unknown_chars"]},
            "folds": made["folds"],
            "test": {
                "split_groups": te["split_groups"],
                "has_labels": False,
                "has_affinity": affinity is not None,
                **te["record"],  # affinity: each file's rows, censored, zero and missing kd, in the library
            },
            "sources": read.sources(train_file, affinity),
            "options": asdict(options) | {"progress": None},
            "versions": versions(),
        }
    return out


class CountSpec:
    """Where each sample's replicates sit in a batch's ``counts`` [B, S] and how deep each was read.
    (A plain class: Hydra would turn a dataclass argument into a config node.)"""

    def __init__(self, target_cols, control_cols, control_of, load_col, totals, n_compounds, target_names=None):
        self.target_cols: list[list[int]] = [list(c) for c in target_cols]  # per target
        self.control_cols: list[list[int]] = [list(c) for c in control_cols]  # per control
        self.control_of: list[int | None] = list(control_of)  # per target: its control's index, or None
        self.load_col: int | None = load_col
        self.totals: list[float] = [float(x) for x in totals]  # per count column: its summed reads
        self.n_compounds = int(n_compounds)
        self.target_names: list[str] = list(target_names or [f"target {t}" for t in range(len(self.target_cols))])

    @classmethod
    def of(cls, manifest: dict) -> CountSpec | None:
        """From a prepared count table's manifest (None for data without counts)."""
        table = manifest.get("count_table")
        if table is None:
            return None
        controls = list(table["controls"])
        return cls(
            target_cols=[table["targets"][t]["columns"] for t in manifest["targets"]],
            control_cols=[table["controls"][c] for c in controls],
            control_of=[
                controls.index(c) if (c := table["targets"][t]["control"]) is not None else None
                for t in manifest["targets"]
            ],
            load_col=table["load"],
            totals=[float(x) for x in table["totals"]],
            n_compounds=int(manifest["counts"]["train_molecules"]),
            target_names=list(manifest["targets"]),
        )

    def null_reads(self, counts: np.ndarray, t: int, pseudo: float = 0.0) -> np.ndarray:
        """float64 [n]: the reads target ``t`` would give each compound at enrichment 1 — its
        control's reads (+ ``pseudo``) scaled to the target's depth; without a control, its load's
        share of the target's reads; without a load either, an even share (the target's reads ÷
        the compounds)."""
        n_t = sum(self.totals[c] for c in self.target_cols[t])
        c = self.control_of[t]
        if c is not None:
            ctrl = self.control_cols[c]
            return (counts[:, ctrl].sum(axis=1) + pseudo) * (n_t / sum(self.totals[j] for j in ctrl))
        if self.load_col is not None:
            return (counts[:, self.load_col] + pseudo) * (n_t / self.totals[self.load_col])
        return np.full(len(counts), n_t / self.n_compounds)

    def reference(self, t: int) -> str:
        """What target ``t``'s reads are compared with: its control, the load, or an even share."""
        if self.control_of[t] is not None:
            return "control"
        return "load" if self.load_col is not None else "even share"

    @property
    def n_targets(self) -> int:
        return len(self.target_cols)

    @property
    def n_controls(self) -> int:
        return len(self.control_cols)
