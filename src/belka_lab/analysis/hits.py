"""A hit list to order: the top compounds by predicted value, made diverse, filtered for
selectivity and for binding the control.

Candidates are ranked by the model's value for one target (``by``). Filters come first:

- **selectivity**: ``over`` names targets the compound must not bind; its value for ``by`` must
  exceed its highest value on those by ``margin`` (in the readout's unit: log10 enrichment, or
  probability);
- **control**: with read counts, a compound whose observed enrichment in its no-target control
  (control reads against the library load, or against an even share of the reads without a load)
  is above ``max_control`` is a bead/matrix binder and is dropped. A target whose count table
  names no control cannot be filtered so: asking is an error.

Diversity is RDKit's: ``butina`` clusters the top ``pool`` × n candidates on Morgan fingerprints
(Tanimoto distance ``cutoff``) and takes the best of each cluster, clusters in the order of their
best member, then the second best of each, and so on; ``maxmin`` is RDKit's MaxMin picker started
from the best candidate; ``none`` keeps the ranking. Candidates RDKit cannot parse have no
fingerprint to compare: diversity leaves them out (the caller says how many).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator
from rdkit.ML.Cluster import Butina
from rdkit.SimDivFilters import MaxMinPicker

from belka_lab.analysis import molecules
from belka_lab.core.errors import InputError
from belka_lab.dataset import enrichment

DIVERSITY = ("butina", "maxmin", "none")


@dataclass
class HitListConfig:
    by: str | None = None  # the target ranked on (default: the first)
    n: int = 50  # compounds to order
    diversity: str = "butina"  # butina | maxmin | none
    cutoff: float = 0.6  # Butina's Tanimoto distance: neighbours within it share a cluster
    pool: int = 10  # candidates considered for diversity: pool × n of the best
    over: list[str] = field(default_factory=list)  # targets it must not bind (selectivity)
    margin: float = 0.0  # value(by) − max value(over) must exceed this
    max_control: float | None = None  # drop compounds enriched above this in their control


def control_enrichment(counts: np.ndarray, spec) -> np.ndarray:
    """Each compound's enrichment in the control of each target [N, T]: del_qsar's ratio of its
    control reads against its load reads, or against an even share of the control's reads
    (1/N of them) without a load column; NaN for a target without a control."""
    counts = np.asarray(counts)
    out = np.full((len(counts), spec.n_targets), np.nan)
    for t in range(spec.n_targets):
        if spec.control_of[t] is None:
            continue
        cols = spec.control_cols[spec.control_of[t]]
        k_c, n_c = counts[:, cols].sum(1), spec.reads(cols)
        if spec.load_col is not None:
            k_l, n_l = counts[:, spec.load_col], spec.reads([spec.load_col])
            out[:, t] = enrichment.ratio(k_c, n_c, k_l, n_l)
        else:
            out[:, t] = (k_c + enrichment.PSEUDO) / n_c * spec.n_compounds
    return out


def fingerprints(mols: list[Chem.Mol]) -> list:
    """Morgan fingerprints (radius 2, 2048 bits) of parsed molecules (``molecules.parse``)."""
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    return [gen.GetFingerprint(m) for m in mols]


def butina_order(fps: list, cutoff: float) -> tuple[list[int], np.ndarray]:
    """Indices of ``fps`` (best first) in Butina order: each cluster's best, then each one's second
    best, …; and each index's cluster id (clusters numbered by their best member)."""
    n = len(fps)
    dists = []
    for i in range(1, n):
        sims = DataStructs.BulkTanimotoSimilarity(fps[i], fps[:i])
        dists.extend(1.0 - x for x in sims)
    clusters = sorted((sorted(c) for c in Butina.ClusterData(dists, n, cutoff, isDistData=True)), key=min)
    cluster = np.zeros(n, np.int64)
    for k, members in enumerate(clusters):
        cluster[members] = k
    deepest = max(map(len, clusters), default=0)
    order = [c[depth] for depth in range(deepest) for c in clusters if depth < len(c)]
    return order, cluster


def check(targets: tuple[str, ...], config: HitListConfig) -> str:
    """The target ranked on, once the request is known to make sense for ``targets``."""
    by = config.by or targets[0]
    for name in [by, *config.over]:
        if name not in targets:
            raise InputError(f"hit list: target {name!r} is not one of the run's targets ({', '.join(targets)})")
    if config.diversity not in DIVERSITY:
        raise InputError(f"hit list: diversity={config.diversity!r}; choose one of {', '.join(DIVERSITY)}")
    if config.n < 1:
        raise InputError(f"hit list: n={config.n}; ask for at least one compound")
    return by


def check_control(targets: tuple[str, ...], config: HitListConfig, data) -> None:
    """``max_control`` reads the no-target control of the target ranked on: ``data`` (the
    library's ``Supervision``) says when it has none (labels only, or no control for that target)."""
    if config.max_control is None:
        return
    by = check(targets, config)
    if not data.controlled(targets.index(by)):
        raise InputError(f"hit list: max_control {data.lacks_control(by)}")


def passing(frame: pd.DataFrame, targets: tuple[str, ...], config: HitListConfig, control=None) -> pd.DataFrame:
    """The candidates that pass the filters, best first (with ``selectivity`` and
    ``control_enrichment`` columns where those filters apply)."""
    by = check(targets, config)
    keep = np.ones(len(frame), bool)
    if config.over:
        others = frame[list(config.over)].to_numpy().max(axis=1)
        frame = frame.assign(selectivity=frame[by].to_numpy() - others)
        keep &= frame["selectivity"].to_numpy() > config.margin
    if config.max_control is not None:
        if control is None or np.isnan(control[:, targets.index(by)]).all():
            raise InputError(
                f"hit list: max_control needs the read counts of a no-target control for target {by}; "
                f"leave max_control null"
            )
        frame = frame.assign(control_enrichment=control[:, targets.index(by)])
        keep &= frame["control_enrichment"].to_numpy() <= config.max_control
    elif control is not None and not np.isnan(control[:, targets.index(by)]).all():
        frame = frame.assign(control_enrichment=control[:, targets.index(by)])
    return frame[keep].sort_values(by, ascending=False, kind="stable").reset_index(drop=True)


def pick(frame: pd.DataFrame, targets: tuple[str, ...], config: HitListConfig, control=None, of: int | None = None):
    """The hit list from ``frame`` (one row per candidate: ``smiles`` and one value column per
    target); ``control`` [len(frame), T] their control enrichment (for ``max_control``); ``of``:
    how many compounds the candidates were drawn from (for the message when too few pass). With
    diversity, candidates RDKit cannot parse are left out."""
    by = check(targets, config)
    candidates = passing(frame, targets, config, control)
    if config.n > len(candidates):
        raise InputError(
            f"hit list: n={config.n} but only {len(candidates)} of {of or len(frame)} compounds pass the filters; "
            f"ask for fewer or loosen margin / max_control"
        )
    if config.diversity == "none":
        out = candidates.head(config.n).copy()
    else:
        mols = molecules.parse(candidates["smiles"])
        parsed = np.array([m is not None for m in mols], bool)
        if config.n > parsed.sum():
            raise InputError(
                f"hit list: n={config.n} but RDKit parses only {int(parsed.sum())} of the {len(candidates)} "
                f"compounds that pass the filters (diversity compares structures); ask for fewer or use "
                f"hits.diversity=none"
            )
        pool = candidates[parsed].head(max(config.n, config.pool * config.n))
        fps = fingerprints([m for m in mols if m is not None][: len(pool)])
        if config.diversity == "butina":
            order, cluster = butina_order(fps, config.cutoff)
            out = pool.iloc[order[: config.n]].assign(cluster=cluster[order[: config.n]])
        else:
            picked = MaxMinPicker().LazyBitVectorPick(fps, len(fps), config.n, firstPicks=[0], seed=42)
            out = pool.iloc[list(picked)].sort_values(by, ascending=False, kind="stable")
    out = out.reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out
