"""cosmoml's exceptions: each subclasses the builtin a caller would expect.

Raise :class:`CatalogError` for a bad input file or column (name the file, the column and
the problem), :class:`ModelFileError` for a model file that cannot be trusted or does not
match, and :class:`ConfigError` for a bad parameter value.
"""

from __future__ import annotations


class CosmomlError(Exception):
    """Base class of every error cosmoml raises on purpose."""


class CatalogError(CosmomlError, ValueError):
    """A catalogue file or one of its columns is missing, malformed or ambiguous."""


class ModelFileError(CosmomlError, ValueError):
    """A model file is corrupt, tampered with, from an unknown version, or mismatched."""


class ConfigError(CosmomlError, ValueError):
    """A parameter has a value outside what is allowed."""
