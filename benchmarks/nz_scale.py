"""How `cosmoml nz` scales with the science catalogue: wall time and peak memory.

`cosmoml predict` streams a catalogue part by part (``benchmarks/scale.py``: flat memory).
`cosmoml nz` reads the whole science catalogue, and its diagnostics and correction see all
of it; its PDFs are predicted in blocks (``cosmoml.nz.pipeline.SCIENCE_BLOCK`` rows) and
summarised, never all held. This measures what that costs.

Training set: 8,700 Buzzard galaxies with i < 24 (the size of ``random`` in
``benchmarks/shift.py``). Science catalogues: Buzzard galaxies with true i < 24.5
resampled with fresh LSST 10-year noise (``scale.make_catalogue``), cut at observed i <
24, one parquet file per size. Each size runs `cosmoml nz TRAIN SCIENCE --output DIR`
(defaults: ``--method auto``, estimator ``nn``) in its own subprocess, so its peak RSS is
its own. The table gives the rows, wall time, peak memory and the memory per 10⁶ science
objects from the two largest sizes.

    .venv/bin/python benchmarks/nz_scale.py [--rows 100000,300000,1000000]

Results: ``benchmarks/results/nz_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

from scale import make_catalogue, run_child  # benchmarks/ is on sys.path as a script

HERE = Path(__file__).resolve().parent


def child(train: str, science: str, out: str) -> None:
    """Run `cosmoml nz` in this process; print its wall time and peak RSS as JSON (exit with
    its status if it failed)."""
    from cosmoml.cli import main

    t0 = time.perf_counter()
    sys.argv = ["cosmoml", "nz", train, science, "--output", out, "--quiet",
                "--z-column", "redshift"]
    try:
        main()
        status = 0
    except SystemExit as exc:
        status = exc.code or 0
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux: KiB)
    print(json.dumps({"status": status, "seconds": seconds, "peak_mib": peak}))
    if status:
        sys.exit(status)


def science_file(work: Path, rows: int) -> tuple[Path, int]:
    """One parquet file of ``rows`` science objects with observed i < 24."""
    import pandas as pd


    tmp = work / f"raw_{rows}"
    make_catalogue(tmp, int(rows / 0.6), seed=rows, files=1, max_true_i=24.5)  # ~70% pass
    cat = pd.read_parquet(tmp / "cat_000.parquet")
    cat = cat[cat["i"] < 24].iloc[:rows].reset_index(drop=True)
    path = work / f"science_{rows}.parquet"
    cat.to_parquet(path)
    return path, len(cat)


def measure(work: Path, train, sizes: list[int]) -> list[dict]:
    """Run `cosmoml nz` on each science size in its own subprocess."""
    train.to_parquet(work / "spec.parquet")
    rows = []
    for n in sizes:
        sci, n_sci = science_file(work, n)
        res = run_child(str(work / "spec.parquet"), str(sci), str(work / f"nz_{n}"),
                        script=__file__)
        diag = json.loads((work / f"nz_{n}" / "diagnostics.json").read_text())
        rows.append({"science_rows": n_sci, "train_rows": len(train),
                     "method": diag.get("method"), **res})
        print(f"{n_sci:>10,} science rows: {res['seconds']:6.0f} s, "
              f"{res['peak_mib']:7,.0f} MiB", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default="100000,300000,1000000",
                    help="comma-separated science sizes")
    ap.add_argument("--output", default=str(HERE / "results" / "nz_scale.json"))
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
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
        rows = measure(Path(tmp), train, sizes)
    slope = None
    if len(rows) >= 2:
        a, b = rows[-2], rows[-1]
        slope = (b["peak_mib"] - a["peak_mib"]) / (b["science_rows"] - a["science_rows"]) * 1e6
    print("\n| science rows | method | seconds | peak MiB |\n| --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['science_rows']:,} | {r['method']} | {r['seconds']:.0f} | "
              f"{r['peak_mib']:,.0f} |")
    if slope is not None:
        print(f"\npeak memory grows by {slope:,.0f} MiB per 10⁶ science objects")
    out = {"benchmark": "nz_scale", "cosmoml_version": __version__,
           "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
           "rows": rows, "mib_per_million": slope,
           "date": pd.Timestamp.now(tz="UTC").isoformat()}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.output) as tmp:
        Path(tmp).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
