"""Survey-scale prediction benchmark: end-to-end rate and peak memory of the engines.

Builds a synthetic catalogue by resampling the shipped Buzzard galaxies with fresh LSST
noise (``--rows``, default 10⁶; written as a parquet dataset of 10 files with 100k-row
row groups, generated chunk by chunk), trains ``nn-fast`` on 20k Buzzard galaxies, and
measures, each configuration in its own subprocess (so its peak RSS is its own):

- ``local``  the streaming engine, compact PDFs (``quantiles:32``) and full float32 PDFs;
- ``dask``   the same on a 2-worker LocalCluster (rate only: memory is spread over
             processes);
- ``sklearn_rf``  baseline: pandas reads every file, ``RandomForestRegressor`` point
             predictions (no PDFs), written with pandas.

    .venv/bin/python benchmarks/scale.py [--rows 1000000] [--also-rows 10000000]

Results: ``benchmarks/results/scale.json``; rates are galaxies per second end to end
(read → features → PDF → write), median of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BANDS = "ugrizy"


def make_catalogue(out: Path, rows: int, seed: int = 0, files: int = 10) -> None:
    """Resample Buzzard galaxies with fresh photometric noise, chunk by chunk."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from photerr import LsstErrorModel

    from cosmoml.datasets import load_buzzard

    truth = load_buzzard(noise=False)
    model = LsstErrorModel(nYrObs=10.0, ndFlag=99.0, sigLim=1.0)
    out.mkdir(parents=True, exist_ok=True)
    per_file = -(-rows // files)
    start = 0
    for f in range(files):
        n_file = min(per_file, rows - start)
        if n_file <= 0:
            break
        with pq.ParquetWriter(out / f"cat_{f:03d}.parquet", _schema()) as writer:
            for s in range(0, n_file, 100_000):
                n = min(100_000, n_file - s)
                rng = np.random.default_rng([seed, f, s])
                pick = truth.iloc[rng.integers(0, len(truth), n)].reset_index(drop=True)
                noisy = model(pick[["redshift", *BANDS]].astype(float), random_state=rng)
                noisy.insert(0, "id", np.arange(start + s, start + s + n, dtype=np.int64))
                writer.write_table(pa.Table.from_pandas(noisy, schema=_schema(),
                                                        preserve_index=False))
        start += n_file


def _schema():
    import pyarrow as pa

    cols = [("id", pa.int64()), ("redshift", pa.float64())]
    for b in BANDS:
        cols += [(b, pa.float64()), (f"{b}_err", pa.float64())]
    return pa.schema(cols)


def child(kind: str, model: str, data: str, out: str, encoding: str) -> None:
    """Run one configuration; print its wall time and peak RSS as JSON."""
    t0 = time.perf_counter()
    if kind in ("local", "dask"):
        from cosmoml.engine import run_predict

        res = run_predict(model, data, out, engine=kind, workers=2, pdf_encoding=encoding,
                          part_rows=100_000)
        rows = res["output_rows"]
    else:
        import joblib
        import pandas as pd

        rf = joblib.load(model)
        rows = 0
        for k, f in enumerate(sorted(Path(data).glob("*.parquet"))):
            df = pd.read_parquet(f)
            X = df[list(BANDS)].to_numpy()
            pd.DataFrame({"id": df["id"], "z": rf.predict(X)}).to_parquet(
                Path(out) / f"part-{k:03d}.parquet")
            rows += len(df)
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux: KiB)
    print(json.dumps({"rows": rows, "seconds": dt, "peak_mib": peak}))


def run_child(*args: str) -> dict:
    r = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                       text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--also-rows", type=int, default=None, help="a second, larger size")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--output", default=str(HERE / "results" / "scale.json"))
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    import joblib
    from sklearn.ensemble import RandomForestRegressor

    from cosmoml.catalog.columns import ColumnMap
    from cosmoml.datasets import load_buzzard
    from cosmoml.model import PhotoZModel

    tmp = Path(tempfile.mkdtemp(prefix="cosmoml_scale_"))
    train = load_buzzard(20_000, seed=99)
    cols = ColumnMap(list(BANDS), "{band}", "{band}_err", "redshift", "id")
    PhotoZModel("nn-fast").fit(train, cols).save(tmp / "m.cosmoml")
    rf = RandomForestRegressor(n_estimators=50, min_samples_leaf=5, n_jobs=2,
                               random_state=0).fit(train[list(BANDS)], train["redshift"])
    joblib.dump(rf, tmp / "rf.joblib")
    rows_list = [args.rows] + ([args.also_rows] if args.also_rows else [])
    results = []
    for rows in rows_list:
        data = tmp / f"data_{rows}"
        t0 = time.perf_counter()
        make_catalogue(data, rows)
        print(f"built {rows:,} rows in {time.perf_counter() - t0:.0f} s", flush=True)
        configs = [("local", "quantiles:32"), ("local", "float32"), ("dask", "quantiles:32"),
                   ("sklearn_rf", "-")]
        for kind, enc in configs:
            if rows > 2_000_000 and (kind, enc) != ("local", "quantiles:32"):
                continue  # the large size is for the memory check of the local engine
            runs = []
            for k in range(args.repeats):
                out = tmp / f"out_{rows}_{kind}_{enc.replace(':', '')}_{k}"
                out.mkdir()
                model = tmp / ("rf.joblib" if kind == "sklearn_rf" else "m.cosmoml")
                runs.append(run_child(kind, str(model), str(data), str(out), enc))
            sec = float(np.median([r["seconds"] for r in runs]))
            row = {"rows": rows, "engine": kind, "pdf_encoding": enc, "seconds": sec,
                   "gal_per_s": rows / sec, "peak_mib": max(r["peak_mib"] for r in runs)}
            results.append(row)
            print(f"{rows:>11,} {kind:11s} {enc:13s} {row['gal_per_s']:>10,.0f} gal/s "
                  f"peak {row['peak_mib']:7.0f} MiB", flush=True)
    base = {(r["rows"], r["engine"], r["pdf_encoding"]): r for r in results}
    summary = {}
    r1 = base.get((args.rows, "local", "quantiles:32"))
    rd = base.get((args.rows, "dask", "quantiles:32"))
    if r1 and rd:
        summary["dask_rate_ratio"] = rd["gal_per_s"] / r1["gal_per_s"]
    if args.also_rows and (args.also_rows, "local", "quantiles:32") in base:
        big = base[(args.also_rows, "local", "quantiles:32")]
        summary["memory_ratio_large_vs_small"] = big["peak_mib"] / r1["peak_mib"]
    print(json.dumps(summary))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": "scale", "machine": platform.platform(), "results": results,
           "summary": summary}
    tmp_out = out.with_name("." + out.name + ".tmp")
    tmp_out.write_text(json.dumps(doc, indent=1))
    tmp_out.replace(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
