"""How `cosmoml nz` scales with the science catalogue: wall time and peak memory.

`cosmoml nz` holds a science catalogue of up to ``--sample-rows`` (default 2 million)
rows in memory: its diagnostics and correction see all of it, and its PDFs are predicted
in blocks (``cosmoml.nz.science.SCIENCE_BLOCK`` rows) and summarised, never all held. A
larger catalogue is read and predicted part by part, with the diagnostics and correction
from a random sample of ``--sample-rows`` rows, and the per-object results written as
they come (:class:`cosmoml.nz.science.ScienceFiles`): its memory should not grow with the
catalogue. This measures both.

``--method`` is passed on (default ``auto``; e.g. ``som`` to measure SOM calibration,
which counts the science objects per cell part by part). Training set: 8,700 Buzzard
galaxies with i < 24 (the size of ``random`` in ``benchmarks/shift.py``). Science
catalogues: Buzzard galaxies with true i < 24.5 resampled with fresh LSST 10-year noise
(``scale.make_catalogue``), cut at observed i < 24, one parquet file per size. Each size
runs `cosmoml nz TRAIN SCIENCE --output DIR --method METHOD` (estimator ``nn``) in its own
subprocess, so its peak RSS is its own. The table gives the rows, whether they were held
in memory, the method, the wall time and peak memory; and for each mode the memory per
10⁶ science objects from its two largest sizes.

    .venv/bin/python benchmarks/nz_scale.py [--rows 100000,1000000,3000000,10000000]
        [--method auto] [--sample-rows N] [--output FILE]

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

from scale import make_catalogue, peak_rss_mib, run_child  # benchmarks/ is on sys.path

HERE = Path(__file__).resolve().parent


def child(train: str, science: str, out: str, sample_rows: str, method: str) -> None:
    """Run `cosmoml nz --method METHOD` in this process; print its wall time and peak RSS as
    JSON (exit with its status if it failed)."""
    from cosmoml.cli import main

    t0 = time.perf_counter()
    sys.argv = ["cosmoml", "nz", train, science, "--output", out, "--quiet",
                "--z-column", "redshift", "--method", method]
    if sample_rows != "default":
        sys.argv += ["--sample-rows", sample_rows]
    try:
        main()
        status = 0
    except SystemExit as exc:
        status = exc.code or 0
    seconds = time.perf_counter() - t0
    peak = peak_rss_mib()
    print(json.dumps({"status": status, "seconds": seconds, "peak_mib": peak}))
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
            method: str = "auto") -> list[dict]:
    """Run `cosmoml nz` on each science size in its own subprocess."""
    train.to_parquet(work / "spec.parquet")
    rows = []
    for n in sizes:
        sci, n_sci = science_file(work, n)
        res = run_child(str(work / "spec.parquet"), str(sci), str(work / f"nz_{n}"),
                        sample_rows, method, script=__file__)
        diag = json.loads((work / f"nz_{n}" / "diagnostics.json").read_text())
        in_memory = int(diag["sample_rows"]) >= int(diag["science_rows"])
        rows.append({"science_rows": n_sci, "train_rows": len(train),
                     "sample_rows": int(diag["sample_rows"]), "in_memory": in_memory,
                     "method": diag.get("method"), **res})
        sci.unlink()
        print(f"{n_sci:>10,} science rows ({'in memory' if in_memory else 'part by part'}): "
              f"{res['seconds']:6.0f} s, {res['peak_mib']:7,.0f} MiB", flush=True)
    return rows


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
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    import pandas as pd

    from cosmoml import __version__
    from cosmoml.catalog.io import atomic_path
    from cosmoml.datasets import load_buzzard

    sizes = sorted(int(float(s)) for s in args.rows.split(","))
    pool = load_buzzard(100_000, seed=5)
    train = pool[pool["i"] < 24].iloc[:8_700].reset_index(drop=True)
    with tempfile.TemporaryDirectory(prefix="cosmoml_nz_scale_") as tmp:
        rows = measure(Path(tmp), train, sizes, args.sample_rows, args.method)
    slopes = {mode: slope([r for r in rows if r["in_memory"] == (mode == "in_memory")])
              for mode in ("in_memory", "part_by_part")}
    print("\n| science rows | read | method | seconds | peak MiB |\n"
          "| --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['science_rows']:,} | {'in memory' if r['in_memory'] else 'part by part'} "
              f"| {r['method']} | {r['seconds']:.0f} | {r['peak_mib']:,.0f} |")
    for mode, s in slopes.items():
        if s is not None:
            print(f"\n{mode.replace('_', ' ')}: peak memory grows by {s:,.0f} MiB per 10⁶ "
                  "science objects")
    out = {"benchmark": "nz_scale", "cosmoml_version": __version__, "method": args.method,
           "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
           "rows": rows, "mib_per_million": slopes,
           "date": pd.Timestamp.now(tz="UTC").isoformat()}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.output) as tmp:
        Path(tmp).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
