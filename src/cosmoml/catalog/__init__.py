"""Catalogue I/O, column mapping, validation and features."""

from cosmoml.catalog.columns import ColumnMap, resolve_columns
from cosmoml.catalog.features import POLICIES, PhotometryFeatures, nondetected
from cosmoml.catalog.io import as_frame, atomic_path, read_columns, read_table, write_table

__all__ = [
    "POLICIES",
    "ColumnMap",
    "PhotometryFeatures",
    "as_frame",
    "atomic_path",
    "nondetected",
    "read_columns",
    "read_table",
    "resolve_columns",
    "write_table",
]
