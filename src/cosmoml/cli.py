"""The ``cosmoml`` command: a thin shell over :mod:`cosmoml.workflows`.

Options use the library's keyword names (``--mag-pattern`` is ``mag_pattern``). Errors
print one line naming the file, column and problem and exit with status 2.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from cosmoml import __version__
from cosmoml.errors import CosmomlError
from cosmoml.registry import DEFAULT_ESTIMATOR, SPECS

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help=(
        "cosmoml: photometric redshifts from catalogue to PDFs, metrics and report.\n\n"
        "Quick start:\n\n"
        "  cosmoml demo --output-dir demo_output\n\n"
        "  cosmoml train spec.parquet --model pz.cosmoml\n\n"
        "  cosmoml predict pz.cosmoml photo.parquet --output pz.parquet\n\n"
        "  cosmoml evaluate pz.parquet --truth photo_truth.parquet"
    ),
)
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

_EST_HELP = (
    f"Estimator (default: the most accurate, '{DEFAULT_ESTIMATOR}'). One of: "
    + "; ".join(f"{k} = {v.description}" for k, v in SPECS.items())
    + "."
)


def _progress(quiet: bool) -> Progress | None:
    if quiet:
        return None
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )


def _parse_params(items: list[str] | None) -> dict:
    params = {}
    for item in items or []:
        if "=" not in item:
            raise typer.BadParameter(f"--param expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


def _bands(value: str | None) -> list[str] | None:
    return [b.strip() for b in value.split(",") if b.strip()] if value else None


@app.command(
    epilog="Example: cosmoml train dc2_training.parquet --model pz.cosmoml --estimator lgbm "
    "--bands u,g,r,i,z,y --mag-pattern 'mag_{band}_lsst' --err-pattern 'mag_err_{band}_lsst'"
)
def train(
    catalog: Path = typer.Argument(..., help="Spec-z catalogue: parquet, HDF5, FITS or CSV."),
    model: Path = typer.Option(..., "--model", "-m", help="Model file to write (.cosmoml)."),
    estimator: str = typer.Option(DEFAULT_ESTIMATOR, help=_EST_HELP),
    bands: str = typer.Option(
        None, help="Comma-separated bands, e.g. u,g,r,i,z,y (auto-detected)."
    ),
    mag_pattern: str = typer.Option(None, help="Magnitude column pattern, e.g. 'mag_{band}_lsst'."),
    err_pattern: str = typer.Option(None, help="Error column pattern, e.g. 'mag_err_{band}_lsst'."),
    z_column: str = typer.Option(None, help="Redshift column (auto: redshift, z_spec, ...)."),
    id_column: str = typer.Option(None, help="Id column passed through to predictions."),
    weight_column: str = typer.Option(None, help="Per-object training weights column."),
    policy: str = typer.Option("limit", help="Non-detection policy: limit, drop or nan."),
    seed: int = typer.Option(0, help="Random seed (recorded in the model)."),
    param: list[str] = typer.Option(None, help="Estimator hyper-parameter key=value (repeatable)."),
    group: str = typer.Option(
        None, help="HDF5 group holding the columns (auto: root or photometry)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Train a photo-z model on a spectroscopic catalogue."""
    from cosmoml.workflows import train as run

    args = (
        catalog,
        model,
        estimator,
        _bands(bands),
        mag_pattern,
        err_pattern,
        z_column,
        id_column,
        weight_column,
        policy,
        seed,
        _parse_params(param),
        group,
    )
    if quiet:
        m = run(*args)
    else:
        with err.status(f"training '{estimator}' on {catalog} ..."):
            m = run(*args)
    d = m.describe()
    out.print(
        f"wrote {model}: {d['estimator']} on bands {','.join(d['bands'])} "
        f"({d['training']['n_used']:,} galaxies; magnitudes {d['magnitude_columns'][0]}..., "
        f"non-detections: {d['non_detection_policy']})"
    )


@app.command(
    epilog="Examples: cosmoml predict pz.cosmoml photometry.parquet --output pz.parquet;  "
    "cosmoml predict pz.cosmoml 'survey/*.parquet' --output pz_dataset/  (a directory: "
    "streamed part by part, resumable: rerun the same command after a crash)"
)
def predict(
    model: Path = typer.Argument(..., help="Model file from 'cosmoml train'."),
    catalog: str = typer.Argument(
        ..., help="Photometric catalogue: a file, a directory of files or a glob pattern."),
    output: Path = typer.Option(
        ..., "--output", "-o",
        help="Output .parquet, .hdf5 for a qp ensemble, or a directory for a streamed "
        "parquet dataset with a manifest."),
    no_pdf: bool = typer.Option(False, "--no-pdf", help="Point estimates only (parquet)."),
    chunk_size: int = typer.Option(100_000, help="Rows per prediction chunk."),
    part_rows: int = typer.Option(1_000_000, help="Rows per output part (directory output)."),
    skip_bad_parts: bool = typer.Option(
        False, "--skip-bad-parts",
        help="Directory output: record an unreadable part as failed and go on."),
    pdf_encoding: str = typer.Option(
        "float32", help="Directory output: PDF storage, float32, float16 or quantiles:N "
        "(quantiles:32 = 128 bytes a galaxy; see README for the measured fidelity)."),
    engine: str = typer.Option(
        "local", help="Directory output: 'local' (this process) or 'dask' (a dask.distributed "
        "cluster; same results)."),
    scheduler: str = typer.Option(None, help="Dask scheduler address (default: a local "
                                  "cluster)."),
    workers: int = typer.Option(None, help="Workers of the local Dask cluster (default 2)."),
    bad_values: str = typer.Option(
        "flag", help="A magnitude that is not a number: 'flag' (treated as a non-detection, "
        "flag bit 4) or 'raise' (stop with an error naming the file and column)."),
    group: str = typer.Option(None, help="HDF5 group holding the columns."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Predict redshift PDFs and point estimates for every row of a catalogue.

    The output 'flag' column is a bitmask: 0 clean, 1 no prediction (no usable band),
    2 a band non-detected (handled by the model's policy), 4 a value that was not a number.
    """
    from cosmoml.catalog.io import file_format
    from cosmoml.errors import CatalogError

    try:
        single = (file_format(output) in ("parquet", "hdf5") and Path(catalog).is_file()
                  and engine == "local")
    except CatalogError:
        single = False
    if not single:
        from cosmoml.engine import run_predict

        prog = _progress(quiet)
        kw = dict(chunk_size=chunk_size, part_rows=part_rows, with_pdf=not no_pdf,
                  group=group, skip_bad_parts=skip_bad_parts, pdf_encoding=pdf_encoding,
                  engine=engine, scheduler=scheduler, workers=workers, bad_values=bad_values)
        if prog is None:
            res = run_predict(model, catalog, output, **kw)
        else:
            with prog:
                task = prog.add_task("predicting parts", total=None)
                res = run_predict(model, catalog, output, **kw,
                                  progress=lambda k, n: prog.update(task, completed=k, total=n))
        resumed = sum(1 for p in res["parts"] if p.get("resumed"))
        out.print(
            f"wrote {output}: {res['output_rows']:,} rows in {len(res['parts'])} part(s) "
            f"({resumed} resumed) + {res['failed_rows']:,} rows in failed parts = "
            f"{res['input_rows']:,} input rows; flagged: {_flag_summary(res['flagged_rows'])}"
        )
        for f in res["unreadable_files"]:
            err.print(f"error: {f} could not be read (rows unknown)", markup=False)
        if not res["complete"]:
            err.print("error: some parts failed; see the manifest", markup=False)
            raise typer.Exit(2)
        return
    from cosmoml.workflows import predict as run

    prog = _progress(quiet)
    if prog is None:
        result = run(model, catalog, output, not no_pdf, chunk_size, group,
                     bad_values=bad_values)
    else:
        with prog:
            task = prog.add_task("predicting", total=None)
            result = run(
                model,
                catalog,
                output,
                not no_pdf,
                chunk_size,
                group,
                progress=lambda n: prog.update(task, advance=n),
                bad_values=bad_values,
            )
    from cosmoml.model import flag_counts

    counts = flag_counts(result["flag"].to_numpy())
    out.print(f"wrote {output}: {len(result):,} rows; flagged: {_flag_summary(counts)}")


def _flag_summary(counts: dict[str, int]) -> str:
    """'12 without a prediction, 3,401 with a non-detection, 1 with a bad value'."""
    words = {"no_pdf": "without a prediction", "nondetection": "with a non-detected band",
             "bad_value": "with a value that is not a number"}
    return ", ".join(f"{counts[k]:,} {w}" for k, w in words.items())


@app.command(
    epilog="Example: cosmoml evaluate pz.parquet --truth validation.parquet --json metrics.json"
)
def evaluate(
    predictions: Path = typer.Argument(..., help="Predictions from 'cosmoml predict'."),
    truth: Path = typer.Option(..., "--truth", help="Catalogue with the true redshifts."),
    z_column: str = typer.Option(None, help="True redshift column (auto-detected)."),
    id_column: str = typer.Option(None, help="Id column to match rows (else row order)."),
    point: str = typer.Option("z_median", help="Point estimate to score."),
    edges: str = typer.Option("0.2,0.43,0.63,0.9,1.3", help="Tomographic bin edges."),
    json_file: Path = typer.Option(None, "--json", help="Also write the metrics as JSON."),
) -> None:
    """Score predictions with the field's metrics (DESIGN.md §3)."""
    from cosmoml.workflows import evaluate as run

    res = run(
        predictions,
        truth,
        z_column,
        id_column,
        point,
        [float(x) for x in edges.split(",")],
        json_file,
    )
    t = Table(title=f"photo-z metrics ({point}, {res['n']:,} galaxies)")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in res.items():
        if k in ("pit_hist", "tomography", "point_estimate"):
            continue
        t.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    out.print(t)
    if "tomography" in res:
        tt = Table(title="tomographic bins (stacked PDFs vs truth)")
        for c in ("bin", "z_lo", "z_hi", "n_objects", "mean_z", "mean_z_true", "delta_mean_z"):
            tt.add_column(c, justify="right")
        for r in res["tomography"]:
            tt.add_row(
                *(
                    f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c])
                    for c in (
                        "bin",
                        "z_lo",
                        "z_hi",
                        "n_objects",
                        "mean_z",
                        "mean_z_true",
                        "delta_mean_z",
                    )
                )
            )
        out.print(tt)


@app.command(epilog="Example: cosmoml demo --output-dir demo_output")
def demo(
    output_dir: Path = typer.Option(
        Path("demo_output"), help="Directory for model, predictions, report."
    ),
    estimator: str = typer.Option(DEFAULT_ESTIMATOR, help=_EST_HELP),
    seed: int = typer.Option(0, help="Random seed."),
    shift: bool = typer.Option(True, "--shift/--no-shift",
                               help="Also run the unrepresentative-training-data story."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Train on the shipped DC2 data, predict, evaluate and write an HTML report; then show
    what an unrepresentative spec-z sample does and how cosmoml measures and corrects it."""
    from cosmoml.workflows import demo as run

    res = run(output_dir, estimator, seed, progress=None if quiet else (lambda m: err.print(m)),
              shift=shift)
    out.print(
        f"σ68 = {res['sigma68']:.4f}, outliers = {100 * res['outlier_frac']:.2f}%, "
        f"PIT KS = {res['pit_ks']:.3f}, CRPS = {res['crps']:.4f}; "
        f"report: {Path(output_dir) / 'report.html'}"
    )
    if shift:
        out.print(
            f"unrepresentative spec-z sample: σ68 {res['shift_validation_sigma68']:.4f} on "
            f"validation but {res['shift_science_sigma68']:.4f} on the science sample; "
            f"report: {Path(output_dir) / 'shift' / 'report.html'}"
        )


_NZ_METHODS = "auto, none, lima, classifier, stratlearn or som"
shift_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None,
    help="Covariate shift between a spec-z training set and a science sample.",
)
app.add_typer(shift_app, name="shift")


def _column_opts(bands, mag_pattern, err_pattern, z_column, id_column, group) -> dict:
    return {"bands": _bands(bands), "mag_pattern": mag_pattern, "err_pattern": err_pattern,
            "z_column": z_column, "id_column": id_column, "group": group}


_TRAIN_ARG = typer.Argument(..., help="Spec-z training catalogue (with redshifts).")
_SCI_ARG = typer.Argument(..., help="Science (photometric) catalogue, same photometry columns.")
_BANDS = typer.Option(None, help="Comma-separated bands, e.g. u,g,r,i,z,y (auto-detected).")
_MAGP = typer.Option(None, help="Magnitude column pattern, e.g. 'mag_{band}_lsst'.")
_ERRP = typer.Option(None, help="Error column pattern, e.g. 'mag_err_{band}_lsst'.")
_ZCOL = typer.Option(None, help="Training redshift column (auto-detected).")
_IDCOL = typer.Option(None, help="Id column passed through (auto: id, objectId, ...).")
_GROUP = typer.Option(None, help="HDF5 group holding the columns.")


@app.command(
    "nz",
    epilog="Example: cosmoml nz spec.parquet science.parquet --output nz_out --method auto "
    "--edges 0.2,0.43,0.63,0.9,1.3",
)
def nz_cmd(
    train: Path = _TRAIN_ARG,
    science: Path = _SCI_ARG,
    output: Path = typer.Option(..., "--output", "-o", help="Output directory."),
    method: str = typer.Option("auto", help=f"Shift correction: {_NZ_METHODS}. 'auto' uses "
                               "none when no shift is detected, else lima with --cull."),
    cull: bool = typer.Option(None, "--cull/--no-cull", help="n(z) of the covered (gold) "
                              "science objects only (default: auto decides; else no)."),
    estimator: str = typer.Option(DEFAULT_ESTIMATOR, help=_EST_HELP),
    edges: str = typer.Option("0.2,0.43,0.63,0.9,1.3", help="Tomographic bin edges."),
    seed: int = typer.Option(0, help="Random seed (recorded in the outputs)."),
    n_boot: int = typer.Option(100, help="Bootstrap resamples for the uncertainties."),
    param: list[str] = typer.Option(None, help="Estimator hyper-parameter key=value."),
    bands: str = _BANDS, mag_pattern: str = _MAGP, err_pattern: str = _ERRP,
    z_column: str = _ZCOL, id_column: str = _IDCOL, group: str = _GROUP,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Tomographic n(z) of a science sample, corrected for an unrepresentative training set:
    writes nz.parquet, assignments.parquet, diagnostics.json and summary.html."""
    from cosmoml.workflows_shift import nz as run

    cols = _column_opts(bands, mag_pattern, err_pattern, z_column, id_column, group)
    kw = dict(method=method, estimator=estimator, edges=[float(x) for x in edges.split(",")],
              seed=seed, n_boot=n_boot, params=_parse_params(param), cull=cull, **cols)
    if quiet:
        res = run(train, science, output, **kw)
    else:
        with err.status(f"n(z): diagnostics, correction, training '{estimator}' ..."):
            res = run(train, science, output, **kw)
    d = res.diagnostics
    for w in d.warnings:
        err.print(f"WARNING: {w}", markup=False, highlight=False)
    t = Table(title=f"n(z) per bin (method {res.method}; verdict: {d.verdict})")
    for c in ("bin", "z_lo", "z_hi", "n_objects", "mean_z", "mean_z_err", "covered_fraction"):
        t.add_column(c, justify="right")
    for r in res.table.itertuples():
        t.add_row(str(r.bin), f"{r.z_lo:.2f}", f"{r.z_hi:.2f}", f"{r.n_objects:,}",
                  f"{r.mean_z:.4f}", f"{r.mean_z_err:.4f}", f"{r.covered_fraction:.3f}")
    out.print(t)
    out.print(f"wrote {output}/nz.parquet, assignments.parquet, diagnostics.json, summary.html")


@shift_app.command(
    "diagnose", epilog="Example: cosmoml shift diagnose spec.parquet science.parquet --json d.json"
)
def shift_diagnose_cmd(
    train: Path = _TRAIN_ARG,
    science: Path = _SCI_ARG,
    json_file: Path = typer.Option(None, "--json", help="Also write the diagnostics as JSON."),
    seed: int = typer.Option(0, help="Random seed."),
    bands: str = _BANDS, mag_pattern: str = _MAGP, err_pattern: str = _ERRP,
    z_column: str = _ZCOL, id_column: str = _IDCOL, group: str = _GROUP,
) -> None:
    """How unrepresentative is the training set? Coverage, classifier AUC, feature shifts."""
    from cosmoml.workflows_shift import shift_diagnose as run

    diag = run(train, science, json_file, seed,
               **_column_opts(bands, mag_pattern, err_pattern, z_column, id_column, group))
    out.print(diag.summary(), markup=False, highlight=False)


@shift_app.command(
    "weights",
    epilog="Example: cosmoml shift weights spec.parquet science.parquet --method classifier "
    "--output spec_weighted.parquet",
)
def shift_weights_cmd(
    train: Path = _TRAIN_ARG,
    science: Path = _SCI_ARG,
    output: Path = typer.Option(..., "--output", "-o", help="TRAIN with a weight column."),
    method: str = typer.Option("lima", help="lima, classifier, stratlearn, som or none."),
    weight_column: str = typer.Option("weight", help="Name of the added column."),
    seed: int = typer.Option(0, help="Random seed."),
    bands: str = _BANDS, mag_pattern: str = _MAGP, err_pattern: str = _ERRP,
    z_column: str = _ZCOL, id_column: str = _IDCOL, group: str = _GROUP,
) -> None:
    """Per-training-object weights that make TRAIN look like SCIENCE (for your own pipeline;
    'cosmoml train --weight-column weight' consumes them)."""
    from cosmoml.workflows_shift import shift_weights as run

    corr = run(train, science, output, method, seed, weight_column,
               **_column_opts(bands, mag_pattern, err_pattern, z_column, id_column, group))
    s = corr.summary()
    out.print(f"wrote {output}: method {method}, effective sample size {s['ess']:.0f} of "
              f"{s['n_train']:,}, science covered {100 * s['covered_fraction']:.1f}%")


experiment_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None,
    help="Experiments on the shipped simulations.",
)
app.add_typer(experiment_app, name="experiment")


@experiment_app.command(
    "shift",
    epilog="Example: cosmoml experiment shift --surveys zcosmos,deep2 --label-errors "
    "--output-dir shift_out   (or --config shift.toml with the same keys: dataset, n, "
    "science_i_max, surveys, max_objects, label_errors, estimator, methods, edges, "
    "validation_fraction, cull_fractions, n_boot, seed)",
)
def experiment_shift(
    output_dir: Path = typer.Option(Path("shift_output"), help="Directory for the outputs."),
    config: Path = typer.Option(None, help="JSON or TOML config; flags override it."),
    dataset: str = typer.Option(None, help="buzzard (default) or dc2."),
    n: int = typer.Option(None, help="Buzzard galaxies to load (default 100000)."),
    science_i_max: float = typer.Option(None, help="Science sample i limit (default 24)."),
    surveys: str = typer.Option(
        None, help="Comma-separated presets: magnitude-limited, deep2, boss, vvds, zcosmos, "
        "cosmos (default zcosmos); several are combined."),
    max_objects: int = typer.Option(None, help="Cap on each survey's sample."),
    label_errors: bool = typer.Option(None, "--label-errors/--no-label-errors",
                                      help="Flag-induced label errors (flag >= 3 kept)."),
    estimator: str = typer.Option(None, help=_EST_HELP + " Default nn-fast."),
    methods: str = typer.Option(None, help="Comma-separated corrections; '+cull' culls "
                                "uncovered objects (default none,lima,classifier,"
                                "stratlearn,som,lima+cull)."),
    edges: str = typer.Option(None, help="Tomographic bin edges."),
    n_boot: int = typer.Option(None, help="Bootstrap resamples (default 50)."),
    seed: int = typer.Option(None, help="Random seed (default 0)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Simulate a spec-z selection on shipped data, train, correct with every method and
    write an HTML report (validation vs science, culling curves, n(z), Δ⟨z⟩, coverage)."""
    from cosmoml.experiment import ShiftExperiment, run_shift_experiment

    flags = {
        "dataset": dataset, "n": n, "science_i_max": science_i_max,
        "surveys": _bands(surveys), "max_objects": max_objects, "label_errors": label_errors,
        "estimator": estimator, "methods": _bands(methods),
        "edges": [float(x) for x in edges.split(",")] if edges else None,
        "n_boot": n_boot, "seed": seed,
    }
    if config is not None:
        cfg = ShiftExperiment.from_file(config, **flags)
    else:
        cfg = ShiftExperiment.from_dict({k: v for k, v in flags.items() if v is not None},
                                        "command line")
    res = run_shift_experiment(cfg, output_dir,
                               progress=None if quiet else (lambda m: err.print(m)))
    d = res["diagnostics"]
    out.print(f"verdict {d['verdict']}: AUC {d['auc']:.3f}, covered "
              f"{100 * d['covered_fraction']:.1f}%; report: {Path(output_dir) / 'report.html'}")


calibrate_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None,
    help="n(z) calibration without a representative spec-z sample (deep fields, clustering "
    "redshifts, their combination).",
)
app.add_typer(calibrate_app, name="calibrate")


@calibrate_app.command(
    "combine",
    epilog="Example: cosmoml calibrate combine shifts.csv --output combined.csv  "
    "(shifts.csv: columns method,bin,dz,sigma; one row per method and bin)",
)
def calibrate_combine_cmd(
    shifts: Path = typer.Argument(..., help="CSV or parquet: method, bin, dz, sigma."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the table as CSV."),
    p_threshold: float = typer.Option(0.01, help="χ² p-value below which a bin's methods "
                                      "are inconsistent."),
    inflate: bool = typer.Option(True, help="Inflate an inconsistent bin's σ by √(χ²/dof)."),
) -> None:
    """Inverse-variance combination of per-bin Δz from several methods, with a χ²
    consistency test per bin (DES Y1's table)."""
    from cosmoml.workflows_calibration import combine_file

    table = combine_file(shifts, output, p_threshold, inflate)
    t = Table(title="combined mean-redshift shifts")
    for c in ("bin", "dz_combined", "sigma_combined", "chi2", "dof", "p_value",
              "max_tension_sigma", "inconsistent"):
        t.add_column(c)
    for _, r in table.iterrows():
        t.add_row(str(int(r["bin"])), f"{r['dz_combined']:+.4f}", f"{r['sigma_combined']:.4f}",
                  f"{r['chi2']:.2f}", str(int(r["dof"])), f"{r['p_value']:.3f}",
                  f"{r['max_tension_sigma']:.1f}", "YES" if r["inconsistent"] else "no")
    out.print(t)
    bad = table.loc[table["inconsistent"], "bin"].astype(int).tolist()
    if bad:
        note = "; their combined σ is inflated" if inflate else ""
        err.print(f"warning: the methods disagree in bin(s) {bad} (p < {p_threshold}){note}",
                  markup=False)
    if output:
        out.print(f"wrote {output}")


@app.command()
def version() -> None:
    """Print the cosmoml version."""
    out.print(__version__)


def main() -> None:
    """Entry point: run the app, turning cosmoml errors into one line and exit status 2."""
    logging.basicConfig(level=logging.WARNING)
    try:
        app(standalone_mode=False)
    except CosmomlError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
