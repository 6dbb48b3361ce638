"""How `cosmoml nz` scales with the science catalogue: wall time and peak memory.

`cosmoml nz` holds a science catalogue of up to ``--sample-rows`` (default 2 million)
rows in memory: its diagnostics and correction see all of it, and its PDFs are predicted
in blocks (``cosmoml.nz.science.SCIENCE_BLOCK`` rows) and summarised, never all held. A
larger catalogue is read and predicted part by part, with the diagnostics and correction
from a random sample of ``--sample-rows`` rows, and the per-object results written as
they come (:class:`cosmoml.nz.science.ScienceFiles`): its memory should not grow with the
catalogue. This measures both.

``--method`` is passed on (default ``auto``; e.g. ``som`` to measure SOM calibration,
which counts the science objects per cell part by part). ``--engines local,dask`` runs
each size with both engines on the same file (``dask``: a local cluster of ``--workers``
worker threads in the child process, so its peak RSS is all of it, or with
``--dask-processes`` worker processes, whose memory it leaves out); the table gives each
run's time over the local engine's at that size, and the science pass's alone (part by
part: reading, predicting, summing and writing every object, the Dask cluster's start
included; not the fit on the sample before it). The JSON records the GPU the `nn`
estimator used, if any (CUDA is used when present; hide it with
``CUDA_VISIBLE_DEVICES=``). Training set: 8,700 Buzzard
galaxies with i < 24 (the size of ``random`` in ``benchmarks/shift.py``). Science
catalogues: Buzzard galaxies with true i < 24.5 resampled with fresh LSST 10-year noise
(``scale.make_catalogue``), cut at observed i < 24, one parquet file per size. Each size
runs `cosmoml nz TRAIN SCIENCE --output DIR --method METHOD` (estimator ``nn``) in its own
subprocess, so its peak RSS is its own. The table gives the rows, whether they were held
in memory, the method, the wall time and peak memory; and for each mode the memory per
10⁶ science objects from its two largest sizes.

``--kill-resume``: on the largest size, a local run is also SIGKILLed at a random moment
of its science pass and run again, which must resume (its fit reused, the parts done not
predicted again) and write exactly the uninterrupted run's nz.parquet and
assignments.parquet; the rerun's time is given against the uninterrupted run's.

    .venv/bin/python benchmarks/nz_scale.py [--rows 100000,1000000,3000000,10000000]
        [--method auto] [--engines local] [--workers 2] [--dask-processes]
        [--sample-rows N] [--kill-resume] [--output FILE]

Results: ``benchmarks/results/nz_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from scale import (  # benchmarks/ is on sys.path
    make_catalogue,
    peak_rss_mib,
    run_child,
    write_results,
)

HERE = Path(__file__).resolve().parent


def child(train: str, science: str, out: str, sample_rows: str, method: str,
          engine: str, dask: str) -> None:
    """Run `cosmoml nz --method METHOD --engine ENGINE` in this process; print its wall time
    and peak RSS as JSON (exit with its status if it failed)."""
    from cosmoml.cli import main

    t0 = time.perf_counter()
    sys.argv = ["cosmoml", "nz", train, science, "--output", out, "--quiet",
                "--z-column", "redshift", "--method", method, "--engine", engine]
    workers, processes = dask.split(":")
    if engine == "dask":
        sys.argv += ["--workers", workers] + (["--dask-processes"] if processes == "1" else [])
    if sample_rows != "default":
        sys.argv += ["--sample-rows", sample_rows]
    import cosmoml.nz.pipeline as pipeline

    span: list[float] = []  # the science pass of a catalogue read part by part
    files_pass = pipeline._files_pass

    def timed(*a, **kw):
        span.append(time.perf_counter())
        out = files_pass(*a, **kw)
        span.append(time.perf_counter())
        return out

    pipeline._files_pass = timed
    try:
        main()
        status = 0
    except SystemExit as exc:
        status = exc.code or 0
    seconds = time.perf_counter() - t0
    peak = peak_rss_mib()
    # the science pass alone (part by part: reading, predicting, summing, writing the
    # assignments; with Dask its cluster's start too), without the fit before it
    pass_s = span[1] - span[0] if len(span) == 2 else None
    print(json.dumps({"status": status, "seconds": seconds, "peak_mib": peak,
                      "pass_seconds": pass_s}))
    if status:
        sys.exit(status)


def science_file(work: Path, rows: int) -> tuple[Path, int]:
    """One parquet file of ``rows`` science objects with observed i < 24 (written batch by
    batch: the catalogue is never all in memory; row groups of 100,000)."""
    import shutil

    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    tmp = work / f"raw_{rows}"
    make_catalogue(tmp, int(rows / 0.6), seed=rows, files=1, max_true_i=24.5)  # ~70% pass
    raw = pq.ParquetFile(tmp / "cat_000.parquet")
    path, n = work / f"science_{rows}.parquet", 0
    with pq.ParquetWriter(path, raw.schema_arrow) as writer:
        for batch in raw.iter_batches(100_000):
            kept = batch.filter(pc.less(batch.column("i"), 24.0)).slice(0, rows - n)
            writer.write_batch(kept, row_group_size=100_000)
            n += kept.num_rows
            if n >= rows:
                break
    shutil.rmtree(tmp)
    return path, n


def measure(work: Path, train, sizes: list[int], sample_rows: str = "default",
            method: str = "auto", engines: tuple[str, ...] = ("local",), workers: int = 2,
            dask_processes: bool = False, kill_resume: bool = False
            ) -> tuple[list[dict], dict | None]:
    """Run `cosmoml nz` on each science size with each engine, each run in its own
    subprocess (the engines one after the other on the same catalogue file); with
    ``kill_resume`` also :func:`kill_and_resume` on the largest size (None otherwise)."""
    import numpy as np
    import pandas as pd

    train.to_parquet(work / "spec.parquet")
    rows, resume = [], None
    for n in sizes:
        sci, n_sci = science_file(work, n)
        first = None
        for engine in engines:
            out = work / f"nz_{n}_{engine}"
            res = run_child(str(work / "spec.parquet"), str(sci), str(out), sample_rows,
                            method, engine, f"{workers}:{int(dask_processes)}",
                            script=__file__)
            diag = json.loads((out / "diagnostics.json").read_text())
            in_memory = int(diag["sample_rows"]) >= int(diag["science_rows"])
            mean_z = pd.read_parquet(out / "nz.parquet")["mean_z"].to_numpy()
            first = mean_z if first is None else first
            rows.append({"science_rows": n_sci, "train_rows": len(train),
                         "sample_rows": int(diag["sample_rows"]), "in_memory": in_memory,
                         "method": diag.get("method"), "engine": engine,
                         "workers": None if engine == "local" else workers,
                         "dask_processes": None if engine == "local" else dask_processes,
                         **res,
                         "mean_z": mean_z.tolist(),  # the same for every engine
                         "mean_z_diff_vs_first_engine": float(np.max(np.abs(mean_z - first)))})
            print(f"{n_sci:>10,} science rows ("
                  f"{'in memory' if in_memory else 'part by part'}, {engine}): "
                  f"{res['seconds']:6.0f} s, {res['peak_mib']:7,.0f} MiB, pass "
                  f"{res['pass_seconds'] or float('nan'):.1f} s", flush=True)
        if kill_resume and n == sizes[-1]:
            ref = next(r for r in rows if r["engine"] == "local" and r["science_rows"] == n_sci)
            resume = kill_and_resume(work, sci, work / f"nz_{n}_local", ref, sample_rows,
                                     method)
        sci.unlink()
    return rows, resume


def kill_and_resume(work: Path, sci: Path, ref: Path, ref_run: dict, sample_rows: str,
                    method: str, seed: int = 0) -> dict:
    """SIGKILL a local `cosmoml nz` run at a random moment of its science pass (between
    10% and 90% of the uninterrupted run's ``pass_seconds`` after its fit is saved), run it
    again, and compare its outputs with the uninterrupted run's in ``ref``."""
    import signal
    import subprocess

    import numpy as np
    import pyarrow.parquet as pq

    out = work / "nz_killed"
    state = out / "assignments.parquet.parts"
    args = [str(work / "spec.parquet"), str(sci), str(out), sample_rows, method, "local",
            "0:0"]
    proc = subprocess.Popen([sys.executable, __file__, "--child", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None and not (state / "fit.pkl").exists():
        time.sleep(0.05)
    delay = float(np.random.default_rng(seed).uniform(0.1, 0.9) * ref_run["pass_seconds"])
    time.sleep(delay)
    killed = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    parts_done = len(list(state.glob("*.sums")))
    res = run_child(*args, script=__file__)
    same = all(pq.read_table(out / name).equals(pq.read_table(ref / name))
               for name in ("nz.parquet", "assignments.parquet"))
    resumed = json.loads((out / "diagnostics.json").read_text()).get("resumed")
    return {"killed_in_pass_after_s": delay, "killed_mid_run": killed,
            "parts_done_at_kill": parts_done, "resumed": resumed,
            "rerun_seconds": res["seconds"], "rerun_pass_seconds": res["pass_seconds"],
            "uninterrupted_seconds": ref_run["seconds"],
            "uninterrupted_pass_seconds": ref_run["pass_seconds"],
            "rerun_vs_uninterrupted": res["seconds"] / ref_run["seconds"],
            "outputs_identical": bool(same)}


def _cuda_name() -> str | None:
    """The GPU torch sees (None: CPU only)."""
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def slope(rows: list[dict]) -> float | None:
    """Peak MiB per 10⁶ science rows between the two largest of ``rows``."""
    if len(rows) < 2:
        return None
    a, b = rows[-2], rows[-1]
    return (b["peak_mib"] - a["peak_mib"]) / (b["science_rows"] - a["science_rows"]) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default="100000,1000000,3000000,10000000",
                    help="comma-separated science sizes")
    ap.add_argument("--output", default=str(HERE / "results" / "nz_scale.json"))
    ap.add_argument("--sample-rows", default="default",
                    help="`cosmoml nz --sample-rows` (default: its own default)")
    ap.add_argument("--method", default="auto", help="`cosmoml nz --method` (default auto)")
    ap.add_argument("--engines", default="local",
                    help="comma-separated `cosmoml nz --engine` values, each run on every "
                         "size (default local; dask: a local cluster of 2 worker threads)")
    ap.add_argument("--workers", type=int, default=2, help="Dask workers (default 2)")
    ap.add_argument("--dask-processes", action="store_true",
                    help="Dask workers as processes (their memory is not in peak MiB)")
    ap.add_argument("--kill-resume", action="store_true",
                    help="on the largest size, SIGKILL a local run in its science pass and "
                         "resume it (needs the local engine)")
    ap.add_argument("--child", nargs=7, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    import pandas as pd

    from cosmoml import __version__
    from cosmoml.datasets import load_buzzard

    sizes = sorted(int(float(s)) for s in args.rows.split(","))
    pool = load_buzzard(100_000, seed=5)
    train = pool[pool["i"] < 24].iloc[:8_700].reset_index(drop=True)
    with tempfile.TemporaryDirectory(prefix="cosmoml_nz_scale_") as tmp:
        rows, resume = measure(Path(tmp), train, sizes, args.sample_rows, args.method,
                               tuple(args.engines.split(",")), args.workers,
                               args.dask_processes, args.kill_resume)
    local = [r for r in rows if r["engine"] == "local"]
    slopes = {mode: slope([r for r in local if r["in_memory"] == (mode == "in_memory")])
              for mode in ("in_memory", "part_by_part")}
    print("\n| science rows | read | method | engine | seconds | pass s | peak MiB "
          "| time / local | pass / local |\n| --- | --- | --- | --- | --- | --- | --- | --- "
          "| --- |")
    for r in rows:
        base = next((b for b in local if b["science_rows"] == r["science_rows"]), None)
        r["time_vs_local"] = None if base is None else r["seconds"] / base["seconds"]
        r["pass_vs_local"] = (None if base is None or not r["pass_seconds"]
                              or not base["pass_seconds"]
                              else r["pass_seconds"] / base["pass_seconds"])
        ratio = "" if base is None else f"{r['time_vs_local']:.2f}"
        pratio = "" if r["pass_vs_local"] is None else f"{r['pass_vs_local']:.2f}"
        print(f"| {r['science_rows']:,} | {'in memory' if r['in_memory'] else 'part by part'} "
              f"| {r['method']} | {r['engine']} | {r['seconds']:.0f} "
              f"| {r['pass_seconds'] or float('nan'):.1f} | {r['peak_mib']:,.0f} "
              f"| {ratio} | {pratio} |")
    for mode, s in slopes.items():
        if s is not None:
            print(f"\n{mode.replace('_', ' ')} (local): peak memory grows by {s:,.0f} MiB per 10⁶ "
                  "science objects")
    if resume is not None:
        print(f"\nkilled {resume['killed_in_pass_after_s']:.1f} s into the science pass "
              f"({resume['parts_done_at_kill']} parts done) and run again: resumed "
              f"{resume['resumed']}, {resume['rerun_seconds']:.0f} s against "
              f"{resume['uninterrupted_seconds']:.0f} s uninterrupted "
              f"({resume['rerun_vs_uninterrupted']:.2f}x); outputs identical: "
              f"{resume['outputs_identical']}")
    out = {"benchmark": "nz_scale", "cosmoml_version": __version__, "method": args.method,
           "engines": args.engines.split(","), "workers": args.workers,
           "dask_processes": args.dask_processes,
           "cuda": _cuda_name(),
           "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
           "rows": rows, "mib_per_million": slopes, "kill_resume": resume,
           "date": pd.Timestamp.now(tz="UTC").isoformat()}
    write_results(args.output, out)


if __name__ == "__main__":
    main()
