"""What belka_lab understands of a count table, from its header and first rows (``belka inspect``).

Reads at most ``rows`` rows (the first record batches, through :mod:`belka_lab.dataset.read`), so
a 100M-row file answers in seconds, and says:

- whether the configured mapping (``data.prepare.counts``) finds the file's columns — the same
  :func:`belka_lab.dataset.count_columns.layout` and column check ``prepare`` runs, its error word for
  word when it does not — and otherwise a mapping guessed from the names
  (:mod:`belka_lab.dataset.suggest`), as the ``conf/data/<name>.yaml`` to write;
- the id and SMILES columns, the cycles and whether their blocks are SMILES or ids;
- each sample's role (target, with its control; control; load), replicate columns, reads in the
  rows read and reads per compound (mean, median, share of compounds never read);
- in the rows read: SMILES RDKit cannot parse (of the first ``parse``), SMILES ``prepare`` would
  refuse (missing, too long, characters outside the dictionary), ids on more than one row, count
  values that are missing, negative or fractional, compounds without a block.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from belka_lab.core.errors import InputError, preview
from belka_lab.core.io import atomic_path
from belka_lab.dataset import read
from belka_lab.dataset.count_columns import CountTable, layout
from belka_lab.dataset.count_ingest import missing_blocks, refused_counts
from belka_lab.dataset.suggest import MIN_WHOLE_SHARE, ColumnFacts, Suggestion, shown, suggest
from belka_lab.tokens.characters import MAX_LEN, MISSING, TOO_LONG, UNKNOWN_CHAR, encode_checked

SMILES_SAMPLE = 200  # distinct values of a text column RDKit tries, to tell SMILES from ids
KAGGLE_COLUMNS = ("molecule_smiles", "protein_name", "binds")
FIELDS = {f.name: f for f in dataclasses.fields(CountTable)}


@dataclass
class SampleReads:
    """One sample in the rows read: ``reads`` summed over its replicate columns and rows; per
    compound (its replicates summed) the mean, median and share of compounds never read."""

    name: str
    role: str  # target | control | load
    columns: list[str]
    control: str | None = None  # a target's control (None: it has none)
    reads: int | None = None  # None: a column is not numbers
    mean: float | None = None
    median: float | None = None
    zero_share: float | None = None
    rounds: list[int] | None = None  # a target of several selection rounds: each column's round


@dataclass
class Problem:
    """Something in the rows read that ``prepare`` refuses or a later step cannot use."""

    what: str
    count: int
    then: str  # what prepare (or a later step) does with them
    examples: list = field(default_factory=list)  # ids (or rows where the table has no id)


@dataclass
class Inspection:
    path: str
    kind: str  # parquet | CSV | gzip-compressed CSV
    columns: list[tuple[str, str]]  # name, Arrow type
    rows_read: int
    rows_total: int | None  # None: not known without reading the whole file (CSV)
    whole_file: bool
    mapping_error: str | None  # None: the configured mapping fits
    guessed: bool  # what follows is the guessed mapping's
    guess_error: str | None  # the guessed mapping does not fit either
    mapping: dict  # the data.prepare.counts keys reported on
    id: str | None
    smiles: str | None
    blocks: list[tuple[str, str, int]]  # column, SMILES | ids, distinct blocks in the rows read
    samples: list[SampleReads]
    parsed: int  # SMILES RDKit tried
    problems: list[Problem]
    unused: list[str]  # columns no role uses
    kaggle: bool  # the file is BELKA's Kaggle format, not a count table
    suggestion: Suggestion | None
    suggestion_yaml: str | None

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        return render(self)


def inspect_table(path, counts: dict | None = None, rows: int = 100_000, parse: int | None = 20_000) -> Inspection:
    """Read the first ``rows`` rows of the count table at ``path`` and report what the mapping
    ``counts`` (``data.prepare.counts``; None: KinDEL's names) finds there, or a guessed one."""
    path = Path(path)
    if rows < 1:
        raise InputError(f"rows={rows}: give the number of rows to read, at least 1")
    if parse is not None and parse < 0:
        raise InputError(f"parse={parse}: give how many SMILES RDKit parses (0: none, null: every row read)")
    read.check_file(path, "count table (data.train_file=FILE)")
    names = read.column_names(path)
    head, total, whole = _head(path, names, rows)
    facts = [_facts(name, head.column(name)) for name in names]
    kaggle = all(c in names for c in KAGGLE_COLUMNS)

    configured = dict(counts or {})
    mapping_error, lay = _fit(path, names, configured)
    if mapping_error is None and not kaggle:
        mapping_error = _cycles_left_out(configured, suggest(facts).mapping)
    suggestion, guess_error, mapping = None, None, configured
    if mapping_error is not None and not kaggle:
        suggestion = suggest(facts)
        mapping = suggestion.mapping
        guess_error, lay = _fit(path, names, mapping)
    if lay is None and not kaggle:
        lay = _samples_only(path, names, mapping)

    by_name = {f.name: f for f in facts}
    id_col, smiles = _key(mapping, "id"), _key(mapping, "smiles")
    id_col = id_col if id_col in by_name else None
    smiles = smiles if smiles in by_name else None
    ids = _ids(head, id_col)
    blocks = [
        (b, "SMILES" if by_name[b].smiles else "ids", by_name[b].distinct)
        for b in _key(mapping, "blocks") or []
        if b in by_name
    ]
    samples, problems = _samples(head, lay, ids) if lay is not None else ([], [])
    parsed = 0
    if smiles is not None:
        parsed, found = _smiles_problems(head.column(smiles), ids, parse)
        problems = found + problems
    problems += _repeats(ids, id_col)
    problems += [p for b, _, _ in blocks if (p := _missing_blocks(head.column(b), b, ids))]
    used = {id_col, smiles, *(b for b, _, _ in blocks), *(c for s in samples for c in s.columns)}
    return Inspection(
        path=str(path),
        kind=_kind(path),
        columns=[(f.name, f.type) for f in facts],
        rows_read=head.num_rows,
        rows_total=total,
        whole_file=whole,
        mapping_error=mapping_error,
        guessed=suggestion is not None,
        guess_error=guess_error,
        mapping=mapping,
        id=id_col,
        smiles=smiles,
        blocks=blocks,
        samples=samples,
        parsed=parsed,
        problems=problems,
        unused=[n for n in names if n not in used],
        kaggle=kaggle,
        suggestion=suggestion,
        suggestion_yaml=suggestion.yaml(path) if suggestion is not None else None,
    )


def _kind(path: Path) -> str:
    suffixes = "".join(path.suffixes).lower()
    if ".parquet" in suffixes or suffixes.endswith(".pq"):
        return "parquet"
    return "gzip-compressed CSV" if suffixes.endswith(".gz") else "CSV"


def _head(path: Path, names: list[str], rows: int) -> tuple[pa.Table, int | None, bool]:
    """(the first ``rows`` rows, the file's rows when its metadata says, whether the file ended)."""
    batches, total = read.table_batches(path, names, rows)
    taken, n, whole = [], 0, True
    try:
        for batch in batches:
            taken.append(batch.slice(0, rows - n))
            n += taken[-1].num_rows
            if n >= rows:
                whole = total is not None and total <= rows
                break
    finally:
        batches.close()
    if whole and total is None:
        total = n
    return pa.Table.from_batches(taken).combine_chunks(), total, whole


def _facts(name: str, column: pa.ChunkedArray) -> ColumnFacts:
    t = column.type
    numeric = pa.types.is_integer(t) or pa.types.is_floating(t)
    nulls = column.null_count
    distinct = pc.count_distinct(column, mode="only_valid").as_py()
    whole = sequential = False
    if numeric and len(column) > nulls:
        values = column.drop_null().to_numpy().astype(np.float64)
        whole = bool(np.mean((values >= 0) & (values == np.floor(values))) >= MIN_WHOLE_SHARE)
        sequential = bool(whole and nulls == 0 and len(values) > 2 and np.all(np.diff(values) > 0))
    share = None
    if pa.types.is_string(t) and distinct:
        share = _parse_share(pc.unique(column.drop_null()).slice(0, SMILES_SAMPLE).to_pylist())
    return ColumnFacts(name, str(t), numeric, whole, distinct, len(column), nulls, sequential, share)


def _parse_share(values: list[str]) -> float:
    from rdkit import Chem, rdBase  # heavy

    values = [v for v in values if v]
    if not values:
        return 0.0
    with rdBase.BlockLogs():
        return sum(Chem.MolFromSmiles(v) is not None for v in values) / len(values)


def _fit(path: Path, names: list[str], mapping: dict) -> tuple[str | None, object]:
    """(None, the layout) when ``mapping`` finds the file's columns as ``prepare`` would, else
    (prepare's error, None)."""
    try:
        table = CountTable.of(mapping)
        lay = layout(path, names, table)
        needed = [table.smiles, *table.blocks] + ([table.id] if table.id else [])
        read.check_columns(path, names, needed, "count tables (data.prepare.counts: smiles, blocks, id)")
    except InputError as e:
        return str(e), None
    return None, lay


def _cycles_left_out(configured: dict, guessed: dict) -> str | None:
    """Columns named like a cycle's blocks that the mapping's ``blocks`` leave out (a fourth cycle
    under KinDEL's three-cycle default), which ``prepare`` would ignore without a word."""
    named = list(configured.get("blocks") or CountTable().blocks)
    left = [b for b in guessed.get("blocks") or [] if b not in named]
    if not left:
        return None
    return (
        f"data.prepare.counts.blocks names {len(named)} cycles ({', '.join(named)}), and the file has block columns it "
        f"leaves out: {', '.join(left)}; prepare would ignore them. Name every cycle's column in "
        f"data.prepare.counts.blocks"
    )


def _samples_only(path: Path, names: list[str], mapping: dict):
    """The count columns ``mapping`` finds, whatever its id, SMILES and cycles (the layout does
    not read them), or None."""
    if set(mapping) - set(FIELDS):
        return None
    try:
        return layout(path, names, CountTable(**{**mapping, "blocks": ["", ""]}))
    except InputError:
        return None


def _key(mapping: dict, key: str):
    """``mapping[key]``, or CountTable's default for it."""
    if key in mapping:
        return mapping[key]
    f = FIELDS[key]
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def _ids(head: pa.Table, id_col: str | None) -> np.ndarray:
    """Each row's id as text (its row number where the table has no id column)."""
    if id_col is None:
        return np.arange(head.num_rows).astype(str).astype(object)
    return np.array(pc.fill_null(head.column(id_col).cast(pa.string()), "").to_pylist(), dtype=object)


def _samples(head: pa.Table, lay, ids: np.ndarray) -> tuple[list[SampleReads], list[Problem]]:
    roles = [(t, "target", cols, lay.control_of.get(t)) for t, cols in lay.targets.items()]
    roles += [(c, "control", cols, None) for c, cols in lay.controls.items()]
    if lay.load is not None:
        roles.append((lay.columns[lay.load], "load", [lay.load], None))
    out, problems = [], []
    for name, role, cols, control in roles:
        columns = [lay.columns[i] for i in cols]
        s = SampleReads(name, role, columns, control, rounds=(lay.rounds or {}).get(name) if role == "target" else None)
        per_compound = np.zeros(head.num_rows, np.int64)
        numbers = True
        for c in columns:
            values, problem = _count_values(head.column(c), c, ids)
            if problem:
                problems.append(problem)
            if values is None:
                numbers = False
            else:
                per_compound += values
        if numbers and head.num_rows:
            s.reads = int(per_compound.sum())
            s.mean = float(per_compound.mean())
            s.median = float(np.median(per_compound))
            s.zero_share = float((per_compound == 0).mean())
        out.append(s)
    return out, problems


def _columns(s: SampleReads) -> str:
    """A sample's columns as the report lists them: by round when it has several."""
    if not s.rounds:
        return ", ".join(s.columns)
    by_round: dict[int, list[str]] = {}
    for rnd, c in zip(s.rounds, s.columns):
        by_round.setdefault(rnd, []).append(c)
    return "; ".join(f"round {rnd}: {', '.join(cols)}" for rnd, cols in by_round.items())


def _count_values(column: pa.ChunkedArray, name: str, ids: np.ndarray) -> tuple[np.ndarray | None, Problem | None]:
    """(the counts, missing and invalid ones as 0; or None when the column is not numbers) and a
    Problem for the values ``prepare`` refuses."""
    t = column.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t)):
        return None, Problem(f"count column {shown(name)} holds {t}, not numbers", len(column), "prepare needs numbers")
    values, _, kinds = refused_counts(column)
    bad = np.logical_or.reduce(list(kinds.values()))
    counts = np.where(bad, 0, values).astype(np.int64)
    if not bad.any():
        return counts, None
    return counts, Problem(
        f"count column {shown(name)}: missing, negative or fractional values",
        int(bad.sum()),
        "prepare needs whole numbers >= 0",
        ids[bad][:5].tolist(),
    )


def _smiles_problems(column: pa.ChunkedArray, ids: np.ndarray, parse: int | None) -> tuple[int, list[Problem]]:
    """(SMILES RDKit tried, the problems): what RDKit cannot parse among the first ``parse``, and
    what prepare's character encoding refuses among every row read."""
    from rdkit import Chem, rdBase  # heavy

    problems = []
    if not pa.types.is_string(column.type):
        return 0, [Problem(f"the SMILES column holds {column.type}, not text", len(column), "prepare needs text")]
    _, status = encode_checked(column, MAX_LEN)
    for code, what, then in (
        (MISSING, "SMILES missing or empty", "prepare refuses them"),
        (TOO_LONG, f"SMILES longer than {MAX_LEN} characters", "prepare refuses them"),
        (
            UNKNOWN_CHAR,
            "SMILES with characters outside the 36-symbol dictionary",
            "prepare refuses them unless data.prepare.unknown_chars=unk",
        ),
    ):
        hit = status == code
        if hit.any():
            problems.append(Problem(what, int(hit.sum()), then, ids[hit][:5].tolist()))
    n = len(column) if parse is None else min(parse, len(column))
    values = column.slice(0, n).to_pylist()
    with rdBase.BlockLogs():
        bad = [i for i, v in enumerate(values) if v and Chem.MolFromSmiles(v) is None]
    if bad:
        problems.insert(
            0,
            Problem(
                f"SMILES RDKit cannot parse (of the first {n:,})",
                len(bad),
                "prepare keeps them; the ECFP baselines refuse them unless ecfp.invalid=zeros",
                ids[bad][:5].tolist(),
            ),
        )
    return n, problems


def _repeats(ids: np.ndarray, id_col: str | None) -> list[Problem]:
    if id_col is None:
        return []
    again = pd.Series(ids).duplicated().to_numpy()
    if not again.any():
        return []
    return [
        Problem(
            f"rows repeating the {id_col} of an earlier row",
            int(again.sum()),
            "prepare refuses them (one row per compound): sum a compound's rows into one",
            list(dict.fromkeys(ids[again].tolist()))[:5],
        )
    ]


def _missing_blocks(column: pa.ChunkedArray, name: str, ids: np.ndarray) -> Problem | None:
    _, missing = missing_blocks(column)
    if not missing.any():
        return None
    return Problem(
        f"compounds without a block in cycle column {shown(name)}",
        int(missing.sum()),
        "prepare refuses them",
        ids[missing][:5].tolist(),
    )


def _number(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "—"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.{digits}f}"


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def _wrap(items: list[str], indent: str = "  ", width: int = 100) -> list[str]:
    lines, line = [], indent
    for item in items:
        if len(line) + len(item) + 2 > width and line.strip():
            lines.append(line.rstrip().rstrip(","))
            line = indent
        line += item + ", "
    if line.strip():
        lines.append(line.rstrip().rstrip(","))
    return lines


def render(r: Inspection) -> str:
    """The inspection as the text ``belka inspect`` prints."""
    out = []
    extent = (
        f"the whole file, {r.rows_read:,} rows"
        if r.whole_file
        else f"the first {r.rows_read:,} rows" + (f" of {r.rows_total:,}" if r.rows_total else "")
    )
    out.append(f"{r.path}: {r.kind}, {len(r.columns)} columns; read {extent}")
    out += _wrap([f"{shown(n)} ({t})" for n, t in r.columns])
    out.append("")
    if r.kaggle:
        out.append(
            "This is a BELKA (Kaggle-format) file: one row per molecule and protein with binary binds, not read "
            "counts. Prepare it with data=belka; no count mapping is needed."
        )
        if r.mapping_error is not None:
            return "\n".join(out)
    if r.mapping_error is None:
        out.append("mapping: the configured one (data.prepare.counts) fits this file")
    else:
        out.append("mapping: the configured one (data.prepare.counts) does not fit this file; prepare would say:")
        out.append(f"  error: {r.mapping_error}")
        if r.guess_error is None:
            out.append("What follows is the mapping guessed from the column names (below): check it.")
        else:
            out.append("The mapping guessed from the column names (below) does not fit either:")
            out.append(f"  error: {r.guess_error}")
    out.append("")
    cycles = ", ".join(f"{b} ({kind}, {n:,} distinct)" for b, kind, n in r.blocks) or "—"
    out += _table(
        [
            ["id", r.id or "— (compounds are known by their row)"],
            ["SMILES", r.smiles or "—"],
            ["cycles", f"{len(r.blocks)}: {cycles}" if r.blocks else "—"],
        ],
        indent="",
    )
    if r.samples:
        out.append("")
        out.append(f"samples (reads in the {r.rows_read:,} rows read; per compound: its replicates summed)")
        rows = [["role", "sample", "columns", "reads", "mean", "median", "never read", "control"]]
        for s in r.samples:
            rows.append(
                [
                    s.role,
                    s.name,
                    _columns(s),
                    _number(s.reads),
                    _number(s.mean),
                    _number(s.median, 1),
                    "—" if s.zero_share is None else f"{s.zero_share:.1%}",
                    (s.control or "none") if s.role == "target" else "",
                ]
            )
        out += _table(rows)
        if not any(s.role == "control" for s in r.samples):
            out.append("  no control: score with data.prepare.counts.score=normalized_z (the ratio scores need one)")
        if any(s.role == "target" and s.name == "target" for s in r.samples) and r.suggestion is None:
            out.append(
                "  a target called target: name its protein with 'data.prepare.counts.names={target: <protein>}'"
            )
        if not any(s.role == "load" for s in r.samples):
            out.append("  no load column: the count losses take every compound's load as equal")
    out.append("")
    if r.smiles is not None:
        out.append(f"checks (in the rows read; RDKit parsed the first {r.parsed:,} SMILES)")
    else:
        out.append("checks (in the rows read)")
    if not r.problems:
        out.append("  none found (SMILES, ids, counts and blocks)")
    for p in r.problems:
        named = f" ({'ids' if r.id else 'rows'} {preview(p.examples)})" if p.examples else ""
        out.append(f"  {p.what}: {p.count:,}{named}; {p.then}")
    if r.unused:
        out.append("")
        out.append("not used by the mapping:")
        out += _wrap([shown(n) for n in r.unused])
    if r.suggestion is not None:
        out.append("")
        out.append("guessed (check each before you prepare):")
        out += [f"  - {n}" for n in r.suggestion.notes]
        out.append("")
        name = r.suggestion.config_name(Path(r.path).resolve())
        out.append(f"Suggested mapping: save it as conf/data/{name}.yaml and run `belka prepare data={name}`, or")
        out.append(
            f"as DIR/data/{name}.yaml (suggestion_file=DIR/data/{name}.yaml writes it) and run "
            f"`belka prepare --config-dir DIR data={name}`"
        )
        out.append("")
        out.append(r.suggestion_yaml.rstrip())
    return "\n".join(out)


def write_suggestion(report: Inspection, path) -> Path:
    """The guessed mapping written to ``path`` (a new file, written whole)."""
    path = Path(path)
    if report.suggestion_yaml is None:
        raise InputError(
            f"suggestion_file={path}: the configured mapping fits {report.path}; there is no guess to write"
        )
    if path.exists():
        raise InputError(f"suggestion_file={path} exists; remove it or give another file name")
    with atomic_path(path) as tmp:
        tmp.write_text(report.suggestion_yaml, encoding="utf-8")
    return path
