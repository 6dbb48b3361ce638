"""Paired comparison of one method between two ``shift_realisations.py`` result files.

A change to a correction is measured on the realisations both files hold (same split
seeds, so the same training and science samples): per scenario and bin, the mean Δ⟨z⟩
before and after, the mean of the per-realisation differences and its standard error
(paired, so the realisation-to-realisation scatter both share cancels), the fraction of
realisations whose reported error covers |Δ⟨z⟩| and the rms pull, with the uncorrected
(``none``) and ``oracle+ppi`` rows of whichever file holds them for reference.

    .venv/bin/python benchmarks/compare_realisations.py BEFORE.json AFTER.json
        [--method success+ppi+lines] [--output benchmarks/results/compare.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from cosmoml.catalog.io import atomic_path

KEY = ["scenario", "bin", "realisation"]


def load(path: str) -> pd.DataFrame:
    return pd.DataFrame(json.loads(Path(path).read_text())["rows"]).set_index(KEY)


def compare(before: pd.DataFrame, after: pd.DataFrame, method: str) -> pd.DataFrame:
    """One row per (scenario, bin) over the realisations both files hold for ``method``."""
    b = before[before["method"] == method]
    a = after[after["method"] == method]
    common = b.index.intersection(a.index)
    if common.empty:
        raise SystemExit(f"no (scenario, bin, realisation) holds {method!r} in both files")
    # each reference row once: the after file's where both hold it
    ref = {}
    for m in ("none", "oracle+ppi"):
        r = pd.concat([after[after["method"] == m], before[before["method"] == m]])
        ref[m] = r[~r.index.duplicated()]
    rows = []
    for (scen, bin_), idx in pd.Series(0, index=common).groupby(level=[0, 1]):
        idx = idx.index
        db, da = b.loc[idx, "delta_mean_z"], a.loc[idx, "delta_mean_z"]
        diff = da.to_numpy() - db.to_numpy()
        n = len(idx)
        row = {"scenario": scen, "bin": int(bin_), "n": n,
               "before_mean": db.mean(), "before_se": db.std(ddof=1) / np.sqrt(n),
               "after_mean": da.mean(), "after_se": da.std(ddof=1) / np.sqrt(n),
               "diff_mean": diff.mean(), "diff_se": diff.std(ddof=1) / np.sqrt(n),
               "before_covers": float(np.mean(db.abs() <= b.loc[idx, "mean_z_err"])),
               "after_covers": float(np.mean(da.abs() <= a.loc[idx, "mean_z_err"])),
               "before_pull_rms": float(np.sqrt(np.mean((db / b.loc[idx, "mean_z_err"])**2))),
               "after_pull_rms": float(np.sqrt(np.mean((da / a.loc[idx, "mean_z_err"])**2)))}
        for m, r in ref.items():
            there = idx.intersection(r.index)
            if len(there) == n:
                row[f"{m}_mean"] = r.loc[idx, "delta_mean_z"].mean()
                row[f"{m}_se"] = r.loc[idx, "delta_mean_z"].std(ddof=1) / np.sqrt(n)
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--method", default="success+ppi+lines")
    ap.add_argument("--output", default=None, help="JSON results (default: none written)")
    args = ap.parse_args()
    table = compare(load(args.before), load(args.after), args.method)

    def pm(m, s):
        return table[m].map("{:+.4f}".format) + "±" + table[s].map("{:.4f}".format)

    show = pd.DataFrame({"scenario": table["scenario"], "bin": table["bin"],
                         "n": table["n"]})
    if "none_mean" in table:
        show["none"] = pm("none_mean", "none_se")
    show["before"] = pm("before_mean", "before_se")
    show["after"] = pm("after_mean", "after_se")
    show["after − before"] = pm("diff_mean", "diff_se")
    if "oracle+ppi_mean" in table:
        show["oracle+ppi"] = pm("oracle+ppi_mean", "oracle+ppi_se").where(
            table["oracle+ppi_mean"].notna(), "–")
    show["covers"] = (table["before_covers"].map("{:.2f}".format) + " → "
                      + table["after_covers"].map("{:.2f}".format))
    show["pull rms"] = (table["before_pull_rms"].map("{:.2f}".format) + " → "
                        + table["after_pull_rms"].map("{:.2f}".format))
    print(f"{args.method}: {args.before} → {args.after}")
    print(show.to_string(index=False))
    if args.output:
        with atomic_path(Path(args.output)) as tmp:
            Path(tmp).write_text(json.dumps(
                {"benchmark": "compare_realisations", "before": args.before,
                 "after": args.after, "method": args.method,
                 "rows": table.to_dict(orient="records")}, indent=1))


if __name__ == "__main__":
    main()
