"""A count-table mapping (``data.prepare.counts``) guessed from a file's column names and first
values, for a table whose columns the configured mapping does not find (``belka inspect``).

The guess reads names the way labs write them: a column named like SMILES that is no building
block is the compound; columns named like building blocks or cycles (``BB1_ID``,
``buildingblock2_smiles``, ``cycle3``, KinDEL's ``smiles_a``) are the cycles, SMILES preferred to
ids where a cycle has both; columns of whole numbers >= 0 are counts, grouped into samples by a
common name and a trailing replicate number (``target_r1``, ``seq_BRD4_2``, ``PTMOD_index5``);
samples named like matrix / beads / control / ntc / blank are controls, like load / input /
naive / library the load. Every choice is written down in :attr:`Suggestion.notes`: it is a
guess to check, not a mapping to trust.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from belka_lab.core.config import CONFIG_DIR

BLOCK_WORDS = {"bb", "bbs", "cycle", "cyc", "synthon", "block", "blocks", "buildingblock", "building"}
SMILES_WORDS = {"smiles", "smi", "smile"}
ID_WORDS = {"id", "ids", "hash", "key", "uid", "uuid"}
CONTROL_WORDS = {
    "matrix", "bead", "beads", "control", "controls", "ctrl", "ctl", "ntc", "blank", "neg", "negative",
    "empty", "naked", "mock", "notarget", "nontarget", "bare", "resin",
}  # fmt: skip
LOAD_WORDS = {"load", "input", "naive", "library", "lib", "pre", "preselection", "unselected"}
# numeric columns that are not read counts
NOT_COUNT_WORDS = {
    "score", "scores", "enrichment", "ratio", "kd", "ki", "ic50", "ec50", "affinity", "mw", "weight", "logp",
    "tpsa", "split", "fold", "label", "labels", "binds", "hit", "prob", "probability", "pred", "prediction",
    "pvalue", "rank", "length", "len", "atoms", "cluster", "group", "seed", "norm", "normalized", "normalised",
    "cpm", "cpb", "rpm", "frac", "fraction", "freq", "pct", "percent", "unnamed", "row", "idx",
}  # fmt: skip
DEDUPLICATED_WORDS = {"corrected", "umi", "dedup", "deduplicated", "collapsed"}
CYCLE_LETTERS = "abcd"
SEPARATORS = "_-. "
MIN_WHOLE_SHARE = 0.99  # a count column with a few broken values is still one (the values are reported)
MIN_SMILES_SHARE = 0.9  # a text column whose distinct values RDKit parses at least this often holds SMILES


@dataclass(frozen=True)
class ColumnFacts:
    """What the first rows tell of one column."""

    name: str
    type: str  # the Arrow type
    numeric: bool
    whole: bool  # numbers, nearly all (MIN_WHOLE_SHARE) whole and >= 0: counts, a few of them broken
    distinct: int  # distinct values in the rows read
    rows: int
    nulls: int
    sequential: bool  # whole numbers, all different, rising row after row: a row index
    smiles_share: float | None  # of a sample of its distinct values, the share RDKit parses; None: not text

    @property
    def unique(self) -> bool:
        return self.rows > 0 and self.nulls == 0 and self.distinct == self.rows

    @property
    def smiles(self) -> bool:
        return self.smiles_share is not None and self.smiles_share >= MIN_SMILES_SHARE


@dataclass
class Suggestion:
    """``mapping``: the ``data.prepare.counts`` keys guessed; ``notes``: each guess and why."""

    mapping: dict
    notes: list[str] = field(default_factory=list)

    def config_name(self, path: Path) -> str:
        """A ``conf/data/<name>.yaml`` name for ``path``'s mapping, not one the project ships."""
        stem = path.name.split(".")[0] or "table"
        name = re.sub(r"[^A-Za-z0-9_]+", "_", stem).strip("_").lower() or "table"
        return f"my_{name}" if (Path(CONFIG_DIR) / "data" / f"{name}.yaml").exists() else name

    def yaml(self, path: Path) -> str:
        """The ``conf/data/<name>.yaml`` file: the counts data with this mapping, reading ``path``."""
        path = Path(path).resolve()
        name = self.config_name(path)
        head = (
            f"# conf/data/{name}.yaml: the mapping belka inspect guessed for {path.name}; check it, then run\n"
            f"#   belka prepare data={name}      (with --config-dir DIR where this file is DIR/data/{name}.yaml)\n"
        )
        body = {
            "defaults": ["counts", "_self_"],
            "root": str(path.parent),
            "train_file": "${.root}/" + path.name,
            "prepare": {"counts": self.mapping},
        }
        return head + yaml.safe_dump(body, sort_keys=False, default_flow_style=None, allow_unicode=True, width=1000)


def shown(name: str) -> str:
    """A column name as messages write it (an unnamed column as "")."""
    return name if name.strip() else repr(name)


def words(name: str) -> list[str]:
    """A column name's words and numbers, lower case (``BB1_SMILES`` → ``bb``, ``1``, ``smiles``)."""
    return re.findall(r"[a-z]+|\d+", name.lower())


def _cycle(name: str) -> tuple[int, ...] | None:
    """The cycle a block column names (its first number, or KinDEL's letter a–d), else None."""
    w = words(name)
    is_block = any(x in BLOCK_WORDS for x in w)
    letters = [x for x in w if len(x) == 1 and x in CYCLE_LETTERS]
    if not is_block and not (any(x in SMILES_WORDS for x in w) and letters and w[-1] in CYCLE_LETTERS):
        return None
    numbers = [int(x) for x in w if x.isdigit()]
    if numbers:
        return (numbers[0],)
    return (CYCLE_LETTERS.index(letters[-1]) + 1,) if letters else ()


def _replicate(name: str) -> tuple[str, int | None]:
    """(sample, replicate number) of a count column: ``target_r1`` → (target, 1), ``load`` → (load, None)."""
    m = re.match(r"^(.*?)(\d+)$", name)
    if not m or not m.group(1):
        return name, None
    head = re.sub(r"(?i)(?:[_\-. ](?:replicate|rep|r))?[_\-. ]?$", "", m.group(1))
    return (head or m.group(1)), int(m.group(2))


def _common_prefix(names: list[str]) -> str:
    """The start every name shares, up to a separator (``seq_`` of seq_target, seq_matrix); '' for one name."""
    prefix = os.path.commonprefix(names) if len(names) > 1 else ""
    prefix = prefix[: max((i for i, ch in enumerate(prefix) if ch in SEPARATORS), default=-1) + 1]
    return prefix if all(len(n) > len(prefix) for n in names) else ""


def _common_suffix(names: list[str]) -> str:
    """The ending every name shares, from a separator on (``_reads`` of kinase_1_reads, blank_1_reads)."""
    suffix = os.path.commonprefix([n[::-1] for n in names])[::-1] if len(names) > 1 else ""
    cut = [i for i, ch in enumerate(suffix) if ch in SEPARATORS]
    suffix = suffix[cut[0] :] if cut else ""
    return suffix if all(len(n) > len(suffix) for n in names) else ""


def _target_name(name: str) -> str:
    """A sample's name as a target name may be written (letters, digits and _ . + -)."""
    clean = re.sub(r"[^A-Za-z0-9_.+\-]+", "_", name).strip("_")
    return clean or "sample"


def _rounds(samples: dict[str, list[str]], notes: list[str]) -> dict:
    """Samples that differ only by a round (``seq_BRD4_r1``, ``seq_BRD4_r2``) as one sample of
    several rounds: name → {round: its replicate columns}."""
    rounds: dict[str, dict[int, str]] = {}
    for sample in samples:
        m = re.match(r"^(.+?)[_\-. ]r(\d+)$", sample)
        if m:
            rounds.setdefault(m.group(1), {})[int(m.group(2))] = sample
    out: dict = {}
    for sample, cols in samples.items():
        m = re.match(r"^(.+?)[_\-. ]r(\d+)$", sample)
        base = m.group(1) if m else None
        if base is None or len(rounds[base]) < 2 or base in samples:
            out[sample] = cols
        elif base not in out:
            out[base] = {rnd: samples[name] for rnd, name in sorted(rounds[base].items())}
            notes.append(f"rounds: {base} read after rounds {', '.join(map(str, sorted(rounds[base])))}")
    return out


def _flat(columns) -> list[str]:
    """A sample's columns, every round's in order."""
    return [c for cols in columns.values() for c in cols] if isinstance(columns, dict) else list(columns)


def suggest(columns: list[ColumnFacts]) -> Suggestion:
    """The mapping these columns most likely have; each guess noted."""
    notes: list[str] = []
    by_name = {c.name: c for c in columns}

    # building blocks: one column per cycle, SMILES preferred to ids
    cycles: dict[tuple[int, ...], list[ColumnFacts]] = {}
    for c in columns:
        k = _cycle(c.name)
        if k is not None:
            cycles.setdefault(k or (len(cycles) + 1,), []).append(c)
    blocks = []
    for k in sorted(cycles):
        options = sorted(cycles[k], key=lambda c: (not (c.smiles or "smiles" in words(c.name)), c.numeric))
        blocks.append(options[0].name)
        if len(options) > 1:
            notes.append(
                f"cycle {len(blocks)}: {options[0].name} (of {', '.join(o.name for o in options)}; any one names the "
                f"block)"
            )
    block_set = {c.name for k in cycles for c in cycles[k]}
    if blocks:
        kinds = ["SMILES" if by_name[b].smiles else "ids" for b in blocks]
        notes.append(
            f"blocks: {', '.join(blocks)} — named like building blocks or cycles ({len(blocks)} cycles, "
            f"{' / '.join(sorted(set(kinds)))})"
        )
    if not 2 <= len(blocks) <= 4:
        notes.append(
            f"{len(blocks)} building-block columns found: prepare needs one per cycle, 2 to 4; set blocks by hand"
        )

    # the compound's SMILES: named so (not a block), or else a text column RDKit parses
    rest = [c for c in columns if c.name not in block_set]
    named = [c for c in rest if any(w in SMILES_WORDS for w in words(c.name))]
    parsed = [c for c in rest if c.smiles]
    pool = named or parsed
    smiles = None
    if pool:
        best = max(pool, key=lambda c: (c.smiles, c.name.lower() == "smiles", c.smiles_share or 0.0))
        smiles = best.name
        why = "named like SMILES" if named else "no column is named like SMILES; its values parse as molecules"
        if best.smiles_share is not None and not best.smiles:
            why += f", but RDKit parses only {best.smiles_share:.0%} of its values"
        notes.append(f"smiles: {smiles} — {why}")
    else:
        notes.append("smiles: no column is named like SMILES or holds molecules; set smiles by hand")

    # the id: named like one, unique in the rows read
    rest = [c for c in rest if c.name != smiles]
    ids = [c for c in rest if any(w in ID_WORDS for w in words(c.name))]
    compound_id = None
    if ids:
        best = max(ids, key=lambda c: (c.unique, not c.numeric or c.whole, c.distinct))
        compound_id = best.name
        unique = "unique" if best.unique else f"{best.rows - best.distinct} repeats"
        notes.append(f"id: {compound_id} — named like an id ({unique} in the rows read)")
    else:
        notes.append("id: no column is named like an id (id, hash, key); null: compounds are known by their row")

    # counts: whole numbers >= 0 not named as something else; deduplicated counts preferred to raw ones
    rest = [c for c in rest if c.name != compound_id]
    counts, left_out = [], []
    for c in rest:
        if not c.numeric:
            continue
        w = set(words(c.name))
        if c.sequential or w & NOT_COUNT_WORDS or not c.whole:
            left_out.append(c.name)
        else:
            counts.append(c.name)
    if any(set(words(n)) & DEDUPLICATED_WORDS for n in counts):
        raw = [n for n in counts if "raw" in words(n)]
        if raw:
            counts = [n for n in counts if n not in raw]
            notes.append(f"counts: the deduplicated (UMI-corrected) columns; left out the raw ones ({', '.join(raw)})")
    if left_out:
        notes.append(
            f"not counts: {', '.join(map(shown, left_out))} (named as something else, an index, or not whole numbers)"
        )

    groups: dict[str, list[tuple[int, str]]] = {}
    suffix = _common_suffix(counts)
    for n in counts:
        sample, rep = _replicate(n[: len(n) - len(suffix)])
        groups.setdefault(sample, []).append((rep if rep is not None else 1, n))
    # a lone column's trailing number names the sample (BRD4), not a replicate
    samples: dict[str, list[str]] = {}
    for sample, reps in groups.items():
        if len(reps) == 1:
            samples[reps[0][1][: len(reps[0][1]) - len(suffix)]] = [reps[0][1]]
        else:
            samples[sample] = [n for _, n in sorted(reps)]
    samples = _rounds(samples, notes)
    prefix = _common_prefix(list(samples))
    short = {s: s[len(prefix) :] for s in samples}
    if len(set(short.values())) < len(short):
        short = {s: s for s in samples}

    roles: dict[str, str] = {}
    for sample in samples:
        w = set(words(short[sample]))
        if w & LOAD_WORDS:
            roles[sample] = "load"
        elif w & CONTROL_WORDS or ({"no", "target"} <= w):
            roles[sample] = "control"
        else:
            roles[sample] = "target"
    load = None
    loads = [s for s in samples if roles[s] == "load"]
    if loads:
        load = _flat(samples[loads[0]])[0]
        extra = [c for s in loads for c in _flat(samples[s]) if c != load]
        notes.append(
            f"load: {load} — named like the library before selection"
            + (f"; prepare reads one load column, so {', '.join(extra)} are left out" if extra else "")
        )
    else:
        notes.append("load: null — no count column is named like load, input, naive or library")
    mapping_samples = {_target_name(short[s]): samples[s] for s in samples if roles[s] != "load"}
    names = {s: _target_name(short[s]) for s in samples}
    controls = [names[s] for s in samples if roles[s] == "control"]
    targets = [names[s] for s in samples if roles[s] == "target"]
    if mapping_samples:
        listed = "; ".join(f"{names[s]} ← {', '.join(_flat(c))}" for s, c in samples.items() if roles[s] != "load")
        notes.append(f"samples (whole-number columns grouped by name and trailing replicate number): {listed}")
    else:
        notes.append("samples: no column holds whole numbers >= 0 in the rows read; name the count columns by hand")
    if controls:
        notes.append(f"controls: {', '.join(controls)} — named like a no-target control (matrix, beads, ntc, blank)")
        if len(controls) > 1 and targets:
            notes.append(f"every target is compared with the first control, {controls[0]}; pair others with control_of")
    else:
        notes.append(
            "controls: none — no sample is named like matrix, beads, control, ntc or blank; if one is, name it in "
            "controls"
        )
    if samples and not targets:
        notes.append("targets: none — every sample was taken as a control or the load; set controls by hand")
    if "target" in targets:
        notes.append("a sample is called target: name its protein with names: {target: <protein>}")

    mapping: dict = {"id": compound_id, "smiles": smiles, "blocks": blocks, "samples": mapping_samples}
    mapping["controls"] = controls
    mapping["load"] = load
    if not controls:
        mapping["score"] = "normalized_z"
        notes.append("score: normalized_z — the ratio scores compare a target with its control; this one needs none")
    return Suggestion(mapping, notes)
