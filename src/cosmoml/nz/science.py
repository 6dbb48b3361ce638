"""A science catalogue too large to hold in memory, for :func:`cosmoml.nz.estimate_nz`.

The n(z) needs the whole science sample twice: its photometry's distribution (for the
shift diagnostics and the correction's weights), and every object's photo-z (for the
tomographic bins and the stacked n(z)). :class:`ScienceFiles` gives the first a seeded
random sample of ``sample_rows`` rows (with millions of science objects the weights'
noise is set by the training set, not by the science sample), and the second the whole
catalogue in blocks of ``block_rows``, read part by part
(:mod:`cosmoml.engine.parts`: parquet row groups, HDF5 slices; CSV and FITS are read
whole). The per-object results go to ``assignments`` block by block, so memory does not
grow with the catalogue.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cosmoml.catalog.columns import ColumnMap
from cosmoml.catalog.io import atomic_path, read_columns
from cosmoml.engine.parts import Part, expand_inputs, plan_parts, read_part
from cosmoml.errors import CatalogError
from cosmoml.model import _photometry

#: Science rows the diagnostics and the correction see by default.
SAMPLE_ROWS = 2_000_000
#: Science objects predicted at a time: their PDFs are summarised and dropped, never all held.
SCIENCE_BLOCK = 100_000


@dataclass
class ScienceFiles:
    """The science catalogue as files (a file, a directory of files, a glob or a list of
    them, read in that order) with the photometry (and id) columns ``columns``.

    ``sample_rows``: rows drawn (uniformly, without replacement, seeded) for the
    diagnostics and the correction (all rows when the catalogue is not larger);
    ``block_rows``: rows predicted at a time; ``assignments``: the parquet file the
    per-object results are written to (atomically; None: not written);
    ``metadata``: key/value strings stored in that file.
    """

    inputs: str | os.PathLike | Sequence[str | os.PathLike]
    columns: ColumnMap
    sample_rows: int = SAMPLE_ROWS
    block_rows: int = SCIENCE_BLOCK
    group: str | None = None
    assignments: str | os.PathLike | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("sample_rows", "block_rows"):
            if getattr(self, name) < 1:
                raise CatalogError(f"{name} must be >= 1, got {getattr(self, name)}")
        self.files = expand_inputs(self.inputs)
        self.parts: list[Part] = plan_parts(self.files, self.block_rows, self.group)
        self.n_rows = sum(p.n_rows for p in self.parts)
        if self.n_rows == 0:
            raise CatalogError(f"{self.source}: catalogue has no rows")

    @property
    def source(self) -> str:
        """How errors name the catalogue."""
        return str(self.files[0]) if len(self.files) == 1 else f"{self.files[0].parent}/"

    def blocks(self) -> Iterator[tuple[int, str, pd.DataFrame]]:
        """``(first row, file, rows)`` of each block in catalogue order (at most
        ``block_rows`` rows; a block never spans two files); each block's index is its
        rows' numbers in its file, so that errors name them."""
        need = self.columns.photometry_columns() + (
            [self.columns.id_column] if self.columns.id_column else [])
        start, checked = 0, set()
        for part in self.parts:
            if part.path not in checked:  # each file's columns, once
                self.columns.check(read_columns(part.path, self.group), part.path)
                checked.add(part.path)
            row = part.row_start
            for df in read_part(part, need, self.block_rows, self.group):
                df.index = pd.RangeIndex(row, row + len(df))
                yield start, part.path, df
                start, row = start + len(df), row + len(df)

    def sample(self, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
        """The rows the correction sees and their row numbers in the catalogue (all rows
        when there are at most ``sample_rows``). Reads the whole catalogue once and checks
        every block's photometry on the way (a bad value is reported before any model is
        trained, naming its file and row)."""
        rows = (np.arange(self.n_rows) if self.n_rows <= self.sample_rows
                else _random_rows(self.n_rows, self.sample_rows, seed))
        out = []
        for start, path, df in self.blocks():
            _photometry(df, self.columns, path)  # raises naming the file and row
            lo, hi = np.searchsorted(rows, [start, start + len(df)])
            if hi > lo:
                out.append(df.iloc[rows[lo:hi] - start])
        return pd.concat(out, ignore_index=True), rows


def _random_rows(n: int, k: int, seed: int) -> np.ndarray:
    """``k`` distinct row numbers below ``n``, sorted, uniformly at random: draws with
    replacement, duplicates dropped and drawn again. Memory O(k) (``Generator.choice``
    without replacement makes an array of all ``n`` rows when k > n/50)."""
    rng = np.random.default_rng([seed, 11])
    rows = np.unique(rng.integers(0, n, k))
    while rows.size < k:
        rows = np.unique(np.concatenate([rows, rng.integers(0, n, k - rows.size)]))
    return rows


@contextmanager
def assignment_writer(path: str | os.PathLike | None, metadata: dict[str, str]
                      ) -> Iterator[Callable[[pd.DataFrame], None]]:
    """A function writing assignment rows block by block to the parquet file ``path``
    (None: nowhere), under a temporary name renamed when the block loop ends without an
    error (an error leaves no file)."""
    if path is None:
        yield lambda table: None
        return
    with atomic_path(path) as tmp:
        writer = None

        def write(table: pd.DataFrame) -> None:
            nonlocal writer
            t = pa.Table.from_pandas(table, preserve_index=False)
            if writer is None:
                meta = {k.encode(): str(v).encode() for k, v in metadata.items()}
                writer = pq.ParquetWriter(tmp, t.schema.with_metadata(meta),
                                          compression="zstd")
            writer.write_table(t.replace_schema_metadata(writer.schema.metadata))

        try:
            yield write
        finally:
            if writer is not None:
                writer.close()
