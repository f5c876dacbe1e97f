"""Process the open session's pairs that have no run of the current model, in the app.

A pair captured live is stored with its images and registration but no run (aligned reference,
leak mask, colorized outputs); the partner's export wants them. The data folder has one writer,
so while the app is open it is the app that records them: `engine.reprocess.process_missing_runs`
on a job thread of its own (the lowest priority, one pair at a time, one onnxruntime thread, a
pause after each pair as long as it took), so the job pool stays free for the docks' other
work and the live view keeps most of the machine. Cancel stops
between pairs: each pair is recorded whole or not at all, and the next press resumes.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.bridge import follow, on_gui_thread
from gui.jobs import lower_thread_priority

if TYPE_CHECKING:
    from engine.app_state import AppState
    from engine.reprocess import ReprocessReport, RunRecorder, RunSpec
    from engine.store import Session, Store
    from gui.jobs import JobRunner

__all__ = ["MissingRunsAction"]


class MissingRunsAction(QWidget):
    """ "Process N pairs without a run" with a progress bar, Cancel and a one-line result."""

    PROCESS_NICE = 19
    """Added to the processing thread's nice value (capped at 19, the lowest priority)."""
    REST = 1.0
    """After each pair, a pause as long as the pair took (`process_missing_runs`'s ``rest``):
    beside a 1920x1080 live view the processing took it from 9.8 to 7.2 results/s at any
    thread priority, or in a process of its own (measured: memory and caches, not the CPU
    share nor the GIL)."""

    message = Signal(str)
    finished = Signal(object)
    """``(ReprocessReport, RunRecorder)`` once a processing ended (stopped or not)."""

    def __init__(
        self, state: AppState, store: Store, jobs: JobRunner, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._state, self._store, self._jobs = state, store, jobs
        self._specs: dict[tuple, RunSpec] = {}
        """Model files' stamp (`engine.models.model_files_stamp`) -> spec: the sha256 is read
        once per content, not per path (a model retrained over the same path is read again)."""
        self._cancel = threading.Event()
        self._count_gen = 0
        self._gave_no_run: dict[tuple[int, str], set[int]] = {}
        """Pairs (by session and model sha256) that gave no run here: automatic processing
        leaves them (each would fail again at every new pair); the button tries them again,
        and so does another model (by session alone, they were left with it too)."""
        self._auto_held = False
        """A processing failed as a whole (its runs cannot be written: a full disk, a model
        that does not load): automatic processing waits for the next change (a new pair,
        another session or model, the setting switched on, a press) instead of recounting
        and failing again at once, for ever (97 failed starts in 8 s, measured)."""
        self.missing: int | None = None
        """Pairs of the open session without a run of the current model (None: not known)."""
        self.running = False
        self._running_for: Session | None = None
        self._closed = False
        self.button = QPushButton("Process pairs without a run")
        self.button.setToolTip(self.TIP)
        self.button.setEnabled(False)
        self.button.clicked.connect(self.start)
        self.bar = QProgressBar()
        self.bar.setVisible(False)
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip(
            "Stop after the pair in progress; the pairs done are kept (automatic processing "
            "goes off)"
        )
        self.cancel.setVisible(False)
        self.cancel.clicked.connect(self.stop)
        self.auto = QCheckBox("Process new pairs as they are recorded")
        self.auto.setToolTip(
            "Each pair recorded into the open session gets its run in the background, "
            "one at a time (off by default: the processing shares the cores with the capture "
            "and the live view)"
        )
        self.auto.toggled.connect(lambda on: self._changed() if on else None)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.result.setTextFormat(Qt.TextFormat.PlainText)  # a session name or reason as typed
        self.result.setVisible(False)
        self._result_for: int | None = None  # the session whose processing the line tells
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.button)
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.auto)
        lay.addWidget(self.result)
        # a copy opened read-only (a partner's) cannot record runs: nothing to offer
        self.setVisible(not store.read_only)
        for sig in (state.events.session, state.events.model_path, store.events.pair_added):
            follow(sig, lambda *_: self._changed(), self)
        follow(state.events.session, lambda *_: self._hide_other_sessions_result(), self)
        follow(store.events.session_deleted, self._forget_session, self)
        self.count()

    def _forget_session(self, session_id: int) -> None:
        """A deleted session's failed pairs are forgotten: SQLite gives its id and its pairs'
        ids to the next ones recorded, whose pairs automatic processing then left as "failed
        here" (all of them, when as many had failed: it did not even start)."""
        for key in [k for k in self._gave_no_run if k[0] == session_id]:
            del self._gave_no_run[key]

    def _hide_other_sessions_result(self) -> None:
        """The result line tells one session's processing: not shown under another."""
        session = self._state.session
        if self._result_for is not None and (session is None or session.id != self._result_for):
            self.result.setVisible(False)

    def _changed(self) -> None:
        """Something that may let a failed processing succeed now: count again, and let the
        automatic processing start."""
        self._auto_held = False
        self.count()

    def _spec(self, model_path: str) -> RunSpec:  # on a job thread: hashes the model file
        from engine.models import default_model_path, model_files_stamp
        from engine.reprocess import DEFAULT_OPTIONS, RunSpec

        stamp = model_files_stamp(model_path or default_model_path())
        spec = self._specs.get(stamp)
        if spec is None:
            spec = RunSpec.for_model(model_path or None, **DEFAULT_OPTIONS)
            self._specs[stamp] = spec
        return spec

    def count(self) -> None:
        """Count the open session's pairs without a run (on the job runner) for the button."""
        session = self._state.session
        if self.running or self._store.read_only:
            return
        self._count_gen += 1
        gen = self._count_gen
        if session is None:
            self._show_count(gen, None)
            return
        store, path, sid = self._store, self._state.model_path, session.id

        def work() -> tuple[int | str, str]:  # (count or why not, the model's sha256)
            from engine.models import ModelError

            try:
                sha = self._spec(path).model_sha256
            except (ModelError, OSError) as exc:
                # said on the button, once: as a job failure it went to the status bar again
                # at every pair recorded, and the button stayed disabled without a reason
                return str(exc).splitlines()[0], ""
            return len(store.pair_ids_without_run(sid, sha)), sha

        self._jobs.submit(
            work,
            done=lambda out: self._show_count(gen, *out),
            failed=lambda _msg: self._show_count(gen, None),
            label="counting pairs without a run",
        )

    #: the button's tooltip while it can process
    TIP = (
        "Add the model's outputs (aligned reference, leak mask, colorized) to the open "
        "session's pairs that have none, one pair at a time, beside the live view"
    )

    def _show_count(self, gen: int, n: int | str | None, sha: str = "") -> None:
        if gen != self._count_gen or self.running:
            return  # the session or model changed since, or a processing started
        self.button.setToolTip(self.TIP)
        if isinstance(n, str):  # the model cannot be read: why, where the operator looks
            self.missing = None
            self.button.setText("No runs: the model cannot be read")
            self.button.setToolTip(n)
            self.button.setEnabled(False)
            return
        self.missing = n
        if n is None:
            self.button.setText("Process pairs without a run")
        elif n == 0:
            self.button.setText("Every pair has a run")
        else:
            self.button.setText(f"Process {n} pair{'s' * (n != 1)} without a run")
        self.button.setEnabled(bool(n))
        session = self._state.session
        known_bad = len(self._gave_no_run.get((session.id, sha), ())) if session else 0
        if n is not None and n > known_bad and self.auto.isChecked() and not self._auto_held:
            self.start(automatic=True)  # new pairs since: processed as they come

    def start(self, *, automatic: bool = False) -> None:
        """Process the open session's pairs without a run, on a job thread of its own
        (``automatic``: not those that failed here before)."""
        session = self._state.session
        if self.running or session is None or self._closed:
            return
        from engine.reprocess import missing_run_jobs, process_missing_runs

        store, path, sid, cancel = self._store, self._state.model_path, session.id, self._cancel
        self._running_for = session
        cancel.clear()
        if not automatic:
            self._auto_held = False  # the operator asks: try (and if it works, go on)
        self.running = True
        self.button.setEnabled(False)
        self.bar.setRange(0, 0)  # busy until the pairs are listed and the model is loaded
        self.bar.setVisible(True)
        self.cancel.setVisible(True)
        self.cancel.setEnabled(True)
        self.result.setVisible(False)
        done_so_far = [0]
        failed_here: list[set[int]] = []  # this model's set, once the job has read its sha256

        def step(pair_id: int, ok: bool) -> None:
            done_so_far[0] += 1
            (failed_here[0].add if not ok else failed_here[0].discard)(pair_id)
            self.bar.setValue(done_so_far[0])
            self.bar.setFormat("%v of %m pairs")

        def work() -> tuple[ReprocessReport, RunRecorder]:
            # the lowest priority (this thread is the job's own): the live view's threads and
            # the capture get the cores first, the processing takes what is left
            lower_thread_priority(self.PROCESS_NICE)
            spec = self._spec(path)
            failed_here.append(self._gave_no_run.setdefault((sid, spec.model_sha256), set()))
            skip = set(failed_here[0]) if automatic else set()
            jobs = [j for j in missing_run_jobs(store, sid, spec) if j.pair_id not in skip]
            on_gui_thread(self.bar.setRange, 0, max(1, len(jobs)))
            return process_missing_runs(
                store,
                sid,
                spec,
                jobs=jobs,
                cancel=cancel,
                on_outcome=lambda o: on_gui_thread(step, int(o.pair_id), o.ok),
                rest=self.REST,
            )

        # its own thread (long): a night's pairs take minutes, and the pool's one slot on the
        # lab PC also serves the docks' listings, thumbnails and saves
        self._jobs.submit(
            work, done=self._done, failed=self._failed, label="processing pairs", long=True
        )

    def stop(self, *, closing: bool = False) -> None:
        """Stop after the pair in progress (it is recorded whole). Automatic processing goes
        off too (the next pair would start it again), but not when the window closes
        (``closing``): the operator's setting stays for the next start."""
        if closing:
            self._closed = True  # nothing starts after this, however the setting reads
        else:
            self.auto.setChecked(False)
        if self.running:
            self._cancel.set()
            self.cancel.setEnabled(False)
            self.bar.setFormat("Stopping after this pair…")

    def _ended(self, text: str) -> None:
        ran_for, now = self._running_for, self._state.session
        if now is None or now.id != ran_for.id:
            # another session opened meanwhile: the line would tell its pairs this one's result
            text = f"Session {ran_for.name!r}: {text}"
        self._result_for = ran_for.id
        self.running = False
        self.bar.setVisible(False)
        self.cancel.setVisible(False)
        self.result.setText(text)
        self.result.setVisible(True)
        self.message.emit(text)
        self.count()

    def _done(self, out: tuple[ReprocessReport, RunRecorder]) -> None:
        report, recorder = out
        self._ended(result_text(report, recorder))
        self.finished.emit(out)

    def _failed(self, reason: str) -> None:
        # the runner has shown the reason in the status bar; the dock keeps it too
        self._auto_held = True  # not again at once: it would fail the same way
        self._ended(f"Processing stopped: {reason}; the pairs done are kept")


def result_text(report: ReprocessReport, recorder: RunRecorder) -> str:
    """One line: how many pairs got a run, failed or are left, and the time a pair took."""
    handled = report.processed + report.failed
    parts = [f"{report.processed} pair{'s' * (report.processed != 1)} processed"]
    if report.failed:
        parts.append(f"{report.failed} failed ({recorder.failures[0]})")
    left = report.total - report.skipped - handled
    if report.cancelled and left:
        parts.append(f"stopped: {left} still without a run")
    if handled:  # the processing's own time (the pauses between pairs left out)
        parts.append(f"{recorder.busy_s / handled:.1f} s a pair")
    return ", ".join(parts)
