"""Input planning for streaming prediction: files → ordered parts → chunks of rows.

A *part* is a contiguous row range of one input file that becomes one output file:
parquet parts are runs of whole row groups (about ``part_rows`` rows), HDF5 and FITS parts
are row slices, CSV parts byte ranges of whole lines (found by one scan of the file). A
gzipped file, or a CSV file with quoted fields (a quoted field may hold a line break), is
one part read as a stream of chunks (a CSV's rows counted by one streamed pass, a FITS
file's from its header). Reading a part yields chunks of at most ``chunk_size`` rows, so
memory is bounded by the chunk size (parquet: by the larger of the chunk and one row
group; a split CSV: by the part).
"""

from __future__ import annotations

import glob
import hashlib
import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from cosmoml.catalog.io import (
    _hdf5_group,
    arrow_frame,
    compressed,
    csv_lines,
    file_format,
    fits_rows,
    iter_fits_rows,
    read_columns,
    read_csv_exact,
    read_fits_rows,
    require_columns,
)
from cosmoml.errors import CatalogError


@dataclass(frozen=True)
class Part:
    """Rows ``row_start:row_end`` of ``path`` (parquet: the row groups ``groups``).

    ``error`` is set for a file that could not even be planned (unreadable metadata); its
    row count is then unknown (0 here)."""

    index: int
    path: str
    row_start: int
    row_end: int
    groups: tuple[int, ...] = ()
    error: str | None = None
    #: CSV: the bytes ``[start, end)`` holding the part's lines
    byte_range: tuple[int, ...] = ()

    @property
    def n_rows(self) -> int:
        return self.row_end - self.row_start

    def fingerprint(self, salt: str = "") -> str:
        """Identity of the part's input: path, size, modification time and row range
        (plus ``salt``, e.g. the model's checksum). A changed file changes it."""
        st = os.stat(self.path)
        key = f"{os.path.abspath(self.path)}|{st.st_size}|{st.st_mtime_ns}|{self.row_start}|"
        key += f"{self.row_end}|{self.groups}|{salt}"
        return hashlib.sha256(key.encode()).hexdigest()

    def to_dict(self) -> dict:
        return {**asdict(self), "groups": list(self.groups),
                "byte_range": list(self.byte_range)}


def expand_inputs(inputs: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """Files named by a file, a directory (its catalogue files, sorted), a HATS catalogue
    directory (its partitions in HEALPix order) or a glob pattern.

    Hidden and underscore-prefixed names (temporary files, as Arrow datasets skip them)
    are ignored in directories and globs.
    """
    items = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir() and is_hats(p):
            files += hats_partitions(p)
        elif p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and _catalogue_name(q))
            if not found:
                raise CatalogError(f"{p}: directory holds no catalogue files")
            files += found
        elif p.exists():
            files.append(p)
        elif any(ch in str(item) for ch in "*?["):
            found = sorted(Path(q) for q in glob.glob(str(item)) if _catalogue_name(Path(q)))
            if not found:
                raise CatalogError(f"{item}: no catalogue files match this pattern")
            files += found
        else:
            raise CatalogError(f"{item}: no such file, directory or matching files")
    return files


def is_hats(path: Path) -> bool:
    """A HATS catalogue directory (LSDB's format: properties plus a ``dataset/`` tree) or
    a HATS collection (``collection.properties``; its main catalogue is read)."""
    return (path / "collection.properties").is_file() or ((path / "dataset").is_dir() and any(
        (path / name).is_file() for name in ("hats.properties", "properties")))


def hats_partitions(path: Path) -> list[Path]:
    """The partition files of a HATS catalogue in HEALPix (order, pixel) order, read
    through the ``hats`` package (installed with LSDB: ``pip install 'cosmoml[hats]'``)."""
    try:
        import hats
        from hats.io.paths import pixel_catalog_file
    except ImportError:
        raise CatalogError(f"{path}: a HATS catalogue; reading it needs the hats package "
                           "(pip install 'cosmoml[hats]', or install lsdb)") from None
    try:
        cat = hats.read_hats(path)
        cat = getattr(cat, "main_catalog", cat)  # a collection: its main catalogue
        pixels = sorted(cat.get_healpix_pixels(), key=lambda px: (px.order, px.pixel))
        files = [Path(str(pixel_catalog_file(cat.catalog_base_dir, px))) for px in pixels]
    except Exception as exc:
        raise CatalogError(f"{path}: cannot be read as a HATS catalogue: {exc}") from exc
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise CatalogError(f"{path}: HATS partition file(s) missing, e.g. {missing[0]}")
    return files


def _catalogue_name(p: Path) -> bool:
    if p.name.startswith((".", "_")):
        return False
    try:
        file_format(p)
    except CatalogError:
        return False
    return True


def plan_parts(files: Sequence[Path], part_rows: int = 1_000_000, group: str | None = None,
               columns: Sequence[str] | None = None, skip_bad: bool = False) -> list[Part]:
    """Split the files into ordered parts of about ``part_rows`` rows.

    A file that cannot be read is an error naming it, or with ``skip_bad`` one part
    carrying the error (so the run can list it as failed and go on)."""
    if part_rows < 1:
        raise CatalogError(f"part_rows must be >= 1, got {part_rows}")
    parts: list[Part] = []
    for path in files:
        fmt = file_format(path)
        try:
            if fmt == "parquet":
                meta = pq.ParquetFile(path).metadata
                start, run, rows = 0, [], 0
                for g in range(meta.num_row_groups):
                    run.append(g)
                    rows += meta.row_group(g).num_rows
                    if rows >= part_rows or g == meta.num_row_groups - 1:
                        parts.append(Part(len(parts), str(path), start, start + rows, tuple(run)))
                        start, run, rows = start + rows, [], 0
                if meta.num_row_groups == 0:
                    parts.append(Part(len(parts), str(path), 0, 0))
            elif (ranges := _csv_ranges(path, part_rows, columns)) is not None:
                start = 0
                for a, b, n in ranges:
                    parts.append(Part(len(parts), str(path), start, start + n, byte_range=(a, b)))
                    start += n
            elif fmt in ("hdf5", "fits"):
                n = _hdf5_rows(path, group, columns) if fmt == "hdf5" \
                    else fits_rows(path, columns)
                # a gzipped FITS file cannot be sliced: one part, streamed
                step = part_rows if fmt == "hdf5" or _fits_sliced(path) else max(n, 1)
                for s in range(0, max(n, 1), step):
                    parts.append(Part(len(parts), str(path), s, min(s + step, n)))
            else:  # a CSV file, compressed or with quoted fields: one part, streamed
                parts.append(Part(len(parts), str(path), 0, _csv_stream_rows(path, columns)))
        except Exception as exc:
            err = exc if isinstance(exc, CatalogError) else CatalogError(
                f"{path}: cannot be read as {fmt}: {exc}")
            if not skip_bad:
                raise err from exc
            parts.append(Part(len(parts), str(path), 0, 0, error=str(err)))
    return parts


def _csv_ranges(path: Path, part_rows: int, columns: Sequence[str] | None
                ) -> list[tuple[int, int, int]] | None:
    """A CSV file's parts as ``(first byte, end byte, rows)``: runs of ``part_rows`` data
    lines (:func:`cosmoml.catalog.io.csv_lines`: one scan of the file, which checks every
    line's fields against the header's). None where the file is not split: not a plain
    CSV, or it holds a double quote (a quoted field may hold a line break, which the scan
    would take for a new row). The header's columns are checked here."""
    if file_format(path) != "csv" or compressed(path):
        return None
    _csv_header(path, columns)  # a missing column is said before the scan
    lines = csv_lines(path)
    if lines is None:
        return None
    size = path.stat().st_size
    if lines.size == 0:
        return [(size, size, 0)]
    cuts = [int(c) for c in lines[::part_rows]] + [size]
    counts = [min(part_rows, lines.size - k) for k in range(0, lines.size, part_rows)]
    return list(zip(cuts[:-1], cuts[1:], counts, strict=True))


def _csv_header(path: Path, columns: Sequence[str] | None) -> list[str]:
    """The CSV file's column names (:func:`read_columns`), ``columns`` checked among them."""
    names = read_columns(path)
    require_columns(path, columns, names)
    return names


def _read_csv_range(path: Path, part: Part, columns: Sequence[str]) -> pd.DataFrame:
    """A CSV part: its byte range parsed under the file's header line."""
    names = _csv_header(path, columns)
    a, b = part.byte_range
    with open(path, "rb") as f:
        f.seek(a)
        body = f.read(b - a)
    wanted = set(columns)
    df = read_csv_exact(lambda: io.BytesIO(body), comment="#", header=None, names=names,
                        usecols=lambda c: c in wanted) if body.strip() else pd.DataFrame(
        {c: [] for c in columns})
    if len(df) != part.n_rows:  # the scan and the parser disagree on what a row is
        raise CatalogError(f"{path}: bytes {a}..{b} parse to {len(df)} rows, not the "
                           f"{part.n_rows} lines found there (lines of spaces only, or the "
                           "file changed while read?); convert it to parquet")
    return df[list(columns)]


#: rows per chunk of the pass that counts a streamed CSV file's rows
_CSV_COUNT_CHUNK = 250_000


def _csv_stream_rows(path: Path, columns: Sequence[str] | None) -> int:
    """The number of rows of a CSV file read as a stream (compressed, or quoted fields),
    counted by parsing its first column chunk by chunk: memory bounded by the chunk, not
    the file (a quoted field may hold a line break, so lines are not rows)."""
    names = _csv_header(path, columns)
    if not names:
        return 0
    with pd.read_csv(path, comment="#", usecols=[names[0]], dtype=str,
                     chunksize=_CSV_COUNT_CHUNK) as reader:
        return sum(len(df) for df in reader)


def _read_csv_stream(path: Path, columns: Sequence[str], chunk_size: int
                     ) -> Iterator[pd.DataFrame]:
    """A CSV file that cannot be split at line breaks, read as a stream of chunks of at
    most ``chunk_size`` rows (memory bounded by the chunk, not the file).

    The columns' types must not change from chunk to chunk (a part's chunks go to one
    output file), and pandas would infer them chunk by chunk; so integers are read as
    nullable ``Int64`` in every chunk (exact 64-bit ids, with empty fields or without),
    decimals as float64 (NaN where empty) and text as strings. A column that holds whole
    numbers in its first rows and decimals later is read as float64 from the first rows
    on — the stream cannot go back — so that is an error naming the column and the row;
    whole numbers after decimals are read as floats."""
    _csv_header(path, columns)
    kinds: dict[str, str] = {}  # column -> "int" or "float", from its first numbers
    row = 0
    with pd.read_csv(path, comment="#", usecols=list(columns), chunksize=chunk_size,
                     dtype_backend="numpy_nullable") as reader:
        for df in reader:
            if df.empty:  # a file with a header and no rows: no chunks, as for other parts
                continue
            out = {}
            for c in columns:
                v = df[c]
                kind = kinds.get(c)
                if pd.api.types.is_integer_dtype(v.dtype):
                    out[c] = (v.astype(float) if kind == "float" else v.astype("Int64")).array
                    if kind is None and v.notna().any():
                        kinds[c] = "int"
                elif pd.api.types.is_float_dtype(v.dtype):
                    x = v.to_numpy(dtype=float, na_value=np.nan)
                    if kind == "int":
                        whole = np.isfinite(x) & (x == np.floor(x))
                        odd = np.flatnonzero(~np.isnan(x) & ~whole)
                        if odd.size:
                            k = int(odd[0])
                            raise CatalogError(
                                f"{path}: column {c!r} holds whole numbers in its first rows "
                                f"and {float(x[k])!r} in row {row + k}; a compressed or "
                                "quoted CSV file is read as a stream, which fixes a column's "
                                "type by its first rows: write it with decimals throughout "
                                "(e.g. 20.0) or convert the file to parquet")
                        out[c] = v.astype("Int64").array
                    else:
                        out[c] = x
                        if kind is None and v.notna().any():
                            kinds[c] = "float"
                elif pd.api.types.is_string_dtype(v.dtype):
                    out[c] = v.astype(pd.StringDtype(na_value=np.nan)).array
                else:
                    out[c] = v.array
            yield pd.DataFrame(out, index=pd.RangeIndex(len(df)))
            row += len(df)


def _fits_sliced(path: Path) -> bool:
    """A FITS file read by row ranges (memory mapped); a gzipped one is streamed."""
    return file_format(path) == "fits" and not compressed(path)


def _hdf5_rows(path: Path, group: str | None, columns: Sequence[str] | None) -> int:
    with h5py.File(path, "r") as f:
        g = _hdf5_group(f, group, path)
        have = [k for k in g if isinstance(g[k], h5py.Dataset)]
        require_columns(path, columns, have)
        names = list(columns) if columns else have
        lengths = {len(g[c]) for c in names}
        if len(lengths) > 1:
            raise CatalogError(f"{path}: columns have different lengths {sorted(lengths)}")
        return lengths.pop() if lengths else 0


def read_part(part: Part, columns: Sequence[str], chunk_size: int,
              group: str | None = None) -> Iterator[pd.DataFrame]:
    """The part's rows in order, in chunks of at most ``chunk_size`` rows."""
    path = Path(part.path)
    fmt = file_format(path)
    try:
        if fmt == "parquet":
            pf = pq.ParquetFile(path)
            require_columns(path, columns, pf.schema_arrow.names)
            for batch in pf.iter_batches(batch_size=chunk_size, row_groups=list(part.groups),
                                         columns=list(columns)):
                yield arrow_frame(batch)
        elif fmt == "hdf5":
            with h5py.File(path, "r") as f:
                g = _hdf5_group(f, group, path)
                for s in range(part.row_start, part.row_end, chunk_size):
                    e = min(s + chunk_size, part.row_end)
                    yield pd.DataFrame({c: _decode(g[c][s:e]) for c in columns})
        elif _fits_sliced(path):
            for s in range(part.row_start, part.row_end, chunk_size):
                yield read_fits_rows(path, columns, s, min(s + chunk_size, part.row_end))
        elif part.byte_range:
            df = _read_csv_range(path, part, columns)
            for s in range(0, len(df), chunk_size):
                yield df.iloc[s : s + chunk_size].reset_index(drop=True)
        elif fmt == "csv":
            yield from _read_csv_stream(path, columns, chunk_size)
        else:  # a gzipped FITS file
            yield from iter_fits_rows(path, columns, chunk_size)
    except CatalogError:
        raise
    except Exception as exc:
        raise CatalogError(f"{path}: cannot be read as {fmt}: {exc}") from exc


def _decode(arr):
    return arr.astype(str) if arr.dtype.kind == "S" else arr
