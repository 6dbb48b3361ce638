"""Reading a large FITS or CSV catalogue part by part: time and peak memory.

`cosmoml predict` and `cosmoml nz` read a catalogue larger than memory in parts. A FITS
file is split into row ranges (``--part-rows``), each part mapping only its rows
(:func:`cosmoml.catalog.io.read_fits_rows`); a CSV file into byte ranges of whole lines,
found by one scan for line breaks; a gzipped file (``--format csv.gz`` or ``fits.gz``),
which cannot be split, is one part read as a stream of blocks (a CSV's rows counted by one
streamed pass, a FITS file's from its header).
Before, such a file was one part, read whole (and read once more to count its rows). The
baseline here is that whole read: astropy's ``Table.read(path)[columns].to_pandas()`` for
FITS, ``pandas.read_csv(path)`` for CSV; the
candidate reads every part of ``--part-rows`` rows in blocks of 100,000 as the engines do
(:func:`cosmoml.engine.parts.plan_parts`, :func:`~cosmoml.engine.parts.read_part`), and
``read_table`` reads the same columns whole. The catalogue: ``--rows`` rows of 40 float32
columns and an int64 id, of which the id and 12 columns are read (a photo-z's bands and
errors). Each method runs ``--repeat`` times, each in its own subprocess so that its peak
RSS (``VmHWM``) is its own, and imports the same modules (pandas, astropy, cosmoml) before
its clock starts; the table gives median wall time and peak memory (the imports' ~200 MiB
included), and their ratios to the baseline.

    .venv/bin/python benchmarks/file_parts.py [--format fits|csv|csv.gz|fits.gz] [--rows 2000000]
        [--part-rows 200000] [--repeat 3] [--output FILE]

Results: ``benchmarks/results/file_parts_{format}.json`` (``csv_gz`` for ``csv.gz``, …).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
COLUMNS = ["id"] + [f"c{i}" for i in range(12)]
METHODS = ("whole", "cosmoml_parts", "cosmoml_whole")


def make(path: Path, rows: int) -> None:
    import pandas as pd
    from astropy.table import Table

    rng = np.random.default_rng(0)
    t = Table({f"c{i}": rng.normal(size=rows).astype(np.float32) for i in range(40)})
    t["id"] = np.arange(rows, dtype=np.int64)
    if path.name.endswith((".csv", ".csv.gz")):  # pandas compresses by the name
        pd.DataFrame({c: t[c] for c in t.colnames}).to_csv(path, index=False)
    else:
        t.write(path)


def child(method: str, path: Path, part_rows: int) -> None:
    # every method imports the same modules before the clock starts: the time is the read's,
    # and the peaks share one baseline (cosmoml's imports, scikit-learn's among them)
    import pandas as pd
    from astropy.table import Table

    import cosmoml.catalog.io
    import cosmoml.engine.parts  # noqa: F401

    t0 = time.perf_counter()
    if method == "whole" and path.name.endswith((".csv", ".csv.gz")):
        import pandas as pd

        df = pd.read_csv(path, comment="#")[COLUMNS]
        n, total = len(df), float(df["c0"].to_numpy(np.float64).sum())
    elif method == "whole":
        from astropy.table import Table

        df = Table.read(path, format="fits")[COLUMNS].to_pandas()
        n, total = len(df), float(df["c0"].to_numpy(np.float64).sum())
    elif method == "cosmoml_parts":
        from cosmoml.engine.parts import plan_parts, read_part

        n, total = 0, 0.0
        for part in plan_parts([path], part_rows=part_rows, columns=COLUMNS):
            for df in read_part(part, COLUMNS, 100_000):
                n, total = n + len(df), total + float(df["c0"].to_numpy(np.float64).sum())
    else:
        from cosmoml.catalog.io import read_table

        df = read_table(path, COLUMNS)
        n, total = len(df), float(df["c0"].to_numpy(np.float64).sum())
    seconds = time.perf_counter() - t0
    # this process's own high-water mark (ru_maxrss would carry the parent's over exec)
    status = Path("/proc/self/status")
    peak = (int(re.search(r"VmHWM:\s+(\d+)", status.read_text()).group(1)) / 1024
            if status.exists() else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps({"rows": n, "c0_sum": total, "seconds": seconds, "peak_mib": peak}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--format", choices=("fits", "csv", "csv.gz", "fits.gz"), default="fits")
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--part-rows", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--output", default=None)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), int(args.child[2]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"catalogue.{args.format}"
        make(path, args.rows)
        size_mib = path.stat().st_size / 2**20
        runs = {m: [] for m in METHODS}
        for _ in range(args.repeat):  # interleaved, so that drifts hit every method alike
            for m in METHODS:
                out = subprocess.run([sys.executable, __file__, "--child", m, str(path),
                                      str(args.part_rows)], capture_output=True, text=True,
                                     check=True)
                runs[m].append(json.loads(out.stdout.strip().splitlines()[-1]))
    sums = {m: r[0]["c0_sum"] for m, r in runs.items()}
    if not np.allclose(list(sums.values()), sums["whole"], rtol=1e-6) or any(
            r["rows"] != args.rows for rs in runs.values() for r in rs):
        raise SystemExit(f"the methods read different data: {sums}")
    base = {k: float(np.median([r[k] for r in runs["whole"]]))
            for k in ("seconds", "peak_mib")}
    base_name = "astropy Table.read" if args.format.startswith("fits") else "pandas read_csv"
    table = []
    print(f"{args.format.upper()} catalogue: {args.rows:,} rows x 41 columns "
          f"({size_mib:.0f} MiB), {len(COLUMNS)} columns read; parts of {args.part_rows:,} "
          f"rows; median of {args.repeat}; baseline 'whole' = {base_name}")
    print(f"{'method':<15} {'seconds':>8} {'x base':>7} {'peak MiB':>9} {'x base':>7}")
    for m in METHODS:
        s = float(np.median([r["seconds"] for r in runs[m]]))
        p = float(np.median([r["peak_mib"] for r in runs[m]]))
        table.append({"method": m, "seconds": s, "peak_mib": p,
                      "seconds_ratio": s / base["seconds"], "peak_ratio": p / base["peak_mib"],
                      "runs": runs[m]})
        print(f"{m:<15} {s:8.2f} {s / base['seconds']:7.2f} {p:9.0f} "
              f"{p / base['peak_mib']:7.2f}")
    from cosmoml.catalog.io import atomic_path

    name = args.format.replace(".", "_")
    out = Path(args.output or HERE / "results" / f"file_parts_{name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:  # never a half-written results file
        tmp.write_text(json.dumps({"format": args.format, "baseline": base_name,
                                   "rows": args.rows, "part_rows": args.part_rows,
                                   "file_mib": size_mib, "columns_read": len(COLUMNS),
                                   "repeat": args.repeat, "machine": platform.platform(),
                                   "python": platform.python_version(), "results": table},
                                  indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
