"""DC2 photo-z benchmark: every cosmoml estimator vs RAIL and scikit-learn, same run.

Trains on the DC2 training file (10,225 galaxies), predicts the validation file (20,449)
and prints one table: sigma68, sigma_NMAD, bias, outlier fraction (|e| > 0.15), PIT KS,
CRPS, training seconds, prediction galaxies/second (PDFs included; median of
``--repeats`` timed predictions, default 5). The point estimate is the PDF median throughout.

RAIL (FlexZBoost, KNearNeigh) runs in its own virtualenv, made by
``benchmarks/setup_rail_env.sh``; without it those rows are reported as missing. RAIL
reads its own copy of the same DC2 files (the shipped parquet are the same rows, shuffled).

    .venv/bin/python benchmarks/photoz_dc2.py [--estimators nn,lgbm,...] [--no-rail]

Results: ``benchmarks/results/photoz_dc2.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestRegressor

from cosmoml import __version__
from cosmoml.catalog import resolve_columns
from cosmoml.datasets import load_dc2
from cosmoml.estimators import ESTIMATORS
from cosmoml.metrics import evaluate, point_metrics
from cosmoml.model import PhotoZModel
from cosmoml.pdf import PDFs, make_grid

HERE = Path(__file__).resolve().parent
RAIL_PY = Path(os.environ.get("RAIL_VENV", HERE / ".rail-venv")) / "bin" / "python"
COLUMNS = [
    "sigma68",
    "sigma_nmad",
    "bias",
    "outlier_frac",
    "pit_ks",
    "crps",
    "train_s",
    "gal_per_s",
]


def _row(name: str, metrics: dict, t_fit: float, rate: float) -> dict:
    return {
        "name": name,
        **{k: metrics.get(k, np.nan) for k in COLUMNS[:6]},
        "train_s": t_fit,
        "gal_per_s": rate,
        "outlier_pct": 100 * metrics.get("outlier_frac", np.nan),
    }


def bench_cosmoml(name: str, train, valid, repeats: int) -> dict:
    cols = resolve_columns(train.columns, "DC2 training", need_z=True)
    model = PhotoZModel(name)
    t0 = time.perf_counter()
    model.fit(train, cols)
    t_fit = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        pdfs, _ = model.predict_pdf(valid)
        pdfs.point_estimates()
        times.append(time.perf_counter() - t0)
    m = evaluate(pdfs, valid["redshift"].to_numpy())
    return _row(name, m, t_fit, len(valid) / float(np.median(times)))


def bench_sklearn_rf(train, valid, repeats: int) -> dict:
    cols = resolve_columns(train.columns, "DC2 training", need_z=True)
    X = train[cols.mag_columns].to_numpy()
    Xv = valid[cols.mag_columns].to_numpy()
    feats = lambda a: np.hstack([a, a[:, :-1] - a[:, 1:]])  # noqa: E731
    rf = RandomForestRegressor(n_estimators=100, n_jobs=-1, random_state=0)
    t0 = time.perf_counter()
    rf.fit(feats(X), train["redshift"].to_numpy())
    t_fit = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        zp = rf.predict(feats(Xv))
        times.append(time.perf_counter() - t0)
    m = point_metrics(zp, valid["redshift"].to_numpy())
    return _row("sklearn_rf (point only)", m, t_fit, len(valid) / float(np.median(times)))


def bench_rail(names: list[str]) -> list[dict]:
    if not RAIL_PY.exists():
        print(
            f"RAIL environment not found at {RAIL_PY}: run benchmarks/setup_rail_env.sh",
            file=sys.stderr,
        )
        return [{"name": n, "missing": "no RAIL environment"} for n in names]
    rows = []
    with tempfile.TemporaryDirectory() as wd:
        out = os.path.join(wd, "rail.npz")
        subprocess.run(
            [str(RAIL_PY), str(HERE / "_rail_runner.py"), out, *names],
            check=True,
            cwd=wd,
            stdout=subprocess.DEVNULL,
        )
        meta = json.loads(Path(out + ".json").read_text())
        with np.load(out) as npz:
            for n in names:
                pdfs = PDFs(make_grid(), npz[f"{n}/pdf"].astype(float))
                m = evaluate(pdfs, npz[f"{n}/z"])
                rows.append(_row(n, m, meta[n]["t_fit"], len(npz[f"{n}/z"]) / meta[n]["t_pred"]))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--estimators", default=",".join(ESTIMATORS))
    ap.add_argument(
        "--rail", default="rail_knn,rail_flexzboost", help="RAIL estimators ('' for none)"
    )
    ap.add_argument("--no-rail", action="store_true")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--output", default=str(HERE / "results" / "photoz_dc2.json"))
    args = ap.parse_args(argv)
    train, valid = load_dc2("training"), load_dc2("validation")
    rows = []
    for name in [s for s in args.estimators.split(",") if s]:
        rows.append(bench_cosmoml(name, train, valid, args.repeats))
        _print([rows[-1]], header=len(rows) == 1)
    rows.append(bench_sklearn_rf(train, valid, args.repeats))
    _print(rows[-1:], header=False)
    if not args.no_rail and args.rail:
        rows += bench_rail(args.rail.split(","))
        _print([r for r in rows if r["name"].startswith("rail")], header=False)
    ours = [r for r in rows if r["name"] in ESTIMATORS]
    summary = {}
    if ours:
        best = min(ours, key=lambda r: r["sigma68"])
        fastest = max(ours, key=lambda r: r["gal_per_s"])
        summary = {
            "best": best["name"],
            "fastest": fastest["name"],
            "max_train_s": max(r["train_s"] for r in ours),
        }
        fzb = next((r for r in rows if r["name"] == "rail_flexzboost" and "gal_per_s" in r), None)
        if fzb:
            summary["fastest_vs_flexzboost_rate"] = fastest["gal_per_s"] / fzb["gal_per_s"]
            summary["fastest_vs_flexzboost_rate_by_name"] = {
                r["name"]: r["gal_per_s"] / fzb["gal_per_s"] for r in ours
            }
    print("\nsummary:", json.dumps(summary, indent=1))
    result = {
        "benchmark": "photoz_dc2",
        "cosmoml_version": __version__,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "rows": rows,
        "summary": summary,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=1, default=float))
    print(f"wrote {args.output}")
    return 0


def _print(rows: list[dict], header: bool) -> None:
    if header:
        print(
            f"{'estimator':26s} {'σ68':>7s} {'σNMAD':>7s} {'bias':>8s} {'out%':>6s} {'PIT KS':>7s} "
            f"{'CRPS':>7s} {'train s':>8s} {'gal/s':>9s}"
        )
    for r in rows:
        if "missing" in r:
            print(f"{r['name']:26s} missing: {r['missing']}")
            continue
        print(
            f"{r['name']:26s} {r['sigma68']:7.4f} {r['sigma_nmad']:7.4f} {r['bias']:8.4f} "
            f"{r['outlier_pct']:6.2f} {r['pit_ks']:7.3f} {r['crps']:7.4f} {r['train_s']:8.1f} "
            f"{r['gal_per_s']:9.0f}",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
