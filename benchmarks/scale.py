"""Survey-scale prediction benchmark: end-to-end rate and peak memory of the engines.

Builds a synthetic catalogue by resampling the shipped Buzzard galaxies with fresh LSST
noise (``--rows``, default 10⁶; written as a parquet dataset of 10 files with 100k-row
row groups, generated chunk by chunk), trains ``nn-fast`` on 20k Buzzard galaxies, and
measures, each configuration in its own subprocess (so its peak RSS is its own):

- ``local``  the streaming engine, compact PDFs (``quantiles:32``) and full float32 PDFs;
- ``dask``   the same on a 2-worker LocalCluster of threads (the default), and
             ``dask-processes`` on one of 2 worker processes (rate only: memory is spread
             over processes);
- ``sklearn_rf``  baseline: pandas reads every file, ``RandomForestRegressor`` point
             predictions (no PDFs), written with pandas;
- ``rail_knn``, ``rail_flexzboost``  where RAIL's environment exists
             (``benchmarks/setup_rail_env.sh``): RAIL's own estimate stage (read, PDFs, write
             its qp file) on the first ``--rail-rows`` rows as one HDF5 file.

Then, in the same run: a local run SIGKILLed at a random moment and resumed must give
byte-identical output parts (``kill_resume``), and the compact encodings' fidelity
(CRPS and stacked n(z) mean shifts against the full grid, on 20k galaxies with truth).

    .venv/bin/python benchmarks/scale.py [--rows 1000000] [--also-rows 10000000]

Results: ``benchmarks/results/scale.json``. Rates are galaxies per second, median of
``--repeats`` runs, two ways: ``gal_per_s`` over the whole process after interpreter start
(imports, model load, cluster start-up included) and ``gal_per_s_run`` over the
prediction call alone (read → features → PDF → write), the rate a 10⁹-row run converges to.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RAIL_PY = Path(os.environ.get("RAIL_VENV", HERE / ".rail-venv")) / "bin" / "python"
BANDS = "ugrizy"


def make_catalogue(out: Path, rows: int, seed: int = 0, files: int = 10,
                   max_true_i: float | None = None) -> None:
    """Resample Buzzard galaxies with fresh photometric noise, chunk by chunk (only those
    with true i < ``max_true_i`` when given)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from photerr import LsstErrorModel

    from cosmoml.datasets import load_buzzard

    truth = load_buzzard(noise=False)
    if max_true_i is not None:
        truth = truth[truth["i"] < max_true_i].reset_index(drop=True)
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
    """Run one configuration; print its wall times and peak RSS as JSON."""
    t0 = time.perf_counter()
    if kind in ("local", "dask", "dask-processes"):
        from cosmoml.engine import run_predict

        t1 = time.perf_counter()
        res = run_predict(model, data, out, engine=kind.split("-")[0], workers=2,
                          pdf_encoding=encoding, part_rows=100_000,
                          dask_processes=kind == "dask-processes")
        rows = res["output_rows"]
    else:
        import joblib
        import pandas as pd

        rf = joblib.load(model)
        t1 = time.perf_counter()
        rows = 0
        for k, f in enumerate(sorted(Path(data).glob("*.parquet"))):
            df = pd.read_parquet(f)
            X = df[list(BANDS)].to_numpy()
            pd.DataFrame({"id": df["id"], "z": rf.predict(X)}).to_parquet(
                Path(out) / f"part-{k:03d}.parquet")
            rows += len(df)
    t2 = time.perf_counter()
    peak = peak_rss_mib()
    print(json.dumps({"rows": rows, "seconds": t2 - t0, "seconds_run": t2 - t1,
                      "peak_mib": peak}))


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB: Linux's VmHWM, the high-water mark of
    this program's own pages. Not ``ru_maxrss``: a child started by fork/vfork + exec
    inherits its parent's peak there (a parent that had used 2 GiB makes every child's
    ``ru_maxrss`` at least 2 GiB)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def write_results(path: str | Path, doc: dict) -> None:
    """``doc`` as JSON to ``path`` (its folder made), atomically: never a half-written
    results file."""
    from cosmoml.catalog.io import atomic_path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(doc, indent=1))
    print(f"wrote {path}")


def run_child(*args: str, script: str = __file__) -> dict:
    """Run ``script --child ARGS`` in a fresh interpreter (its peak RSS is its own) and
    return the JSON it prints last; its stderr in the error if it fails."""
    r = subprocess.run([sys.executable, script, "--child", *args], capture_output=True,
                       text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def kill_and_resume(model: Path, data: Path, ref: Path, work: Path, seconds: float,
                    seed: int | None = None) -> dict:
    """SIGKILL a local run at a random moment, rerun it, compare with ``ref`` bytewise."""
    import signal

    rng = np.random.default_rng(seed)
    out = work / "killed"
    out.mkdir()
    args = ["local", str(model), str(data), str(out), "quantiles:32"]
    proc = subprocess.Popen([sys.executable, __file__, "--child", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    delay = float(rng.uniform(0.5, 0.9) * seconds)  # after start-up, before the end
    time.sleep(delay)
    killed = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    parts_before = len(list(out.glob("part-*.parquet")))
    run_child(*args)
    names = sorted(f.name for f in ref.glob("part-*.parquet"))
    same = names == sorted(f.name for f in out.glob("part-*.parquet")) and all(
        (ref / n).read_bytes() == (out / n).read_bytes() for n in names)
    manifest = json.loads((out / "manifest.json").read_text())
    return {"killed_after_s": delay, "killed_mid_run": killed,
            "parts_done_at_kill": parts_before, "parts": len(names),
            "resumed_parts": sum(bool(p.get("resumed")) for p in manifest["parts"]),
            "byte_identical": bool(same), "rows": manifest["output_rows"]}


def encoding_fidelity(model: Path) -> list[dict]:
    """CRPS and stacked n(z) mean shifts of each compact encoding on 20k Buzzard galaxies."""
    from cosmoml.datasets import load_buzzard
    from cosmoml.model import PhotoZModel
    from cosmoml.pdf_codec import fidelity

    m = PhotoZModel.load(model)
    test = load_buzzard(20_000, seed=7)
    pdfs, ok = m.predict_pdf(test, "buzzard")
    z = test["redshift"].to_numpy()[ok]
    return [fidelity(pdfs[ok], z, enc)
            for enc in ("float16", "quantiles:16", "quantiles:32", "quantiles:64")]


def bench_rail(data: Path, rows: int, work: Path) -> list[dict]:
    """RAIL's KNearNeigh and FlexZBoost estimate stages on ``rows`` rows (one HDF5 file in
    RAIL's ``photometry`` layout), where RAIL's environment exists."""
    import h5py
    import pyarrow.dataset as ds

    if not RAIL_PY.exists():
        print(f"RAIL environment not found at {RAIL_PY}: no RAIL rows")
        return []
    table = ds.dataset(data).head(rows).to_pandas()
    path = work / "rail_input.hdf5"
    with h5py.File(path, "w") as f:
        g = f.create_group("photometry")
        g["id"] = table["id"].to_numpy()
        g["redshift"] = table["redshift"].to_numpy()
        for b in BANDS:
            g[f"mag_{b}_lsst"] = table[b].to_numpy()
            g[f"mag_err_{b}_lsst"] = table[f"{b}_err"].to_numpy()
    out = work / "rail.json"
    r = subprocess.run([str(RAIL_PY), str(HERE / "_rail_runner.py"), "--scale", str(path),
                        str(out)], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        print("RAIL failed:", r.stderr[-1500:])
        return []
    res = json.loads(out.read_text())
    return [{"rows": v["rows"], "engine": k, "pdf_encoding": "qp interp (RAIL)",
             "seconds": v["t_pred"], "seconds_run": v["t_pred"], "gal_per_s": v["rows"] /
             v["t_pred"], "gal_per_s_run": v["rows"] / v["t_pred"], "peak_mib": None,
             "note": "RAIL estimate stage alone (its process start, imports and training "
                     "not counted)"} for k, v in res.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--also-rows", type=int, default=None, help="a second, larger size")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--rail-rows", type=int, default=100_000,
                    help="rows for the RAIL rows (0: none)")
    ap.add_argument("--output", default=str(HERE / "results" / "scale.json"))
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    import joblib
    from sklearn.ensemble import RandomForestRegressor

    from cosmoml.catalog.columns import ColumnMap
    from cosmoml.catalog.io import atomic_path
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
                   ("dask-processes", "quantiles:32"), ("sklearn_rf", "-")]
        for kind, enc in configs:
            if rows > 2_000_000 and enc != "quantiles:32":
                continue  # the large size: memory of the local engine, Dask's amortised rate
            runs = []
            for k in range(args.repeats):
                out = tmp / f"out_{rows}_{kind}_{enc.replace(':', '')}_{k}"
                out.mkdir()
                model = tmp / ("rf.joblib" if kind == "sklearn_rf" else "m.cosmoml")
                runs.append(run_child(kind, str(model), str(data), str(out), enc))
            sec = float(np.median([r["seconds"] for r in runs]))
            sec_run = float(np.median([r["seconds_run"] for r in runs]))
            row = {"rows": rows, "engine": kind, "pdf_encoding": enc, "seconds": sec,
                   "seconds_run": sec_run, "gal_per_s": rows / sec,
                   "gal_per_s_run": rows / sec_run,
                   "peak_mib": max(r["peak_mib"] for r in runs)}
            results.append(row)
            print(f"{rows:>11,} {kind:11s} {enc:13s} {row['gal_per_s']:>10,.0f} gal/s "
                  f"({row['gal_per_s_run']:>9,.0f} in the run) peak {row['peak_mib']:7.0f} MiB",
                  flush=True)
        if rows == args.rows:
            ref_run = next(r for r in results if r["rows"] == rows
                           and (r["engine"], r["pdf_encoding"]) == ("local", "quantiles:32"))
            kill = kill_and_resume(tmp / "m.cosmoml", data,
                                   tmp / f"out_{rows}_local_quantiles32_0", tmp,
                                   ref_run["seconds"])
            print("kill and resume:", json.dumps(kill), flush=True)
            if args.rail_rows:
                rail = bench_rail(data, args.rail_rows, tmp)
                for row in rail:
                    print(f"{row['rows']:>11,} {row['engine']:15s} {row['gal_per_s']:>10,.0f} "
                          "gal/s (estimate stage)", flush=True)
                results += rail
    base = {(r["rows"], r["engine"], r["pdf_encoding"]): r for r in results}
    summary = {}
    r1 = base.get((args.rows, "local", "quantiles:32"))
    rd = base.get((args.rows, "dask", "quantiles:32"))
    if r1 and rd:
        summary["dask_rate_ratio"] = rd["gal_per_s"] / r1["gal_per_s"]
        summary["dask_rate_ratio_run"] = rd["gal_per_s_run"] / r1["gal_per_s_run"]
    rp = base.get((args.rows, "dask-processes", "quantiles:32"))
    if r1 and rp:
        summary["dask_processes_rate_ratio"] = rp["gal_per_s"] / r1["gal_per_s"]
    if args.also_rows and (args.also_rows, "local", "quantiles:32") in base:
        big = base[(args.also_rows, "local", "quantiles:32")]
        summary["memory_ratio_large_vs_small"] = big["peak_mib"] / r1["peak_mib"]
        for kind in ("dask", "dask-processes"):
            big_dask = base.get((args.also_rows, kind, "quantiles:32"))
            if big_dask:
                key = "dask" if kind == "dask" else "dask_processes"
                summary[f"{key}_rate_ratio_large"] = big_dask["gal_per_s"] / big["gal_per_s"]
    summary["kill_resume"] = kill
    fid = encoding_fidelity(tmp / "m.cosmoml")
    for f in fid:
        print(f"{f['encoding']:13s} {f['bytes_per_galaxy']:5d} B  CRPS {f['crps_rel_change']:+.2%}"
              f"  max bin <z> shift {f['max_nz_mean_shift']:.5f}")
    summary["encoding_fidelity"] = fid
    print(json.dumps(summary))
    out = Path(args.output)
    doc = {"benchmark": "scale", "machine": platform.platform(), "results": results,
           "summary": summary}
    with atomic_path(out) as tmp_json:  # never a half-written results file
        tmp_json.write_text(json.dumps(doc, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
