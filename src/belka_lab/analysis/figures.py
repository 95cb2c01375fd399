"""The pictures of an analysis: cube plots (PNG and interactive), disynthon heatmaps, the hit
list's structures, reliability and coverage.

PNGs go through ``core/figures.save``; the interactive cube is a plotly figure whose JavaScript is
written into the page (it opens without a network). Structures are drawn by RDKit; a SMILES it
cannot parse is left out of the drawing (``molecules.parse``: no RDKit line per molecule).

A cube draws the library's observed values and, where runs predicted compounds, the model's: one
panel (PNG) or one trace (page) each, on one colour scale.
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from rdkit.Chem import Draw

from belka_lab.analysis import molecules, rows
from belka_lab.core.figures import save, subplots
from belka_lab.core.io import atomic_path


def cube_points(bb_ids, observed, top: int, sample: int, seed: int = 0, predicted=None) -> pd.DataFrame:
    """The compounds a cube draws for one target, chosen over the whole library: the ``top`` by
    observed value, the ``top`` by ``predicted`` value (NaN: not predicted) and a random ``sample``
    of the rest with an observed value. One row each: ``molecule``, ``observed``, ``predicted``
    (NaN where the runs did not predict it; absent without runs), ``top`` and the block id per
    cycle (``cycle_<c>``)."""
    best = rows.best(observed, top)
    if predicted is not None:
        best = np.union1d(best, rows.best(predicted, top))
    extra = rows.sample(observed, sample, best, seed)
    chosen = np.sort(np.concatenate([best, extra]))
    ids = np.asarray(bb_ids[chosen])
    out = pd.DataFrame({"molecule": chosen, "observed": np.asarray(observed[chosen], np.float64)})
    if predicted is not None:
        out["predicted"] = np.asarray(predicted[chosen], np.float64)
    out["top"] = np.isin(chosen, best)
    for c in range(ids.shape[1]):
        out[f"cycle_{c + 1}"] = ids[:, c]
    return out


def positions(bb_ids, cycle: int) -> dict[int, int]:
    """Block id → its position among the blocks present in ``cycle`` (ids sorted)."""
    return {int(b): i for i, b in enumerate(rows.present(bb_ids[:, cycle]))}


def _range(points: pd.DataFrame) -> tuple[float, float]:
    """The values' range over both kinds drawn: one colour and size scale for observed and model."""
    v = points[[c for c in ("observed", "predicted") if c in points]].to_numpy(np.float64)
    v = v[np.isfinite(v)]
    return (float(v.min()), float(v.max())) if len(v) else (0.0, 1.0)


def _sizes(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return 4 + 36 * (v - lo) / (hi - lo if hi > lo else 1.0)


def _layers(points: pd.DataFrame, names: dict[str, str]) -> list[tuple[str, str, pd.DataFrame]]:
    """(column, its caption, the rows with that value) for each kind of value drawn."""
    return [
        (column, names[column], points[np.isfinite(points[column].to_numpy(np.float64))])
        for column in ("observed", "predicted")
        if column in points and column in names
    ]


def cube_png(points: pd.DataFrame, where: list[dict[int, int]], title: str, names: dict, label: str, path) -> Path:
    """The cube as a PNG: a panel per kind of value drawn (``names``: column → caption, observed
    and, with runs, predicted), coloured on one scale named ``label``."""
    layers = _layers(points, names)
    fig, axes = subplots(
        1, len(layers), figsize=(6.4 * len(layers), 5.8), subplot_kw={"projection": "3d"}, squeeze=False
    )
    lo, hi = _range(points)
    for ax, (column, caption, drawn) in zip(axes[0], layers):
        xyz = [drawn[f"cycle_{c + 1}"].map(where[c]).to_numpy() for c in range(3)]
        order = np.argsort(drawn[column].to_numpy())  # the enriched on top
        v = drawn[column].to_numpy()[order]
        art = ax.scatter(
            *(a[order] for a in xyz),
            c=v,
            s=_sizes(v, lo, hi),
            cmap="viridis",
            vmin=lo,
            vmax=hi,
            alpha=0.8,
            linewidths=0,
        )
        ax.set_xlabel("cycle 1 block")
        ax.set_ylabel("cycle 2 block")
        ax.set_zlabel("cycle 3 block")
        ax.set_title(caption, fontsize=9)
    fig.suptitle(title, fontsize=11)
    fig.colorbar(art, ax=axes[0][-1], shrink=0.6, pad=0.1, label=label)  # one scale: beside the last panel
    return save(fig, path)


def cube_figure(points: pd.DataFrame, where: list[dict[int, int]], title: str, names: dict, label: str) -> go.Figure:
    """The cube to turn: a trace per kind of value drawn (``names``: column → legend entry), on one
    colour scale; the model's trace starts hidden (a click on its legend entry draws it)."""
    lo, hi = _range(points)
    fig = go.Figure()
    for column, caption, drawn in _layers(points, names):
        xyz = [drawn[f"cycle_{c + 1}"].map(where[c]).to_numpy() for c in range(3)]
        v = drawn[column].to_numpy()
        text = [f"molecule {m}<br>{column} {x:.3g}" for m, x in zip(drawn["molecule"], v)]
        marker = {"size": _sizes(v, lo, hi) / 4 + 1.5, "color": v, "coloraxis": "coloraxis"}
        if column == "predicted":
            marker["symbol"] = "diamond"
        fig.add_trace(
            go.Scatter3d(
                x=xyz[0],
                y=xyz[1],
                z=xyz[2],
                mode="markers",
                marker=marker,
                text=text,
                hoverinfo="text",
                name=caption,
                visible=True if column == "observed" else "legendonly",
            )
        )
    axes = {f"{a}axis_title": f"cycle {i + 1} block" for i, a in enumerate("xyz")}
    fig.update_layout(
        title=title,
        scene=axes,
        margin={"l": 0, "r": 0, "t": 40, "b": 0},
        height=600,
        showlegend=True,
        coloraxis={"colorscale": "Viridis", "cmin": lo, "cmax": hi, "colorbar": {"title": label}},
        legend={"orientation": "h", "y": -0.02},
    )
    return fig


def heatmap_png(di: pd.DataFrame, value: str, title: str, path: Path, where) -> Path:
    """A target's disynthons, one panel per pair of cycles (``di``'s ``cycles``, e.g. ``1+2``):
    blocks of the first cycle × the second (positions), coloured by log10 of ``value`` on one scale;
    pairs without compounds blank."""
    grids = {}
    for cycles, pairs in di.groupby("cycles"):
        a, b = (int(x) - 1 for x in cycles.split("+"))
        grid = np.full((len(where[a]), len(where[b])), np.nan)
        rows, cols = pairs[f"bb_{a + 1}"].map(where[a]).to_numpy(), pairs[f"bb_{b + 1}"].map(where[b]).to_numpy()
        v = pairs[value].to_numpy(np.float64)
        grid[rows, cols] = v if value == "hit_rate" else np.log10(np.maximum(v, 1e-6))
        grids[(a, b)] = grid
    finite = [g[np.isfinite(g)] for g in grids.values()]
    values = np.concatenate(finite) if finite else np.zeros(1)
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    n_cols = min(3, len(grids))
    n_rows = -(-len(grids) // n_cols)
    width, height = 4.2 * n_cols + 0.8, 3.6 * n_rows
    fig, axes = subplots(n_rows, n_cols, figsize=(width, height), squeeze=False)
    # margins in inches, laid out by hand: a constrained layout measures every tick label of every
    # panel, twice the drawing's own time on a four-cycle table
    bottom, top = 0.55 / height, 1 - 0.65 / height
    fig.subplots_adjust(left=0.75 / width, right=1 - 1.15 / width, bottom=bottom, top=top, wspace=0.3, hspace=0.5)
    for ax, ((a, b), grid) in zip(axes.flat, grids.items()):
        art = ax.imshow(grid, aspect="auto", cmap="magma", interpolation="nearest", vmin=lo, vmax=hi)
        ax.set_xlabel(f"cycle {b + 1} block")
        ax.set_ylabel(f"cycle {a + 1} block")
        ax.set_title(f"cycles {a + 1}+{b + 1}", fontsize=9)
    for ax in list(axes.flat)[len(grids) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    scale = fig.add_axes((1 - 0.95 / width, bottom, 0.15 / width, top - bottom))
    fig.colorbar(art, cax=scale, label=f"log10 {value}" if value != "hit_rate" else value)
    return save(fig, path, tight=False)


def structures_png(smiles: list[str], legends: list[str], path: Path, per_row: int = 5, most: int = 20) -> Path:
    """The first ``most`` structures RDKit parses, each with its legend (the others are left out)."""
    drawn = [(m, legend) for m, legend in zip(molecules.parse(smiles), legends) if m is not None][:most]
    if not drawn:  # RDKit draws no empty grid
        fig, ax = subplots(figsize=(5.2, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, f"RDKit parses none of these {len(smiles)} structures", ha="center", va="center")
        return save(fig, path)
    image = Draw.MolsToGridImage(
        [m for m, _ in drawn], molsPerRow=per_row, subImgSize=(260, 220), legends=[legend for _, legend in drawn]
    )
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return Path(path)


def reliability_png(points: pd.DataFrame, title: str, path: Path) -> Path:
    fig, ax = subplots(figsize=(4.8, 4.4))
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="calibrated")
    for stage, line in points.groupby("stage", sort=False):
        ax.plot(line["predicted"], line["observed"], marker="o", label=stage)
        for x, y, n in zip(line["predicted"], line["observed"], line["compounds"]):  # a bin of 3 is not a rate
            ax.annotate(f"{n:,}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=6, color="0.35")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed rate of hits")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return save(fig, path)


def coverage_png(table: pd.DataFrame, path: Path) -> Path:
    """Coverage of the conformal intervals per target and cell against the confidence asked for."""
    fig, ax = subplots(figsize=(6.0, 3.8))
    labels = [f"{t}\n{c}" for t, c in zip(table["target"], table["cell"])]
    ax.bar(range(len(table)), table["coverage"], color="tab:blue")
    ax.axhline(float(table["confidence"].iloc[0]), color="tab:red", lw=1, ls="--", label="asked for")
    ax.set_xticks(range(len(table)), labels, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("coverage (held-out half)")
    ax.legend(fontsize=8, loc="lower right")
    return save(fig, path)


def inline_png(path: Path) -> str:
    """A PNG as an ``<img>`` the page carries (no file beside it needed)."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{Path(path).stem}" src="data:image/png;base64,{data}">'


def figure_html(fig: go.Figure, with_script: bool) -> str:
    """A plotly figure as a ``<div>``; ``with_script`` writes plotly's JavaScript into the page."""
    return fig.to_html(full_html=False, include_plotlyjs=with_script)
