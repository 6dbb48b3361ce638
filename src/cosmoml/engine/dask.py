"""The Dask backend: the local engine's per-part function on a ``dask.distributed``
cluster. Install with ``pip install 'cosmoml[dask]'``.

The model is scattered to every worker once (``broadcast=True``); each task predicts one
part and writes its output file itself, so the output directory must be visible to the
workers (a shared filesystem on a cluster). The driver collects results as they finish
and keeps the manifest, so a killed run resumes exactly as with the local engine.
``cosmoml nz --engine dask`` maps the parts of a science catalogue the same way
(:func:`dask_map`; :class:`cosmoml.nz.science.ScienceFiles`).

On a SLURM cluster, start the workers with dask-jobqueue and pass the scheduler address::

    from dask_jobqueue import SLURMCluster
    cluster = SLURMCluster(cores=8, processes=8, memory="32GB", walltime="02:00:00")
    cluster.scale(jobs=10)
    print(cluster.scheduler_address)   # then: cosmoml predict ... --engine dask --scheduler ADDR

On clusters you start yourself, consider unsetting Dask's default
``distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_`` (see :func:`dask_client`):
prediction allocates large temporary arrays, and the fixed trim threshold makes each one
fresh pages from the kernel (2.4x slower per part measured on a 2-core machine).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager

from cosmoml.engine.local import PartTask, _run_one, one_thread_per_task
from cosmoml.engine.parts import Part
from cosmoml.errors import ConfigError
from cosmoml.model import PhotoZModel


def dask_results(
    model: PhotoZModel,
    parts: Sequence[Part],
    task: PartTask,
    scheduler: str | None = None,
    workers: int | None = None,
    processes: bool = False,
) -> Iterator[tuple[Part, object]]:
    """Yield ``(part, record or error)`` as the cluster finishes parts (the cluster as in
    :func:`dask_map`)."""
    for i, result in dask_map(_run_one, model, parts, task, scheduler=scheduler,
                              workers=workers, processes=processes):
        yield parts[i], result


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None,
                processes: bool = False) -> Iterator[object]:
    """A ``dask.distributed`` client: of the cluster at ``scheduler`` or, without one, of a
    ``LocalCluster`` of ``workers`` (default 2) single-threaded workers: threads of this
    process by default (prediction is numpy/torch work that releases the GIL; no worker
    processes to start, no imports or model copies in them: the fixed cost that made a
    10⁶-row run 2x slower than the local engine), or processes with ``processes=True``
    (isolation, e.g. for a model that holds the GIL). Closed (and the local cluster
    stopped) on leaving."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("the Dask engine needs dask.distributed: "
                          "pip install 'cosmoml[dask]'") from None
    with ExitStack() as stack:
        cluster = None
        if scheduler is None and not processes:
            cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1,
                                   processes=False, dashboard_address=None)
        elif scheduler is None:
            import dask

            # One single-threaded process per worker: the model's own threads stay
            # bounded. Dask's default MALLOC_TRIM_THRESHOLD_ for workers also fixes glibc's
            # mmap threshold, so every large temporary array is a fresh mmap with page
            # faults: measured 2.4x slower per part here. Unset it for the clusters we start.
            with dask.config.set(
                    {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
                cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1,
                                       processes=True, dashboard_address=None)
        if cluster is not None:
            stack.callback(cluster.close)
        client = Client(cluster if cluster is not None else scheduler)
        stack.callback(client.close)
        yield client


def dask_map(
    fn: Callable,
    shared: object,
    items: Sequence,
    *args,
    scheduler: str | None = None,
    workers: int | None = None,
    processes: bool = False,
    client: object | None = None,
) -> Iterator[tuple[int, object]]:
    """Yield ``(i, fn(shared, items[i], *args))`` as the cluster finishes them; an
    exception raised by ``fn`` is raised here (and the rest cancelled).

    ``shared`` (e.g. a fitted model) is sent to every worker once (``broadcast=True``).
    The cluster: ``client``'s (an open :func:`dask_client`, kept open: several maps then
    share one cluster's start), else one started for this map as :func:`dask_client`
    starts it from ``scheduler``, ``workers`` and ``processes``."""
    if not items:
        return
    with ExitStack() as stack:
        if client is None:
            client = stack.enter_context(dask_client(scheduler, workers, processes))
        from dask.distributed import LocalCluster, as_completed

        cluster = getattr(client, "cluster", None)
        if isinstance(cluster, LocalCluster) and not cluster.processes:
            # the workers are threads of this process: one thread each for torch and BLAS
            # while they run (not for the client's whole life: the fit between two maps
            # keeps its threads)
            stack.enter_context(one_thread_per_task())

        on_workers = client.scatter(shared, broadcast=True)
        futures = {client.submit(fn, on_workers, item, *args, pure=False): i
                   for i, item in enumerate(items)}
        finished = False
        try:
            for fut in as_completed(futures):
                yield futures[fut], fut.result()
            finished = True
        finally:
            if not finished:  # stopped early (an error): cancel the rest, and let the tasks
                # already running end first, so that what they write cannot race the
                # caller's clean-up
                client.cancel(list(futures))
                _wait_running(client, {f.key for f in futures})


def _wait_running(client, keys: set, timeout: float = 300.0) -> None:
    """Wait (at most ``timeout`` seconds) until no worker is executing a task of ``keys``:
    a cancelled task that has started runs to its end (a worker cannot stop a thread)."""
    def running(dask_worker, keys=keys) -> int:
        return sum(ts.key in keys for ts in dask_worker.state.executing)

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if not any(client.run(running).values()):
                return
        except Exception:  # the cluster is gone: nothing runs there any more
            return
        time.sleep(0.05)
