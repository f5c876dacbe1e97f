"""Run :func:`process_batch` over many pairs: serially, on a LocalCluster or a remote cluster."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.reprocess._task import PairJob, RunOutcome, RunSpec, process_batch, warm_worker

if TYPE_CHECKING:
    from engine.store import Store

__all__ = ["ReprocessReport", "done_in_store", "reprocess"]


def done_in_store(store: Store, spec: RunSpec) -> Callable[[PairJob, str], bool]:
    """``already_done`` for `reprocess` over a store's pairs: a pair is done when its latest
    run of this model (``spec.model_sha256``) has this key (``params["run_key"]``).

    Only the latest counts: a pair whose registration went A -> B -> A again gets a new run
    from A, so its newest run (the one an export hands over, unless the verdict names
    another) matches its registration.

    Examples
    --------
    >>> reprocess(jobs, spec, data_dir=store.root,
    ...           already_done=done_in_store(store, spec))  # doctest: +SKIP
    """

    def already_done(job: PairJob, key: str) -> bool:
        mine = [r for r in store.runs(int(job.pair_id)) if r.model_sha256 == spec.model_sha256]
        return bool(mine) and mine[-1].params.get("run_key") == key  # runs() is oldest first

    return already_done


@dataclass(frozen=True)
class ReprocessReport:
    total: int
    """Pairs asked for."""
    skipped: int
    """Pairs that already had a run with the same model sha256, parameters and registration."""
    processed: int
    """Pairs that got a run (a failed pair is not counted here, only in ``failed``)."""
    failed: int
    """Pairs that were tried and gave no run (their outcome carries the reason)."""
    seconds: float
    workers: int
    where: str
    """``serial``, ``local cluster`` or the scheduler address."""
    cancelled: bool = False
    startup_s: float = 0.0
    """Time to start or reach the cluster and load the model on every worker (not in
    ``seconds``)."""

    @property
    def pairs_per_s(self) -> float:
        """Pairs handled per second, failed ones included (they took the time too)."""
        handled = self.processed + self.failed
        return handled / self.seconds if self.seconds > 0 else 0.0


IN_FLIGHT_PER_WORKER = 3
"""Batches submitted to a cluster a worker at once: enough that no worker waits for its next
one, and only these batches' results are held in the cluster (`reprocess`)."""


def _batches(jobs: list[PairJob], size: int) -> list[list[PairJob]]:
    return [jobs[i : i + size] for i in range(0, len(jobs), size)]


def reprocess(
    jobs: Iterable[PairJob],
    spec: RunSpec,
    *,
    data_dir: str | os.PathLike,
    scheduler: str | None = None,
    serial: bool = False,
    n_workers: int | None = None,
    batch_size: int = 4,
    already_done: Callable[[PairJob, str], bool] | None = None,
    on_outcome: Callable[[RunOutcome], None] | None = None,
    cancel: threading.Event | None = None,
) -> ReprocessReport:
    """Process pairs with one model and parameter set, skipping pairs already done.

    Parameters
    ----------
    jobs : iterable of PairJob
    spec : RunSpec
        The model (by path and sha256) and parameters; ``spec.key_for(job)`` identifies the
        run on one pair (it includes the registration used, so a pair whose stored
        registration changed is processed again).
    data_dir : path
        Where the images are; on a remote cluster the same path must exist on every worker.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://HOST:8786``). Default: a
        ``LocalCluster`` of ``n_workers`` single-threaded worker processes on this machine.
    serial : bool
        Run in this process without Dask (the reference for the speed-up).
    n_workers : int, optional
        LocalCluster workers (default: all cores).
    batch_size : int
        Pairs per task.
    already_done : callable, optional
        ``already_done(job, spec.key_for(job))`` -> True to skip the pair (resume after
        interruption).
    on_outcome : callable, optional
        Called in this process, in completion order, for every outcome: the single writer.
    cancel : threading.Event, optional
        Set to stop submitting and return early; finished outcomes are still delivered.

    Returns
    -------
    ReprocessReport

    Examples
    --------
    >>> spec = RunSpec.for_model()  # doctest: +SKIP
    >>> report = reprocess(jobs, spec, data_dir=store.root, on_outcome=save)  # doctest: +SKIP
    >>> report.skipped, report.processed  # doctest: +SKIP
    (0, 120)
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if n_workers is not None and n_workers < 1:
        raise ValueError(f"n_workers must be >= 1, got {n_workers}")
    if serial and scheduler:
        raise ValueError("serial and scheduler are exclusive")
    all_jobs = list(jobs)
    todo = [j for j in all_jobs if not (already_done and already_done(j, spec.key_for(j)))]
    skipped = len(all_jobs) - len(todo)
    cancel = cancel or threading.Event()
    deliver = on_outcome or (lambda _o: None)
    t0 = time.perf_counter()
    done = failed = 0

    def take(outcomes: list[RunOutcome]) -> None:
        nonlocal done, failed
        for o in outcomes:
            deliver(o)
            # a pair is either processed (it got a run) or failed, never both
            done += 1 if o.ok else 0
            failed += 0 if o.ok else 1

    if serial or not todo:
        t_start = time.perf_counter()
        if todo:
            warm_worker(spec)
        startup = time.perf_counter() - t_start
        t0 = time.perf_counter()
        for batch in _batches(todo, batch_size):
            if cancel.is_set():
                break
            take(process_batch(batch, spec, str(data_dir)))
        return ReprocessReport(
            len(all_jobs),
            skipped,
            done,
            failed,
            time.perf_counter() - t0,
            1,
            "serial",
            cancel.is_set(),
            startup,
        )

    import logging

    from distributed import Client, LocalCluster, as_completed

    t_start = time.perf_counter()
    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="10s")
        where = scheduler
    else:
        cluster = LocalCluster(
            n_workers=n_workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # no dashboard, but the scheduler still serves its health routes, by default on
            # port 8787: beside another cluster that port is taken and distributed warns (a
            # failure under -W error). Any free port will do for routes nobody browses.
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
        where = "local cluster"
    try:
        workers = len(client.scheduler_info().get("workers", {}))
        # every worker imports the pipeline and loads the model once, before timing starts
        client.run(warm_worker, spec)
        startup = time.perf_counter() - t_start
        t0 = time.perf_counter()
        # A few batches a worker in flight, each result let go once taken: the cluster keeps
        # a result for as long as the client holds its future, and all of a night's were
        # submitted and held at once (3,000 pairs at 640x480: each worker's memory grew
        # ~0.55 MiB a pair, to ~2 GiB; 1920x1080 outputs are ~8x bigger).
        batches = iter(_batches(todo, batch_size))
        in_flight = as_completed(loop=client.loop)

        def submit_next() -> None:
            batch = next(batches, None)
            if batch is not None:
                in_flight.add(client.submit(process_batch, batch, spec, str(data_dir), pure=False))

        for _ in range(IN_FLIGHT_PER_WORKER * max(1, workers)):
            submit_next()
        for fut in in_flight:
            if cancel.is_set():
                client.cancel([fut, *in_flight.futures])
                break
            outcomes = fut.result()
            fut.release()
            submit_next()
            take(outcomes)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return ReprocessReport(
        len(all_jobs),
        skipped,
        done,
        failed,
        time.perf_counter() - t0,
        workers,
        where,
        cancel.is_set(),
        startup,
    )
