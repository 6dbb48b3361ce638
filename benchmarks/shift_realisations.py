"""Mean per-bin bias over independent realisations of the covered shift scenarios.

One realisation of ``benchmarks/shift.py`` cannot tell a 5× reduction of an offset of
0.001 from noise: its per-bin errors are 0.002–0.005. Here each realisation draws fresh
LSST noise and a new random split of the 100k Buzzard galaxies into spec-z pool and
science halves, then runs the selection and the methods; the table gives, per scenario,
method and bin, the mean Δ⟨z⟩ over realisations and its standard error, and the ratio of
the uncorrected mean |bias| to the corrected one where both are measured (|mean| > 2 SE).
``oracle+ppi`` among the methods adds ``shift.py``'s diagnostic row (simulator internals,
not a correction) in the scenarios that have one.

    .venv/bin/python benchmarks/shift_realisations.py [--realisations 10]
        [--scenarios random,vvds,flags] [--methods none,lima+ppi+lines,oracle+ppi]
        [--first 10 --include benchmarks/results/shift_realisations.json --output F]

``--first``/``--include`` add realisations to an earlier file's (same estimator; the
earlier rows are reused, not rerun; ``seconds`` counts this run only);
``--realisations 0 --include F --output F`` summarises F's rows again (after a change to
the summary; all of F's scenarios, methods and its estimator unless given). The output
is rewritten after every realisation, so a killed run keeps the ones it finished:
continue with ``--first`` (the next index) ``--include`` (that file).
The summary also says how honest the reported errors were: per bin, the fraction of
realisations whose ``mean_z_err`` covers |Δ⟨z⟩| and the rms of Δ⟨z⟩ / error, and per
method the fraction of all (scenario, bin, realisation) cases covered.

Results: ``benchmarks/results/shift_realisations.json``.
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
from cosmoml.catalog.io import atomic_path
from cosmoml.experiment import compare_methods
from cosmoml.selection.steps import SPECTROGRAPH_WINDOW
from shift import ORACLE, REQUIREMENT, oracle_nz, scenarios

HERE = Path(__file__).resolve().parent
#: A new run's scenarios, methods and estimator (a re-summary takes its file's instead).
DEFAULTS = {"scenarios": "random,vvds,flags,combined",
            "methods": "none,lima+ppi+lines,success+ppi+lines,oracle+ppi",
            "estimator": "nn-fast"}


def five_times(u: pd.Series, c: pd.Series, factor: float = 5.0) -> dict:
    """Is the issue's target — the corrected mean |bias| at most 1/``factor`` of the
    uncorrected one — settled by these realisations? ``u``, ``c``: the uncorrected and the
    corrected Δ⟨z⟩ per realisation (indexed by realisation; those in both are used).
    The margin f = |ū|/factor − |c̄| is the mean of the paired per-realisation margins
    f_r = ±u_r/factor ∓ c_r (signs of the means), so its standard error σ_f counts that
    both are measured on the same realisations: a correction that removes a fixed share of
    each realisation's bias has σ_f = 0 however noisy the biases. ``shown`` if
    f > 2σ_f, ``excluded`` if f < −2σ_f, else ``undecided``, with the number of
    realisations that would make |f| = 2σ_f (σ_f falling as 1/√n) — infinite where the
    margin is zero."""
    u, c = u.align(c, join="inner")
    n = len(u)  # fewer than 2: σ_f is NaN and the verdict "undecided"
    # sign +1 at a mean of exactly 0 (|c̄| is not differentiable there; either side will do)
    f_r = np.where(u.mean() < 0, -1, 1) * u / factor - np.where(c.mean() < 0, -1, 1) * c
    f = float(f_r.mean())
    se = float(f_r.std(ddof=1) / np.sqrt(n))
    verdict = "shown" if f > 2 * se else "excluded" if f < -2 * se else "undecided"
    needed = n * (2 * se / abs(f)) ** 2 if f != 0 else np.inf
    return {"target_margin": f, "target_margin_se": se, "target": verdict,
            "realisations_to_decide": float(np.ceil(needed))}


def summarise(df: pd.DataFrame, methods: list[str]) -> tuple[pd.DataFrame, list[dict], dict]:
    """Per (scenario, method, bin): the number of realisations ``n``, mean Δ⟨z⟩ over them,
    its standard error, rms,
    the fraction of realisations whose reported error covers |Δ⟨z⟩| and the rms pull
    (Δ⟨z⟩ / error: about 1 where the errors are right), the fraction of realisations
    within the Stage IV requirement |Δ⟨z⟩| ≤ 0.002 (1 + ⟨z⟩_true) (``within_requirement``);
    the ratios of the uncorrected mean
    |bias| (``methods[0]``) to each corrected one; and per method the fraction of all
    (scenario, bin, realisation) cases covered (the issue's ≥ 68% target)."""
    df = df.assign(covered=df["delta_mean_z"].abs() <= df["mean_z_err"],
                   pull=df["delta_mean_z"] / df["mean_z_err"],
                   within=df["delta_mean_z"].abs()
                   <= REQUIREMENT * (1 + df["mean_z_true"]))
    g = df.groupby(["scenario", "method", "bin"], sort=False)
    d = g["delta_mean_z"]
    summ = pd.DataFrame({"n": d.count(), "mean": d.mean(),
                         "se": d.std(ddof=1) / np.sqrt(d.count()),
                         "rms": d.apply(lambda v: float(np.sqrt(np.mean(v**2)))),
                         "covers": g["covered"].mean(),
                         "pull_rms": g["pull"].apply(lambda v: float(np.sqrt(np.mean(v**2)))),
                         "within_requirement": g["within"].mean(),
                         }).reset_index()
    ratios = []
    base = methods[0]
    rows_of = {k: g.set_index("realisation")
               for k, g in df.groupby(["scenario", "bin"], sort=False)}
    for (scen, b), s in summ.groupby(["scenario", "bin"], sort=False):
        s = s.set_index("method")
        here = rows_of[scen, b]
        for m in methods[1:]:
            if m not in s.index:  # oracle rows exist only where the scenario has one
                continue
            u, c = s.loc[base], s.loc[m]
            ratios.append({"scenario": scen, "bin": int(b), "method": m,
                           "uncorrected_mean": u["mean"], "uncorrected_se": u["se"],
                           "corrected_mean": c["mean"], "corrected_se": c["se"],
                           "ratio": abs(u["mean"]) / max(abs(c["mean"]), 1e-12),
                           "uncorrected_significant": bool(abs(u["mean"]) > 2 * u["se"]),
                           "corrected_consistent_with_zero": bool(abs(c["mean"])
                                                                  <= 2 * c["se"]),
                           **five_times(
                               here.loc[here["method"] == base, "delta_mean_z"],
                               here.loc[here["method"] == m, "delta_mean_z"])})
    covers = {m: float(df.loc[df["method"] == m, "covered"].mean()) for m in methods}
    return summ, ratios, covers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--realisations", type=int, default=10)
    for name, value in DEFAULTS.items():
        ap.add_argument(f"--{name}", default=None,
                        help=f"default {value}; a re-summary: the file's")
    ap.add_argument("--n-boot", type=int, default=20)
    ap.add_argument("--output", default=str(HERE / "results" / "shift_realisations.json"))
    ap.add_argument("--first", type=int, default=0,
                    help="index of the first realisation (its split seed is 1000 + index)")
    ap.add_argument("--include", default=None,
                    help="an earlier results file whose realisations (other indices, same "
                    "estimator) are pooled with these before the summary")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    warnings.simplefilter("ignore", RuntimeWarning)
    todo = range(args.first, args.first + args.realisations)
    old, prev = pd.DataFrame(), None
    if args.include:  # read first: a wrong file stops the run now, not after an hour
        try:
            prev = json.loads(Path(args.include).read_text())
            old, prev_estimator = pd.DataFrame(prev["rows"]), prev["estimator"]
        except (OSError, ValueError, KeyError) as e:
            raise SystemExit(f"{args.include}: cannot read it as a results file ({e})") from e
    elif not todo:
        raise SystemExit("no realisations: give --realisations > 0 or --include a file")
    resummary = not todo  # a new summary of the earlier file's rows
    # a re-summary keeps all the file's rows unless told otherwise
    defaults = {"scenarios": ",".join(old["scenario"].unique()),
                "methods": ",".join(old["method"].unique()),
                "estimator": prev_estimator} if resummary else DEFAULTS
    for name, value in defaults.items():
        setattr(args, name, getattr(args, name) or value)
    methods = args.methods.split(",")
    if prev is not None:
        old = old[old["method"].isin(methods) & old["scenario"].isin(
            args.scenarios.split(","))]
        if prev_estimator != args.estimator or old["realisation"].isin(list(todo)).any():
            raise SystemExit(f"{args.include}: another estimator or the same realisations")
    out = Path(args.output)
    rows = []
    t0 = time.perf_counter()

    def save():
        """Summarise the rows so far and (re)write the results file."""
        df = pd.concat([old, pd.DataFrame(rows)], ignore_index=True)
        summ, ratios, covers = summarise(df, [m for m in methods if m in set(df["method"])])
        run = ({k: prev.get(k) for k in ("cosmoml_version", "machine", "seconds", "included")}
               if resummary else  # the rows' provenance stays that of the run that made them
               {"cosmoml_version": __version__, "machine": platform.platform(),
                "seconds": time.perf_counter() - t0, "included": args.include})
        doc = {"benchmark": "shift_realisations", **run, "estimator": args.estimator,
               "realisations": int(df["realisation"].nunique()),
               "rows": df.to_dict(orient="records"), "summary": summ.to_dict(orient="records"),
               "ratios": ratios, "error_covers": covers}
        with atomic_path(out) as tmp:  # never a half-written results file
            tmp.write_text(json.dumps(doc, indent=1, default=float))
        return df, summ, ratios, covers

    result = save() if resummary else None
    for r in todo:
        scen = scenarios(split_seed=1000 + r)
        for name in args.scenarios.split(","):
            make_train, sci, cols, oracle = scen[name]
            train = make_train()
            table, _ = compare_methods(train, sci, cols, [m for m in methods if m not in ORACLE],
                                       args.estimator, seed=r, n_boot=args.n_boot,
                                       line_window=SPECTROGRAPH_WINDOW)
            if ORACLE[0] in methods and oracle is not None:  # the diagnostic row
                res = oracle_nz(train, sci, cols, oracle, args.estimator, args.n_boot, seed=r)
                table = pd.concat([table, res.table.assign(method=ORACLE[0])],
                                  ignore_index=True)
            rows += [{**row, "scenario": name, "realisation": r}
                     for row in table.to_dict(orient="records")]
            print(f"realisation {r} {name:10s} " + "  ".join(
                f"{m}: " + " ".join(f"{v:+.4f}" for v in g["delta_mean_z"])
                for m, g in table.groupby("method", sort=False)), flush=True)
        result = save()  # after every realisation: a killed run keeps what it finished
    df, summ, ratios, covers = result
    n_real = int(df["realisation"].nunique())
    pd.set_option("display.width", 200)
    print(f"\nmean Δ⟨z⟩ over {n_real} realisations (± standard error)")
    print(summ.pivot_table(index=["scenario", "bin"], columns="method",
                           values=["mean", "se"], sort=False)
          .to_string(float_format=lambda v: f"{v:+.4f}"))
    # what one survey sees is one realisation: its error is bias and scatter together, and
    # a correction that removes the mean bias can still leave a single realisation worse
    print(f"\none realisation's error: rms Δ⟨z⟩ over the {n_real} realisations")
    print(summ.pivot_table(index=["scenario", "bin"], columns="method", values="rms",
                           sort=False).to_string(float_format=lambda v: f"{v:.4f}"))
    print(pd.DataFrame(ratios).to_string(float_format=lambda v: f"{v:.4f}"))
    decided = pd.DataFrame(ratios).query("uncorrected_significant")
    print("\n5× target where the uncorrected bias is significant: "
          + ", ".join(f"{m} " + ", ".join(f"{v} {k}" for k, v in g["target"].value_counts().items())
                      for m, g in decided.groupby("method", sort=False)))
    print("\nreported error covers |Δ⟨z⟩| (fraction of realisations; pull = Δ⟨z⟩ / error)")
    print(summ.pivot_table(index=["scenario", "bin"], columns="method",
                           values=["covers", "pull_rms"], sort=False)
          .to_string(float_format=lambda v: f"{v:.2f}"))
    print("all (scenario, bin, realisation) cases: "
          + ", ".join(f"{m} {v:.0%}" for m, v in covers.items()))
    print("\nfraction of realisations within the requirement |Δ⟨z⟩| ≤ 0.002 (1 + ⟨z⟩)")
    print(summ.pivot_table(index=["scenario", "bin"], columns="method",
                           values="within_requirement", sort=False)
          .to_string(float_format=lambda v: f"{v:.2f}"))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
