"""``belka analyze``: a prepared library, optionally with finished runs over it, read the way a
DEL chemist reads a selection.

It writes, under ``out_dir``:

- ``synthons_mono.parquet|csv``, ``synthons_di.parquet|csv`` (``synthons.py``; the CSVs hold the
  best ``csv_rows`` of each target and set of cycles);
- ``cube_<target>.png|parquet`` and, in the report, the same cube to turn (three cycles or
  more): the library's observed values and, where the runs predicted compounds, the model's;
  ``disynthons_<target>.png`` (a panel per pair of cycles);
- ``hits.parquet|csv`` and ``hits.png`` (``hits.py``): candidates ranked by the runs' mean
  prediction (without runs: the observed enrichment or hits), with the runs' spread and a
  conformal interval (compounds RDKit cannot parse are counted once and left out of the
  clustering and the structures drawn);
- ``coverage.csv|png`` (enrichment) or ``calibration.csv`` and ``reliability_<target>.png``
  (probabilities) (``uncertainty.py``);
- ``analysis.json`` (the summary) and ``report.html`` (``report.py``), which opens from the file system.

A run's predictions are its validation compounds' (``predictions/val.parquet``): several runs over
the folds of one split cover the library, several seeds on one fold give a spread.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from belka_lab.analysis import figures, hits, molecules, report, rows, synthons, uncertainty
from belka_lab.analysis.hits import HitListConfig, control_enrichment
from belka_lab.baselines.learn import LEARN
from belka_lab.baselines.saved import read_targets
from belka_lab.core.errors import InputError
from belka_lab.core.io import atomic_path
from belka_lab.dataset import read, supervision
from belka_lab.dataset.store import PreparedDataset
from belka_lab.dataset.supervision import Supervision, Values
from belka_lab.models.losses import from_config
from belka_lab.screen.runs import run_config, run_results
from belka_lab.tokens.characters import decode


@dataclass
class AnalyzeConfig:
    min_compounds: int = 1  # synthons with fewer compounds are left out of the tables
    csv_rows: int = 1000  # the synthon CSVs hold the best of each target and cycles (the parquet files: all)
    cube_top: int = 2000  # compounds a cube draws: the top by value …
    cube_sample: int = 3000  # … and a random sample of the rest
    confidence: float = 0.9  # of the conformal intervals
    seed: int = 0
    hits: HitListConfig = field(default_factory=HitListConfig)

    @classmethod
    def of(cls, cfg) -> AnalyzeConfig:
        """From ``conf/analyze.yaml``'s keys (``tests/unit/test_analyze.py`` holds its defaults to these)."""
        own = {f.name: cfg[f.name] for f in fields(cls) if f.name != "hits"}
        hits = OmegaConf.to_container(cfg.hits, resolve=True) if OmegaConf.is_config(cfg.hits) else dict(cfg.hits)
        return cls(**own, hits=HitListConfig(**hits))


@dataclass
class PreparedLibrary:
    """What the analysis reads of a prepared directory."""

    store: PreparedDataset
    bb_ids: np.ndarray
    data: Supervision  # what its runs learn from: labels, or read counts
    block_smiles: dict[int, str]

    @property
    def targets(self) -> tuple[str, ...]:
        return self.store.targets

    @classmethod
    def open(cls, prepared_dir) -> PreparedLibrary:
        path = Path(prepared_dir)
        if not (path / "manifest.json").exists():
            raise InputError(f"{path} is not a prepared directory (no manifest.json): give data.prepared_dir of a run")
        store = PreparedDataset(path)
        bb_file = path / "train" / "bb_ids.npy"
        bb_ids = store.train("bb_ids") if bb_file.exists() else None
        if bb_ids is None or bb_ids.ndim != 2 or bb_ids.shape[1] < 2 or (np.asarray(bb_ids[:1000]) < 0).any():
            raise InputError(
                f"{path}: the library has no building-block ids per cycle (train/bb_ids.npy); synthon analysis "
                f"needs a table with 2–4 cycles of blocks (data.prepare.counts.blocks, docs/del_counts.md)"
            )
        blocks = (
            pd.read_parquet(path / "building_blocks.parquet") if (path / "building_blocks.parquet").exists() else None
        )
        smiles = dict(zip(blocks["bb_id"].astype(int), blocks["smiles"])) if blocks is not None else {}
        return cls(store, bb_ids, supervision.of(store.manifest), smiles)


@dataclass
class RunPredictions:
    """The runs' validation predictions, ensembled (``uncertainty.ensemble``), and what they are."""

    frame: pd.DataFrame  # molecule, <target>, <target>_std, models, cell, score_<target>/label_<target>
    values: str  # probability | log10 enrichment
    runs: list[str]


def _values_of(run_dir: Path) -> Values:
    """What a run predicts: ``probability`` or ``log10 enrichment`` — its readout's kind (a train
    run's loss) or what its trees learnt (a baseline's saved ``learn``)."""
    cfg = run_config(run_dir)
    if "baseline" in cfg:
        return LEARN[read_targets(run_dir / "model")[1]].values
    return from_config(cfg).values


def read_runs(runs: list[str], library: PreparedLibrary) -> RunPredictions:
    """Every run's validation predictions over ``library``: each must have been trained on it and
    predict the same targets in the same unit."""
    frames, values = [], set()
    here = library.store.path.resolve()
    for r in runs:
        run_dir = Path(r)
        results = run_results(run_dir)
        trained_on = Path(results.get("prepared_dir", "")).resolve() if results.get("prepared_dir") else None
        if trained_on != here:
            raise InputError(
                f"run {run_dir} was trained on {trained_on or 'an unrecorded library'}, not on {here}: give the "
                f"runs of this library (or library= the run's data.prepared_dir)"
            )
        targets = tuple(results.get("targets", library.targets))
        if targets != library.targets:
            raise InputError(
                f"run {run_dir} predicts {', '.join(targets)}; the library's targets are {library.targets}"
            )
        f = run_dir / "predictions" / "val.parquet"
        if not f.exists():
            raise InputError(f"run {run_dir} has no predictions/val.parquet: give finished runs (predict=true)")
        read.check_kind(read.check_file(f, "run's validation predictions"))
        with read.reading(f):
            frames.append(pd.read_parquet(f))
        values.add(_values_of(run_dir))
    if len(values) > 1:
        raise InputError(f"the runs predict different things ({', '.join(sorted(values))}): analyze runs of one kind")
    targets = library.targets
    mean = uncertainty.ensemble(frames, targets)
    first = pd.concat(frames).drop_duplicates("molecule").set_index("molecule")
    keep = [c for c in first.columns if c == "cell" or c.startswith(("score_", "label_"))]
    frame = mean.join(first[keep], on="molecule")
    return RunPredictions(frame, values.pop(), [str(r) for r in runs])


def run_analysis(cfg) -> dict:
    """``belka analyze``: the config (conf/analyze.yaml) → :func:`analyze`."""
    runs = list(cfg.get("runs") or [])
    library = cfg.get("library")
    if library is None:
        if not runs:
            raise InputError("analyze: give library=<prepared directory>, runs=[<run dir>,…], or both")
        library = run_results(Path(runs[0])).get("prepared_dir")
        if not library:
            raise InputError(f"run {runs[0]} does not record its prepared directory: give library=")
    return analyze(library, runs, cfg.out_dir, AnalyzeConfig.of(cfg))


def analyze(prepared_dir, runs: list[str] | None, out_dir, config: AnalyzeConfig | None = None) -> dict:
    """The analysis of ``prepared_dir`` (with ``runs``), written under ``out_dir``; returns its summary."""
    config = config or AnalyzeConfig()
    final = Path(out_dir)
    final.mkdir(parents=True, exist_ok=True)
    stage = final / ".analyze-partial"  # every file is written here and moved out once all are complete
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        summary = _analyze(prepared_dir, runs, stage, config)
        for f in sorted(stage.iterdir()):
            os.replace(f, final / f.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    print(f"analyze: {final / 'report.html'} ({summary['seconds']} s)", flush=True)
    return summary


@dataclass
class Context:
    """One analysis: the library and its runs' values, what is observed, where the outputs go, and
    ``summary`` (what ``analysis.json`` and the report say), which each step adds to."""

    lib: PreparedLibrary
    out: Path
    config: AnalyzeConfig
    pred: RunPredictions | None
    predicted: np.ndarray | None  # [n, T] the runs' values; nan where no run predicted the compound
    observed: np.ndarray | None  # a count table's stored scores (memory-mapped), else None
    labels: np.ndarray
    summary: dict

    @property
    def predicts(self) -> str | None:
        """What the runs' values are (None without runs)."""
        return self.pred.values if self.pred is not None else None


def _analyze(prepared_dir, runs, out: Path, config: AnalyzeConfig) -> dict:
    t0 = time.time()
    lib = PreparedLibrary.open(prepared_dir)
    targets, n = lib.targets, len(lib.bb_ids)
    pred = read_runs(list(runs), lib) if runs else None
    by = hits.check(targets, config.hits)  # before any work: a target it does not know, a list longer than the library
    hits.check_control(targets, config.hits, lib.data)
    if config.hits.n > n:
        raise InputError(f"hits.n={config.hits.n} but the library {lib.store.path} has {n:,} compounds")
    predicted = None
    if pred is not None:
        predicted = np.full((n, len(targets)), np.nan, np.float32)
        predicted[pred.frame["molecule"].to_numpy()] = pred.frame[list(targets)].to_numpy()
    data, labels = lib.data, lib.store.train("labels")
    common = dict(
        **data.synthon_sums(lib.store),
        predicted=predicted,
        block_smiles=lib.block_smiles,
        min_compounds=config.min_compounds,
    )
    print(f"analyze: {n:,} compounds, {lib.bb_ids.shape[1]} cycles, targets {', '.join(targets)}", flush=True)
    reference = data.references(targets)
    uncontrolled = [t for t, r in reference.items() if r != "control"]
    if uncontrolled:
        print(
            f"analyze: no control for {', '.join(uncontrolled)}: synthons ranked against "
            f"{'the load' if data.spec.load_col is not None else 'an even share of the reads (no load either)'}",
            flush=True,
        )
    mono = synthons.table(lib.bb_ids, targets, 1, **common)
    di = synthons.table(lib.bb_ids, targets, 2, **common)
    _write_table(mono, out / "synthons_mono", config.csv_rows)
    _write_table(di, out / "synthons_di", config.csv_rows)
    print(f"analyze: {len(mono):,} monosynthon and {len(di):,} disynthon rows ({time.time() - t0:.1f} s)", flush=True)

    observed = data.observed(lib.store)  # memory-mapped
    summary: dict = {
        "library": str(lib.store.path.resolve()),
        "runs": pred.runs if pred else [],
        "compounds": n,
        "cycles": int(lib.bb_ids.shape[1]),
        "targets": list(targets),
        "values": pred.values if pred else data.observed_values,
    }
    if reference:
        summary["synthons_against"] = reference
    if data.lacks_heldout(lib.store.manifest):
        summary["heldout"] = "none"
        print(
            "analyze: no held-out affinity file was given: the intervals and the hit list rest on the observed "
            "enrichment alone",
            flush=True,
        )
    ctx = Context(lib, out, config, pred, predicted, observed, labels, summary)
    pictures = _pictures(ctx, di)
    checks, fitted = _uncertainty(ctx) if pred is not None else ({}, {})
    listed = _hit_list(ctx, fitted, by)
    summary["seconds"] = round(time.time() - t0, 1)
    with atomic_path(out / "analysis.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=1, default=float))
    report.write(out / "report.html", summary, mono, di, listed, pictures, checks)
    return summary


def _write_table(table: pd.DataFrame, stem: Path, csv_rows: int | None = None) -> None:
    """``stem``.parquet (every row) and ``stem``.csv (with ``csv_rows``: the best ``csv_rows`` of
    each target and set of cycles, the rows a spreadsheet opens)."""
    with atomic_path(stem.with_suffix(".parquet")) as tmp:
        table.to_parquet(tmp, index=False)
    if csv_rows is not None:
        table = table[table["rank"] <= csv_rows]
    with atomic_path(stem.with_suffix(".csv")) as tmp:
        table.to_csv(tmp, index=False)


class _Known:
    """A column of binary labels read as values: 1 binds, 0 not, NaN unknown (-1)."""

    def __init__(self, column):
        self.column = column

    def __len__(self) -> int:
        return len(self.column)

    def __getitem__(self, index) -> np.ndarray:
        y = np.asarray(self.column[index], np.float32)
        return np.where(y < 0, np.nan, y)


def _observed(ctx: Context, t: int):
    """One target's observed value of every compound, as a (memory-mapped) column, in the unit the
    runs predict: the stored score, or binds for probabilities and for libraries without counts;
    and the unit's name."""
    if ctx.observed is not None and ctx.predicts != Values.PROBABILITY:
        return ctx.observed[:, t], ctx.lib.data.observed_unit
    return _Known(ctx.labels[:, t]), Supervision.observed_unit


def _cube(bb, name, observed, unit, predicted, predicts, config) -> tuple[pd.DataFrame, str, dict, str, dict]:
    """One target's cube: (points, title, captions per value column, colour-scale label, counts)."""
    points = figures.cube_points(bb, observed, config.cube_top, config.cube_sample, config.seed, predicted)
    drawn_obs = int(np.isfinite(points["observed"]).sum())
    valued = rows.finite(observed)
    counts = {"drawn": len(points), "observed": drawn_obs, "library_observed": valued}
    if drawn_obs == valued:
        names = {"observed": f"observed {unit}: all {valued:,} compounds"}
    else:
        best = f"the top {config.cube_top:,} by observed value" + (
            " and by prediction" if predicted is not None else ""
        )
        sampled = int((~points["top"]).sum())
        names = {"observed": f"observed {unit}: {drawn_obs:,} of {valued:,} compounds ({best}, {sampled:,} sampled)"}
    title, label = f"{name}: the library's observed values", unit
    if predicted is not None:
        drawn_pred = int(np.isfinite(points["predicted"]).sum())
        in_runs = rows.finite(predicted)
        counts |= {"predicted": drawn_pred, "library_predicted": in_runs}
        said = "all" if drawn_pred == in_runs else f"{drawn_pred:,} of the"
        predicts = str(Values.PROBABILITY) if predicts == Values.PROBABILITY else unit  # count runs: the scores
        names["predicted"] = f"model's {predicts}: {said} {in_runs:,} compounds the runs predicted (out of fold)"
        title += f"; the runs' predictions for {in_runs:,} of them"
        label = f"{unit} / {predicts}" if unit != predicts else unit
    return points, title, names, label, counts


def _pictures(ctx: Context, di: pd.DataFrame) -> dict:
    """Cubes and heatmaps per target: {"cubes": [(target, png, figure)], "heatmaps": [(title, png)]}."""
    lib, out, config, predicted = ctx.lib, ctx.out, ctx.config, ctx.predicted
    bb = lib.bb_ids
    where = [figures.positions(bb, c) for c in range(bb.shape[1])]
    cubes, heatmaps, drawn = [], [], {}
    value = "enrichment" if "enrichment" in di else "hit_rate"
    for t, name in enumerate(lib.targets):
        if bb.shape[1] >= 3:
            column, unit = _observed(ctx, t)
            model = predicted[:, t] if predicted is not None else None
            points, title, names, label, drawn[name] = _cube(bb, name, column, unit, model, ctx.predicts, config)
            with atomic_path(out / f"cube_{name}.parquet") as tmp:
                points.to_parquet(tmp, index=False)
            png = figures.cube_png(points, where, title, names, label, out / f"cube_{name}.png")
            cubes.append((name, png, figures.cube_figure(points, where, title, names, label)))
        pairs = di[di["target"] == name]
        if len(pairs):
            png = out / f"disynthons_{name}.png"
            title = f"{name}: disynthons, every pair of cycles"
            heatmaps.append((f"{name}, disynthons", figures.heatmap_png(pairs, value, title, png, where)))
    ctx.summary["cube"] = {
        "top": config.cube_top,
        "sample": config.cube_sample,
        "drawn": bb.shape[1] >= 3,
        "targets": drawn,
    }
    return {"cubes": cubes, "heatmaps": heatmaps}


def _candidates(ctx: Context, by: str):
    """(how many candidates, ``first(k)``: the best ``k`` for ``by`` as a frame of molecule and values
    per target, with the runs' spread, cell and observed values where there are runs). Without runs
    only the ranked column is read whole; the rows of the best are read when asked for."""
    targets, pred = ctx.lib.targets, ctx.pred
    if pred is not None:
        every = pred.frame.iloc[np.argsort(-pred.frame[by].to_numpy(), kind="stable")].reset_index(drop=True)
        return len(every), lambda k: every.head(k).copy()
    source = ctx.observed if ctx.observed is not None else ctx.labels
    column = source[:, targets.index(by)]

    def first(k: int) -> pd.DataFrame:
        chosen = rows.best(column, k)
        values = _take(source, chosen).astype(np.float32)
        return pd.DataFrame({"molecule": chosen, **{t: values[:, i] for i, t in enumerate(targets)}})

    return len(source), first


def _hit_list(ctx: Context, fitted: dict, by: str) -> pd.DataFrame:
    """The hit list, ranked on ``by``: drawn from the best candidates, twice as many each time until
    enough pass the filters (SMILES are decoded and controls read for those only). Candidates RDKit
    cannot parse are counted and said once: diversity and the structures drawn leave them out."""
    lib, summary = ctx.lib, ctx.summary
    targets, h = lib.targets, ctx.config.hits
    total, first = _candidates(ctx, by)
    wanted = max(h.n, h.pool * h.n)
    size = wanted
    controlled = lib.data.controlled(targets.index(by))
    while True:
        frame = first(size)
        chosen = frame["molecule"].to_numpy()
        control = control_enrichment(_take(lib.store.train("counts"), chosen), lib.data.spec) if controlled else None
        if size >= total or len(hits.passing(frame, targets, h, control)) >= wanted:
            break
        size *= 2
    frame.insert(1, "smiles", [s.rstrip("\x00") for s in decode(_take(lib.store.train("tokens"), chosen))])
    _unparsable(frame, h.diversity, summary)
    ids = _take(lib.bb_ids, chosen)
    for c in range(ids.shape[1]):
        frame[f"bb_{c + 1}"] = ids[:, c]
        frame[f"block_{c + 1}"] = [lib.block_smiles.get(int(b), "") for b in ids[:, c]]
    listed = hits.pick(frame, targets, h, control, of=total)
    for t, add in fitted.items():  # each target's interval or calibrated probability
        listed = add(listed, t)
    _write_table(listed, ctx.out / "hits")
    legends = [f"#{r} {by} {v:.2f}" for r, v in zip(listed["rank"], listed[by])]
    figures.structures_png(list(listed["smiles"]), legends, ctx.out / "hits.png", most=20)
    summary["hits"] = asdict(h) | {"listed": len(listed), "by": by}
    return listed


def _unparsable(frame: pd.DataFrame, diversity: str, summary: dict) -> None:
    """Count the candidates RDKit cannot parse; say it in one line and in the summary."""
    bad = frame["molecule"].to_numpy()[[m is None for m in molecules.parse(frame["smiles"])]]
    clustered = diversity != "none"
    where = "left out of the clustering (so of the list) and of" if clustered else "listed by value but left out of"
    said = (
        f"RDKit cannot parse {len(bad):,} of the {len(frame):,} candidates for the hit list (molecules "
        f"{', '.join(map(str, bad[:10]))}{', …' if len(bad) > 10 else ''}): {where} the structures drawn"
    )
    summary["unparsable"] = {"compounds": len(bad), "of": len(frame), "molecules": bad[:20].tolist()}
    if len(bad):
        summary["unparsable"]["said"] = said
        print(f"analyze: {said}", flush=True)


def _take(array, index: np.ndarray) -> np.ndarray:
    """``array[index]`` in the order of ``index``, read from a memory map in row order."""
    order = np.argsort(index, kind="stable")
    out = np.empty((len(index), *array.shape[1:]), array.dtype)
    out[order] = np.asarray(array[index[order]])
    return out


def _uncertainty(ctx: Context) -> tuple[dict, dict]:
    """The runs' checks and, per target, what adds its interval or calibrated probability to the
    hit list: what ``Values.checks`` says their values get (calibration of probabilities, or
    conformal intervals of the observed score)."""
    return {"calibration": _calibration, "intervals": _intervals}[Values(ctx.pred.values).checks](ctx)


def _calibration(ctx: Context) -> tuple[dict, dict]:
    """Isotonic calibration of each target's probabilities, its ECE and a reliability plot."""
    out, frame, config = ctx.out, ctx.pred.frame, ctx.config
    checks: dict = {}
    fitted: dict = {}
    records = []
    for t in ctx.lib.targets:
        y = frame[f"label_{t}"].to_numpy()
        result, points, iso = uncertainty.calibration(frame[t].to_numpy(), y, config.seed)
        fitted[t] = lambda h, t, iso=iso: h.assign(**{f"{t}_calibrated": iso.predict(h[t].to_numpy())})
        records.append({"target": t, **result})
        figures.reliability_png(points, f"{t}: reliability (held-out half)", out / f"reliability_{t}.png")
        checks.setdefault("reliability", []).append((t, out / f"reliability_{t}.png"))
    table = pd.DataFrame(records)
    _write_table(table, out / "calibration")
    checks["calibration"] = table
    ctx.summary["calibration"] = table.to_dict("records")
    return checks, fitted


def _intervals(ctx: Context) -> tuple[dict, dict]:
    """Mondrian conformal intervals of each target's observed score, per validation cell."""
    out, frame, config = ctx.out, ctx.pred.frame, ctx.config
    cells = frame["cell"].to_numpy() if "cell" in frame else np.full(len(frame), "val", object)
    fitted: dict = {}
    tables = []
    for t in ctx.lib.targets:
        spread = frame[f"{t}_std"].to_numpy()
        spread = spread if np.isfinite(spread).all() else None
        table, fit = uncertainty.intervals(
            frame[t].to_numpy(), frame[f"score_{t}"].to_numpy(), cells, spread, config.confidence, config.seed
        )
        tables.append(table.assign(target=t))
        fitted[t] = lambda h, t, fit=fit: _with_interval(h, t, fit)
    table = pd.concat(tables, ignore_index=True)[
        ["target", "cell", "compounds", "coverage", "width", "spread_error_spearman", "confidence"]
    ]
    _write_table(table, out / "coverage")
    figures.coverage_png(table, out / "coverage.png")
    ctx.summary["coverage"] = table.to_dict("records")
    return {"coverage": table}, fitted


def _with_interval(listed: pd.DataFrame, t: str, fit: uncertainty.Intervals) -> pd.DataFrame:
    """``<t>_lo``, ``<t>_hi``: the conformal interval of each listed compound's observed score."""
    cells = listed["cell"].to_numpy() if "cell" in listed else np.full(len(listed), "val", object)
    spread = listed[f"{t}_std"].to_numpy() if fit.scale is not None else None
    bounds = fit.predict(listed[t].to_numpy(), cells, spread)
    return listed.assign(**{f"{t}_lo": bounds[:, 0], f"{t}_hi": bounds[:, 1]})
