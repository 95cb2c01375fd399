"""A count table's columns: the mapping (``data.prepare.counts``, :class:`CountTable`) and what it
finds in a file's header (:func:`layout` → :class:`Layout`: each target's and control's replicate
columns, the load), or one InputError saying what is missing.

KinDEL's names (``seq_<sample>_<replicate>``, a ``matrix`` control, ``seq_load``) need no
mapping; ``docs/del_counts.md`` gives a DELi cube's and a table without a control or a load.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path

from belka_lab.core.errors import InputError, preview
from belka_lab.dataset import enrichment
from belka_lab.dataset.schema import check_targets

# KinDEL's seq_<sample>_<replicate>, and seq_<sample>_r<round>_<replicate> for a selection of several rounds
KINDEL_COUNTS = r"^seq_(?P<sample>.+?)(?:_r(?P<round>\d+))?_(?P<replicate>\d+)$"


@dataclass(frozen=True)
class CountTable:
    """The count table's columns and how its compounds are scored.

    ``pattern`` is a regular expression with groups ``sample`` and ``replicate`` (and optionally
    ``round``: the selection round a column was read after, 1 when it does not match): every
    column it matches is a count column. ``samples`` names them instead, sample → its replicate
    columns (``{PTMOD: [corrected_index4, corrected_index5], beads: [corrected_index7]}``, a DELi
    cube), or for a target selected in several rounds, round → its replicate columns
    (``{BRD4: {1: [r1_a, r1_b], 2: [r2_a, r2_b]}}``).
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
    pattern: str = KINDEL_COUNTS
    samples: dict | None = None
    controls: list[str] | None = field(default_factory=lambda: ["matrix"])
    load: str | None = "seq_load"
    targets: list[str] | None = None
    names: dict | None = None
    control_of: dict | None = None
    score: str = "ratio_lb"
    threshold: float | None = None
    hit_fraction: float = 0.01

    @classmethod
    def of(cls, mapping: dict | None) -> CountTable:
        """From ``data.prepare.counts``: a key it does not have is one clear error."""
        mapping = dict(mapping or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(mapping) - known)
        if unknown:
            hint = " (the count columns' expression is `pattern` now)" if "counts" in unknown else ""
            raise InputError(
                f"data.prepare.counts has no key {', '.join(unknown)}{hint}; its keys are {', '.join(sorted(known))}"
            )
        return cls(**mapping)

    def __post_init__(self):
        if not 2 <= len(self.blocks) <= 4:
            raise InputError(f"data.prepare.counts.blocks={list(self.blocks)}: give the block columns of 2 to 4 cycles")
        if self.score not in enrichment.SCORES:
            raise InputError(f"data.prepare.counts.score={self.score!r}: choose one of {', '.join(enrichment.SCORES)}")
        if not 0.0 < self.hit_fraction < 1.0:
            raise InputError(f"data.prepare.counts.hit_fraction={self.hit_fraction}: must be between 0 and 1")
        try:
            pattern = re.compile(self.pattern)
        except re.error as e:
            raise InputError(f"data.prepare.counts.pattern={self.pattern!r} is not a regular expression: {e}") from None
        if not {"sample", "replicate"} <= set(pattern.groupindex):
            raise InputError(
                f"data.prepare.counts.pattern={self.pattern!r} needs the named groups (?P<sample>…) and "
                "(?P<replicate>…)"
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
    rounds: dict[str, list[int]] | None = None  # per target, each column's selection round (None: all 1)

    @classmethod
    def of_json(cls, table: dict) -> Layout:
        """Read back from the manifest's ``count_table`` (what :meth:`to_json` wrote)."""
        return cls(
            columns=list(table["columns"]),
            targets={t: list(v["columns"]) for t, v in table["targets"].items()},
            control_of={t: v["control"] for t, v in table["targets"].items()},
            controls={c: list(cols) for c, cols in table["controls"].items()},
            load=table["load"],
            rounds={t: v["rounds"] for t, v in table["targets"].items() if "rounds" in v} or None,
        )

    def to_json(self, totals: list[int], table: CountTable, threshold: dict) -> dict:
        """The manifest's ``count_table``: this layout, each column's summed reads, the score."""
        return {
            "columns": self.columns,
            "targets": {
                t: {"columns": c, "control": self.control_of[t], **({"rounds": self.rounds[t]} if self.rounds else {})}
                for t, c in self.targets.items()
            },
            "controls": self.controls,
            "load": self.load,
            "totals": totals,
            "score": table.score,
            "threshold": threshold,
        }


def _by_round(sample: str, columns, path: Path) -> dict[int, list[str]]:
    """A ``samples`` entry as round → replicate columns: a list is round 1's."""
    if not hasattr(columns, "items"):
        return {1: list(columns)}
    try:
        return {int(rnd): list(cols) for rnd, cols in columns.items()}
    except (TypeError, ValueError):
        raise InputError(
            f"{path}: data.prepare.counts.samples.{sample} maps rounds to columns, and its keys must be round "
            f"numbers ({list(columns)})"
        ) from None


def layout(path: Path, names: list[str], table: CountTable) -> Layout:
    """The count columns of a file with columns ``names``, or one InputError saying what is missing."""
    pattern = re.compile(table.pattern)
    samples: dict[str, list[tuple[int, int, str]]] = {}  # sample → (round, replicate, column)
    if table.samples:
        named = {s: _by_round(s, cols, path) for s, cols in table.samples.items()}  # sample → round → columns
        absent = [c for rounds in named.values() for cols in rounds.values() for c in cols if c not in names]
        if absent:
            raise InputError(
                f"{path}: the count columns {absent[:5]} named in data.prepare.counts.samples are missing (columns: "
                f"{preview(names)})"
            )
        for s, rounds in named.items():
            samples[s] = [(rnd, r + 1, c) for rnd, cols in rounds.items() for r, c in enumerate(cols)]
    for name in names if not table.samples else []:
        m = pattern.match(name)
        if m and name != table.load:
            rnd = int(m.group("round")) if "round" in pattern.groupindex and m.group("round") else 1
            samples.setdefault(m.group("sample"), []).append((rnd, int(m.group("replicate")), name))
    if not samples:
        raise InputError(
            f"{path}: no column matches the count pattern {table.pattern!r} (columns: {preview(names)}); set "
            f"data.prepare.counts.pattern to a pattern with (?P<sample>…) and (?P<replicate>…) that does"
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
        reps = sorted(samples[sample])  # by round, then replicate
        numbers = [(rnd, r) for rnd, r, _ in reps]
        if len(set(numbers)) != len(numbers):
            raise InputError(f"{path}: sample {sample!r} has two columns for one replicate ({[c for *_, c in reps]})")
        start = len(columns)
        columns.extend(c for *_, c in reps)
        return list(range(start, len(columns)))

    names, pairs = dict(table.names or {}), dict(table.control_of or {})
    targets = {names.get(t, t): take(t) for t in wanted}
    of_round = {names.get(t, t): [rnd for rnd, *_ in sorted(samples[t])] for t in wanted}
    rounds = of_round if any(rnd != 1 for r in of_round.values() for rnd in r) else None
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
    return Layout(columns, targets, control_of, controls, load, rounds)
