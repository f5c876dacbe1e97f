"""``nightlab reprocess``: run a model over a session's stored pairs, on one machine or a cluster.

Each pair becomes a run (model sha256 + parameters + outputs + metrics) made from the pair's
recorded reference: all its day captures (per-pixel median) warped by the registration stored
with the pair, as accepted or nudged in the inspector; a pair never aligned is aligned first,
and --realign aligns every pair anew. The leak mask is made with the pair's stored leak-mask
settings (the Leak panel's when it was captured; the defaults when it has none), so a run's leak
figures match the pair's. Pairs that already have a run with the same model, parameters,
registration and leak settings are skipped and counted, so an interrupted reprocess resumes
where it stopped and a pair whose registration or mask was changed since is processed again.
The work runs on a Dask LocalCluster of all cores, or on an existing cluster
(--scheduler tcp://HOST:8786) whose workers see the data directory at the same path (a
shared filesystem); this process is the only writer to the store.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from cli._common import CliError
from cli._store_args import find_session, open_store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reprocess",
        help="run a model over a session's pairs (Dask: local cores or --scheduler)",
        description=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("--session", required=True, help="session id, uid or name")
    p.add_argument("--model", help="ONNX model with its card (default: the shipped model)")
    p.add_argument(
        "--scheduler", metavar="ADDRESS", help="existing Dask scheduler, tcp://HOST:PORT"
    )
    p.add_argument("--workers", type=int, help="LocalCluster worker processes (default: all cores)")
    p.add_argument("--serial", action="store_true", help="run in this process, without Dask")
    p.add_argument("--batch", type=int, default=4, help="pairs per task (default 4)")
    # the defaults are engine.reprocess.DEFAULT_OPTIONS (the app's runs use them; not imported
    # here: --help stays light)
    p.add_argument(
        "--method", default="auto", help="alignment method, when a pair is aligned (default auto)"
    )
    p.add_argument(
        "--motion",
        default="homography",
        help="alignment motion, when a pair is aligned (default homography)",
    )
    p.add_argument(
        "--realign",
        action="store_true",
        help="align every pair anew instead of using its stored registration",
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="data folder (default: $NIGHTLAB_DATA_DIR or the user data dir)",
    )
    # Ctrl-C / SIGTERM: stop submitting, keep what finished, close the cluster, say how to resume
    p.set_defaults(func=run, handles_signals=True)


class _Progress:
    """A bar on a terminal, plain lines otherwise (logs of unattended runs stay readable)."""

    def __init__(self, total: int, stream=None) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last = 0.0

    def step(self, ok: bool) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        now = time.monotonic()
        if self.tty:
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            self.stream.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}"
                f" ({self.failed} failed)"
            )
            if self.done == self.total:
                self.stream.write("\n")
            self.stream.flush()
        elif now - self._last > 5 or self.done == self.total:
            self._last = now
            print(
                f"reprocess: {self.done}/{self.total} pairs ({self.failed} failed)",
                file=self.stream,
            )


def run(args: argparse.Namespace) -> int:
    from engine.reprocess import (
        PairJob,
        RunRecorder,
        RunSpec,
        done_in_store,
        reprocess,
    )

    if args.batch < 1:
        raise CliError(f"--batch must be >= 1, got {args.batch}")
    if args.workers is not None and args.workers < 1:
        raise CliError(f"--workers must be >= 1, got {args.workers}")
    if args.serial and args.scheduler:
        raise CliError("--serial and --scheduler are exclusive")
    options = {"method": args.method, "motion": args.motion}
    if args.realign:  # only when asked: a default run's parameters stay as they were
        options["realign"] = True
    spec = RunSpec.for_model(args.model, **options)
    with open_store(args, existing=True) as store:
        session = find_session(store, args.session)  # "no session 'X' in DIR", quotes whole
        pairs = store.pairs(session_id=session.id, limit=None)
        jobs = [PairJob.from_pair(store, p) for p in pairs]
        recorder = RunRecorder(store, spec, session.id)  # the single writer
        progress = _Progress(len(jobs))

        def record(outcome) -> None:
            recorder(outcome)
            progress.step(outcome.ok)

        cancel = threading.Event()
        previous = {s: signal.signal(s, lambda *_: cancel.set()) for s in _STOP_SIGNALS}
        try:
            report = reprocess(
                jobs,
                spec,
                data_dir=store.root,
                scheduler=args.scheduler,
                serial=args.serial,
                n_workers=args.workers,
                batch_size=args.batch,
                already_done=done_in_store(store, spec),
                on_outcome=record,
                cancel=cancel,
            )
        except OSError as exc:
            if args.scheduler and _is_connection_error(exc):
                raise CliError(f"cannot reach the Dask scheduler {args.scheduler}: {exc}") from None
            raise
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        progress.total = progress.done
    rate = f"{report.pairs_per_s:.2f} pairs/s" if report.processed + report.failed else "-"
    print(
        f"session {session.id} ({session.name}): {report.processed} processed, "
        f"{report.skipped} skipped (already done with this model, parameters, registration "
        "and leak settings), "
        f"{report.failed} failed; {recorder.sources['stored']} with the stored registration, "
        f"{recorder.sources['aligned']} aligned; {recorder.leak_sources['stored']} with the pair's "
        f"stored leak settings; {rate} on {report.where} "
        f"({report.workers} worker{'s' if report.workers != 1 else ''})"
    )
    for line in recorder.failures:
        print(f"nightlab reprocess: failed: {line}", file=sys.stderr)
    if report.cancelled:
        print(
            f"nightlab reprocess: interrupted; the {report.processed} pairs done are kept, run "
            "the same command again to resume",
            file=sys.stderr,
        )
        return 130
    return 1 if report.failed else 0


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _is_connection_error(exc: OSError) -> bool:
    # distributed raises OSError("Timed out trying to connect ...") for an unreachable scheduler
    return isinstance(exc, ConnectionError | TimeoutError) or "connect" in str(exc).lower()
