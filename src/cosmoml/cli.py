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


def _window(value: str | None) -> tuple[float, float] | None:
    """``--line-window LO,HI`` (Å) as a pair of floats, 0 < LO < HI."""
    if value is None:
        return None
    try:
        lo, hi = (float(x) for x in value.split(","))
    except ValueError:
        raise typer.BadParameter(f"--line-window expects LO,HI in Å, got {value!r}") from None
    if not 0 < lo < hi:
        raise typer.BadParameter(f"--line-window needs 0 < LO < HI, got {value!r}")
    return lo, hi


def _edges(value: str | None) -> list[float] | None:
    """``--edges`` as numbers (their order is checked where they are used)."""
    if value is None:
        return None
    try:
        return [float(x) for x in value.split(",")]
    except ValueError:
        raise typer.BadParameter(f"--edges: {value!r} is not comma-separated numbers") from None


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


_SCHEDULER = typer.Option(None, help="Dask scheduler address (default: a local cluster).")
_WORKERS = typer.Option(None, help="Workers of the local Dask cluster (default 2).")
_DASK_PROC = typer.Option(False, help="Local Dask cluster of worker processes instead of "
                          "threads (slower to start).")


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
    scheduler: str = _SCHEDULER, workers: int = _WORKERS, dask_processes: bool = _DASK_PROC,
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
        fmt = file_format(output)
    except CatalogError:  # no catalogue suffix: a directory
        fmt = None
    if fmt in ("csv", "fits"):  # would otherwise become a directory of that name
        raise CatalogError(f"{output}: predictions are written as .parquet, .hdf5 (a qp "
                           f"ensemble) or a directory, not {fmt.upper()}")
    single = fmt in ("parquet", "hdf5") and Path(catalog).is_file() and engine == "local"
    if not single:
        from cosmoml.engine import run_predict

        prog = _progress(quiet)
        kw = dict(chunk_size=chunk_size, part_rows=part_rows, with_pdf=not no_pdf,
                  group=group, skip_bad_parts=skip_bad_parts, pdf_encoding=pdf_encoding,
                  engine=engine, scheduler=scheduler, workers=workers, bad_values=bad_values,
                  dask_processes=dask_processes)
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
        _edges(edges),
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


_NZ_METHODS = "auto, none, lima, classifier, stratlearn, som or success"
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
_SAMPLE = typer.Option(None, help="Science rows held in memory (default 2 million): a larger "
                       "SCIENCE is sampled at random to this many.")
_SURVEY = typer.Option(None, help="Training column naming each object's survey, for a "
                       "compilation: --method success then fits one success surface per "
                       "footprint of the surveys' targeting (ignored by other methods).")


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
                               "none when no shift is detected, else lima with --cull; "
                               "both with --nz-from ppi --line-confusion."),
    cull: bool = typer.Option(None, "--cull/--no-cull", help="n(z) of the covered (gold) "
                              "science objects only (default: auto decides; else no)."),
    nz_from: str = typer.Option(
        None, help="How each bin's n(z) is formed: stack (science PDFs), ppi (stacked "
        "PDFs shifted by the weighted calibration residual), dir (weighted spec-z "
        "histogram) or point (histogram of point estimates). Default: ppi with --method "
        "auto, else stack."),
    line_confusion: bool = typer.Option(
        None, "--line-confusion/--no-line-confusion", help="Model wrong labels from "
        "emission-line confusion against the photo-z PDFs and calibrate with each label's "
        "expected true redshift (one wrong-label rate per --flag-column value). Default: "
        "on with --method auto, else off."),
    flag_column: str = typer.Option(None, help="Training column of spec-z confidence flags "
                                    "(used with --line-confusion)."),
    line_window: str = typer.Option(
        None, help="The spectrograph's wavelength range in Å, e.g. 3600,9500: a confused "
        "line must have been seen there, which sharpens --line-confusion. Default: any."),
    survey_column: str = _SURVEY,
    estimator: str = typer.Option(DEFAULT_ESTIMATOR, help=_EST_HELP),
    edges: str = typer.Option("0.2,0.43,0.63,0.9,1.3", help="Tomographic bin edges."),
    seed: int = typer.Option(0, help="Random seed (recorded in the outputs)."),
    n_boot: int = typer.Option(100, help="Bootstrap resamples for the uncertainties."),
    sample_rows: int = typer.Option(
        None, help="Science rows held in memory (default 2 million). A larger SCIENCE is "
        "read and predicted part by part, with diagnostics and correction from a random "
        "sample of this many rows."),
    engine: str = typer.Option(
        "local", help="Who predicts a SCIENCE read part by part: 'local' (this process) or "
        "'dask' (a dask.distributed cluster, whose workers must see --output; same "
        "results)."),
    scheduler: str = _SCHEDULER, workers: int = _WORKERS, dask_processes: bool = _DASK_PROC,
    param: list[str] = typer.Option(None, help="Estimator hyper-parameter key=value."),
    sample: str = typer.Option(
        "source", help="What the science sample is for: 'source' (weak lensing) or 'lens' "
        "(clustering); names the n(z) in nz.sacc (source_0, ...; quantity galaxy_shear or "
        "galaxy_density) and nz_2pt.fits (extension nz_source or nz_lens)."),
    bands: str = _BANDS, mag_pattern: str = _MAGP, err_pattern: str = _ERRP,
    z_column: str = _ZCOL, id_column: str = _IDCOL, group: str = _GROUP,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Tomographic n(z) of a science sample, corrected for an unrepresentative training set:
    writes nz.parquet, assignments.parquet, diagnostics.json and summary.html, and the n(z)
    for likelihood codes: nz.sacc (SACC, with each bin's mean-redshift error as its Δz
    prior), nz_2pt.fits (2pt FITS, CosmoSIS) and nz_qp.hdf5 (qp). SCIENCE may be a file,
    a directory of files or a glob pattern, of any size; a run over one read part by part
    that was stopped resumes when the same command is run again."""
    from cosmoml.workflows_shift import nz as run

    cols = _column_opts(bands, mag_pattern, err_pattern, z_column, id_column, group)
    kw = dict(method=method, estimator=estimator, edges=_edges(edges),
              seed=seed, n_boot=n_boot, params=_parse_params(param), cull=cull,
              nz_from=nz_from, line_confusion=line_confusion, flag_column=flag_column,
              line_window=_window(line_window), survey_column=survey_column,
              sample_rows=sample_rows, engine=engine, scheduler=scheduler, workers=workers,
              dask_processes=dask_processes, sample=sample, **cols)
    prog = _progress(quiet)
    if prog is None:
        res = run(train, science, output, **kw)
    else:
        with prog:
            task = prog.add_task(f"n(z): diagnostics, correction, training '{estimator}'",
                                 total=None)

            def advance(done: int, total: int) -> None:
                prog.update(task, description="n(z): predicting the science objects",
                            completed=done, total=total)

            res = run(train, science, output, progress=advance, **kw)
    d = res.diagnostics
    if res.resumed:  # an earlier run of this command was stopped
        r = res.resumed
        err.print(f"resumed a stopped run: {'its fit reused, ' if r['fit'] else ''}"
                  f"{r['parts']} of {r['of']} parts already predicted", highlight=False)
    for w in res.warnings:
        err.print(f"WARNING: {w}", markup=False, highlight=False)
    t = Table(title=f"n(z) per bin (method {res.method}; verdict: {d.verdict})")
    for c in ("bin", "z_lo", "z_hi", "n_objects", "mean_z", "mean_z_err", "covered_fraction"):
        t.add_column(c, justify="right")
    for r in res.table.itertuples():
        t.add_row(str(r.bin), f"{r.z_lo:.2f}", f"{r.z_hi:.2f}", f"{r.n_objects:,}",
                  f"{r.mean_z:.4f}", f"{r.mean_z_err:.4f}", f"{r.covered_fraction:.3f}")
    out.print(t)
    out.print(f"wrote {output}/nz.parquet, assignments.parquet, diagnostics.json, "
              "summary.html, nz.sacc, nz_2pt.fits, nz_qp.hdf5")


@shift_app.command(
    "diagnose", epilog="Example: cosmoml shift diagnose spec.parquet science.parquet --json d.json"
)
def shift_diagnose_cmd(
    train: Path = _TRAIN_ARG,
    science: Path = _SCI_ARG,
    json_file: Path = typer.Option(None, "--json", help="Also write the diagnostics as JSON."),
    seed: int = typer.Option(0, help="Random seed."),
    sample_rows: int = _SAMPLE,
    bands: str = _BANDS, mag_pattern: str = _MAGP, err_pattern: str = _ERRP,
    z_column: str = _ZCOL, id_column: str = _IDCOL, group: str = _GROUP,
) -> None:
    """How unrepresentative is the training set? Coverage, classifier AUC, feature shifts.
    SCIENCE may be a file, a directory of files or a glob pattern."""
    from cosmoml.workflows_shift import shift_diagnose as run

    diag = run(train, science, json_file, seed, sample_rows=sample_rows,
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
    method: str = typer.Option("lima", help="lima, classifier, stratlearn, som, success "
                               "(label-dependent; uses the training redshifts) or none."),
    weight_column: str = typer.Option("weight", help="Name of the added column."),
    survey_column: str = _SURVEY,
    seed: int = typer.Option(0, help="Random seed."),
    sample_rows: int = _SAMPLE,
    bands: str = _BANDS, mag_pattern: str = _MAGP, err_pattern: str = _ERRP,
    z_column: str = _ZCOL, id_column: str = _IDCOL, group: str = _GROUP,
) -> None:
    """Per-training-object weights that make TRAIN look like SCIENCE (for your own pipeline;
    'cosmoml train --weight-column weight' consumes them). SCIENCE may be a file, a
    directory of files or a glob pattern."""
    from cosmoml.workflows_shift import shift_weights as run

    corr = run(train, science, output, method, seed, weight_column, survey_column,
               sample_rows=sample_rows,
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
    methods: str = typer.Option(None, help="Comma-separated corrections, each optionally "
                                "+cull (uncovered objects culled), +lines (line-confusion "
                                "label model), +survey (success per survey footprint) and "
                                "one of +dir, +point, +ppi (default none,"
                                "lima,classifier,stratlearn,som,lima+dir,lima+cull,"
                                "lima+ppi+lines+cull)."),
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
        "edges": _edges(edges or None),
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
    shifts: list[Path] = typer.Argument(..., help="CSV or parquet files: method, bin, "
                                         "sigma and dz (or mean_z), one row per method and "
                                         "bin; e.g. the tables of calibrate deepfield and "
                                         "calibrate clustering."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the table as CSV."),
    p_threshold: float = typer.Option(0.01, help="χ² p-value below which a bin's methods "
                                      "are inconsistent."),
    inflate: bool = typer.Option(True, help="Inflate an inconsistent bin's σ by √(χ²/dof)."),
    nz_sacc: Path = typer.Option(None, help="The photo-z n(z) as cosmoml nz writes it "
                                 "(nz.sacc): written again to --sacc-output with each bin's "
                                 "Δz prior from the combination."),
    sacc_output: Path = typer.Option(None, help="Where to write the calibrated SACC file."),
) -> None:
    """Inverse-variance combination of per-bin Δz from several methods, with a χ²
    consistency test per bin (DES Y1's table); with --nz-sacc, the photo-z n(z) with the
    combined Δz priors, ready for a likelihood."""
    from cosmoml.workflows_calibration import combine_file

    table = combine_file(list(shifts), output, p_threshold, inflate, nz_sacc, sacc_output)
    v = "dz" if "dz_combined" in table.columns else "mean_z"
    t = Table(title="combined mean redshifts" if v == "mean_z" else
              "combined mean-redshift shifts")
    for c in ("bin", f"{v}_combined", "sigma_combined", "chi2", "dof", "p_value",
              "max_tension_sigma", "inconsistent"):
        t.add_column(c)
    for _, r in table.iterrows():
        t.add_row(str(int(r["bin"])), f"{r[f'{v}_combined']:+.4f}",
                  f"{r['sigma_combined']:.4f}",
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


def _calibration_table(title: str, table, columns: tuple[str, ...], written=()) -> None:
    """Print a calibration table, then the files written."""
    t = Table(title=title)
    for c in columns:
        t.add_column(c)
    for _, r in table.iterrows():
        t.add_row(*[str(int(r[c])) if c in ("bin", "n", "n_unknown") else
                    ("YES" if r[c] else "no") if c == "bias_flag" else f"{r[c]:.4f}"
                    for c in columns])
    out.print(t)
    for p in written:
        if p:
            out.print(f"wrote {p}")


@calibrate_app.command(
    "clustering",
    epilog="Example: cosmoml calibrate clustering unknown.parquet reference.parquet "
    "randoms.parquet --windows 0:0.68,0.18:0.88,0.38:1.15,0.65:1.55 --output wz.csv "
    "--nz-output wz_nz.csv",
)
def calibrate_clustering_cmd(
    unknown: Path = typer.Argument(..., help="Photometric sample: ra, dec (deg), bin."),
    reference: Path = typer.Argument(..., help="Spectroscopic sample: ra, dec (deg), z."),
    randoms: Path = typer.Argument(..., help="Randoms on the common footprint: ra, dec."),
    output: Path = typer.Option(None, "--output", "-o", help="Per-bin table (CSV)."),
    nz_output: Path = typer.Option(None, help="n(z) per bin on the slice centres (CSV)."),
    bin_column: str = typer.Option("bin", help="Tomographic bin column (-1 = none)."),
    z_column: str = typer.Option("z", help="Reference redshift column."),
    windows: str = typer.Option(None, help="Per bin lo:hi window of its mean redshift, "
                                "comma-separated (default: the whole range)."),
    window_nz: Path = typer.Option(None, help="Windows from this photo-z n(z) instead "
                                   "(nz.parquet of `cosmoml nz` or z,bin0,... CSV): mean ± "
                                   "--window-sigma σ per bin."),
    window_sigma: float = typer.Option(2.0, help="Half-width of --window-nz windows in σ."),
    z_min: float = typer.Option(None, help="Lowest slice edge (default: the reference's)."),
    z_max: float = typer.Option(None, help="Highest slice edge."),
    dz: float = typer.Option(0.05, help="Slice width."),
    r_min_mpc: float = typer.Option(1.0, help="Inner proper scale (Mpc)."),
    r_max_mpc: float = typer.Option(5.0, help="Outer proper scale (Mpc)."),
    npatch: int = typer.Option(16, help="Jackknife sky patches."),
    bias_index: float = typer.Option(0.0, help="Unknown bias evolution γ, b_u ∝ (1+z)^γ."),
    bias_index_sigma: float = typer.Option(1.0, help="Prior width of γ (systematic term)."),
    fit_bias_index: bool = typer.Option(False, help="Fit γ from the bins' clustering "
                                        "amplitudes and correct with it (its error as Δγ)."),
    cross_patch_weight: str = typer.Option("simple", help="Jackknife weight of pairs "
                                           "across a deleted patch: simple (drop them) or "
                                           "match (Mohammad & Percival 2022)."),
    seed: int = typer.Option(0),
) -> None:
    """Clustering redshifts: n(z) and mean redshift of each bin from the angular
    cross-correlation with a spectroscopic sample in thin slices (TreeCorr), with
    jackknife errors and the bias-evolution systematic."""
    from cosmoml.workflows_calibration import clustering_file

    res = clustering_file(unknown, reference, randoms, output, nz_output, bin_column,
                          z_column, windows, window_nz, window_sigma, z_min, z_max, dz,
                          r_min_mpc=r_min_mpc,
                          r_max_mpc=r_max_mpc, npatch=npatch, bias_index=bias_index,
                          bias_index_sigma=bias_index_sigma,
                          fit_bias_index=fit_bias_index,
                          cross_patch_weight=cross_patch_weight, seed=seed)
    g, gs = res.bias_index_fit, res.bias_index_fit_sigma
    out.print(f"bias evolution measured from the bins' amplitudes: γ = {g:+.2f} ± {gs:.2f}"
              + (" (used)" if fit_bias_index else f" (used: {bias_index:g} ± "
                 f"{bias_index_sigma:g})"))
    if res.bias_evolution_detected and not fit_bias_index:
        err.print(f"warning: the unknown sample's bias evolves (γ = {g:+.2f} ± {gs:.2f}, "
                  f"> 3σ from 0) but γ = {bias_index:g} was assumed: rerun with "
                  "--fit-bias-index or --bias-index", markup=False)
    _calibration_table("clustering redshifts", res.table,
                       ("bin", "n_unknown", "mean_z", "sigma_stat", "sigma_bias", "sigma",
                        "bias_flag"), (output, nz_output))
    flagged = res.table.loc[res.table["bias_flag"], "bin"].astype(int).tolist()
    if flagged:
        err.print(f"warning: in bin(s) {flagged} the unknown sample's bias evolution "
                  f"(γ = {bias_index:g} ± {bias_index_sigma:g}) moves the mean more than "
                  "the statistical error (sigma includes it)", markup=False)


@calibrate_app.command(
    "deepfield",
    epilog="Example: cosmoml calibrate deepfield pz.cosmoml deep.parquet --mag-limit 'i<24' "
    "--label-column z_label --patch-column patch --output deep.csv",
)
def calibrate_deepfield_cmd(
    model: Path = typer.Argument(..., help="The wide survey's photo-z model (.cosmoml)."),
    deep: Path = typer.Argument(..., help="Deep field: the model's photometry at deep "
                                "depth, many-band labels, patches."),
    output: Path = typer.Option(None, "--output", "-o", help="Per-bin table (CSV)."),
    nz_output: Path = typer.Option(None, help="n(z) per bin (CSV)."),
    label_column: str = typer.Option("z_label", help="Many-band redshift label."),
    patch_column: str = typer.Option("patch", help="Deep-field patch for the jackknife "
                                     "('' for none)."),
    spec_column: str = typer.Option(None, help="Validation spec-z (NaN where none): the "
                                    "labels' per-bin bias is measured and subtracted."),
    realisations: Path = typer.Option(None, help="Wide-depth realisations of the deep "
                                      "galaxies (model columns + source); default: degrade "
                                      "to LSST depth with photerr."),
    wide_years: float = typer.Option(1.0, help="LSST years of the wide depth (photerr)."),
    n_real: int = typer.Option(5, help="Noise realisations per deep galaxy."),
    edges: str = typer.Option(",".join(str(e) for e in (0.2, 0.43, 0.63, 0.9, 1.3)),
                              help="Tomographic bin edges (PDF median)."),
    mag_limit: str = typer.Option(None, help="Wide selection, e.g. 'i<24'."),
    external_sigma: float = typer.Option(0.0, help="Extra per-bin error (cosmic variance)."),
    label_correction: str = typer.Option("per-bin", help="With --spec-column: 'per-bin' "
                                         "(labels' mean error per bin; assumption-free, "
                                         "noisy) or 'outliers' (a global outlier mixture; "
                                         "tighter, assumes outliers independent of z)."),
    seed: int = typer.Option(0),
) -> None:
    """Deep-field calibration: deep galaxies degraded to wide depth go through the wide
    selection and the model's binning; their many-band labels make each bin's n(z)."""
    from cosmoml.workflows_calibration import deepfield_file

    edge_values = tuple(_edges(edges))
    res = deepfield_file(model, deep, output, nz_output, label_column, patch_column or None,
                         spec_column, realisations, wide_years, n_real, edge_values,
                         mag_limit, external_sigma, label_correction, seed)
    _calibration_table("deep-field calibration", res.table,
                       ("bin", "n", "mean_z", "sigma_sample", "sigma_match", "sigma_label",
                        "sigma"), (output, nz_output))


@calibrate_app.command(
    "report",
    epilog="Example: cosmoml calibrate report deep.csv wz.csv --nz deep_nz.csv --nz wz_nz.csv "
    "--baseline nz_out/nz.parquet --output calibration.html",
)
def calibrate_report_cmd(
    tables: list[Path] = typer.Argument(..., help="Tables of calibrate deepfield/clustering."),
    nz: list[Path] = typer.Option(..., "--nz", help="Their n(z) files (--nz-output), one "
                                  "per table, in the same order."),
    output: Path = typer.Option(..., "--output", "-o", help="The HTML report."),
    baseline: Path = typer.Option(None, help="The photo-z n(z) being calibrated: an "
                                  "nz.parquet of `cosmoml nz` or a z,bin0,... CSV."),
    f_sky: float = typer.Option(0.3, help="Sky fraction for the C_ℓ errors."),
    n_gal_arcmin2: float = typer.Option(10.0, help="Galaxies per arcmin², all bins."),
    sigma_e: float = typer.Option(0.26, help="Shape noise per component."),
) -> None:
    """Report: n(z) per bin from each method (and the baseline), the mean-redshift table
    with the combination and consistency test, flags, and the C_ℓ bias plots."""
    from cosmoml.workflows_calibration import report_files

    summary = report_files(list(tables), list(nz), output, baseline, f_sky=f_sky,
                           n_gal_arcmin2=n_gal_arcmin2, sigma_e=sigma_e)
    if summary.get("inconsistent_bins"):
        err.print(f"warning: the methods disagree in bin(s) {summary['inconsistent_bins']}",
                  markup=False)
    out.print(f"wrote {output}")


@app.command(
    "mock",
    epilog="Example: cosmoml mock mock_dir --area-deg2 100 --n-unknown 300000 "
    "--n-reference 30000 --bias-unknown-index 1",
)
def mock_cmd(
    output_dir: Path = typer.Argument(..., help="Folder for unknown/reference/randoms.parquet."),
    area_deg2: float = typer.Option(100.0, help="Patch area (deg²)."),
    n_unknown: int = typer.Option(100_000, help="Photometric galaxies."),
    n_reference: int = typer.Option(10_000, help="Spectroscopic galaxies."),
    bias_unknown: float = typer.Option(1.5, help="Unknown bias at the pivot redshift."),
    bias_unknown_index: float = typer.Option(0.0, help="b_u ∝ (1+z)^index (evolving bias)."),
    bias_pivot_z: float = typer.Option(0.6, help="Pivot redshift of the unknown bias."),
    bias_reference: float = typer.Option(2.0, help="Reference bias."),
    n_randoms_factor: float = typer.Option(5.0, help="Randoms per galaxy of the larger sample."),
    photoz_sigma: float = typer.Option(0.05, help="Photo-z scatter / (1+z)."),
    photoz_outliers: float = typer.Option(0.02, help="Photo-z outlier fraction."),
    backend: str = typer.Option(
        "lognormal", help="lognormal (our flat-sky generator, lognormal galaxies) or glass "
        "(full-sky GLASS maps, linear bias; needs `pip install 'cosmoml[glass]'`)."),
    nside: int = typer.Option(1024, help="HEALPix resolution of the glass backend."),
    seed: int = typer.Option(0),
) -> None:
    """A clustered lognormal mock sky: unknown (with photo-z and bins), reference and
    randoms drawn from one density field in redshift shells."""
    from cosmoml.workflows_calibration import mock_files

    kw = {"nside": nside} if backend == "glass" else {}
    paths = mock_files(output_dir, bias_unknown, bias_unknown_index, bias_reference,
                       bias_pivot_z, backend=backend, area_deg2=area_deg2,
                       n_unknown=n_unknown, n_reference=n_reference,
                       n_randoms_factor=n_randoms_factor, photoz_sigma=photoz_sigma,
                       photoz_outliers=photoz_outliers, seed=seed, **kw)
    for p, rows in paths.values():
        out.print(f"wrote {p} ({rows:,} rows)")


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
    except typer.TyperException as exc:  # usage errors (typer's own click exceptions)
        exc.show()
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
