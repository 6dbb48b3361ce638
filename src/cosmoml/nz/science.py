"""A science catalogue too large to hold in memory, for :func:`cosmoml.nz.estimate_nz`.

The n(z) needs the whole science sample twice: its photometry's distribution (for the
shift diagnostics and the correction's weights), and every object's photo-z (for the
tomographic bins and the stacked n(z)). :class:`ScienceFiles` gives the first a seeded
random sample of ``sample_rows`` rows (with millions of science objects the weights'
noise is set by the training set, not by the science sample), and the second the whole
catalogue in blocks of ``block_rows``, read part by part
(:mod:`cosmoml.engine.parts`: parquet row groups, HDF5 and FITS row ranges, CSV byte
ranges of whole lines; a compressed file, or a CSV with quoted fields, is read whole).
The per-object results go to ``assignments`` part by part, so memory does not grow with
the catalogue. With ``engine="dask"`` both reads are shared among the workers of
a Dask cluster, part by part, with the same result.

A run keeps what it has done in ``<assignments>.parts/`` (:attr:`ScienceFiles.state_dir`):
the fitted correction and models (``fit.pkl``, keyed by a checksum of the training set,
the catalogue's files and every setting) and, per part, its assignment rows and its sums.
Rerunning the same call after a run was killed reuses them: no second fit and no part
predicted twice, so the result is that of an uninterrupted run. The folder is removed when
the run completes, or when it stops on bad input. (Its files are pickles: they are read
only if this user wrote them and nobody else can change them.)
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cosmoml import __version__
from cosmoml.catalog.columns import ColumnMap
from cosmoml.catalog.io import atomic_path, read_columns
from cosmoml.engine.parts import Part, expand_inputs, plan_parts, read_part
from cosmoml.errors import CatalogError, ConfigError
from cosmoml.model import _photometry

#: Science rows the diagnostics and the correction see by default.
SAMPLE_ROWS = 2_000_000
#: Science objects predicted at a time: their PDFs are summarised and dropped, never all held.
SCIENCE_BLOCK = 100_000
#: The fitted state in :attr:`ScienceFiles.state_dir`.
FIT_FILE = "fit.pkl"


@dataclass
class ScienceFiles:
    """The science catalogue as files (a file, a directory of files, a glob or a list of
    them, read in that order) with the photometry (and id) columns ``columns``.

    ``sample_rows``: rows drawn (uniformly, without replacement, seeded) for the
    diagnostics and the correction (all rows when the catalogue is not larger);
    ``block_rows``: rows predicted at a time; ``assignments``: the parquet file the
    per-object results are written to (atomically; None: not written);
    ``metadata``: key/value strings stored in that file.

    ``engine``: who predicts the parts: ``"local"`` (this process, part after part) or
    ``"dask"``, a ``dask.distributed`` cluster (at ``scheduler``, an address, or a
    ``LocalCluster`` of ``workers``, threads of this process unless ``dask_processes``;
    :func:`cosmoml.engine.dask.dask_map`): each worker predicts whole parts and writes
    their assignment rows to :attr:`state_dir`, next to ``assignments`` (a directory the
    workers must see, i.e. a shared filesystem on a cluster). Either way this process
    adds up the parts' sums in part order, so both engines give the same result.
    """

    inputs: str | os.PathLike | Sequence[str | os.PathLike]
    columns: ColumnMap
    sample_rows: int = SAMPLE_ROWS
    block_rows: int = SCIENCE_BLOCK
    group: str | None = None
    assignments: str | os.PathLike | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    engine: str = "local"
    scheduler: str | None = None
    workers: int | None = None
    dask_processes: bool = False

    def __post_init__(self) -> None:
        if self.engine not in ("local", "dask"):
            raise ConfigError(f"engine must be 'local' or 'dask', got {self.engine!r}")
        for name in ("sample_rows", "block_rows"):
            if getattr(self, name) < 1:
                raise CatalogError(f"{name} must be >= 1, got {getattr(self, name)}")
        self._client = None  # an open Dask client (session)
        self.files = expand_inputs(self.inputs)
        self.parts: list[Part] = plan_parts(self.files, self.block_rows, self.group)
        self.n_rows = sum(p.n_rows for p in self.parts)
        if self.n_rows == 0:
            raise CatalogError(f"{self.source}: catalogue has no rows")

    @contextmanager
    def session(self) -> Iterator[None]:
        """With ``engine="dask"``, one cluster client held open for every pass over the
        parts inside (the sampling pass and the science pass then share one start of a
        local cluster: seconds for each process worker); else nothing."""
        if self.engine != "dask" or self._client is not None:
            yield
            return
        from cosmoml.engine.dask import dask_client

        with dask_client(self.scheduler, self.workers, self.dask_processes) as client:
            self._client = client
            try:
                yield
            finally:
                self._client = None

    def _map(self, fn: Callable, shared: object, items: Sequence, *args
             ) -> Iterator[tuple[int, object]]:
        """:func:`cosmoml.engine.dask.dask_map` on this catalogue's cluster (the session's
        when one is open)."""
        from cosmoml.engine.dask import dask_map

        return dask_map(fn, shared, items, *args, scheduler=self.scheduler,
                        workers=self.workers, processes=self.dask_processes,
                        client=self._client)

    def __getstate__(self) -> dict:
        """Pickled (to the workers) without the client."""
        return {**self.__dict__, "_client": None}

    @property
    def state_dir(self) -> Path | None:
        """Where a run keeps what a rerun resumes from (see the module docstring):
        ``<assignments>.parts/``; None without an assignments file (nothing is kept)."""
        return None if self.assignments is None else Path(f"{self.assignments}.parts")

    def run_key(self, *settings: str | bytes) -> str:
        """A checksum of this catalogue (each part's file identity: path, size,
        modification time and rows; the columns; the sample size) and the caller's
        ``settings``: a saved fit is reused only under the same key."""
        h = hashlib.sha256()
        for item in (__version__, repr(self.columns), str(self.sample_rows), str(self.group),
                     *(p.fingerprint() for p in self.parts), *settings):
            h.update(item if isinstance(item, bytes) else item.encode())
            h.update(b"\0")
        return h.hexdigest()

    def load_fit(self, key: str) -> object | None:
        """The fit saved under ``key`` by an earlier, unfinished run (None if there is none,
        it cannot be read, or it was saved under another key: the folder of such a run is
        removed, so that nothing of it is mixed in)."""
        state = self.state_dir
        if state is None:
            return None
        saved = _load_kept(state / FIT_FILE)
        if saved is not None and saved.get("key") == key:
            return saved["fit"]
        shutil.rmtree(state, ignore_errors=True)
        return None

    def save_fit(self, key: str, fit: object) -> None:
        """Keep ``fit`` under ``key`` (atomically) for a rerun (:meth:`load_fit`). Pickled
        with cloudpickle: the corrections' coverage rules are closures."""
        import cloudpickle

        if self.state_dir is not None:
            _keep(self.state_dir / FIT_FILE, cloudpickle.dumps({"key": key, "fit": fit}))

    def part_file(self, i: int, kind: str = "parquet") -> Path:
        """Part ``i``'s file in :attr:`state_dir`: its assignment rows (``"parquet"``) or
        its sums (``"sums"``)."""
        return self.state_dir / f"part-{i:06d}.{kind}"

    def load_sums(self, i: int) -> object | None:
        """Part ``i``'s sums kept by an earlier run with its assignment rows written (None
        otherwise). They belong to this run's fit: :meth:`load_fit` removed any folder kept
        under another key before the science pass began."""
        if self.state_dir is None:
            return None
        saved = _load_kept(self.part_file(i, "sums"))
        if saved is None or not (self.part_file(i).exists() or self.parts[i].n_rows == 0):
            return None
        return saved["sums"]

    def save_sums(self, i: int, sums: object) -> None:
        """Keep part ``i``'s sums (after its assignment rows are written)."""
        if self.state_dir is not None:
            _keep(self.part_file(i, "sums"), pickle.dumps({"sums": sums}))

    @property
    def source(self) -> str:
        """How errors name the catalogue."""
        return str(self.files[0]) if len(self.files) == 1 else f"{self.files[0].parent}/"

    @property
    def part_starts(self) -> list[int]:
        """The catalogue row number of each part's first row."""
        return np.concatenate([[0], np.cumsum([p.n_rows for p in self.parts])[:-1]]
                              ).astype(int).tolist()

    def blocks(self) -> Iterator[tuple[int, str, pd.DataFrame]]:
        """``(first row, file, rows)`` of each block in catalogue order (at most
        ``block_rows`` rows; a block never spans two files); each block's index is its
        rows' numbers in its file, so that errors name them."""
        checked = set()
        for part, start in zip(self.parts, self.part_starts, strict=True):
            yield from self.part_blocks(part, start, check=part.path not in checked)
            checked.add(part.path)

    def part_blocks(self, part: Part, start: int, check: bool = True
                    ) -> Iterator[tuple[int, str, pd.DataFrame]]:
        """:meth:`blocks` of one part, whose first row is catalogue row ``start``;
        ``check``: its file's columns first."""
        need = self.columns.photometry_columns() + (
            [self.columns.id_column] if self.columns.id_column else [])
        if check:
            self.columns.check(read_columns(part.path, self.group), part.path)
        row = part.row_start
        for df in read_part(part, need, self.block_rows, self.group):
            df.index = pd.RangeIndex(row, row + len(df))
            yield start, part.path, df
            start, row = start + len(df), row + len(df)

    def sample(self, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
        """The rows the correction sees and their row numbers in the catalogue (all rows
        when there are at most ``sample_rows``). Reads the whole catalogue once and checks
        every block's photometry on the way (a bad value is reported before any model is
        trained, naming its file and row); with ``engine="dask"``, part by part on the
        cluster."""
        rows = (np.arange(self.n_rows) if self.n_rows <= self.sample_rows
                else _random_rows(self.n_rows, self.sample_rows, seed))
        if self.engine == "local":
            out = [_checked_rows(self.blocks(), rows, self.columns)]
        else:
            starts = self.part_starts
            cuts = np.searchsorted(rows, [*starts, self.n_rows])  # each part's sampled rows
            items = [(i, start, rows[cuts[i]:cuts[i + 1]]) for i, start in enumerate(starts)]
            got = dict(self._map(_sample_part, self, items))
            out = [got[i] for i in range(len(items)) if len(got[i])]
        return pd.concat(out, ignore_index=True), rows


def _keep(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, readable and writable by this user only
    (what :func:`_load_kept` will trust, whatever the umask)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    os.chmod(path, 0o600)


def _load_kept(path: Path) -> dict | None:
    """What a run kept in ``path`` (a pickled dict), or None: no file, unreadable (a
    damaged file only costs recomputing it), or not to be trusted. A pickle can run code
    when loaded, so only a file this user wrote and nobody else can change is read: owned
    by this user, not writable by group or others (as this run writes them; elsewhere
    than POSIX, not checked)."""
    try:
        st = path.stat()
        if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
            return None
        with open(path, "rb") as f:
            saved = pickle.load(f)
        return saved if isinstance(saved, dict) else None
    except Exception:
        return None


def _checked_rows(blocks: Iterable[tuple[int, str, pd.DataFrame]], rows: np.ndarray,
                  columns: ColumnMap) -> pd.DataFrame:
    """The catalogue rows numbered ``rows`` (sorted) among ``blocks``, every block's
    photometry checked (raises naming the file and row)."""
    out = []
    for start, path, df in blocks:
        _photometry(df, columns, path)
        lo, hi = np.searchsorted(rows, [start, start + len(df)])
        if hi > lo:
            out.append(df.iloc[rows[lo:hi] - start])
    return pd.concat(out) if out else pd.DataFrame()


def _sample_part(files: ScienceFiles, item: tuple[int, int, np.ndarray]) -> pd.DataFrame:
    """A worker's task: of part ``item = (index, first catalogue row, rows)``, the rows
    numbered ``rows``, every block's photometry checked."""
    i, start, rows = item
    return _checked_rows(files.part_blocks(files.parts[i], start), rows, files.columns)


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
                      ) -> Iterator[Callable[[pd.DataFrame | pa.Table], None]]:
    """A function writing assignment rows (a DataFrame or an Arrow table) block by block to
    the parquet file ``path`` (None: nowhere), under a temporary name renamed when the
    block loop ends without an error (an error leaves no file)."""
    if path is None:
        yield lambda table: None
        return
    with atomic_path(path) as tmp:
        writer = None

        def write(table: pd.DataFrame | pa.Table) -> None:
            nonlocal writer
            t = (table if isinstance(table, pa.Table)
                 else pa.Table.from_pandas(table, preserve_index=False))
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
