"""The local streaming engine: predict a catalogue of any size part by part, with a
manifest that makes an interrupted run resumable.

Output directory layout::

    OUT/part-000000.parquet   one file per input part, same rows in the same order
    OUT/part-000001.parquet   (lexical order of the names = input order)
    OUT/manifest.json         model checksum, settings, and per part: input file, row
                              range, fingerprint, output name, rows, flagged rows, status

Every part is written under a hidden temporary name and renamed when complete, and the
manifest is rewritten (atomically) after each part. Rerunning the same command skips the
parts whose fingerprint (input file identity, row range, model checksum, settings) is in
the manifest as done and whose output exists; anything else is recomputed. Temporary
files of a killed run are removed when a run starts.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cosmoml import __version__
from cosmoml.catalog.io import atomic_path, read_columns
from cosmoml.engine.parts import Part, expand_inputs, plan_parts, read_part
from cosmoml.errors import CatalogError, CosmomlError
from cosmoml.model import FLAG_BITS, PhotoZModel, flag_counts
from cosmoml.pdf_codec import encode, parse_encoding, quantile_levels

MANIFEST = "manifest.json"
#: 2: ``flagged`` counts per flag bit (a dict), ``bad_values`` in the settings
FORMAT_VERSION = 2


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def part_name(part: Part) -> str:
    """Output file name of a part (zero-padded: lexical order is input order)."""
    return f"part-{part.index:06d}.parquet"


def chunk_table(model: PhotoZModel, chunk, with_pdf: bool, pdf_encoding: str,
                source: str, bad_values: str = "flag") -> pa.Table:
    """The output rows of one chunk as an Arrow table: id (if any), the point estimates,
    ``flag`` and the PDF in its encoding (``pdf``: fixed-size list of float32 or float16;
    ``pdf_quantiles`` for quantiles). Built straight from arrays: one PDF object serves
    the point estimates and the encoding (its CDF is computed once)."""
    pdfs, flags = model.predict_flagged(chunk, source, bad_values)
    cols = {}
    id_col = model.columns_.id_column
    if id_col and id_col in chunk.columns:
        cols[id_col] = pa.Array.from_pandas(chunk[id_col])  # a nullable id stays exact
    name, n = parse_encoding(pdf_encoding)
    levels = quantile_levels(n) if with_pdf and name == "quantiles" else None
    estimates = pdfs.point_estimates(levels)  # one CDF pass for both
    quantiles = estimates.pop("quantiles", None)
    for k, v in estimates.items():
        cols[k] = pa.array(v)
    cols["flag"] = pa.array(flags)
    if with_pdf:
        values = quantiles.astype(np.float32) if quantiles is not None else encode(
            pdfs, pdf_encoding)
        values = np.ascontiguousarray(values)
        arr = pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), values.shape[1])
        cols["pdf_quantiles" if name == "quantiles" else "pdf"] = arr
    return pa.table(cols)


def predict_part(model: PhotoZModel, part: Part, out_path: Path, chunk_size: int,
                 with_pdf: bool, group: str | None, metadata: dict[str, str],
                 pdf_encoding: str = "float32", bad_values: str = "flag") -> dict:
    """Predict one part chunk by chunk into ``out_path`` (atomically). Returns its record."""
    cols = model.columns_
    available = read_columns(part.path, group)
    cols.check(available, part.path)  # once per part, not per chunk
    need = cols.photometry_columns()
    if cols.id_column and cols.id_column in available:
        need = [*need, cols.id_column]
    rows = 0
    flagged = dict.fromkeys(FLAG_BITS, 0)
    with atomic_path(out_path) as tmp:
        writer = None
        try:
            for chunk in read_part(part, need, chunk_size, group):
                table = chunk_table(model, chunk, with_pdf, pdf_encoding, part.path,
                                    bad_values)
                if writer is None:
                    meta = {k.encode(): v.encode() for k, v in metadata.items()}
                    writer = pq.ParquetWriter(tmp, table.schema.with_metadata(meta),
                                              compression="zstd")
                writer.write_table(table.replace_schema_metadata(writer.schema.metadata))
                rows += table.num_rows
                for name, n in flag_counts(table.column("flag").to_numpy()).items():
                    flagged[name] += n
        finally:
            if writer is not None:
                writer.close()
        if writer is None:  # an empty part: an empty file with no columns
            pq.write_table(pa.table({}), tmp)
    if rows != part.n_rows:
        raise CatalogError(f"{part.path}: read {rows} rows from a part of {part.n_rows}")
    return {"rows": rows, "flagged": flagged}


def run_predict(
    model_path: str | os.PathLike,
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    output_dir: str | os.PathLike,
    chunk_size: int = 100_000,
    part_rows: int = 1_000_000,
    with_pdf: bool = True,
    group: str | None = None,
    skip_bad_parts: bool = False,
    progress: Callable[[int, int], None] | None = None,
    pdf_encoding: str = "float32",
    engine: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    bad_values: str = "flag",
    threads: int | None = None,
    dask_processes: bool = False,
) -> dict:
    """Predict every row of ``inputs`` into a parquet dataset in ``output_dir``.

    Returns the manifest as a dict; ``input_rows``, ``output_rows`` and ``failed_rows``
    always add up (output + failed = input), and the run raises if they do not. With
    ``skip_bad_parts`` a part that cannot be read or predicted is recorded as failed (with
    the error) and the others complete; otherwise the first such part stops the run with an
    error naming it. ``progress(done_parts, n_parts)`` is called after each part.
    ``pdf_encoding`` (``float32``, ``float16``, ``quantiles:N``; :mod:`cosmoml.pdf_codec`)
    sets how PDFs are stored; quantiles go to a ``pdf_quantiles`` column.
    ``engine="dask"`` runs the same per-part function on a ``dask.distributed`` cluster
    (:mod:`cosmoml.engine.dask`): at ``scheduler`` (an address) or a ``LocalCluster`` of
    ``workers`` single-threaded workers, threads of this process by default or processes
    with ``dask_processes``; the outputs are identical. The local engine predicts
    ``threads`` parts at once (default: the cores available, at most 4), each on one core;
    memory grows with it (about ``threads`` × one chunk).

    Row by row, nothing stops a run: a non-detection follows the model's policy, a value
    that is not a number is treated as one and flagged (``bad_values="flag"``; ``"raise"``
    makes it a part error), and the ``flag`` column's bits (:data:`cosmoml.model.FLAG_BITS`)
    are counted per part and in ``flagged_rows``.
    """
    parse_encoding(pdf_encoding)
    if chunk_size < 1:
        raise CatalogError(f"chunk_size must be >= 1, got {chunk_size}")
    if engine not in ("local", "dask"):
        raise CatalogError(f"engine must be 'local' or 'dask', got {engine!r}")
    model_path = Path(model_path)
    model = PhotoZModel.load(model_path)
    if bad_values not in ("flag", "raise"):
        raise CatalogError(f"bad_values must be 'flag' or 'raise', got {bad_values!r}")
    settings = {"chunk_size": chunk_size, "with_pdf": with_pdf, "group": group,
                "pdf_encoding": pdf_encoding, "bad_values": bad_values}
    model_sha = _sha256(model_path)
    salt = model_sha + json.dumps(settings, sort_keys=True)
    files = expand_inputs(inputs)
    parts = plan_parts(files, part_rows, group, skip_bad=skip_bad_parts)
    out = Path(output_dir)  # made once the inputs are known to be readable
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".*.tmp"):  # a killed run's unfinished files
        stale.unlink()
    previous = _read_manifest(out)
    if previous.get("format_version") != FORMAT_VERSION:
        previous = {}  # another layout: recompute everything
    old = {(p.get("fingerprint"), p.get("output")): p for p in previous.get("parts", [])
           if p.get("status") == "done"}
    metadata = {**model.prediction_metadata(model_path), "pdf_encoding": pdf_encoding}
    manifest = {
        "format": "cosmoml-predictions", "format_version": FORMAT_VERSION,
        "cosmoml_version": __version__,
        "model": str(model_path), "model_sha256": model_sha, "settings": settings,
        "inputs": [str(f) for f in files], "grid": metadata["grid"], "parts": [],
    }
    records, pending = {}, []
    for part in parts:
        fp, name = part.fingerprint(salt), part_name(part)
        records[part.index] = {**part.to_dict(), "fingerprint": fp, "output": name}
        prev = old.get((fp, name))
        if part.error is not None:  # unreadable file (only with skip_bad_parts)
            records[part.index].update(status="failed", rows=0, rows_unknown=True,
                                       flagged=dict.fromkeys(FLAG_BITS, 0))
            (out / name).unlink(missing_ok=True)
        elif prev is not None and (out / name).exists():
            records[part.index].update(status="done", rows=prev["rows"],
                                       flagged=prev["flagged"], resumed=True)
        else:
            pending.append(part)
    task = PartTask(out, chunk_size, with_pdf, group, metadata, pdf_encoding, bad_values)
    if engine == "local":
        results = local_results(model, pending, task, threads)
    else:
        from cosmoml.engine.dask import dask_results

        results = dask_results(model, pending, task, scheduler, workers, dask_processes)
    n_done = len(parts) - len(pending)
    for part, result in results:
        record = records[part.index]
        if isinstance(result, CosmomlError):
            if not skip_bad_parts:
                # bad input leaves no partial output: the parts this run wrote go (the
                # parts still running end first), those resumed from an earlier run stay
                getattr(results, "close", lambda: None)()
                for p in pending:
                    (out / part_name(p)).unlink(missing_ok=True)
                manifest["parts"] = [r for _, r in sorted(records.items()) if r.get("resumed")]
                _write_manifest(out, {**manifest, "complete": False})
                raise CatalogError(f"part {part.index} ({part.path}, rows "
                                   f"{part.row_start}:{part.row_end}): {result}") from result
            (out / record["output"]).unlink(missing_ok=True)
            record.update(status="failed", error=str(result), rows=0,
                          flagged=dict.fromkeys(FLAG_BITS, 0))
        else:
            record.update(result, status="done")
        n_done += 1
        manifest["parts"] = [records[i] for i in sorted(records) if "status" in records[i]]
        _write_manifest(out, {**manifest, "complete": False})
        if progress:
            progress(n_done, len(parts))
    manifest["parts"] = [records[i] for i in sorted(records)]
    # outputs of parts that no longer exist in the plan (e.g. the input shrank) go
    planned = {part_name(p) for p in parts}
    for f in out.glob("part-*.parquet"):
        if f.name not in planned:
            f.unlink()
    n_in = sum(p.n_rows for p in parts)
    n_out = sum(r["rows"] for r in manifest["parts"])
    n_failed = sum(r["row_end"] - r["row_start"] for r in manifest["parts"]
                   if r["status"] == "failed")
    unknown = [r["path"] for r in manifest["parts"] if r.get("rows_unknown")]
    manifest.update(input_rows=n_in, output_rows=n_out, failed_rows=n_failed,
                    unreadable_files=unknown,
                    flagged_rows={k: sum(r["flagged"][k] for r in manifest["parts"])
                                  for k in FLAG_BITS},
                    complete=n_failed == 0 and not unknown)
    if n_out + n_failed != n_in:
        raise CatalogError(f"row count mismatch: {n_out} written + {n_failed} in failed parts "
                           f"!= {n_in} input rows")
    _write_manifest(out, manifest)
    return manifest


@dataclass(frozen=True)
class PartTask:
    """Everything a worker needs besides the model and the part."""

    out: Path
    chunk_size: int
    with_pdf: bool
    group: str | None
    metadata: dict
    pdf_encoding: str
    bad_values: str = "flag"


def default_threads() -> int:
    """Parts the local engine predicts at once: the cores this process may use, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def local_results(model: PhotoZModel, parts: Sequence[Part], task: PartTask,
                  threads: int | None = None) -> Iterator[tuple[Part, object]]:
    """Yield ``(part, record or error)`` in part order, ``threads`` parts at a time.

    Each part runs on one core (torch, BLAS and OpenMP limited to one thread while the
    pool runs): the per-part pipeline is partly serial (parsing, CDFs, quantiles,
    compression), so whole parts in parallel use the cores better than threads inside
    one part (measured: ~1.5x on 2 cores). Results do not depend on the thread count."""
    threads = default_threads() if threads is None else int(threads)
    if threads < 1:
        raise CatalogError(f"threads must be >= 1, got {threads}")
    if threads == 1 or len(parts) <= 1:
        for p in parts:
            yield p, _run_one(model, p, task)
        return
    with one_thread_per_task(), ThreadPoolExecutor(threads) as pool:
        window: deque = deque()  # at most `threads` parts in flight: bounded memory
        todo = iter(parts)
        for p in todo:
            window.append((p, pool.submit(_run_one, model, p, task)))
            if len(window) == threads:
                break
        while window:
            p, fut = window.popleft()
            yield p, fut.result()
            nxt = next(todo, None)
            if nxt is not None:
                window.append((nxt, pool.submit(_run_one, model, nxt, task)))


@contextmanager
def one_thread_per_task() -> Iterator[None]:
    """torch, BLAS and OpenMP at one thread each while parts run in parallel threads of
    this process (local engine, in-process Dask workers); restored afterwards."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(before)


def _run_one(model: PhotoZModel, part: Part, task: PartTask):
    """predict_part for one part; a cosmoml error is returned, not raised (the driver
    decides whether it stops the run)."""
    t0 = time.perf_counter()
    try:
        record = predict_part(model, part, task.out / part_name(part), task.chunk_size,
                              task.with_pdf, task.group, {**task.metadata, "input": part.path},
                              task.pdf_encoding, task.bad_values)
    except CosmomlError as exc:
        return exc
    return {**record, "seconds": round(time.perf_counter() - t0, 3)}


def _read_manifest(out: Path) -> dict:
    path = out / MANIFEST
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError:
        return {}  # a damaged manifest only costs recomputation


def _write_manifest(out: Path, manifest: dict) -> None:
    with atomic_path(out / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1))
