"""Reprocess stored pairs with a (new) model, in one process or on a Dask cluster.

One task function, :func:`process_batch`, runs unchanged in-process (``serial``), on a
``LocalCluster`` of worker processes, or on an existing cluster (``tcp://HOST:8786``). Workers
read images by path under the data directory (a cluster therefore needs that directory on a
shared filesystem at the same path) and send back encoded PNG bytes and metrics; the caller -- the
only writer to the store -- writes files atomically and commits rows. See :func:`reprocess`.
"""

from engine.reprocess._record import (
    DEFAULT_OPTIONS,
    RunRecorder,
    missing_run_jobs,
    process_missing_runs,
)
from engine.reprocess._runner import ReprocessReport, done_in_store, reprocess
from engine.reprocess._task import PairJob, RunOutcome, RunSpec, process_batch

__all__ = [
    "DEFAULT_OPTIONS",
    "PairJob",
    "ReprocessReport",
    "RunOutcome",
    "RunRecorder",
    "RunSpec",
    "done_in_store",
    "missing_run_jobs",
    "process_batch",
    "process_missing_runs",
    "reprocess",
]
