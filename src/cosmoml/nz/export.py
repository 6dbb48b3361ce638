"""Tomographic n(z) in the files other codes read: SACC (LSST DESC's format, read by
firecrown and CCL-based likelihoods; written with the ``sacc`` library), the 2pt FITS
format of DES/KiDS likelihoods (CosmoSIS's ``load_nz_fits``, ``twopoint``) and a qp
ensemble (RAIL).

Our own writer for the 2pt extension: it is a FITS binary table with a documented header
(Zuntz et al.'s ``2point`` format: ``NZDATA = T``, ``EXTNAME``, ``NBIN``, ``NZ``; columns
``Z_LOW``, ``Z_MID``, ``Z_HIGH``, ``BIN1`` … ``BINn``), a few lines with astropy; the
``twopoint`` package (last release 2022) requires ``enum34``, a Python 2 backport of the
standard library's ``enum`` that we will not install beside it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cosmoml.catalog.io import atomic_path
from cosmoml.errors import ConfigError
from cosmoml.nz.methods import mean_z
from cosmoml.pdf import PDFs


def _check(grid: np.ndarray, nz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    grid = np.asarray(grid, dtype=float)
    nz = np.atleast_2d(np.asarray(nz, dtype=float))
    if grid.ndim != 1 or grid.size < 2 or np.any(np.diff(grid) <= 0):
        raise ConfigError("n(z) grid: need an increasing 1-D grid of at least 2 points")
    if nz.shape[1] != grid.size:
        raise ConfigError(f"n(z): {nz.shape[1]} values per bin, the grid has {grid.size}")
    # a bin without objects has no n(z) (NaN in nz.parquet); readers of these formats
    # expect numbers: it is written as zeros and the header / ancil say it is empty
    return grid, np.nan_to_num(nz, nan=0.0)


def write_twopoint_nz(path: str | os.PathLike, grid: np.ndarray, nz: np.ndarray,
                      name: str = "nz_source", mean_z: Sequence[float] | None = None,
                      mean_z_err: Sequence[float] | None = None) -> Path:
    """Write the n(z) of each tomographic bin (rows of ``nz``, densities on ``grid``) as a
    2pt FITS file: an empty primary HDU and one extension ``name`` with ``Z_MID`` the grid,
    ``Z_LOW`` / ``Z_HIGH`` half-way to the neighbouring points (the first ``Z_LOW`` not
    below 0) and ``BIN1`` … ``BINn`` the densities (per unit redshift). The header holds
    ``NZDATA = T``, ``NBIN``, ``NZ``, per bin ``EMPTY_i`` (no objects: written as zeros)
    and, where given, ``MEANZ_i`` and ``MEANZE_i`` (the bin's mean redshift and its error).
    Atomic: written under a temporary name, then renamed."""
    from astropy.io import fits

    grid, values = _check(grid, nz)
    raw = np.atleast_2d(np.asarray(nz, dtype=float))
    half = np.diff(grid) / 2
    z_low = np.r_[max(grid[0] - half[0], 0.0), grid[1:] - half]
    z_high = np.r_[grid[:-1] + half, grid[-1] + half[-1]]
    cols = [fits.Column(name="Z_LOW", array=z_low, format="D"),
            fits.Column(name="Z_MID", array=grid, format="D"),
            fits.Column(name="Z_HIGH", array=z_high, format="D")]
    cols += [fits.Column(name=f"BIN{i + 1}", array=v, format="D") for i, v in enumerate(values)]
    ext = fits.BinTableHDU.from_columns(cols)
    h = ext.header
    h["NZDATA"] = (True, "this extension holds n(z) data (2pt format)")
    h["EXTNAME"] = name
    h["NBIN"] = (len(values), "tomographic bins")
    h["NZ"] = (grid.size, "redshift samples")
    for i in range(len(values)):
        h[f"EMPTY_{i + 1}"] = (bool(not np.isfinite(raw[i]).all() or values[i].sum() == 0),
                               "bin holds no objects (written as zeros)")
        if mean_z is not None and np.isfinite(mean_z[i]):
            h[f"MEANZ_{i + 1}"] = (float(mean_z[i]), "mean redshift of the bin")
        if mean_z_err is not None and np.isfinite(mean_z_err[i]):
            h[f"MEANZE_{i + 1}"] = (float(mean_z_err[i]), "its 1-sigma error")
    path = Path(path)
    with atomic_path(path) as tmp:
        fits.HDUList([fits.PrimaryHDU(), ext]).writeto(tmp)
    return path


def read_twopoint_nz(path: str | os.PathLike, name: str = "nz_source"
                     ) -> tuple[np.ndarray, np.ndarray]:
    """``(Z_MID, n(z) per bin)`` of the 2pt extension ``name`` (as written above or by
    ``twopoint``)."""
    from astropy.io import fits

    with fits.open(path) as f:
        if name not in f:
            raise ConfigError(f"{path}: no n(z) extension {name!r}")
        data = f[name].data
        nbin = 0
        while f"BIN{nbin + 1}" in data.names:
            nbin += 1
        return (np.asarray(data["Z_MID"], dtype=float),
                np.stack([np.asarray(data[f"BIN{i + 1}"], dtype=float) for i in range(nbin)]))


def write_qp_nz(path: str | os.PathLike, grid: np.ndarray, nz: np.ndarray,
                ancil: dict[str, np.ndarray] | None = None) -> Path:
    """Write the n(z) of each bin as a qp ``interp`` ensemble (one PDF per bin, RAIL's
    form of a tomographic n(z)); ``ancil`` (e.g. bin, mean_z, n_objects) per bin.
    An empty bin is written as zeros (``ancil`` says so if given its ``n_objects``)."""
    grid, values = _check(grid, nz)
    return PDFs(grid, values, normalised=True).write_qp(path, ancil=ancil)


def write_sacc_nz(path: str | os.PathLike, grid: np.ndarray, nz: np.ndarray,
                  mean_z_err: Sequence[float] | None = None, prefix: str = "source_",
                  quantity: str = "galaxy_shear", metadata: dict | None = None) -> Path:
    """Write the n(z) of each bin as a SACC file: one ``NZ`` tracer per bin named
    ``{prefix}{i}`` (0-based, as in ``nz.parquet``) and, with ``mean_z_err``, an
    ``nz_shift_uncertainty`` over them (mean 0, σ = each bin's mean-redshift error): the
    Gaussian Δz prior per bin that likelihoods marginalise over, n_i(z) → n_i(z − Δz_i).
    Bins without objects are written as zeros, with σ = 0;
    ``metadata`` goes into the file's metadata. Atomic."""
    import sacc
    from sacc.tracer_uncertainty.nz import NZShiftUncertainty

    grid, values = _check(grid, nz)
    s = sacc.Sacc()
    names = [f"{prefix}{i}" for i in range(len(values))]
    for name, v in zip(names, values, strict=True):
        s.add_tracer("NZ", name, grid, v, quantity=quantity)
    if mean_z_err is not None:
        sigma = np.nan_to_num(np.asarray(mean_z_err, dtype=float), nan=0.0)
        if sigma.shape != (len(values),):
            raise ConfigError(f"mean_z_err: need one error per bin ({len(values)})")
        s.add_tracer_uncertainty_object(NZShiftUncertainty("delta_z", names,
                                                           np.zeros(len(names)), sigma))
    for k, v in (metadata or {}).items():
        s.metadata[k] = v
    path = Path(path)
    with atomic_path(path) as tmp:
        s.save_fits(str(tmp), overwrite=True)
    return path


def calibrate_sacc(nz_sacc: str | os.PathLike, combined, output: str | os.PathLike,
                   source: str = "calibration") -> Path:
    """The photo-z n(z) of ``nz_sacc`` (as ``cosmoml nz`` writes it: one ``NZ`` tracer per
    bin, named ``{prefix}{bin}``) with each bin's Δz prior set from a calibration:
    ``combined`` is the table of :func:`cosmoml.workflows_calibration.combine_file` (one
    row per bin; ``mean_z_combined`` or ``dz_combined``, and ``sigma_combined``). A mean
    becomes the shift Δz = calibrated mean − the tracer n(z)'s mean (SACC's convention,
    n(z) → n(z − Δz), moves the mean by +Δz); a ``dz`` is taken as it is. The result's
    ``nz_shift_uncertainty`` ``delta_z`` has those means and σ; the n(z) are unchanged.
    Every bin of the file needs a calibration (else a :class:`ConfigError` naming them).
    Atomic."""
    import sacc
    from sacc.tracer_uncertainty.nz import NZShiftUncertainty

    path = Path(nz_sacc)
    try:
        s = sacc.Sacc.load_fits(str(path))
    except Exception as exc:
        raise ConfigError(f"{path}: not a readable SACC file ({exc})") from exc
    tracers = {}
    for name, t in s.tracers.items():
        head, _, idx = name.rpartition("_")
        if t.tracer_type == "NZ" and head and idx.isdigit():
            tracers[int(idx)] = t
    if not tracers:
        raise ConfigError(f"{path}: no NZ tracers named <sample>_<bin> (as cosmoml nz "
                          "writes them)")
    value = "mean_z_combined" if "mean_z_combined" in combined.columns else "dz_combined"
    rows = {int(b): r for b, r in zip(combined["bin"], combined.itertuples(), strict=True)}
    missing = sorted(set(tracers) - set(rows))
    if missing:
        raise ConfigError(f"{source}: no calibration of bin(s) {missing} of {path}")
    bins = sorted(tracers)
    shift, sigma = [], []
    for b in bins:
        t, r = tracers[b], rows[b]
        if value == "dz_combined":
            shift.append(float(r.dz_combined))
        else:
            own = float(mean_z(np.asarray(t.nz, dtype=float), np.asarray(t.z, dtype=float))[0])
            if not np.isfinite(own):
                raise ConfigError(f"{path}: bin {b}'s n(z) is empty; its mean cannot be "
                                  "calibrated")
            shift.append(float(r.mean_z_combined) - own)
        sigma.append(float(r.sigma_combined))
    names = [tracers[b].name for b in bins]
    s.tracer_uncertainties.pop("delta_z", None)
    s.add_tracer_uncertainty_object(NZShiftUncertainty("delta_z", names, shift, sigma))
    s.metadata["delta_z_from"] = str(source)
    out = Path(output)
    with atomic_path(out) as tmp:
        s.save_fits(str(tmp), overwrite=True)
    return out
