"""Held-out affinity files → the test part of a prepared count table.

``data.test_file`` is one file or a directory of them (each ``.csv``, ``.csv.gz`` or ``.parquet``
in it). A file has ``smiles`` and ``kd``; optionally ``target``, the count table's id column and
``blocks`` (a group such as seen/unseen). Anything else, such as the unnamed index column pandas
writes (``Unnamed: 0`` in a CSV, ``__index_level_0__`` in parquet) or KinDEL's ``smiles_a/b/c``,
is not read. KinDEL's files (``heldout/<target>_{ondna,offdna}.csv``) work as they are:

- **target**: the ``target`` column; else ``data.prepare.affinity.target``; else the one target of
  the count table whose name is a word of the file name (``ddr1_ondna.csv`` → DDR1, case
  ignored). A file naming none is an error, or, in a directory, skipped and said.
- **set**: ``data.prepare.affinity.sets`` (file name → set), else ``ondna`` / ``offdna`` when the
  name says it (``on-DNA``, ``off_dna`` too). The set, the ``blocks`` group, or both
  (``ondna_seen``) are the row's group, scored apart.
- **in the library**: a row whose id is given (KinDEL's "lib": a ``molecule_hash``); compounds
  from outside the library have none. Scored apart as ``lib`` / ``<group>_lib``.
- **kd**: a positive number (any unit), or censored text: ``>10000``, ``> 10000``, ``<1``,
  ``>=`` / ``<=``. ``censored``: ``bound`` (default: kept at the bound, so ``>10000`` ranks with
  10000) or ``exclude``. A ``kd`` of 0 (KinDEL's DDR1 off-DNA file has one): ``zero_kd``:
  ``exclude`` (default) or ``tightest`` (kept as the tightest binder, as KinDEL's scripts rank it).
  A missing ``kd`` is excluded. Every exclusion is counted and its rows named; a negative or
  unreadable ``kd`` is an error naming its rows.

Each file's reading is one line on stderr and a record in the manifest (``test.affinity``).
Its kept compounds are tokenized into ``test/tokens.npy`` (one row per distinct SMILES over all
files) and listed one row per (compound, target) in ``test/rows.parquet``: ``file``, ``id`` (the
row in its file), ``molecule``, ``protein``, ``kd``, ``censored`` (-1 ``<``, 0, 1 ``>``), and
``split_group`` / ``in_library`` where known; training scores them against −log Kd
(``evaluation/affinity.py``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from belka_lab.core.errors import InputError, preview
from belka_lab.core.progress import say
from belka_lab.dataset import read
from belka_lab.dataset.molecules import check_smiles, encode
from belka_lab.tokens.characters import MAX_LEN

REQUIRED = ("smiles", "kd")
CENSORED = ("bound", "exclude")
ZERO_KD = ("exclude", "tightest")
MISSING = {"", "nan", "na", "n/a", "null", "none"}
_KD = re.compile(r"^(?P<op>[<>]=?)?\s*(?P<value>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)$")


@dataclass(frozen=True)
class AffinityOptions:
    """``data.prepare.affinity``: ``target`` (every file without a ``target`` column; null: from the
    file name), ``censored`` (``bound`` | ``exclude``), ``zero_kd`` (``exclude`` | ``tightest``),
    ``sets`` (file name → its set; null: ``ondna`` / ``offdna`` from the name)."""

    target: str | None = None
    censored: str = "bound"
    zero_kd: str = "exclude"
    sets: dict | None = None

    def __post_init__(self):
        if self.censored not in CENSORED:
            raise InputError(
                f"data.prepare.affinity.censored={self.censored!r}: choose bound (a value such as >10000 kept at "
                f"10000) or exclude (left out of scoring)"
            )
        if self.zero_kd not in ZERO_KD:
            raise InputError(
                f"data.prepare.affinity.zero_kd={self.zero_kd!r}: choose exclude (left out of scoring) or tightest "
                f"(ranked as the tightest binder)"
            )


def ingest(path: Path, tmp: Path, targets: tuple[str, ...], table, options) -> dict:
    """The held-out affinity file(s) at ``path`` (a file or a directory) as the test part; returns
    the ids they name, what the manifest's counts need and ``record`` (its ``test`` entries)."""
    opts = AffinityOptions(**(options.affinity or {}))
    files = read.input_files(path, "data.test_file")
    parts = [p for f in files if (p := _read(f, targets, table, opts, options, len(files) > 1)) is not None]
    if not parts:
        raise InputError(
            f"{path}: none of its files ({preview([f.name for f in files])}) is for a target of the count table "
            f"({', '.join(targets)}): name the target in the file names, or set data.prepare.affinity.target"
        )
    if not sum(len(p["row"]) for p in parts):
        raise InputError(
            f"{path}: no compound is left to score (every kd is missing, zero or censored and excluded: "
            f"{'; '.join(describe(p['record'], asdict(opts)) for p in parts)}); check the kd column, or set "
            f"data.prepare.affinity.censored=bound"
        )
    names = np.asarray([s for p in parts for s in p["smiles"]], dtype=object)
    molecule, distinct = pd.factorize(names)  # molecules in the order the files first name them
    # each file's SMILES were encoded (and any error named) in _read: these encode without one
    smiles = pa.array(distinct.tolist(), pa.string())
    tokens, n_unk, _ = encode(path, smiles, np.arange(len(distinct)), _unknown(options))
    np.save(tmp / "test" / "tokens.npy", tokens)
    np.save(tmp / "test" / "bb_ids.npy", np.full((len(tokens), len(table.blocks)), -1, np.int32))  # attach_blocks
    cycles = np.full((len(tokens), len(table.blocks)), None, dtype=object)  # a molecule's blocks: its first row's
    compound_ids = np.full(len(tokens), "", dtype=object)  # and its id in the table, where the file gives one
    for p, lo in zip(parts, np.cumsum([0] + [len(p["row"]) for p in parts])):
        mine = molecule[lo : lo + len(p["row"])]
        first = ~pd.Series(mine).duplicated().to_numpy()
        if p["cycles"] is not None:
            cycles[mine[first]] = p["cycles"][first]
        if p["compound_ids"] is not None:
            compound_ids[mine[first]] = p["compound_ids"][first]
    out = {
        "file": np.concatenate([np.full(len(p["row"]), p["record"]["file"], dtype=object) for p in parts]),
        "id": np.concatenate([p["row"] for p in parts]).astype(np.int64),
        "molecule": molecule.astype(np.int32),
        "protein": np.concatenate([p["protein"] for p in parts]).astype(np.int16),
        "kd": np.concatenate([p["kd"] for p in parts]),
        "censored": np.concatenate([p["censored"] for p in parts]).astype(np.int8),
    }
    groups = None
    if any(p["group"] is not None for p in parts):
        out["split_group"] = np.concatenate(
            [p["group"] if p["group"] is not None else np.full(len(p["row"]), None, object) for p in parts]
        )
        groups = sorted(set(out["split_group"]) - {None})
    columns = {k: pa.array(v.tolist() if v.dtype == object else v) for k, v in out.items()}
    if any(p["library"] is not None for p in parts):
        library = [v for p in parts for v in (p["library"] if p["library"] is not None else [None] * len(p["row"]))]
        columns["in_library"] = pa.array(library, pa.bool_())
    pq.write_table(pa.table(columns), tmp / "test" / "rows.parquet")
    record = {"files": [p["record"] for p in parts], **asdict(opts)}
    return {
        "rows": len(out["id"]),
        "molecules": len(tokens),
        "unknown_chars": n_unk,
        "split_groups": groups,
        "ids": set().union(*(p["ids"] for p in parts)),
        "cycles": cycles,
        "compound_ids": compound_ids,
        "record": {"affinity": record},
    }


def attach_blocks(tmp: Path, cycles: np.ndarray, compound_ids: np.ndarray, rows: dict) -> int:
    """The test part's block ids (``test/bb_ids.npy``), from the blocks its files name (``cycles``,
    object [molecules, cycles], None where unnamed: id -1), or else, for a library member named by
    its id (``compound_ids``; ``rows``: the table's row of each id found), that row's blocks. A
    block of the library keeps its id, a block outside it is appended to ``building_blocks.parquet``
    (not in train, group -1), so that the training molecules' ids and folds stay as they were.
    Returns the blocks appended."""
    table = pq.read_table(tmp / "building_blocks.parquet").to_pandas()
    cycles = np.where(np.vectorize(lambda b: b is None or not str(b).strip(), otypes=[bool])(cycles), None, cycles)
    known = dict(zip(table["smiles"], table["bb_id"]))
    named = sorted({b for b in cycles.ravel() if b is not None and b not in known})
    known |= {b: len(table) + i for i, b in enumerate(named)}
    ids = np.array([[known.get(b, -1) if b is not None else -1 for b in row] for row in cycles], np.int32)
    ids = ids.reshape(len(cycles), cycles.shape[1])
    member = np.array([rows.get(i, -1) if i else -1 for i in compound_ids], np.int64)
    take = (ids < 0).all(axis=1) & (member >= 0)  # named by id alone: the library row's blocks
    if take.any():
        ids[take] = np.load(tmp / "train" / "bb_ids.npy", mmap_mode="r")[member[take]]
    np.save(tmp / "test" / "bb_ids.npy", ids)
    if named:
        extra = pd.DataFrame(
            {"bb_id": np.arange(len(table), len(known), dtype=np.int32), "smiles": named, "in_train": False}
        ).assign(group=np.int8(-1))
        pq.write_table(
            pa.Table.from_pandas(
                pd.concat([table, extra], ignore_index=True).astype(table.dtypes), preserve_index=False
            ),
            tmp / "building_blocks.parquet",
        )
    return len(named)


def empty(tmp: Path, cycles: int) -> dict:
    np.save(tmp / "test" / "tokens.npy", np.zeros((0, MAX_LEN), np.uint8))
    np.save(tmp / "test" / "bb_ids.npy", np.zeros((0, cycles), np.int32))
    rows = {"id": np.zeros(0, np.int64), "molecule": np.zeros(0, np.int32), "protein": np.zeros(0, np.int16)}
    pq.write_table(pa.table(rows), tmp / "test" / "rows.parquet")
    return {
        "rows": 0,
        "molecules": 0,
        "unknown_chars": 0,
        "split_groups": None,
        "ids": set(),
        "cycles": np.zeros((0, cycles), dtype=object),
        "compound_ids": np.zeros(0, dtype=object),
        "record": {},
    }


def _read(path: Path, targets: tuple[str, ...], table, opts: AffinityOptions, options, in_dir: bool) -> dict | None:
    """One file's kept rows (``smiles``, ``row``, ``protein``, ``kd``, ``censored``, ``group``,
    ``library``), the ids it names and its ``record``; None for a file of another target in a
    directory (said)."""
    names = read.column_names(path)
    has_target = "target" in names
    target = None if has_target else _target_of(path, targets, opts.target, in_dir)
    if not has_target and target is None:
        say(f"prepare: {path.name}: skipped, its name names none of the count table's targets ({', '.join(targets)})")
        return None
    read.check_columns(path, names, list(REQUIRED), what="affinity files")
    optional = tuple(c for c in ("target", table.id, "blocks", *table.blocks) if c)
    batches, _ = read.table_batches(path, list(REQUIRED), options.batch_rows, optional=optional)
    t = pa.Table.from_batches(list(batches)).combine_chunks()
    rows = np.arange(t.num_rows)
    check_smiles(path, t["smiles"], rows)
    kd, censored, missing = parse_kd(path, t["kd"])
    if has_target:
        protein = _proteins(path, t["target"], targets, rows)
    else:
        protein = np.full(t.num_rows, targets.index(target), np.int64)
    ids = None
    if table.id and table.id in t.column_names:
        ids = np.asarray(pc.fill_null(t[table.id].cast(pa.string()), "").to_pylist(), dtype=object)
    zero = ~missing & (kd == 0)
    drop = missing | (zero & (opts.zero_kd == "exclude")) | ((censored != 0) & (opts.censored == "exclude"))
    keep = ~drop
    kept = pc.unique(pc.filter(t["smiles"], pa.array(keep)))
    if len(kept):  # an unencodable SMILES named by its row in this file
        first = pc.index_in(kept, value_set=t["smiles"]).to_numpy(zero_copy_only=False)
        encode(path, kept, rows[first], _unknown(options))
    sets = opts.sets or {}
    kind = sets.get(path.name, _set_of(path.name))
    group = None
    if "blocks" in t.column_names:
        blocks = np.asarray(t["blocks"].cast(pa.string()).to_pylist(), dtype=object)
        group = np.asarray([f"{kind}_{b}" if kind and b else (kind or b) for b in blocks], dtype=object)
    elif kind:
        group = np.full(t.num_rows, kind, dtype=object)
    library = None if ids is None else ids != ""
    cycles = None  # each row's building blocks, where the file names them in the count table's block columns
    absent = [b for b in table.blocks if b not in t.column_names]
    if not absent:
        cycles = np.stack([np.asarray(t[b].cast(pa.string()).to_pylist(), dtype=object) for b in table.blocks], 1)

    def named(mask: np.ndarray) -> list:
        """The rows of ``mask`` by id where the row has one, else by row number."""
        return [str(ids[i]) if ids is not None and ids[i] else f"row {i}" for i in np.flatnonzero(mask)]

    record = {
        "file": path.name,
        "target": targets[int(protein[0])] if not has_target else "column",
        "set": kind,
        "rows": int(t.num_rows),
        "scored": int(keep.sum()),
        "censored": int((censored != 0).sum()),
        "censored_above": int((censored > 0).sum()),
        "censored_below": int((censored < 0).sum()),
        "zero_kd": int(zero.sum()),
        "zero_kd_rows": named(zero)[:100],
        "missing_kd": int(missing.sum()),
        "missing_kd_rows": named(missing)[:100],
        "in_library": None if library is None else int(library.sum()),
        "outside_library": None if library is None else int((~library).sum()),
    }
    if absent and len(absent) < len(table.blocks):  # some block columns, not all: said, as a typo would be
        record["blocks_unread"] = absent
    if cycles is not None:
        unnamed = keep & np.array([any(b is None or not b.strip() for b in row) for row in cycles], bool)
        if unnamed.any():
            record["blocks_unnamed"] = int(unnamed.sum())
            record["blocks_unnamed_rows"] = named(unnamed)[:100]
    say(f"prepare: {describe(record, asdict(opts))}")
    return {
        "smiles": np.asarray(t["smiles"].to_pylist(), dtype=object)[keep],
        "row": rows[keep],
        "protein": protein[keep],
        "kd": kd[keep],
        "censored": censored[keep],
        "group": None if group is None else group[keep],
        "library": None if library is None else library[keep],
        "cycles": None if cycles is None else cycles[keep],
        "compound_ids": None if ids is None else ids[keep],
        "ids": set(ids[ids != ""].tolist()) if ids is not None else set(),
        "record": record,
    }


def describe(record: dict, handling: dict) -> str:
    """One line of what a file gave (its manifest ``record``): rows, censored values and how
    ``handling`` (the manifest's ``test.affinity``) treated them, zero and missing kd (which rows),
    in the library or outside, scored."""
    what = ", ".join(x for x in (record["target"] if record["target"] != "column" else "", record["set"] or "") if x)
    parts = [f"{record['file']}{f' ({what})' if what else ''}: {record['rows']} rows"]
    if record["censored"]:
        how = "kept at the bound" if handling["censored"] == "bound" else "excluded"
        parts.append(
            f"{record['censored']} censored ({record['censored_above']} >, {record['censored_below']} <) {how}"
        )
    else:
        parts.append("none censored")
    if record["zero_kd"]:
        how = "excluded" if handling["zero_kd"] == "exclude" else "kept as the tightest binder"
        parts.append(f"{record['zero_kd']} with kd 0 {how} ({preview(record['zero_kd_rows'])})")
    if record["missing_kd"]:
        parts.append(f"{record['missing_kd']} without kd excluded ({preview(record['missing_kd_rows'])})")
    if record["in_library"] is not None:
        parts.append(f"{record['in_library']} in the library, {record['outside_library']} outside")
    if record.get("blocks_unread"):
        parts.append(
            f"its block columns lack {', '.join(record['blocks_unread'])}: no compound's blocks are read from it"
        )
    if record.get("blocks_unnamed"):
        parts.append(
            f"{record['blocks_unnamed']} name no block in some cycle ({preview(record['blocks_unnamed_rows'])})"
        )
    parts.append(f"{record['scored']} scored")
    return "; ".join(parts)


def parse_kd(path: Path, column: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(kd float64, censored int8: 1 for ``>``, -1 for ``<``, 0 exact; missing bool) of a ``kd``
    column of numbers or text; a negative, infinite or unreadable value is one InputError naming
    its rows."""
    n = len(column)
    censored = np.zeros(n, np.int8)
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        missing = column.is_null().to_numpy(zero_copy_only=False)
        kd = pc.fill_null(column.cast(pa.float64()), 0.0).to_numpy(zero_copy_only=False).astype(np.float64)
        missing |= np.isnan(kd)
        unreadable = np.zeros(n, bool)
    elif pa.types.is_string(column.type) or pa.types.is_null(column.type):
        text = column.cast(pa.string()).to_pylist()
        kd = np.zeros(n, np.float64)
        missing, unreadable = np.zeros(n, bool), np.zeros(n, bool)
        for i, v in enumerate(text):
            v = "" if v is None else v.strip()
            if v.lower() in MISSING:
                missing[i] = True
                continue
            m = _KD.match(v)
            if m is None:
                unreadable[i] = True
                continue
            kd[i] = float(m["value"])
            censored[i] = {None: 0, ">": 1, ">=": 1, "<": -1, "<=": -1}[m["op"]]
    else:
        raise InputError(
            f"{path}: column `kd` holds {column.type}; it must hold positive numbers (the dissociation constant), "
            f"or text such as >10000 for a censored value"
        )
    kd[missing] = 0.0
    if unreadable.any():
        rows = np.flatnonzero(unreadable)
        raise InputError(
            f"{path}: {len(rows)} kd values are not numbers (rows {preview(rows.tolist())}, counting the first data "
            f"row as 0: {preview([repr(text[i]) for i in rows[:3]], 3)}); give a number, or >N / <N for a censored "
            f"value"
        )
    bad = ~missing & ((kd < 0) | ~np.isfinite(kd))
    if bad.any():
        rows = np.flatnonzero(bad)
        raise InputError(
            f"{path}: {len(rows)} rows have a negative or infinite kd (rows {preview(rows.tolist())}, counting the "
            f"first data row as 0: {preview(kd[rows][:3].tolist(), 3)}); a dissociation constant is a positive number"
        )
    return kd, censored, missing


def _unknown(options) -> str:
    return "unk" if options.unknown_chars == "unk" else "error"


def _proteins(path: Path, column: pa.Array, targets: tuple[str, ...], rows: np.ndarray) -> np.ndarray:
    idx = pc.index_in(column.cast(pa.string()), value_set=pa.array(targets))
    if idx.null_count:
        unknown = idx.is_null().to_numpy(zero_copy_only=False)
        names = pc.unique(pc.filter(column, idx.is_null())).to_pylist()
        raise InputError(
            f"{path}: targets {names[:5]} (rows {preview(rows[unknown].tolist())}) are not in the count table, whose "
            f"targets are {', '.join(targets)}"
        )
    return idx.to_numpy(zero_copy_only=False).astype(np.int64)


def _target_of(path: Path, targets: tuple[str, ...], configured: str | None, in_dir: bool) -> str | None:
    """The target of a file without a ``target`` column: the configured one, else the table's
    target named by a word of the file name; None for a file in a directory that names none."""
    if configured is not None:
        found = [t for t in targets if t.lower() == str(configured).lower()]
        if not found:
            raise InputError(
                f"data.prepare.affinity.target={configured!r} is not a target of the count table "
                f"({', '.join(targets)}); name one of them"
            )
        return found[0]
    name = path.name.lower()
    found = [t for t in targets if re.search(rf"(?<![a-z0-9]){re.escape(t.lower())}(?![a-z0-9])", name)]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise InputError(
            f"{path}: the file has no `target` column and its name names several of the count table's targets "
            f"({', '.join(found)}); set data.prepare.affinity.target, or give each target its own file"
        )
    if in_dir:
        return None
    raise InputError(
        f"{path}: the file has no `target` column and its name names none of the count table's targets "
        f"({', '.join(targets)}); add a `target` column, set data.prepare.affinity.target, or name the file after "
        f"its target (e.g. {targets[0].lower()}_ondna.csv)"
    )


def _set_of(name: str) -> str | None:
    """``ondna`` / ``offdna`` when a file name says which (``ddr1_offdna.csv``, ``x_on-DNA.parquet``)."""
    squeezed = re.sub(r"[^a-z0-9]", "", name.lower())
    if "offdna" in squeezed:
        return "offdna"
    if "ondna" in squeezed:
        return "ondna"
    return None
