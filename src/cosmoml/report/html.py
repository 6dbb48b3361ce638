"""A small self-contained HTML report (plots embedded as PNG)."""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cosmoml.catalog.io import atomic_path

_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:right}th{background:#f3f3f3}img{max-width:100%}.grid{display:flex;flex-wrap:wrap;gap:1em}
.note{color:#555;font-size:90%}"""


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return base64.b64encode(buf.getvalue()).decode()


def _table(rows: dict | pd.DataFrame, fmt: str = "{:.4g}") -> str:
    df = pd.DataFrame([rows]) if isinstance(rows, dict) else rows
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = ""
    for _, r in df.iterrows():
        cells = "".join(
            "<td>"
            + (fmt.format(v) if isinstance(v, float | np.floating) else html.escape(str(v)))
            + "</td>"
            for v in r
        )
        body += f"<tr>{cells}</tr>"
    return f"<table><tr>{head}</tr>{body}</table>"


def photoz_report(
    path: str | os.PathLike,
    title: str,
    metrics: dict,
    figures: dict[str, Figure],
    nz_table: pd.DataFrame | None = None,
    notes: list[str] | None = None,
    tables: dict[str, pd.DataFrame] | None = None,
) -> Path:
    """Write the report: metrics table, tomographic table, further named tables, figures,
    notes."""
    scalars = {
        k: v for k, v in metrics.items() if isinstance(v, int | float | str) and k != "pit_hist"
    }
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style><h1>{html.escape(title)}</h1>",
    ]
    for note in notes or []:
        parts.append(f"<p class='note'>{html.escape(note)}</p>")
    metric_rows = pd.DataFrame({"metric": list(scalars), "value": list(scalars.values())})
    parts.append("<h2>Metrics</h2>" + _table(metric_rows))
    if nz_table is not None:
        parts.append("<h2>Tomographic bins</h2>" + _table(nz_table))
    for name, df in (tables or {}).items():
        parts.append(f"<h2>{html.escape(name)}</h2>" + _table(df))
    parts.append("<h2>Plots</h2><div class='grid'>")
    for name, fig in figures.items():
        parts.append(
            f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{_png(fig)}'>"
            f"<figcaption>{html.escape(name)}</figcaption></figure>"
        )
    parts.append("</div>")
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(parts), encoding="utf-8")
    return path
