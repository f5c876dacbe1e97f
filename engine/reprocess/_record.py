"""The writer's half of a reprocess: each outcome becomes a run in the store, or a logged failure.

Shared by ``nightlab reprocess`` and the app (the data folder has one writer: with the app open,
the app processes its pairs itself). `process_missing_runs` is the app's whole job: a session's
pairs with no run of the model, one at a time in this thread, stoppable between pairs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.reprocess._runner import ReprocessReport, done_in_store, reprocess
from engine.reprocess._task import PairJob, RunOutcome, RunSpec

if TYPE_CHECKING:
    from engine.store import Store

__all__ = ["DEFAULT_OPTIONS", "RunRecorder", "missing_run_jobs", "process_missing_runs"]

DEFAULT_OPTIONS = {"method": "auto", "motion": "homography"}
"""``nightlab reprocess``'s default alignment options: the app's runs use them too, so a run
made in the app has the key the command would give it (and the command skips its pair)."""


class RunRecorder:
    """``recorder(outcome)``: store an ok outcome as a run of ``spec``'s model (its PNG bytes as
    the worker made them), log a failed one in the session; counts what it saw.

    Call it from a thread that may write (never the GUI thread: a write waits for its commit).
    """

    def __init__(self, store: Store, spec: RunSpec, session_id: int) -> None:
        from engine.models import verify_model

        self.store, self.spec, self.session_id = store, spec, session_id
        self.model_name = verify_model(spec.model_path).card.name
        self.sources = {"stored": 0, "aligned": 0}
        """Runs made with the pair's stored registration / with a new alignment."""
        self.leak_sources = {"stored": 0, "run": 0, "default": 0}
        self.failures: list[str] = []
        """``pair ID: reason`` for every pair that gave no run."""
        self.busy_s = 0.0
        """Seconds the pairs it recorded took to process (the workers' own times)."""

    def __call__(self, outcome: RunOutcome) -> None:
        self.busy_s += outcome.seconds
        if not outcome.ok:
            line = f"pair {outcome.pair_id}: {outcome.error}"
            self.store.log(self.session_id, "reprocess-failed", line)
            self.failures.append(line)
            return
        source = outcome.metrics["registration"]["source"]
        leak = outcome.metrics["leak_params"]
        self.store.add_run(
            int(outcome.pair_id),
            model_name=self.model_name,
            model_sha256=self.spec.model_sha256,
            params={
                **self.spec.params,
                "registration": source,
                "leak": leak["params"],  # what the mask was made with, and whence
                "leak_source": leak["source"],
                "run_key": outcome.run_key,
            },
            outputs=outcome.outputs,
            metrics=outcome.metrics,
            timings_ms=outcome.metrics.get("timings_ms", {}),
        )
        self.sources[source] += 1
        self.leak_sources[leak["source"]] += 1


def missing_run_jobs(store: Store, session_id: int, spec: RunSpec) -> list[PairJob]:
    """The session's pairs with no run of ``spec``'s model, as jobs (oldest first)."""
    ids = store.pair_ids_without_run(session_id, spec.model_sha256)
    return [PairJob.from_pair(store, store.pair(i)) for i in ids]


def process_missing_runs(
    store: Store,
    session_id: int,
    spec: RunSpec,
    *,
    jobs: list[PairJob] | None = None,
    cancel: threading.Event | None = None,
    on_outcome: Callable[[RunOutcome], None] | None = None,
    rest: float = 0.0,
) -> tuple[ReprocessReport, RunRecorder]:
    """Give every pair of the session without a run of ``spec``'s model one, in this thread.

    One pair at a time (serial, batches of one): ``cancel`` stops between pairs, so a pair is
    either recorded whole (its files and rows, `Store.add_run`) or not at all, and the next call
    resumes with the pairs still without a run. ``on_outcome(outcome)`` runs after each pair is
    recorded (progress). ``jobs``: `missing_run_jobs` listed beforehand (to size a progress
    bar), else listed here. ``rest``: after each pair, wait ``rest`` times as long as it took
    (``cancel`` ends the wait): what runs beside it (the app's live view) gets the machine back
    for that share of the time, which no thread priority gave it (the report's ``seconds``
    include the pauses; the recorder's ``busy_s`` does not). Returns the report and the
    recorder (its failures and counts).
    """
    if rest < 0:
        raise ValueError(f"rest must be >= 0, got {rest}")
    recorder = RunRecorder(store, spec, session_id)
    cancel = cancel or threading.Event()

    def record(outcome: RunOutcome) -> None:
        recorder(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
        if rest:
            cancel.wait(outcome.seconds * rest)

    report = reprocess(
        missing_run_jobs(store, session_id, spec) if jobs is None else jobs,
        spec,
        data_dir=store.root,
        serial=True,
        batch_size=1,
        already_done=done_in_store(store, spec),
        on_outcome=record,
        cancel=cancel,
    )
    return report, recorder
