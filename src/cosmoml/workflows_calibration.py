"""File-level workflows behind ``cosmoml calibrate``: read, validate, compute, write."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from cosmoml.catalog.io import atomic_path, read_table, write_table
from cosmoml.errors import CatalogError, ConfigError
from cosmoml.nz.clustering import ClusteringResult
from cosmoml.nz.combine import combine_long
from cosmoml.nz.deepfield import DeepFieldResult
from cosmoml.nz.tomo import DES_Y1_EDGES

COMBINE_COLUMNS = ("method", "bin", "dz", "sigma")


def combine_file(
    path: str | os.PathLike | list[str | os.PathLike],
    output: str | os.PathLike | None = None,
    p_threshold: float = 0.01,
    inflate: bool = True,
    nz_sacc: str | os.PathLike | None = None,
    sacc_output: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Combine per-bin measurements from one or more CSV (or parquet) files in long format
    — one row per method and bin with columns ``method``, ``bin``, ``sigma`` and the value,
    ``dz`` (a shift) or else ``mean_z`` (as ``cosmoml calibrate deepfield|clustering``
    write) — into the table of :func:`cosmoml.nz.combine.combine_shifts` (for ``mean_z``
    its ``dz_*`` columns are named ``mean_z_*``); write it as CSV to ``output``
    (atomically). Combine like with like: a clustering mean within a window is not a
    deep-field mean over the whole bin unless the n(z) has no tails outside the window.
    ``nz_sacc`` and ``sacc_output``: the photo-z n(z) of ``cosmoml nz`` (``nz.sacc``)
    written again with each bin's Δz prior from the combination
    (:func:`cosmoml.nz.export.calibrate_sacc`), the form a likelihood takes it in."""
    if (nz_sacc is None) != (sacc_output is None):
        raise ConfigError("give both the n(z) SACC file and where to write the calibrated "
                          "one (--nz-sacc and --sacc-output), or neither")
    paths = [Path(p) for p in (path if isinstance(path, list | tuple) else [path])]
    frames, value = [], None
    for p in paths:
        df = read_table(p)
        v = "dz" if "dz" in df.columns else "mean_z" if "mean_z" in df.columns else None
        missing = [c for c in ("method", "bin", "sigma") if c not in df.columns]
        if v is None or missing:
            raise CatalogError(f"{p}: missing column(s) {missing + ([] if v else ['dz'])}; "
                               f"expected {list(COMBINE_COLUMNS)} (or mean_z for dz)")
        if value not in (None, v):
            raise CatalogError(f"{p}: holds {v!r} but {paths[0]} holds {value!r}: "
                               "combine shifts with shifts, means with means")
        value = v
        frames.append(df[["method", "bin", v, "sigma"]]
                      .assign(_file=str(p), _row=np.arange(len(df))))
    df = pd.concat(frames, ignore_index=True)

    def where(i: int) -> str:
        return f"{df['_file'].iloc[i]}: column"

    for c in ("bin", value, "sigma"):
        values = pd.to_numeric(df[c], errors="coerce")
        if values.isna().any():
            i = int(np.flatnonzero(values.isna())[0])
            raise CatalogError(f"{where(i)} {c!r} row {df['_row'].iloc[i]}: not a number "
                               f"({df[c].iloc[i]!r})")
        df[c] = values
    if (df["sigma"] <= 0).any():
        i = int(np.flatnonzero(df["sigma"] <= 0)[0])
        raise CatalogError(f"{where(i)} 'sigma' row {df['_row'].iloc[i]}: must be positive")
    if df.duplicated(["method", "bin"]).any():
        i = int(np.flatnonzero(df.duplicated(["method", "bin"]))[0])
        raise CatalogError(f"{df['_file'].iloc[i]}: row {df['_row'].iloc[i]}: a second value "
                           f"for method {df['method'].iloc[i]!r}, bin {int(df['bin'].iloc[i])}")
    table = combine_long(df, value, p_threshold, inflate)
    if nz_sacc is not None:
        from cosmoml.nz.export import calibrate_sacc

        calibrate_sacc(nz_sacc, table, sacc_output,
                       source=", ".join(str(p) for p in paths))
    if output is not None:
        with atomic_path(output) as tmp:
            table.to_csv(tmp, index=False)
    return table


def _parse_windows(text: str | None) -> list[tuple[float, float]] | None:
    """``"0:0.68,0.18:0.88"`` → [(0, 0.68), (0.18, 0.88)]."""
    if not text:
        return None
    out = []
    for item in text.split(","):
        try:
            lo, hi = (float(v) for v in item.split(":"))
        except ValueError:
            raise ConfigError(f"--windows: {item!r} is not lo:hi") from None
        if not hi > lo:
            raise ConfigError(f"--windows: {item!r} needs lo < hi")
        out.append((lo, hi))
    return out


def _shown(value) -> str:
    """A cell's value as a user wrote it (``nan``, ``'n/a'``), not numpy's repr."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _positions(path: Path, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """ra, dec (degrees) and ``extra`` columns of a catalogue, checked finite and in range."""
    df = read_table(path, columns=["ra", "dec", *extra])
    for c in ("ra", "dec", *extra):
        values = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise CatalogError(f"{path}: column {c!r} row {row}: not a finite number "
                               f"({_shown(df[c].iloc[row])})")
        df[c] = values
    if (np.abs(df["dec"]) > 90).any():
        row = int(np.flatnonzero(np.abs(df["dec"]) > 90)[0])
        raise CatalogError(f"{path}: column 'dec' row {row}: |dec| > 90 degrees "
                           "(positions must be in degrees)")
    return df


def clustering_file(
    unknown: str | os.PathLike,
    reference: str | os.PathLike,
    randoms: str | os.PathLike,
    output: str | os.PathLike | None = None,
    nz_output: str | os.PathLike | None = None,
    bin_column: str = "bin",
    z_column: str = "z",
    windows: str | None = None,
    window_nz: str | os.PathLike | None = None,
    window_sigma: float = 2.0,
    z_min: float | None = None,
    z_max: float | None = None,
    dz: float = 0.05,
    **kw,
) -> ClusteringResult:
    """Clustering redshifts from three files (unknown: ra, dec, bin; reference: ra, dec, z;
    randoms: ra, dec); the per-bin table (``method`` = clustering) to ``output`` and the
    n(z) (column ``z`` and one column per bin) to ``nz_output``, both CSV, atomically.
    Windows: ``windows`` ("lo:hi,..."), or mean ± ``window_sigma`` σ of each bin of the
    photo-z n(z) in ``window_nz`` (DES Y1's choice), or else the whole range."""
    from cosmoml.nz.clustering import clustering_nz, nz_windows

    u = _positions(Path(unknown), (bin_column,))
    r = _positions(Path(reference), (z_column,))
    rand = _positions(Path(randoms))
    frac = np.flatnonzero(u[bin_column] != np.round(u[bin_column]))
    if frac.size:
        raise CatalogError(f"{unknown}: column {bin_column!r} row {frac[0]}: bin "
                           f"{u[bin_column].iloc[frac[0]]:g} is not a whole number (bins are "
                           "0, 1, ...; -1 for none)")
    if (u[bin_column] < 0).all():
        raise CatalogError(f"{unknown}: column {bin_column!r}: no galaxy is in a bin (>= 0)")
    z_edges = None
    if z_min is not None or z_max is not None:
        lo = r[z_column].min() if z_min is None else z_min
        hi = r[z_column].max() if z_max is None else z_max
        z_edges = np.round(np.arange(lo, hi + 1e-9, dz), 6)
    if windows and window_nz:
        raise ConfigError("give --windows or --window-nz, not both")
    wins = _parse_windows(windows)
    if window_nz:
        wins = nz_windows(*read_nz(window_nz), window_sigma)
    res = clustering_nz(u, r, rand, bin_column=bin_column, z_column=z_column,
                        z_edges=z_edges, windows=wins, **kw)
    _write_calibration(res.table.assign(method="clustering"), res.z, res.nz, output, nz_output)
    return res


def _write_calibration(table, z, nz, output, nz_output) -> None:
    cols = ["method", *[c for c in table.columns if c != "method"]]
    if output is not None:
        with atomic_path(output) as tmp:
            table[cols].to_csv(tmp, index=False)
    if nz_output is not None:
        frame = pd.DataFrame({"z": z, **{f"bin{b}": row for b, row in enumerate(nz)}})
        with atomic_path(nz_output) as tmp:
            frame.to_csv(tmp, index=False)


def deepfield_file(
    model: str | os.PathLike,
    deep: str | os.PathLike,
    output: str | os.PathLike | None = None,
    nz_output: str | os.PathLike | None = None,
    label_column: str = "z_label",
    patch_column: str | None = "patch",
    spec_column: str | None = None,
    realisations: str | os.PathLike | None = None,
    wide_years: float = 1.0,
    n_real: int = 5,
    edges: tuple[float, ...] = DES_Y1_EDGES,
    mag_limit: str | None = None,
    external_sigma: float = 0.0,
    label_correction: str = "per-bin",
    seed: int = 0,
) -> DeepFieldResult:
    """Deep-field calibration from files (the recommended no-matching method).

    ``deep``: one row per deep-field galaxy with the model's photometry columns at deep
    depth, its many-band label and (optionally) patch and a validation spec-z (NaN where
    none). Its photometry is degraded ``n_real`` times to an LSST depth of ``wide_years``
    (photerr), or taken from ``realisations`` (rows with the model's columns and
    ``source`` = row of ``deep``, e.g. from image injection). Each realisation passes the
    wide selection (``mag_limit``, e.g. ``"i<24"`` on the model's magnitude column) and
    the model's binning (PDF median in ``edges``); labels histogrammed per bin. With
    ``spec_column`` the labels' error is corrected: ``label_correction`` "per-bin" (their
    mean error per bin; assumption-free, noisy) or "outliers" (a global outlier mixture;
    much tighter, assumes outlying labels do not depend on the true redshift).
    """
    from cosmoml.model import PhotoZModel
    from cosmoml.nz import assign_bins
    from cosmoml.nz.deepfield import (
        deepfield_nz_assign,
        degrade_deep,
        label_bias_by_bin,
        label_outliers,
    )
    from cosmoml.sims.deepfield import lsst_noise

    if label_correction not in ("per-bin", "outliers"):
        raise ConfigError(f"label_correction must be 'per-bin' or 'outliers', not "
                          f"{label_correction!r}")
    pz = PhotoZModel.load(model)
    cmap = pz.columns_
    needed = [label_column] + [c for c in (patch_column, spec_column) if c]
    if realisations is None:
        needed += cmap.mag_columns
    d = read_table(deep, columns=needed)
    labels = pd.to_numeric(d[label_column], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(labels).all():
        row = int(np.flatnonzero(~np.isfinite(labels))[0])
        raise CatalogError(f"{deep}: column {label_column!r} row {row}: not a finite redshift")
    patch = d[patch_column].to_numpy() if patch_column else None
    if patch is not None and (pd.isna(patch).any() or np.unique(patch).size < 2):
        raise CatalogError(f"{deep}: column {patch_column!r} holds "
                           + ("missing values" if pd.isna(patch).any() else "one patch")
                           + "; the jackknife needs every galaxy in one of at least two "
                           "patches (--patch-column '' for none)")
    if realisations is None:
        lsst = list("ugrizy")
        if not set(cmap.bands) <= set(lsst):
            raise ConfigError(f"degrading to LSST depth needs bands among {lsst}; the model's "
                              f"are {cmap.bands} (give --realisations instead)")
        mags = d[cmap.mag_columns].set_axis(cmap.bands, axis=1)
        real = degrade_deep(mags, cmap.bands, lsst_noise(wide_years), n_real=n_real, seed=seed)
        rename = dict(zip(cmap.bands, cmap.mag_columns, strict=True))
        if cmap.err_pattern:
            rename |= {f"{b}_err": cmap.err_pattern.format(band=b) for b in cmap.bands}
        real = real.rename(columns=rename)
    else:
        real = read_table(realisations, columns=[*cmap.photometry_columns(), "source"])
        src = pd.to_numeric(real["source"], errors="coerce")
        if src.isna().any() or (src < 0).any() or (src >= len(d)).any():
            row = int(np.flatnonzero(src.isna() | (src < 0) | (src >= len(d)))[0])
            raise CatalogError(f"{realisations}: column 'source' row {row}: not a row of "
                               f"{deep} (0..{len(d) - 1})")
        real["source"] = src.astype(int)
    pdfs, ok = pz.predict_pdf(real, source=str(realisations or deep))
    selected = ok.copy()
    if mag_limit:
        col, limit = _parse_cut(mag_limit, cmap)
        selected &= real[col].to_numpy(dtype=float) < limit
    real_bins = np.where(selected, assign_bins(pdfs.median(), edges), -1)
    n_bins = len(edges) - 1
    label_error = outliers = None
    if spec_column:
        spec = pd.to_numeric(d[spec_column], errors="coerce").to_numpy(dtype=float)
        if label_correction == "outliers":
            outliers = label_outliers(labels, spec)
        else:
            lb = label_bias_by_bin(real_bins, real["source"], labels, spec, n_bins)
            label_error = (lb["bias"].to_numpy(), lb["sigma"].fillna(0).to_numpy())
    res = deepfield_nz_assign(real_bins, real["source"], labels, patch, n_bins=n_bins,
                              external_sigma=external_sigma, label_error=label_error,
                              outliers=outliers)
    _write_calibration(res.table.assign(method="deepfield"), res.grid, res.nz, output,
                       nz_output)
    return res


def _parse_cut(text: str, cmap) -> tuple[str, float]:
    """``"i<24"`` → (the model's i-band magnitude column, 24.0)."""
    band, _, value = text.partition("<")
    band = band.strip()
    try:
        limit = float(value)
    except ValueError:
        raise ConfigError(f"--mag-limit: {text!r} is not band<magnitude (e.g. i<24)") from None
    if band not in cmap.bands:
        raise ConfigError(f"--mag-limit: band {band!r} is not one of the model's {cmap.bands}")
    return cmap.mag_pattern.format(band=band), limit


def mock_files(
    output_dir: str | os.PathLike,
    bias_unknown: float = 1.5,
    bias_unknown_index: float = 0.0,
    bias_reference: float = 2.0,
    bias_pivot_z: float = 0.6,
    backend: str = "lognormal",
    **kw,
) -> dict[str, tuple[Path, int]]:
    """A clustered mock written as ``unknown.parquet`` (ra, dec, z_true, z_phot, bin),
    ``reference.parquet`` (ra, dec, z) and ``randoms.parquet`` (ra, dec) in
    ``output_dir``; the unknown bias b_u(z) = ``bias_unknown`` ((1 + z) / (1 +
    ``bias_pivot_z``))^``bias_unknown_index``. ``backend``: ``"lognormal"``
    (:func:`~cosmoml.sims.mocks.lognormal_mock`) or ``"glass"``
    (:func:`~cosmoml.sims.glass_mock.glass_mock`). Returns {name: (path, rows)}."""
    from cosmoml.sims.glass_mock import glass_mock
    from cosmoml.sims.mocks import lognormal_mock

    generators = {"lognormal": lognormal_mock, "glass": glass_mock}
    if backend not in generators:
        raise ConfigError(f"unknown mock backend {backend!r}; choose from {list(generators)}")
    for name in ("n_unknown", "n_reference", "n_randoms_factor"):
        if name in kw and not kw[name] > 0:
            raise ConfigError(f"{name} must be positive, got {kw[name]}")

    def b_u(z):
        return bias_unknown * ((1 + z) / (1 + bias_pivot_z)) ** bias_unknown_index

    m = generators[backend](bias_unknown=b_u, bias_reference=bias_reference, **kw)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"cosmoml_mock": json.dumps(
        {"backend": backend, "area_deg2": m.area_deg2, "bias_unknown": bias_unknown,
         "bias_unknown_index": bias_unknown_index, "bias_reference": bias_reference,
         **{k: v for k, v in kw.items() if k != "cosmo"}}, default=str)}
    return {name: (write_table(df, out / f"{name}.parquet", metadata=meta), len(df))
            for name, df in (("unknown", m.unknown), ("reference", m.reference),
                             ("randoms", m.randoms))}


def read_nz(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(z, n(z) per bin) from a CSV as ``calibrate --nz-output`` writes (column ``z``,
    then ``bin0``, ``bin1``, ...) or an ``nz.parquet`` of ``cosmoml nz`` (a row per bin
    with its ``nz`` on the grid in the file's metadata)."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            meta = pq.read_schema(path).metadata or {}
        except FileNotFoundError:
            raise CatalogError(f"{path}: no such file") from None
        if b"grid" not in meta:
            raise CatalogError(f"{path}: not an nz.parquet of `cosmoml nz` (no grid metadata)")
        lo, hi, n = json.loads(meta[b"grid"])
        t = read_table(path, columns=["bin", "nz"])
        return np.linspace(lo, hi, int(n)), np.stack([np.asarray(v, float) for v in t["nz"]])
    df = read_table(path)
    cols = [c for c in df.columns if c.startswith("bin")]
    if "z" not in df.columns or not cols:
        raise CatalogError(f"{path}: expected a column 'z' and columns bin0, bin1, ...; "
                           f"it has {list(df.columns)}")
    return df["z"].to_numpy(float), df[cols].to_numpy(float).T


def report_files(
    tables: list[str | os.PathLike],
    nz_files: list[str | os.PathLike],
    output: str | os.PathLike,
    baseline: str | os.PathLike | None = None,
    **kw,
) -> dict:
    """The calibration report from the tables and n(z) files of ``calibrate deepfield``
    and ``calibrate clustering`` (paired in order) and an optional baseline n(z)."""
    from cosmoml.report.calibration import calibration_report

    if len(tables) != len(nz_files):
        raise ConfigError(f"{len(tables)} tables but {len(nz_files)} n(z) files: give one "
                          "--nz per table, in the same order")
    methods = {}
    for t_path, nz_path in zip(tables, nz_files, strict=True):
        t = read_table(t_path)
        missing = [c for c in ("method", "bin", "mean_z", "sigma") if c not in t.columns]
        if missing:
            raise CatalogError(f"{t_path}: missing column(s) {missing}")
        name = str(t["method"].iloc[0])
        if name in methods:
            name = f"{name} ({Path(t_path).stem})"
        methods[name] = (t, *read_nz(nz_path))
    return calibration_report(output, methods, read_nz(baseline) if baseline else None, **kw)
