"""The selection machinery: a catalogue view, the step interface and surveys of steps.

A *survey* is a pipeline of steps applied to a catalogue with true redshifts. Each step
either removes objects (``keep``: a magnitude limit, colour cuts, redshift-success
incompleteness, a flag threshold) or changes the redshift a spectrograph would report
(``relabel``: line confusion, many-band photo-z scatter). The result is the selected
"spectroscopic" subset with its reported labels:

=============  =====================================================================
column         meaning
=============  =====================================================================
``z_spec``     the redshift the survey reports (the training label)
``z_flag``     confidence flag (4 = secure ... 1 = insecure; 4 where no step sets one)
``z_wrong``    True where ``z_spec`` is a wrong identification (simulation truth;
               a user's pipeline must never read it)
``survey``     the survey's name
=============  =====================================================================

The true redshift column (``z_column``) is kept untouched, so the truth stays available
for evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cosmoml.catalog.features import nondetected
from cosmoml.catalog.io import as_frame
from cosmoml.errors import CatalogError, ConfigError

LABEL_COLUMNS = ("z_spec", "z_flag", "z_wrong", "survey")


@dataclass
class CatalogView:
    """Read access to a catalogue's magnitudes and true redshifts by band name.

    ``mag_pattern`` turns a band into a column (``"{band}"`` for the Buzzard tables,
    ``"mag_{band}_lsst"`` for DC2). A non-detected magnitude (99, NaN, ...) reads as +inf,
    so it fails every "brighter than" test and passes every "fainter than" one.
    """

    table: pd.DataFrame
    mag_pattern: str = "{band}"
    z_column: str = "redshift"
    name: str = "catalogue"
    _cache: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.table)

    def mag(self, band: str) -> np.ndarray:
        """AB magnitude in ``band`` (non-detections as +inf)."""
        if band not in self._cache:
            col = self.mag_pattern.format(band=band)
            if col not in self.table.columns:
                raise CatalogError(
                    f"{self.name}: no column {col!r} for band {band!r} "
                    f"(mag_pattern={self.mag_pattern!r}); columns: {list(self.table.columns)}"
                )
            m = self.table[col].to_numpy(dtype=float, copy=True)
            m[nondetected(m)] = np.inf
            self._cache[band] = m
        return self._cache[band]

    def colour(self, blue: str, red: str) -> np.ndarray:
        """Colour ``blue - red`` (NaN where either band is undetected)."""
        with np.errstate(invalid="ignore"):
            c = self.mag(blue) - self.mag(red)
        c[~np.isfinite(c)] = np.nan
        return c

    @property
    def z(self) -> np.ndarray:
        """True redshift."""
        if self.z_column not in self.table.columns:
            raise CatalogError(f"{self.name}: no true-redshift column {self.z_column!r}")
        return self.table[self.z_column].to_numpy(dtype=float)


class SelectionStep:
    """One stage of a survey. Subclasses override ``keep`` and/or ``relabel``."""

    def keep(self, view: CatalogView, labels: pd.DataFrame, rng: np.random.Generator):
        """Boolean mask of the objects this step keeps (default: all)."""
        return np.ones(len(view), dtype=bool)

    def relabel(
        self, view: CatalogView, labels: pd.DataFrame, rng: np.random.Generator
    ) -> pd.DataFrame:
        """The label table after this step (default: unchanged)."""
        return labels

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"


class Survey:
    """A spectroscopic survey: a named pipeline of selection steps.

    Parameters
    ----------
    steps
        Steps applied in order; each sees only the objects kept by the steps before it.
    name
        Written into the ``survey`` column.
    max_objects
        Keep at most this many of the selected objects (a random subset, like a survey's
        finite fibre budget); None keeps all.

    Example
    -------
    >>> survey = Survey([MagnitudeLimit("i", 23.0), LineConfusion()], name="bright")
    >>> spec = survey.select(catalog, seed=1)          # doctest: +SKIP
    """

    def __init__(
        self, steps: Sequence[SelectionStep], name: str = "survey", max_objects: int | None = None
    ) -> None:
        self.steps = list(steps)
        self.name = name
        self.max_objects = max_objects

    def __repr__(self) -> str:
        return f"Survey({self.steps!r}, name={self.name!r}, max_objects={self.max_objects})"

    def select(
        self,
        catalog: pd.DataFrame,
        seed: int = 0,
        mag_pattern: str = "{band}",
        z_column: str = "redshift",
    ) -> pd.DataFrame:
        """The selected subset (original rows, index reset) with the label columns added.

        Deterministic given ``seed``: step ``k`` draws from ``default_rng([seed, k])``.
        ``catalog``: a DataFrame or any table :func:`cosmoml.catalog.as_frame` takes.
        """
        table = as_frame(catalog, f"survey {self.name!r}'s catalogue").reset_index(drop=True)
        view = CatalogView(table, mag_pattern, z_column, name=self.name)
        rows = np.arange(len(table))
        labels = pd.DataFrame(
            {
                "z_spec": view.z.copy(),
                "z_flag": np.full(len(table), 4, dtype=np.int8),
                "z_wrong": np.zeros(len(table), dtype=bool),
            }
        )
        for k, step in enumerate(self.steps):
            rng = np.random.default_rng([seed, k])
            sub = CatalogView(table.iloc[rows].reset_index(drop=True), mag_pattern, z_column,
                              name=self.name)
            labels = step.relabel(sub, labels, rng)
            mask = np.asarray(step.keep(sub, labels, rng), dtype=bool)
            if mask.shape != (len(rows),):
                raise ConfigError(f"{step!r} returned a mask of shape {mask.shape}")
            rows, labels = rows[mask], labels[mask].reset_index(drop=True)
        if self.max_objects is not None and rows.size > self.max_objects:
            rng = np.random.default_rng([seed, len(self.steps)])
            pick = np.sort(rng.choice(rows.size, self.max_objects, replace=False))
            rows, labels = rows[pick], labels.iloc[pick].reset_index(drop=True)
        out = table.iloc[rows].reset_index(drop=True)
        for col in ("z_spec", "z_flag", "z_wrong"):
            out[col] = labels[col].to_numpy()
        out["survey"] = self.name
        return out


def combine_surveys(samples: Sequence[pd.DataFrame], id_column: str = "id") -> pd.DataFrame:
    """Union of several surveys' samples; an object observed twice keeps its first entry.

    The order of ``samples`` is the priority (put the most reliable survey first), as a
    compilation of spec-z catalogues would keep the best redshift per object.
    """
    if not samples:
        raise ConfigError("combine_surveys needs at least one sample")
    for s in samples:
        if id_column not in s.columns:
            raise CatalogError(f"sample {s['survey'].iat[0] if len(s) else ''!r} has no "
                               f"{id_column!r} column to match objects across surveys")
    both = pd.concat(samples, ignore_index=True)
    return both.drop_duplicates(subset=id_column, keep="first").reset_index(drop=True)
