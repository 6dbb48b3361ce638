"""Covariate-shift benchmark: simulated spec-z selections, every correction, per-bin Δ⟨z⟩.

Scenarios (science sample and spec-z pool are disjoint halves of the shipped data):

- Buzzard (100k, LSST 10-year noise): pool = rows 0–50k, science = rows 50k–100k with
  i < 24 (a DES/KiDS-like depth);
  ``random`` 8,700 pool objects with i < 24 drawn at random (a representative spec-z
  set the size of ``vvds``'s: what is left there is the estimator's own stacking bias);
  ``maglim`` i < 23; ``deep2`` DEEP2-like colour pre-selection; ``vvds`` VVDS-like success
  curve; ``zcosmos`` zCOSMOS-like (i < 22.5); ``flags`` i < 24 with line-confusion label
  errors and a flag ≥ 3 cut; ``combined`` zCOSMOS ∪ DEEP2 ∪ VVDS (3,000 each).
- DC2: ``dc2-zcosmos``, the zCOSMOS-like selection of the DC2 training file, science =
  the DC2 validation file (i < 25.3): the case RAIL's own tools leave off by −0.149 in the
  sample's mean redshift.

For each scenario and method (``none``, ``none+point`` (histogram of point estimates, the
naive baseline), ``lima``, ``classifier``, ``stratlearn``, ``som``, ``success`` (weights
that may depend on the label: redshift-dependent success; ``+survey``: one success
surface per combination of the surveys' footprints, which differs from ``success`` only
in ``combined``, the one compilation);
``+dir``: n(z) as the weighted spec-z histogram instead of stacked PDFs; ``+ppi``: stacked
PDFs shifted by the weighted calibration residual (prediction-powered); ``+lines``: labels
replaced by their expected true redshifts under the line-confusion model (told the
simulated spectrograph's 3600–9500 Å window, as a user tells it theirs); ``+cull``: only the
covered science objects; ``oracle+ppi``: a diagnostic, not a correction — see ``ORACLE``),
the table gives |Δ⟨z⟩| per DES Y1 bin, the reported uncertainty
and the covered fraction. Corrections see only the
photometry of both samples and the (possibly wrong) training labels.

    .venv/bin/python benchmarks/shift.py [--estimator nn-fast] [--scenarios a,b] [--n-boot 50]

Results: ``benchmarks/results/shift.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from cosmoml import __version__
from cosmoml.catalog.columns import ColumnMap
from cosmoml.catalog.io import atomic_path
from cosmoml.datasets import load_buzzard, load_dc2
from cosmoml.experiment import compare_methods
from cosmoml.nz.pipeline import estimate_nz
from cosmoml.selection import (
    FlagCut,
    LineConfusion,
    MagnitudeLimit,
    Survey,
    combine_surveys,
    deep2_like,
    magnitude_limited,
    vvds_like,
    zcosmos_like,
)
from cosmoml.selection.steps import SPECTROGRAPH_WINDOW

HERE = Path(__file__).resolve().parent
METHODS = ("none", "none+point", "lima", "classifier", "stratlearn", "som", "lima+dir",
           "classifier+dir", "lima+cull", "classifier+cull", "lima+dir+cull", "none+ppi",
           "lima+ppi", "classifier+ppi", "lima+ppi+cull", "none+ppi+lines", "lima+ppi+lines",
           "lima+ppi+lines+cull", "success+ppi+lines", "success+ppi+lines+cull",
           "success+survey+ppi+lines")
#: Rows that are not corrections (excluded when picking the best correction).
UNCORRECTED = ["none", "none+point"]
#: Diagnostic rows that use the simulator's internals (never a correction a user can run):
#: ``oracle+ppi`` weights the training objects by 1 / P(success | i, true z) of the
#: survey's success curve (VVDS), or trains on the true redshifts (flags): what is left
#: after every photometric correction and is removed by the oracle is selection on the
#: label itself, which weights of the photometry cannot undo (``success`` weights try,
#: assuming the selection depends on magnitude and redshift only).
ORACLE = ["oracle+ppi"]
BUZZARD_COLS = ColumnMap(list("ugrizy"), "{band}", "{band}_err", z_column="z_spec",
                         id_column="id")
DC2_COLS = ColumnMap(list("ugrizy"), "mag_{band}_lsst", "mag_err_{band}_lsst",
                     z_column="z_spec", id_column="id")
#: Stage IV requirement on a bin's mean redshift, |Δ⟨z⟩| ≤ REQUIREMENT (1 + ⟨z⟩).
REQUIREMENT = 0.002
#: The "covered" scenarios, where the issue's reduction target applies.
MIN_COVERED = 0.9


def scenarios(split_seed: int | None = None) -> dict:
    """name -> (training sample with z_spec labels, science sample, columns, oracle).

    ``split_seed`` (other realisations): a fresh noise realisation and a seeded random
    split of the 100k galaxies into pool and science halves instead of the fixed one."""
    cat = load_buzzard(100_000, seed=split_seed or 0)
    if split_seed is not None:
        perm = np.random.default_rng([split_seed, 99]).permutation(len(cat))
        cat = cat.iloc[perm].reset_index(drop=True)
    pool = cat.iloc[:50_000].reset_index(drop=True)
    sci = cat.iloc[50_000:]
    sci = sci[sci["i"] < 24.0].reset_index(drop=True)
    flags = Survey([MagnitudeLimit("i", 24.0), LineConfusion(), FlagCut(3)], name="flags")
    vvds = vvds_like()
    pool24 = pool[pool["i"] < 24.0]

    def combined():
        parts = [s.select(pool, seed=11 + k) for k, s in enumerate(
            (zcosmos_like(max_objects=3000), deep2_like(max_objects=3000),
             vvds_like(max_objects=3000)))]
        return combine_surveys(parts)

    out = {
        "maglim": lambda: magnitude_limited("i", 23.0).select(pool, seed=1),
        "deep2": lambda: deep2_like().select(pool, seed=2),
        "random": lambda: pool24.sample(8700, random_state=7).assign(
            z_spec=lambda d: d["redshift"], z_wrong=False, survey="random").reset_index(
            drop=True),
        "vvds": lambda: vvds.select(pool, seed=3),
        "zcosmos": lambda: zcosmos_like().select(pool, seed=4),
        "flags": lambda: flags.select(pool, seed=5),
        "combined": combined,
    }
    success = vvds.steps[1]
    oracles = {
        "vvds": lambda t: {"sample_weight": 1.0 / success.probability(
            t["i"].to_numpy(), t["redshift"].to_numpy())},
        "flags": lambda t: {"labels_column": "redshift"},
    }
    scen = {k: (v, sci, BUZZARD_COLS, oracles.get(k)) for k, v in out.items()}
    dc2_train, dc2_valid = load_dc2("training"), load_dc2("validation")
    scen["dc2-zcosmos"] = (
        lambda: zcosmos_like().select(dc2_train, seed=6, mag_pattern="mag_{band}_lsst"),
        dc2_valid,
        DC2_COLS,
        None,
    )
    return scen


def oracle_nz(train, sci, cols, oracle, estimator, n_boot, seed=0, diagnostics=None):
    """The ``oracle+ppi`` diagnostic row (simulator internals; never a correction)."""
    return estimate_nz(train, sci, cols, method="none", estimator=estimator, seed=seed,
                       n_boot=n_boot, z_true=sci["redshift"].to_numpy(),
                       diagnostics=diagnostics, nz_from="ppi", **oracle(train))


def run_scenario(name, make_train, sci, cols, oracle, estimator, n_boot, seed=0) -> list[dict]:
    train = make_train()
    table, results = compare_methods(
        train, sci, cols, METHODS, estimator, seed=seed, n_boot=n_boot,
        progress=lambda m: print(f"  {name:12s}{m}", flush=True),
        line_window=SPECTROGRAPH_WINDOW)
    d = next(iter(results.values())).diagnostics
    z_true = sci["redshift"].to_numpy()
    if oracle is not None:
        t0 = time.perf_counter()
        res = oracle_nz(train, sci, cols, oracle, estimator, n_boot, seed, diagnostics=d)
        dt = time.perf_counter() - t0
        print(f"  {name:12s}  {ORACLE[0]:20s} {dt:6.1f} s  |Δ⟨z⟩| "
              + " ".join(f"{abs(v):.4f}" for v in res.table["delta_mean_z"]), flush=True)
        results[ORACLE[0]] = res
        table = pd.concat([table, pd.DataFrame(
            [{"method": ORACLE[0], **r, "ess": res.correction.ess, "seconds": dt}
             for r in res.table.to_dict(orient="records")])], ignore_index=True)
    sample_dz = {}
    for method, res in results.items():
        sample_dz[method] = res.mean_z_all - float(z_true[res.used].mean())
    return [
        {**r, "scenario": name, "n_train": len(train), "n_science": len(sci),
         "label_error_frac": float(train["z_wrong"].mean()), "auc": d.auc,
         "covered_all": d.covered_fraction, "verdict": d.verdict,
         "sample_delta_mean_z": sample_dz[r["method"]]}
        for r in table.to_dict(orient="records")
    ]


def summarise(df: pd.DataFrame) -> dict:
    """The issue's targets, checked from the per-bin rows."""
    df = df.assign(abs_dz=df["delta_mean_z"].abs(),
                   req=REQUIREMENT * (1 + df["mean_z_true"]))
    out = {"scenarios": {}}
    covered_cases, covered_by_err = 0, 0
    for scen, g in df.groupby("scenario", sort=False):
        piv = g.pivot(index="bin", columns="method", values="abs_dz")
        corrected = piv.drop(columns=[c for c in UNCORRECTED + ORACLE if c in piv])
        best_method = corrected.mean().idxmin()
        best_per_bin = corrected.min(axis=1)
        is_cov = bool(g["covered_all"].iloc[0] >= MIN_COVERED)
        reduction = (piv["none"] / best_per_bin).to_list()
        req = g[g["method"] == "none"].set_index("bin")["req"]
        errs = g[~g["method"].isin(ORACLE)].set_index(["method", "bin"])
        cover = (errs["abs_dz"] <= errs["mean_z_err"]).to_numpy()
        covered_cases += cover.size
        covered_by_err += int(cover.sum())
        out["scenarios"][scen] = {
            "covered_fraction": float(g["covered_all"].iloc[0]),
            "auc": float(g["auc"].iloc[0]),
            "verdict": g["verdict"].iloc[0],
            "coverage_target_applies": is_cov,
            "best_method_overall": best_method,
            "best_per_bin": corrected.idxmin(axis=1).to_list(),
            "reduction_factor_per_bin": reduction,
            "best_overall_per_bin": piv[best_method].to_list(),
            "oracle_per_bin": piv[ORACLE[0]].to_list() if ORACLE[0] in piv else None,
            "reduction_ge_5_all_bins": bool(np.all(np.array(reduction) >= 5)),
            "best_within_requirement_per_bin": (best_per_bin <= req).to_list(),
            "uncertainty_covers_fraction": float(cover.mean()),
        }
    out["uncertainty_covers_fraction_all"] = covered_by_err / max(covered_cases, 1)
    out["uncertainty_covers_fraction_by_method"] = {
        m: float((g["abs_dz"] <= g["mean_z_err"]).mean())
        for m, g in df.groupby("method", sort=False) if m not in ORACLE}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--estimator", default="nn-fast")
    ap.add_argument("--scenarios", default=None, help="comma-separated subset")
    ap.add_argument("--n-boot", type=int, default=50)
    ap.add_argument("--output", default=str(HERE / "results" / "shift.json"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    warnings.simplefilter("ignore", RuntimeWarning)
    scen = scenarios()
    names = args.scenarios.split(",") if args.scenarios else list(scen)
    rows = []
    t0 = time.perf_counter()
    for name in names:
        make_train, sci, cols, oracle = scen[name]
        rows += run_scenario(name, make_train, sci, cols, oracle, args.estimator, args.n_boot)
    df = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    piv = df.assign(abs_dz=df["delta_mean_z"].abs()).pivot_table(
        index=["scenario", "bin"], columns="method", values="abs_dz", sort=False)
    piv = piv[[m for m in (*METHODS, *ORACLE) if m in piv]]
    extra = df[df["method"] == "none"].set_index(["scenario", "bin"])[
        ["covered_fraction", "mean_z_true"]]
    print("\n|Δ⟨z⟩| per scenario and bin (estimator "
          f"{args.estimator}); requirement 0.002 (1 + ⟨z⟩)")
    print(piv.join(extra).to_string(float_format=lambda v: f"{v:.4f}"))
    summary = summarise(df)
    for k, v in summary["scenarios"].items():
        print(f"{k:12s} covered {v['covered_fraction']:.3f}  AUC {v['auc']:.3f}  "
              f"best {v['best_method_overall']:16s} reduction "
              + " ".join(f"{x:5.1f}" for x in v["reduction_factor_per_bin"])
              + f"  within requirement {v['best_within_requirement_per_bin']}")
        print(f"{'':12s} best single method {v['best_method_overall']}: |Δ⟨z⟩| "
              + " ".join(f"{x:.4f}" for x in v["best_overall_per_bin"])
              + ("" if v["oracle_per_bin"] is None else "; oracle+ppi " + " ".join(
                  f"{x:.4f}" for x in v["oracle_per_bin"])))
    print(f"reported uncertainty covers |Δ⟨z⟩| in "
          f"{100 * summary['uncertainty_covers_fraction_all']:.0f}% of (scenario, method, bin); "
          "by method: " + ", ".join(
              f"{m} {100 * v:.0f}%"
              for m, v in summary["uncertainty_covers_fraction_by_method"].items()))
    out = Path(args.output)
    doc = {
        "benchmark": "shift", "cosmoml_version": __version__, "estimator": args.estimator,
        "machine": platform.platform(), "seconds": time.perf_counter() - t0,
        "rows": df.to_dict(orient="records"), "summary": summary,
    }
    with atomic_path(out) as tmp:  # never a half-written results file
        tmp.write_text(json.dumps(doc, indent=1, default=float))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
