"""Column mapping: which columns hold each band's magnitude and error, the redshift, the
id and the weight. Explicit patterns always win; otherwise a small set of common naming
schemes is tried and an ambiguous match is an error, never a guess."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from cosmoml.errors import CatalogError

#: Bands in wavelength order; unknown band names sort after these, alphabetically.
BAND_ORDER = ("u", "g", "r", "i", "z", "y", "Y", "J", "H", "K", "Ks")

#: (magnitude pattern, error patterns) tried by auto-detection, most specific first.
KNOWN_PATTERNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("mag_{band}_lsst", ("mag_err_{band}_lsst", "magerr_{band}_lsst")),
    ("mag_{band}", ("mag_err_{band}", "magerr_{band}", "mag_{band}_err")),
    ("MAG_{band}", ("MAGERR_{band}", "MAG_ERR_{band}")),
    ("{band}_mag", ("{band}_mag_err", "{band}_magerr", "{band}_err")),
    ("{band}", ("{band}_err", "err_{band}", "{band}err", "e_{band}", "{band}_error")),
)

ID_CANDIDATES = ("id", "ID", "object_id", "objectId", "galaxy_id", "source_id", "coadd_object_id")
Z_CANDIDATES = ("redshift", "z_spec", "zspec", "specz", "z_true", "Z", "z")


def find_z_column(columns: Sequence[str], source: str, exclude: Sequence[str] = ()) -> str:
    """The redshift column among :data:`Z_CANDIDATES`; CatalogError if there is none."""
    found = next((c for c in Z_CANDIDATES if c in columns and c not in exclude), None)
    if found is None:
        raise CatalogError(
            f"{source}: no redshift column found (tried {list(Z_CANDIDATES)}); pass --z-column"
        )
    return found


def sort_bands(bands: Sequence[str]) -> list[str]:
    """Sort band names by wavelength (known bands first)."""
    known = {b: i for i, b in enumerate(BAND_ORDER)}
    return sorted(bands, key=lambda b: (known.get(b, len(known)), b))


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    if pattern.count("{band}") != 1:
        raise CatalogError(f"column pattern {pattern!r} must contain '{{band}}' exactly once")
    head, tail = pattern.split("{band}")
    return re.compile(f"^{re.escape(head)}(?P<band>[A-Za-z][A-Za-z0-9]*?){re.escape(tail)}$")


def bands_matching(pattern: str, columns: Sequence[str], known_only: bool = False) -> list[str]:
    """Bands for which ``pattern`` names an existing column, in wavelength order.

    With ``known_only`` only the names in :data:`BAND_ORDER` count as bands (used by
    auto-detection, so that a column called ``redshift`` is never taken for a band).
    """
    rx = _pattern_regex(pattern)
    found = [m["band"] for c in columns if (m := rx.match(c))]
    if known_only:
        found = [b for b in found if b in BAND_ORDER]
    return sort_bands(found)


@dataclass
class ColumnMap:
    """Where a catalogue keeps its photometry.

    ``mag_pattern`` and ``err_pattern`` contain ``{band}``; ``err_pattern`` is None when
    the catalogue has no errors. Magnitudes are AB.
    """

    bands: list[str]
    mag_pattern: str
    err_pattern: str | None = None
    z_column: str | None = None
    id_column: str | None = None
    weight_column: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def mag_columns(self) -> list[str]:
        return [self.mag_pattern.format(band=b) for b in self.bands]

    @property
    def err_columns(self) -> list[str]:
        if self.err_pattern is None:
            return []
        return [self.err_pattern.format(band=b) for b in self.bands]

    def photometry_columns(self) -> list[str]:
        return self.mag_columns + self.err_columns

    def check(self, columns: Sequence[str], source: str, need_z: bool = False) -> None:
        """Raise CatalogError naming ``source`` and each missing column."""
        need = self.photometry_columns()
        if need_z and self.z_column:
            need.append(self.z_column)
        if self.weight_column and need_z:
            need.append(self.weight_column)
        missing = [c for c in need if c not in columns]
        if missing:
            raise CatalogError(
                f"{source}: missing column(s) {missing} required by the column mapping "
                f"(bands {','.join(self.bands)}, magnitudes {self.mag_pattern!r}, errors "
                f"{self.err_pattern!r}); the file has {list(columns)}"
            )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ColumnMap:
        return cls(**d)


def resolve_columns(
    columns: Sequence[str],
    source: str = "catalogue",
    bands: Sequence[str] | None = None,
    mag_pattern: str | None = None,
    err_pattern: str | None = None,
    z_column: str | None = None,
    id_column: str | None = None,
    weight_column: str | None = None,
    need_z: bool = False,
) -> ColumnMap:
    """Build a :class:`ColumnMap` from explicit choices, auto-detecting the rest.

    Auto-detection tries :data:`KNOWN_PATTERNS`; when two schemes both match at least two
    bands the choice is ambiguous and a CatalogError lists them with the flags to pass.
    """
    columns = list(columns)
    if mag_pattern is None:
        hits = []
        for pat, _ in KNOWN_PATTERNS:
            found = bands_matching(pat, columns, known_only=bands is None)
            if bands is not None:
                found = [b for b in bands if b in found]
                if len(found) != len(bands):
                    continue
            if len(found) >= 2:
                hits.append((pat, found))
        distinct = {tuple(_cols(h)): h for h in hits}
        if not distinct:
            raise CatalogError(
                f"{source}: no magnitude columns found (tried patterns "
                f"{[p for p, _ in KNOWN_PATTERNS]}); pass --mag-pattern, e.g. "
                f"'mag_{{band}}_lsst', and --bands; columns are {columns}"
            )
        if len(distinct) > 1:
            options = "; ".join(f"{p!r} (bands {','.join(b)})" for p, b in distinct.values())
            raise CatalogError(
                f"{source}: ambiguous magnitude columns, several naming schemes match: "
                f"{options}. Pass --mag-pattern and --bands to choose"
            )
        mag_pattern, found = next(iter(distinct.values()))
        if bands is None:
            bands = found
    else:
        found = bands_matching(mag_pattern, columns)
        if bands is None:
            bands = found
            if not bands:
                raise CatalogError(
                    f"{source}: no column matches magnitude pattern {mag_pattern!r}; "
                    f"columns are {columns}"
                )
    bands = list(bands)
    if len(set(bands)) != len(bands):
        raise CatalogError(f"{source}: duplicate band in {bands}")
    missing = [
        mag_pattern.format(band=b) for b in bands if mag_pattern.format(band=b) not in columns
    ]
    if missing:
        raise CatalogError(f"{source}: missing magnitude column(s) {missing}")
    if err_pattern is None:
        tried = dict(KNOWN_PATTERNS).get(mag_pattern, ())
        tried = (*tried, mag_pattern + "_err", mag_pattern.replace("mag", "magerr", 1))
        for pat in tried:
            if all(pat.format(band=b) in columns for b in bands):
                err_pattern = pat
                break
    elif not all(err_pattern.format(band=b) in columns for b in bands):
        missing = [
            err_pattern.format(band=b) for b in bands if err_pattern.format(band=b) not in columns
        ]
        raise CatalogError(
            f"{source}: missing error column(s) {missing} for pattern {err_pattern!r}"
        )
    if z_column is None and need_z:
        z_column = find_z_column(columns, source, [mag_pattern.format(band=b) for b in bands])
    if z_column is not None and need_z and z_column not in columns:
        raise CatalogError(
            f"{source}: redshift column {z_column!r} not found; columns are {columns}"
        )
    if id_column is None:
        id_column = next((c for c in ID_CANDIDATES if c in columns), None)
    if weight_column is not None and weight_column not in columns:
        raise CatalogError(f"{source}: weight column {weight_column!r} not found")
    return ColumnMap(
        bands=bands,
        mag_pattern=mag_pattern,
        err_pattern=err_pattern,
        z_column=z_column,
        id_column=id_column,
        weight_column=weight_column,
    )


def _cols(hit: tuple[str, list[str]]) -> list[str]:
    pat, bands = hit
    return [pat.format(band=b) for b in bands]
