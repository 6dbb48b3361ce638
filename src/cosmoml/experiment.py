"""Covariate-shift experiments on the shipped simulations: select a spec-z sample with a
survey model, train, predict the science sample, apply every correction, report.

The configuration's keys are :class:`ShiftExperiment`'s field names, the same in a JSON
or TOML config file, on the command line (``cosmoml experiment shift --surveys zcosmos``)
and in Python (``run_shift_experiment(ShiftExperiment(surveys=["zcosmos"]), "out")``).
"""

from __future__ import annotations

import json
import logging
import os
import time
import tomllib
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from cosmoml import __version__
from cosmoml.catalog.columns import ColumnMap
from cosmoml.catalog.io import atomic_path, write_table
from cosmoml.errors import ConfigError
from cosmoml.metrics import evaluate
from cosmoml.model import PhotoZModel
from cosmoml.nz import DES_Y1_EDGES, method_shifts
from cosmoml.nz.pipeline import estimate_nz, shift_features
from cosmoml.selection import PRESETS, combine_surveys
from cosmoml.selection.steps import SPECTROGRAPH_WINDOW
from cosmoml.shift import DEFAULT_FRACTIONS, coverage, culling_curve, culling_scores

log = logging.getLogger(__name__)

#: Methods compared by default. A method is a correction optionally followed by modifiers:
#: ``+cull`` restricts the n(z) to covered science objects, ``+dir`` estimates it as the
#: weighted spec-z histogram (DIR), ``+point`` as the histogram of point estimates and
#: ``+ppi`` as stacked PDFs shifted by the weighted calibration residual, instead of
#: stacking PDFs; ``+lines`` replaces each label by its expected true redshift under the
#: line-confusion model (:func:`cosmoml.shift.labels.line_confusion`) wherever labels
#: calibrate the n(z); e.g. ``lima+dir+cull``, ``none+ppi+lines``.
DEFAULT_METHODS = ("none", "lima", "classifier", "stratlearn", "som", "lima+dir", "lima+cull",
                   "lima+ppi+lines+cull", "success+ppi+lines")
CORRECTIONS = ("none", "lima", "classifier", "stratlearn", "som", "success")


def parse_method(method: str) -> tuple[str, bool, str, str | None, bool]:
    """``"success+survey+ppi+lines+cull"`` → (correction ``"success"``, cull True, nz_from
    ``"ppi"``, label model ``"lines"`` (None without ``+lines``), per survey True: the
    training set's ``survey`` column splits the fit by survey footprint)."""
    base, *mods = method.split("+")
    forms = [m for m in mods if m in ("dir", "point", "ppi")]
    if (base not in CORRECTIONS
            or not set(mods) <= {"cull", "dir", "point", "ppi", "lines", "survey"}
            or len(forms) > 1):
        raise ConfigError(f"unknown method {method!r}: a correction from {CORRECTIONS} "
                          "optionally followed by +survey, +cull, +lines and one of +dir, "
                          "+point, +ppi")
    return base, "cull" in mods, forms[0] if forms else "stack", (
        "lines" if "lines" in mods else None), "survey" in mods


def _conforms(value, tp) -> bool:
    """Whether a config value (from TOML/JSON or the command line) has the field's type
    (an int is a float; a bool is neither)."""
    args = typing.get_args(tp)
    if isinstance(tp, types.UnionType):
        return any(_conforms(value, a) for a in args)
    if tp is type(None):
        return value is None
    if typing.get_origin(tp) is list:
        return isinstance(value, list) and all(_conforms(v, args[0]) for v in value)
    if isinstance(value, bool):
        return tp is bool
    return isinstance(value, (int, float) if tp is float else tp)


def _describe(tp) -> str:
    if isinstance(tp, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) is list:
        item = typing.get_args(tp)[0]
        return "a list of " + {str: "strings", float: "numbers"}.get(item, str(item))
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false",
            type(None): "null"}.get(tp, str(tp))


#: Presets that simulate confidence flags (``label_errors``).
FLAGGED = ("deep2", "vvds", "zcosmos")
DATASETS = {
    "buzzard": ColumnMap(list("ugrizy"), "{band}", "{band}_err", "z_spec", "id"),
    "dc2": ColumnMap(list("ugrizy"), "mag_{band}_lsst", "mag_err_{band}_lsst", "z_spec", "id"),
}


@dataclass
class ShiftExperiment:
    """One experiment's configuration (every field is a config key and a CLI flag).

    dataset: ``"buzzard"`` (science = second half of the 100k mock, spec-z pool = first
    half) or ``"dc2"`` (pool = DC2 training file, science = DC2 validation file).
    surveys: preset names (:data:`cosmoml.selection.PRESETS`); several are combined.
    label_errors: add line-confusion label errors and a flag ≥ 3 cut to flagged presets.
    """

    dataset: str = "buzzard"
    n: int = 100_000
    science_i_max: float = 24.0
    surveys: list[str] = field(default_factory=lambda: ["zcosmos"])
    max_objects: int | None = None
    label_errors: bool = False
    estimator: str = "nn-fast"
    methods: list[str] = field(default_factory=lambda: list(DEFAULT_METHODS))
    edges: list[float] = field(default_factory=lambda: list(DES_Y1_EDGES))
    validation_fraction: float = 0.2
    cull_fractions: list[float] = field(default_factory=lambda: list(DEFAULT_FRACTIONS))
    n_boot: int = 50
    seed: int = 0

    @classmethod
    def from_file(cls, path: str | os.PathLike, **overrides) -> ShiftExperiment:
        """Read a JSON or TOML config (keys = field names); ``overrides`` win."""
        path = Path(path)
        try:
            text = path.read_text()
            doc = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: cannot read the experiment config: {exc}") from None
        doc = doc.get("shift", doc)
        return cls.from_dict({**doc, **{k: v for k, v in overrides.items() if v is not None}},
                             str(path))

    @classmethod
    def from_dict(cls, doc: dict, source: str = "config") -> ShiftExperiment:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {unknown}; allowed: {sorted(known)}")
        hints = typing.get_type_hints(cls)
        for key, value in doc.items():
            if not _conforms(value, hints[key]):
                raise ConfigError(f"{source}: {key} must be {_describe(hints[key])}, got "
                                  f"{value!r}")
        cfg = cls(**doc)
        cfg.validate(source)
        return cfg

    def validate(self, source: str = "config") -> None:
        if self.dataset not in DATASETS:
            raise ConfigError(f"{source}: dataset {self.dataset!r} not in {sorted(DATASETS)}")
        bad = [s for s in self.surveys if s not in PRESETS]
        if bad or not self.surveys:
            raise ConfigError(f"{source}: unknown survey preset(s) {bad}; "
                              f"choose from {sorted(PRESETS)}")
        for m in self.methods:
            try:
                parse_method(m)
            except ConfigError as exc:
                raise ConfigError(f"{source}: {exc}") from None
        if not 0 < self.validation_fraction < 0.9:
            raise ConfigError(f"{source}: validation_fraction must be in (0, 0.9)")
        if self.n_boot < 2 or self.n <= 0:
            raise ConfigError(f"{source}: need n_boot >= 2 and n > 0, got n_boot "
                              f"{self.n_boot}, n {self.n}")
        if len(self.edges) < 2 or np.any(np.diff(self.edges) <= 0):
            raise ConfigError(f"{source}: edges must be at least two increasing numbers, "
                              f"got {self.edges}")


#: What ``cosmoml demo`` runs: a bright zCOSMOS-like + DEEP2-like spec-z compilation
#: against an i < 24 science sample, the fast estimator, five methods (under a minute), the
#: last what ``cosmoml nz --method auto`` picks for a shifted sample.
DEMO_EXPERIMENT = ShiftExperiment(
    n=100_000, surveys=["zcosmos", "deep2"], estimator="nn-fast",
    methods=["none", "lima", "som", "lima+cull", "lima+ppi+lines+cull"], n_boot=20,
)


def simulate(cfg: ShiftExperiment) -> tuple[pd.DataFrame, pd.DataFrame, ColumnMap]:
    """(spec-z selection with ``z_spec`` labels, science sample with true ``redshift``,
    columns) for the configured dataset and surveys."""
    from cosmoml.datasets import load_buzzard, load_dc2

    cols = DATASETS[cfg.dataset]
    if cfg.dataset == "buzzard":
        cat = load_buzzard(cfg.n, seed=cfg.seed)
        half = len(cat) // 2
        pool, sci = cat.iloc[:half].reset_index(drop=True), cat.iloc[half:]
    else:
        pool, sci = load_dc2("training"), load_dc2("validation")
    i_col = cols.mag_pattern.format(band="i")
    sci = sci[sci[i_col] < cfg.science_i_max].reset_index(drop=True)
    samples = []
    for k, name in enumerate(cfg.surveys):
        kw = {"max_objects": cfg.max_objects}
        if cfg.label_errors and name in FLAGGED:
            kw["min_flag"] = 3
        survey = PRESETS[name](**kw)
        samples.append(survey.select(pool, seed=cfg.seed * 100 + k, mag_pattern=cols.mag_pattern))
    train = combine_surveys(samples) if len(samples) > 1 else samples[0]
    if len(train) < 200:
        raise ConfigError(f"the survey selection kept only {len(train)} objects; choose a "
                          "larger n or another survey")
    return train, sci, cols


def compare_methods(
    train: pd.DataFrame,
    sci: pd.DataFrame,
    cols: ColumnMap,
    methods: Sequence[str] = DEFAULT_METHODS,
    estimator: str = "nn-fast",
    edges: Sequence[float] = DES_Y1_EDGES,
    seed: int = 0,
    n_boot: int = 50,
    progress: Callable[[str], None] | None = None,
    line_window: tuple[float, float] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """n(z) per bin for each method against the truth in ``sci['redshift']``
    (``line_window``: the spectrograph's window for the ``+lines`` label model).

    Returns (one row per method and bin, ``{method: NZResult}``).
    """
    z_true = sci["redshift"].to_numpy()
    rows, results = [], {}
    diag = None
    for method in methods:
        base, cull, nz_from, label_model, per_survey = parse_method(method)
        t0 = time.perf_counter()
        res = estimate_nz(train, sci, cols, method=base, estimator=estimator, edges=edges,
                          seed=seed, n_boot=n_boot, z_true=z_true, cull=cull,
                          diagnostics=diag, nz_from=nz_from,
                          label_model=label_model or "none",
                          flag_column="z_flag" if "z_flag" in train.columns else None,
                          line_window=line_window,
                          survey_column="survey" if per_survey else None)
        diag = res.diagnostics
        dt = time.perf_counter() - t0
        results[method] = res
        for r in res.table.to_dict(orient="records"):
            rows.append({"method": method, **r, "ess": res.correction.ess, "seconds": dt})
        if progress:
            progress(f"  {method:20s} {dt:6.1f} s  |Δ⟨z⟩| " + " ".join(
                f"{abs(v):.4f}" for v in res.table["delta_mean_z"]))
    return pd.DataFrame(rows), results


def run_shift_experiment(
    cfg: ShiftExperiment,
    output_dir: str | os.PathLike,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Run the experiment; write ``nz_methods.parquet``, ``culling.parquet``,
    ``results.json`` and ``report.html`` to ``output_dir``; return the results."""
    cfg.validate()
    say = progress or (lambda _m: None)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    spec, sci, cols = simulate(cfg)
    rng = np.random.default_rng([cfg.seed, 1])
    is_val = rng.random(len(spec)) < cfg.validation_fraction
    train, val = spec[~is_val].reset_index(drop=True), spec[is_val].reset_index(drop=True)
    say(f"{cfg.dataset}: spec-z sample {len(spec):,} ({', '.join(cfg.surveys)}; "
        f"{len(val):,} held out for validation), science sample {len(sci):,}")

    # validation vs science with the uncorrected model: the gap a validation set hides
    say(f"training '{cfg.estimator}' on the spec-z sample")
    model = PhotoZModel(cfg.estimator, estimator_params={"random_state": cfg.seed}).fit(
        train, cols)
    gap, zp = {}, {}
    for name, df, zcol in (("validation", val, "redshift"), ("science", sci, "redshift")):
        pdfs, ok = model.predict_pdf(df, name)
        m = evaluate(pdfs[ok], df[zcol].to_numpy()[ok])
        gap[name] = {k: m[k] for k in ("sigma68", "outlier_frac", "bias", "pit_ks", "crps")}
        zp[name] = (pdfs.median(), df[zcol].to_numpy())
    X_t, X_s, valid_s, names = shift_features(train, sci, cols)
    X_s = X_s[valid_s]
    _, X_v, valid_v, _ = shift_features(train, val, cols)
    X_v = X_v[valid_v]
    curves = []
    for cm in ("knn", "isolation"):
        samples = {
            "validation": (culling_scores(X_t, X_v, cm, random_state=cfg.seed),
                           *(a[valid_v] for a in zp["validation"])),
            "science": (culling_scores(X_t, X_s, cm, random_state=cfg.seed),
                        *(a[valid_s] for a in zp["science"])),
        }
        curves.append(culling_curve(samples, cfg.cull_fractions).assign(method=cm))
    curve = pd.concat(curves, ignore_index=True)

    say("n(z) with each correction")
    # the label model is told the simulated spectrograph's window, as a user tells it theirs
    table, results = compare_methods(train, sci, cols, cfg.methods, cfg.estimator, cfg.edges,
                                     cfg.seed, cfg.n_boot, progress=say,
                                     line_window=SPECTROGRAPH_WINDOW)
    cov = coverage(X_t, X_s)["in_ball"]
    write_table(table, out / "nz_methods.parquet")
    write_table(curve, out / "culling.parquet")
    first = next(iter(results.values()))
    summary = {
        "config": asdict(cfg),
        "cosmoml_version": __version__,
        "n_spec": len(spec), "n_train": len(train), "n_validation": len(val),
        "n_science": len(sci),
        "label_error_fraction": float(spec["z_wrong"].mean()),
        "diagnostics": first.diagnostics.to_dict(),
        "validation_vs_science": gap,
        "seconds": time.perf_counter() - t0,
    }
    with atomic_path(out / "results.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=1, default=float))
    _report(out / "report.html", cfg, summary, table, curve, results, X_t, X_s, cov, names,
            sci["redshift"].to_numpy())
    say(f"wrote {out / 'report.html'} ({summary['seconds']:.0f} s)")
    return {**summary, "table": table, "culling": curve}


def _report(path, cfg, summary, table, curve, results, X_t, X_s, cov, names, z_true):
    from cosmoml.report.html import photoz_report
    from cosmoml.report.plots import (
        plot_coverage_map,
        plot_culling_curve,
        plot_delta_z,
        plot_nz,
    )

    diag = summary["diagnostics"]
    gap = pd.DataFrame(summary["validation_vs_science"]).T.reset_index(names="sample")
    dz = table.pivot(index="bin", columns="method", values="delta_mean_z")[list(results)]
    dz = dz.reset_index()
    err = table.pivot(index="bin", columns="method", values="mean_z_err")[list(results)]
    err = err.reset_index()
    best = min(results, key=lambda m: np.nanmean(np.abs(results[m].table["delta_mean_z"])))
    res = results[best]
    assign, used = res.assignments, res.used
    jx, jy = names.index("g-r"), names.index("r-i")
    figures = {
        "Δ⟨z⟩ per bin and method (grey: ±0.002 (1 + z))": plot_delta_z(table),
        f"n(z) per bin, {best} (steps: truth)": plot_nz(
            res.grid, res.nz, res.table, z_true[used], assign["bin"].to_numpy()[used]),
        "metrics vs culled fraction": plot_culling_curve(curve),
        "outlier fraction vs culled fraction": plot_culling_curve(curve, "outlier_frac"),
        "science coverage in colour space": plot_coverage_map(
            X_s[:, jx], X_s[:, jy], cov, X_t[:, jx], X_t[:, jy], "g − r", "r − i"),
    }
    notes = [
        f"{cfg.dataset}: surveys {', '.join(cfg.surveys)}; spec-z sample "
        f"{summary['n_spec']:,} ({100 * summary['label_error_fraction']:.1f}% wrong labels), "
        f"science sample {summary['n_science']:,}; estimator {cfg.estimator}; seed {cfg.seed}.",
        f"Diagnostics: verdict {diag['verdict'].upper()}, classifier AUC {diag['auc']:.3f}, "
        f"science inside a training ball {100 * diag['covered_fraction']:.1f}%.",
        *(f"WARNING: {w}" for w in diag["warnings"]),
        f"Smallest mean |Δ⟨z⟩| over bins: {best}. Corrections see only photometry and "
        "training labels; the truth is used for scoring only.",
    ]
    tables = {"validation vs science (uncorrected model)": gap,
              "Δ⟨z⟩ per bin (estimated − true)": dz,
              "reported uncertainty of ⟨z⟩ per bin": err}
    if "none" in results and len(results) > 1:
        tables["shift of ⟨z⟩ against no correction (what a user sees without truth)"] = (
            method_shifts({m: r.table for m, r in results.items()}, "none"))
    photoz_report(path, "cosmoml shift experiment", {"verdict": diag["verdict"]}, figures,
                  notes=notes, tables=tables)
