"""A trained photo-z model: column mapping + non-detection policy + features + estimator,
saved to a file that is safe to load.

Model file format (``.cosmoml``, a zip archive; no pickle anywhere):

``model.json``
    format name and version, cosmoml version, estimator name and hyper-parameters, the
    column mapping, the feature builder's state (bands, non-detection policy, limits), the
    redshift grid, the estimator's JSON state, training provenance and the SHA-256 of
    ``arrays.npz``.
``arrays.npz``
    the estimator's numeric arrays, read with ``allow_pickle=False``; scikit-learn trees
    inside it are skops payloads that only rebuild an allow-list of scikit-learn types.

Loading never imports a class named by the file: the estimator comes from cosmoml's own
registry, and a file whose checksum, format or columns do not match is refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from cosmoml import __version__
from cosmoml.catalog.columns import ColumnMap
from cosmoml.catalog.features import PhotometryFeatures, nondetected
from cosmoml.catalog.io import as_frame, atomic_path
from cosmoml.errors import CatalogError, ConfigError, ModelFileError
from cosmoml.estimators import DEFAULT_ESTIMATOR, make_estimator
from cosmoml.estimators.base import MIN_OBJECTS
from cosmoml.pdf import PDFs
from cosmoml.registry import SPECS

FORMAT = "cosmoml-model"
FORMAT_VERSION = 1
POINT_COLUMNS = ("z_mode", "z_mean", "z_median", "z_lo68", "z_hi68")

# Bits of the ``flag`` output column (0 = every band measured and used).
#: no prediction: no usable band, or dropped by the ``drop`` policy; estimates are NaN
FLAG_NO_PDF = 1
#: at least one band non-detected (99, -99, NaN, inf, m <= 0), handled by the policy
FLAG_NONDETECTION = 2
#: at least one value was not a number (text in a numeric column); treated as a
#: non-detection (only where ``bad_values="flag"``)
FLAG_BAD_VALUE = 4
FLAG_BITS = {"no_pdf": FLAG_NO_PDF, "nondetection": FLAG_NONDETECTION,
             "bad_value": FLAG_BAD_VALUE}


def flag_counts(flags: np.ndarray) -> dict[str, int]:
    """How many rows carry each bit of :data:`FLAG_BITS`."""
    flags = np.asarray(flags)
    return {name: int(np.count_nonzero(flags & bit)) for name, bit in FLAG_BITS.items()}


class PhotoZModel:
    """End-to-end photo-z model working on catalogue tables.

    Parameters
    ----------
    estimator
        Registry name (see ``cosmoml.registry.SPECS``); default the most accurate.
    policy
        Non-detection policy (``"limit"``, ``"drop"`` or ``"nan"``).
    estimator_params
        Hyper-parameters overriding the estimator's defaults.
    """

    def __init__(
        self,
        estimator: str = DEFAULT_ESTIMATOR,
        policy: str = "limit",
        estimator_params: dict | None = None,
    ) -> None:
        self.estimator = estimator
        self.policy = policy
        self.estimator_params = dict(estimator_params or {})

    # -- training -------------------------------------------------------------------
    def fit(
        self,
        df: pd.DataFrame,
        columns: ColumnMap,
        source: str = "training catalogue",
        sample_weight: np.ndarray | None = None,
    ) -> PhotoZModel:
        """Train on a table with photometry and redshifts named by ``columns``.

        Per-row weights come from ``sample_weight`` (one per row of ``df``) or from the
        ``columns.weight_column``; not both. ``df``: a DataFrame or any table
        :func:`cosmoml.catalog.as_frame` takes (an astropy Table, ...).
        """
        df = as_frame(df, source)
        if columns.z_column is None:
            raise CatalogError(f"{source}: no redshift column given")
        columns.check(df.columns, source, need_z=True)
        if len(df) == 0:
            raise CatalogError(f"{source}: catalogue has no rows")
        if self.estimator not in SPECS:
            raise ConfigError(
                f"unknown estimator {self.estimator!r}; choose one of {sorted(SPECS)}"
            )
        feat_opts = SPECS[self.estimator].features
        mags, errs, _ = _photometry(df, columns, source)
        params = dict(self.estimator_params)
        if feat_opts.get("use_errors") and errs is None:
            feat_opts = {**feat_opts, "use_errors": False}
            if self.estimator == "knn":
                params["errors"] = False
        self.columns_ = columns
        dark = nondetected(mags).all(axis=0)
        if self.policy == "limit" and dark.any():
            empty = [c for c, d in zip(columns.mag_columns, dark, strict=True) if d]
            raise CatalogError(
                f"{source}: column(s) {empty} have no detection (every value NaN, not "
                "positive or a 99/-99 sentinel): the 'limit' non-detection policy has no "
                "limit to learn; drop the band(s) (--bands) or choose another --policy"
            )
        self.features_ = PhotometryFeatures(columns.bands, policy=self.policy, **feat_opts).fit(
            mags, errs
        )
        X, valid = self.features_.transform(mags, errs)
        if valid.sum() < MIN_OBJECTS:
            raise CatalogError(
                f"{source}: {int(valid.sum())} of its {len(df):,} rows can be trained on (a "
                f"detection under the {self.policy!r} non-detection policy); need at least "
                f"{MIN_OBJECTS}"
            )
        z = redshift_labels(df, columns.z_column, source)
        w = None
        if columns.weight_column:
            w, _ = _numeric(df, columns.weight_column, source)
            if not np.all(np.isfinite(w)) or np.any(w < 0):
                raise CatalogError(
                    f"{source}: column {columns.weight_column!r} has negative or non-finite weights"
                )
            w = w[valid]
        if sample_weight is not None:
            if w is not None:
                raise ConfigError("give weights as sample_weight or as a weight column, not both")
            w = np.asarray(sample_weight, dtype=float)
            if w.shape != (len(df),) or not np.all(np.isfinite(w)) or np.any(w < 0):
                raise ConfigError(
                    f"sample_weight must be {len(df)} finite non-negative numbers, "
                    f"got shape {w.shape}"
                )
            w = w[valid]
        est = make_estimator(self.estimator, **params)
        if not (est.zmin <= z.min() and z.max() <= est.zmax):
            raise CatalogError(
                f"{source}: redshifts in {columns.z_column!r} span {z.min():.3f}..{z.max():.3f}, "
                f"outside the model grid {est.zmin}..{est.zmax}; pass a wider grid (zmax)"
            )
        self.estimator_ = est.fit(X[valid], z[valid], sample_weight=w)
        self.training_ = {
            "source": str(source),
            "n_rows": len(df),
            "n_used": int(valid.sum()),
            "z_min": float(z.min()),
            "z_max": float(z.max()),
        }
        return self

    # -- prediction -----------------------------------------------------------------
    def predict_pdf(self, df: pd.DataFrame, source: str = "catalogue") -> tuple[PDFs, np.ndarray]:
        """PDFs for every row (NaN rows where ``valid`` is False) and the ``valid`` mask.

        A non-numeric value is an error naming the column (see :meth:`predict_flagged`)."""
        pdfs, flags = self.predict_flagged(df, source, bad_values="raise")
        return pdfs, (flags & FLAG_NO_PDF) == 0

    def predict_flagged(
        self, df: pd.DataFrame, source: str = "catalogue", bad_values: str = "raise"
    ) -> tuple[PDFs, np.ndarray]:
        """PDFs for every row and the per-row ``flag`` bitmask (int8; ``FLAG_*``).

        ``bad_values="raise"`` stops at a non-numeric value with an error naming the
        column; ``"flag"`` treats it as a non-detection and sets ``FLAG_BAD_VALUE`` (the
        survey-scale engine's choice: one bad row must not stop a billion-row run). A
        column with no number at all is an error either way (a malformed part)."""
        self._check_fitted()
        if bad_values not in ("raise", "flag"):
            raise ConfigError(f"bad_values must be 'raise' or 'flag', got {bad_values!r}")
        df = as_frame(df, source)
        self.columns_.check(df.columns, source)
        mags, errs, bad_value = _photometry(df, self.columns_, source, bad_values)
        X, valid = self.features_.transform(mags, errs)
        flags = np.where(valid, 0, FLAG_NO_PDF).astype(np.int8)
        flags[self.features_.nondetected_rows(mags)] |= FLAG_NONDETECTION
        flags[bad_value] |= FLAG_BAD_VALUE
        n_valid = int(valid.sum())
        if n_valid == len(df):
            return self.estimator_.predict_pdf(X), flags
        if n_valid == 0:
            pdf = np.full((len(df), self.estimator_.grid_.size), np.nan, dtype=np.float32)
        elif n_valid >= len(df) // 2:
            # predict every row (invalid ones on zeros) and blank the invalid ones: cheaper
            # than scattering the valid rows into a new (N, G) array
            pdf = self.estimator_.predict_pdf(np.where(valid[:, None], X, 0.0)).pdf
            pdf[~valid] = np.nan
        else:
            pdf = np.full((len(df), self.estimator_.grid_.size), np.nan, dtype=np.float32)
            pdf[valid] = self.estimator_.predict_pdf(X[valid]).pdf
        return PDFs(self.estimator_.grid_, pdf, normalised=True), flags

    def predict_frame(
        self,
        df: pd.DataFrame,
        with_pdf: bool = True,
        source: str = "catalogue",
        chunk_size: int = 100_000,
        progress: Callable[[int], None] | None = None,
        bad_values: str = "raise",
    ) -> pd.DataFrame:
        """One output row per input row, same order: id (if any), point estimates,
        ``z_std``, ``flag`` (bitmask: 0 = clean; ``FLAG_NO_PDF``, ``FLAG_NONDETECTION``,
        ``FLAG_BAD_VALUE``) and ``pdf``. ``bad_values`` as in :meth:`predict_flagged`;
        ``df`` a DataFrame or any table :func:`cosmoml.catalog.as_frame` takes."""
        df = as_frame(df, source)
        parts = []
        for s in range(0, len(df), chunk_size):
            chunk = df.iloc[s : s + chunk_size]
            pdfs, flags = self.predict_flagged(chunk, source, bad_values)
            out = pd.DataFrame(index=range(len(chunk)))
            if self.columns_.id_column and self.columns_.id_column in chunk.columns:
                # .array keeps a nullable id column exact (to_numpy: float with NaN)
                out[self.columns_.id_column] = chunk[self.columns_.id_column].array
            for k, v in pdfs.point_estimates().items():
                out[k] = v
            out["flag"] = flags
            if with_pdf:
                out["pdf"] = list(pdfs.pdf.astype(np.float32))
            parts.append(out)
            if progress:
                progress(len(chunk))
        if not parts:
            raise CatalogError(f"{source}: catalogue has no rows")
        return pd.concat(parts, ignore_index=True)

    def prediction_metadata(self, model_path: str | os.PathLike) -> dict[str, str]:
        """What every predictions file records: versions, model, estimator, grid, seed."""
        grid = self.estimator_.grid_
        return {
            "cosmoml_version": __version__,
            "model": str(model_path),
            "estimator": self.estimator,
            "grid": grid_json(grid),
            "seed": json.dumps(self.estimator_.get_params().get("random_state")),
        }

    # -- persistence ----------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the model file atomically."""
        self._check_fitted()
        meta, arrays = self.estimator_._get_state()
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        blob = buf.getvalue()
        doc = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "cosmoml_version": __version__,
            "estimator": self.estimator,
            "params": _jsonable(self.estimator_.get_params()),
            "policy": self.policy,
            "columns": self.columns_.to_dict(),
            "features": self.features_.get_state(),
            "state": meta,
            "training": self.training_,
            "arrays_sha256": hashlib.sha256(blob).hexdigest(),
        }
        with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("model.json", json.dumps(doc, indent=1))
            z.writestr("arrays.npz", blob)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> PhotoZModel:
        """Read a model file; refuse anything corrupt, tampered with or unknown."""
        path = Path(path)
        if not path.exists():
            raise ModelFileError(f"{path}: no such model file")
        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
                if names != {"model.json", "arrays.npz"}:
                    raise ModelFileError(
                        f"{path}: not a cosmoml model file (entries {sorted(names)})"
                    )
                doc = json.loads(z.read("model.json"))
                blob = z.read("arrays.npz")
        except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError, KeyError) as exc:
            raise ModelFileError(f"{path}: not a readable cosmoml model file ({exc})") from exc
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ModelFileError(f"{path}: not a cosmoml model file")
        if doc.get("format_version") != FORMAT_VERSION:
            raise ModelFileError(
                f"{path}: model format version {doc.get('format_version')} is not supported by "
                f"cosmoml {__version__} (reads version {FORMAT_VERSION}); retrain the model"
            )
        if hashlib.sha256(blob).hexdigest() != doc.get("arrays_sha256"):
            raise ModelFileError(f"{path}: checksum mismatch, the file is corrupt or was modified")
        name = doc.get("estimator")
        if name not in SPECS:
            raise ModelFileError(f"{path}: unknown estimator {name!r}")
        try:
            est = make_estimator(name)
            allowed = set(est.get_params())
            params = doc["params"]
            if set(params) - allowed:
                raise ModelFileError(f"{path}: unknown parameters {sorted(set(params) - allowed)}")
            est.set_params(**params)
            with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            est._set_state(doc["state"], arrays)
            model = cls(name, doc["policy"], params)
            model.columns_ = ColumnMap.from_dict(doc["columns"])
            model.features_ = PhotometryFeatures.from_state(doc["features"])
            model.estimator_ = est
            model.training_ = doc.get("training", {})
            model.cosmoml_version_ = doc.get("cosmoml_version")
        except ModelFileError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(
                f"{path}: model file is incomplete or inconsistent ({exc})"
            ) from exc
        return model

    def describe(self) -> dict:
        """Summary for humans: estimator, bands, columns, policy, grid, training set."""
        self._check_fitted()
        g = self.estimator_.grid_
        return {
            "estimator": self.estimator,
            "bands": self.columns_.bands,
            "magnitude_columns": self.columns_.mag_columns,
            "error_columns": self.columns_.err_columns,
            "non_detection_policy": self.policy,
            "features": self.features_.feature_names,
            "grid": f"{g[0]:g}..{g[-1]:g} ({g.size} points)",
            "pit_temperature": self.estimator_.temperature_,
            "training": self.training_,
        }

    def _check_fitted(self) -> None:
        if not hasattr(self, "estimator_"):
            raise ConfigError("PhotoZModel is not fitted; call fit() or load() first")


def grid_json(grid: np.ndarray) -> str:
    """A redshift grid as output files record it (``grid`` metadata): ``[zmin, zmax, n]``."""
    return json.dumps([float(grid[0]), float(grid[-1]), int(grid.size)])


def _numeric(
    df: pd.DataFrame, column: str, source: str, bad_values: str = "raise"
) -> tuple[np.ndarray, np.ndarray]:
    """The column as floats, and the mask of values that were not numbers (NaN here)."""
    raw = df[column]
    if pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw):
        values = raw.to_numpy(dtype=float)
        return values, np.zeros(len(values), bool)
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(values) & raw.notna().to_numpy()
    if bad.any():
        first = np.flatnonzero(bad)[:5]
        example = raw.iloc[first[0]]
        if bad_values == "raise" or bad.sum() == raw.notna().sum():
            what = "holds no numbers" if bad_values == "flag" else "has non-numeric value(s)"
            rows = df.index[first].tolist()  # the frame's row labels (a file's row numbers)
            raise CatalogError(
                f"{source}: column {column!r} {what} such as {example!r} (rows {rows})"
            )
    return values, bad


def redshift_labels(df: pd.DataFrame, column: str, source: str) -> np.ndarray:
    """The training labels in ``column`` as floats; a ``CatalogError`` naming ``source``
    and the column where any is not a number, not finite or negative."""
    z, _ = _numeric(df, column, source)
    bad = ~np.isfinite(z) | (z < 0)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise CatalogError(
            f"{source}: column {column!r} has {int(bad.sum())} non-finite or negative "
            f"redshift(s) (first rows {rows}); remove them first"
        )
    return z


def _photometry(
    df: pd.DataFrame, columns: ColumnMap, source: str, bad_values: str = "raise"
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Magnitudes (n, bands), errors or None, and the rows holding a non-numeric value."""
    bad_row = np.zeros(len(df), bool)

    def stack(names):
        out = []
        for c in names:
            values, bad = _numeric(df, c, source, bad_values)
            out.append(values)
            bad_row[:] |= bad
        return np.column_stack(out)

    mags = stack(columns.mag_columns)
    errs = stack(columns.err_columns) if columns.err_columns else None
    return mags, errs, bad_row


def _jsonable(params: dict) -> dict:
    out = {}
    for k, v in params.items():
        if isinstance(v, np.generic):
            v = v.item()
        if not (v is None or isinstance(v, bool | int | float | str)):
            raise ConfigError(f"parameter {k}={v!r} cannot be stored in a model file")
        out[k] = v
    return out
