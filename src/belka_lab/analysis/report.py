"""``report.html``: one page a chemist opens from the file system — the summary, the cubes to turn,
the top synthons, the hit list with its structures, and how far its uncertainty can be trusted.

Everything is inside the file: plotly's JavaScript once, the pictures as inline PNGs, the tables
as HTML. It is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from belka_lab.analysis import figures
from belka_lab.core.io import atomic_path

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1180px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.82em; margin: 0.5em 0 1em; }
td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; } .note { color: #555; font-size: 0.9em; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; } .grid figure { margin: 0; width: 48%; }
"""

SHOWN = 15  # rows of each table on the page (the files hold them all)


def _table(frame: pd.DataFrame, columns: list[str] | None = None, rows: int = SHOWN) -> str:
    shown = frame[[c for c in (columns or frame.columns) if c in frame]].head(rows)
    return shown.to_html(index=False, float_format=lambda v: f"{v:.3g}", border=0, escape=True)


def _summary(summary: dict) -> str:
    items = [
        ("library", summary["library"]),
        ("compounds", f"{summary['compounds']:,}"),
        ("cycles", summary["cycles"]),
        ("targets", ", ".join(summary["targets"])),
        ("values ranked", summary["values"]),
        ("runs", ", ".join(summary["runs"]) or "none: the observed values"),
    ]
    if "synthons_against" in summary:
        against = summary["synthons_against"]
        items.append(("synthons' reads against", ", ".join(f"{t}: {r}" for t, r in against.items())))
    if "said" in summary.get("unparsable", {}):
        items.append(("structures", summary["unparsable"]["said"]))
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in items)
    return f"<table>{rows}</table>"


def _synthons(table: pd.DataFrame, kind: str) -> str:
    value = "enrichment_lo" if "enrichment_lo" in table else "hit_rate_lo"
    columns = ["target", "cycles", "rank"]
    columns += [c for c in table.columns if c.startswith("block_")]
    columns += ["compounds", "reads_target", "reference", "reads_control", "reads_load", "expected_reads"]
    columns += ["enrichment", "enrichment_lo", "enrichment_hi"]
    columns += ["known", "positives", "hit_rate", "hit_rate_lo", "hit_rate_hi", "predicted"]
    parts = []
    for (target, cycles), rows in table.groupby(["target", "cycles"], sort=False):
        parts.append(f"<h3>{html.escape(target)}: {kind} of cycles {html.escape(cycles)}</h3>")
        parts.append(_table(rows.sort_values(value, ascending=False), columns, 10))
    return "".join(parts)


def _cube_note(summary: dict) -> str:
    """What the cubes draw: observed values for the library, the runs' predictions where they have one."""
    cube, runs = summary["cube"], summary["runs"]
    per = cube["targets"]
    whole = all(c["observed"] == c["library_observed"] for c in per.values())
    note = "Each point is a compound at its blocks' positions; size and colour follow its value. Observed values: "
    if whole:
        note += f"every compound of the library ({next(iter(per.values()))['library_observed']:,} with a value). "
    else:
        by = f"observed value, the top {cube['top']:,} by prediction" if runs else "observed value"
        note += (
            f"the top {cube['top']:,} by {by} and a random {cube['sample']:,} of the rest of the library, "
            f"per target (the page stays responsive on any library size). "
        )
    if runs:
        counts = "; ".join(
            f"{t}: {c['predicted']:,} drawn of {c['library_predicted']:,} predicted" for t, c in per.items()
        )
        note += (
            f"Model values: the runs' out-of-fold predictions, for the compounds they predicted only ({counts}), "
            f"on the observed values' colour scale; click 'model' in the legend to draw them (diamonds). "
        )
    return note + "Drag to turn, scroll to zoom."


def write(path: Path, summary: dict, mono, di, hits: pd.DataFrame, pictures: dict, checks: dict) -> Path:
    body = [f"<h1>Selection analysis: {html.escape(', '.join(summary['targets']))}</h1>", _summary(summary)]
    body.append("<h2>Cube: the three cycles' blocks</h2>")
    if pictures["cubes"]:
        body.append(f"<p class='note'>{html.escape(_cube_note(summary))}</p>")
        for k, (name, _png, fig) in enumerate(pictures["cubes"]):
            body.append(f"<div class='cube' id='cube-{html.escape(name)}'>{figures.figure_html(fig, k == 0)}</div>")
    else:
        body.append("<p class='note'>A cube needs three cycles; this library has fewer.</p>")
    body.append("<h2>Disynthons</h2><div class='grid'>")
    for title, png in pictures["heatmaps"]:
        body.append(f"<figure>{figures.inline_png(png)}<figcaption>{html.escape(title)}</figcaption></figure>")
    body.append("</div>")
    body.append("<h2>Top synthons</h2>")
    body.append(
        "<p class='note'>Ranked by the lower end of each value's interval; every row is in "
        "synthons_mono.csv and synthons_di.csv.</p>"
    )
    body.append(_synthons(mono, "monosynthons") + _synthons(di, "disynthons"))
    body.append(f"<h2>Hit list ({len(hits)} compounds)</h2>")
    body.append(figures.inline_png(path.parent / "hits.png"))
    hidden = {"smiles"}
    body.append(_table(hits, [c for c in hits.columns if c not in hidden], rows=len(hits)))
    if "coverage" in checks:
        body.append("<h2>Conformal intervals: coverage on held-out compounds</h2>")
        body.append(
            "<p class='note'>Fitted on a random half of the validation compounds (one width per cell), "
            "counted on the other half. spread_error_spearman: does the runs' spread rank the errors?</p>"
        )
        body.append(figures.inline_png(path.parent / "coverage.png"))
        body.append(_table(checks["coverage"], rows=100))
    if "calibration" in checks:
        body.append("<h2>Calibration of the probabilities</h2>")
        body.append(
            "<p class='note'>Isotonic regression fitted on a random half of the validation "
            "compounds; expected calibration error (10 bins) on the other half.</p>"
        )
        body.append(_table(checks["calibration"], rows=100) + "<div class='grid'>")
        for t, png in checks["reliability"]:
            body.append(f"<figure>{figures.inline_png(png)}<figcaption>{html.escape(t)}</figcaption></figure>")
        body.append("</div>")
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Selection analysis</title>"
        f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>"
    )
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
