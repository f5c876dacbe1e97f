"""``nightlab capture``: headless scheduled capture into a session (a lab PC left overnight).

    nightlab capture --camera oak --session roof --every 10m --from 21:00 --to 05:00
    nightlab capture --camera sim --session test --count 5 --day-reference --burst 4

Every capture is committed to the store as it is taken (file first, then its row), so a
crash, a kill or a power cut loses at most the capture in progress. A camera unplug is
survived: the camera reconnects by itself, missed slots and the gap are logged in the
session. Ctrl-C (or SIGTERM) stops after the capture in progress.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
import time

from cli._common import CliError
from cli._store_args import Progress, add_data_dir, add_operator, open_store, operator_name


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("capture", help="scheduled headless capture into a session")
    p.add_argument(
        "--camera",
        default="sim",
        help="camera: sim (default), sim:night, sim:PATH, oak[:ID], webcam[:INDEX|URL], "
        "replay:PATH",
    )
    p.add_argument("--session", required=True, help="session name (created if new) or id")
    p.add_argument("--every", default="0s", help="interval: 30s, 10m, 1h (default: back to back)")
    p.add_argument("--from", dest="start", metavar="HH:MM", help="start of the capture window")
    p.add_argument("--to", dest="end", metavar="HH:MM", help="end of the window (may be tomorrow)")
    p.add_argument(
        "--count",
        type=int,
        help="stop after this many night captures (0 with --day-reference: the reference only)",
    )
    p.add_argument(
        "--at",
        action="append",
        default=[],
        metavar="HH:MM[,HH:MM...]",
        help="instead of --every: one capture at each listed time (next occurrence)",
    )
    p.add_argument("--burst", type=int, default=1, help="frames per capture (kept, and averaged)")
    p.add_argument("--day-reference", action="store_true", help="capture a day reference first")
    p.add_argument(
        "--reference",
        metavar="ID[,ID...]",
        help="pair with these day captures of the session (several are registered and fused into "
        "one reference with a stability map); default: the "
        "latest day capture",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="camera control for the night frames (repeatable), e.g. --set iso=800",
    )
    p.add_argument("--no-align", action="store_true", help="do not align pairs while capturing")
    p.add_argument("--notes", default="", help="scene notes for a new session")
    p.add_argument(
        "--png-compression",
        choices=["huffman", "none"],
        default="huffman",
        help="PNG compression, both lossless: huffman (default, ~55%% of raw) or none "
        "(raw size, ~3x less CPU per capture)",
    )
    p.add_argument(
        "--min-free",
        default="1G",
        metavar="SIZE",
        help="keep this much free on the data folder's disk (default 1G): the run is refused "
        "when its plan does not fit above it, and stops cleanly before a capture that would "
        "go under it",
    )
    add_operator(p)
    add_data_dir(p)
    # Ctrl-C / SIGTERM stop after the capture in progress (_run_until_done): not under the
    # generic watchdog, which ended the process 0.6 s after the signal -- mid-burst, with the
    # capture discarded, no "stopped:" summary and no "finished" entry in the session log
    p.set_defaults(func=run, handles_signals=True)


def _plan(args: argparse.Namespace):
    from cli._camera import _parse_setting
    from engine.live import CapturePlan, parse_clock, parse_interval

    if (args.start is None) != (args.end is None):
        raise CliError("--from and --to go together")
    if args.count is not None and args.start is not None:
        raise CliError("give either --count or --from/--to, not both")
    if args.reference and args.day_reference:
        raise CliError("--reference and --day-reference choose the reference twice")
    controls = dict(_parse_setting(s) for s in args.set)
    times = tuple(parse_clock(t) for arg in args.at for t in arg.split(",") if t.strip())
    return CapturePlan(
        times=times,
        every_s=parse_interval(args.every),
        count=args.count,
        start=None if args.start is None else parse_clock(args.start),
        end=None if args.end is None else parse_clock(args.end),
        burst=args.burst,
        day_reference=args.day_reference,
        night_controls=controls,
    )


def run(args: argparse.Namespace) -> int:
    from engine.camera import CameraError, ControlError, open_camera
    from engine.live import parse_size

    plan = _plan(args)  # bad options fail before anything opens
    try:
        floor = parse_size(args.min_free)
    except ValueError as exc:
        raise CliError(f"--min-free: {exc}") from None
    try:
        cam = open_camera(args.camera)
    except CameraError as exc:
        raise CliError(str(exc)) from None
    store = None
    try:
        for name, value in plan.night_controls.items():  # a bad --set creates no session
            try:
                cam.validate_control(name, value)
            except ControlError as exc:
                raise CliError(str(exc)) from None
        ids = _reference_ids(args.reference)
        store = open_store(args, compression=args.png_compression)
        existing = _existing_session(store, args)
        if ids and existing is None:  # refused before the session is created
            raise CliError(
                f"--reference: session {args.session!r} does not exist yet, so it has no day "
                "captures to pair with"
            )
        # refused before a new session is created: nothing is written for a run that cannot fit
        disk = _disk_guard(store, existing, plan, cam, floor)
        session = existing or _new_session(store, args, cam)
        try:
            return _record(store, session, args, cam, plan, disk, ids, created=existing is None)
        except BaseException:
            if existing is None:  # made for this run only: a run that recorded nothing
                _drop_if_empty(store, session)  # leaves no empty session behind
            raise
    finally:
        try:
            cam.close()
        except CameraError:
            pass
        if store is not None:
            store.close()


def _drop_if_empty(store, session) -> None:
    """Delete ``session`` (created by this run) when the run failed before recording any
    capture: like `ingest`, a failed command leaves no empty session to find in the morning.
    Quietly: the first error is the one to report."""
    with contextlib.suppress(Exception):
        if store.session(session.id).n_captures == 0:
            store.delete_session(session.id)


def _record(store, session, args, cam, plan, disk, ids, *, created: bool) -> int:
    """Capture into ``session`` (``created`` by this run or not) until the plan ends; the exit
    status."""
    from engine.live import CaptureRunner, SessionRecorder

    runner = CaptureRunner(cam, plan, disk=disk)
    recorder = SessionRecorder(store, session.id, runner, align=not args.no_align)
    if ids:
        try:
            recorder.use_reference(ids)
        except (KeyError, ValueError) as exc:
            raise CliError(f"--reference: {str(exc).strip(chr(39))}") from None
    progress = _report(runner, recorder, plan)
    if len(ids) > 1 and recorder.tracker.reference is not None:
        progress.line(f"day reference: {recorder.tracker.reference.describe()}")
    if recorder.tracker.reference is None and not plan.day_reference and plan.count != 0:
        _warn_unpaired(session, created=created)
    return _run_until_done(runner, progress, session, plan)


def _disk_guard(store, existing, plan, cam, floor: int):
    """The run's `DiskGuard`; refuses (one line) a plan the disk cannot hold above ``floor``
    and warns when it fits with no room for another night like it."""
    import sys

    from engine.live import DiskGuard

    w, h = cam.info.resolution
    if existing is not None:
        guard = DiskGuard.estimate(
            store, existing.id, burst=plan.burst, frame_shape=(h, w, 3), floor_bytes=floor
        )
    else:  # a new session: nothing measured yet, so raw pixels (PNG is smaller)
        frames = plan.burst + 1 if plan.burst > 1 else 1
        guard = DiskGuard(store.root, bytes_per_capture=h * w * 3 * frames, floor_bytes=floor)
    status = guard.check_plan(plan)
    if status.verdict in ("short", "full"):
        raise CliError(f"not enough disk space for this run: {status.describe()}")
    if status.verdict == "thin":
        print(f"nightlab capture: warning: little disk space left: {status.describe()}",
              file=sys.stderr)  # fmt: skip
    return guard


def _warn_unpaired(session, *, created: bool) -> None:
    """Said before the first slot: a night with nothing to pair with (a mistyped --session or
    --data-dir makes a new, empty session) was found only in the morning, every capture
    kept unpaired, exit 0."""
    import sys

    what = "is new: it has" if created else "has"
    print(
        f"nightlab capture: warning: session {session.id} ({session.name}) {what} no day "
        "capture, so the night captures will be kept unpaired; take a day reference first "
        "(--day-reference) or check --session and --data-dir",
        file=sys.stderr,
    )


def _reference_ids(text: str | None) -> list[int]:
    """``--reference 12,14`` -> [12, 14]; one line for anything else."""
    if not text:
        return []
    try:
        return [int(i) for i in text.split(",") if i.strip()]
    except ValueError:
        raise CliError(f"--reference: expected capture ids like 12,14, got {text!r}") from None


def _existing_session(store, args):
    """The session ``--session`` names, or None when it is to be created."""
    try:
        session = store.session(args.session)
    except KeyError:
        return None
    if not session.is_open:
        raise CliError(f"session {session.id} ({session.name}) is closed; use a new name")
    return session


def _new_session(store, args, cam):
    info = cam.info
    return store.create_session(
        args.session,
        operator=operator_name(args),
        scene_notes=args.notes,
        camera_backend=info.backend,
        device_id=info.device_id,
    )


def _run_until_done(runner, progress: Progress, session, plan) -> int:
    # SIGTERM stops like Ctrl-C: after the capture in progress, with the store consistent
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    interrupted = False
    try:
        # from the first line on, a stop goes one way: one landing before the wait loop (while
        # the disk is measured, as the runner starts) escaped it, and left the runner capturing
        try:
            progress.line(
                f"capturing into session {session.id} ({session.name}): {plan.describe()}"
            )
            progress.line(f"disk: {runner.disk.check_plan(plan).describe()}")
            runner.start()
            while not runner.wait(0.2):
                pass
        except KeyboardInterrupt:
            interrupted = True
            progress.line("stopping after the capture in progress ...")
            runner.cancel()
            if runner.thread is None:  # not started: it starts cancelled, and logs that
                runner.start()
            while True:
                try:
                    runner.wait()
                    break
                except KeyboardInterrupt:  # already stopping: the capture completes first
                    continue
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        progress.close()
    summary = (
        f"{runner.captured} night capture(s), {runner.missed_count} missed, "
        f"session {session.id} ({session.name})"
    )
    if runner.error:
        raise CliError(f"{runner.error} (stopped; {summary})")
    progress.line(f"{'stopped' if interrupted else runner.finish_reason}: {summary}")
    return 130 if interrupted else 0


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _report(runner, recorder, plan) -> Progress:
    progress = Progress()
    total = plan.count
    start = time.monotonic()

    def stamp() -> str:
        return time.strftime("%H:%M:%S")

    def on_pair(pair) -> None:
        if pair.aligned_ok is None:
            how = "not aligned"
        elif pair.aligned_ok:
            how = f"aligned {pair.method} score {pair.score:.2f} leak {pair.leak_area_pct:.1f} %"
        else:
            how = f"NOT aligned: {pair.reason}"
        n = f"{runner.captured + 1}" + (f"/{total}" if total else "")
        progress.line(f"{stamp()} night {n}: capture {pair.night_id}, pair {pair.id}, {how}")

    def on_capture(cap) -> None:
        if cap.kind == "day":
            progress.line(f"{stamp()} day reference: capture {cap.id} ({cap.width}x{cap.height})")

    def on_unpaired(cap, why) -> None:
        progress.line(f"{stamp()} night capture {cap.id} kept unpaired: {why}")

    def on_wait(remaining: float) -> None:
        mins, secs = divmod(int(remaining), 60)
        hours, mins = divmod(mins, 60)
        left = f"{hours}h{mins:02d}m{secs:02d}s" if hours else f"{mins}m{secs:02d}s"
        elapsed = int(time.monotonic() - start)
        progress.status(
            f"next capture in {left}  (missed {runner.missed_count}, running {elapsed} s)",
            done=runner.captured,
            total=total,
        )

    recorder.events.paired.connect(on_pair)
    recorder.events.captured.connect(on_capture)
    recorder.events.unpaired.connect(on_unpaired)
    ev = runner.events
    ev.awaiting.connect(on_wait)
    ev.missed.connect(lambda m: progress.line(f"{stamp()} missed {m.kind} capture: {m.reason}"))
    ev.camera_lost.connect(lambda msg: progress.line(f"{stamp()} camera lost: {msg}"))
    ev.disk_unchecked.connect(lambda msg: progress.line(f"{stamp()} warning: {msg}"))
    ev.camera_back.connect(
        lambda msg, gap: progress.line(f"{stamp()} camera back after {gap:.0f} s: {msg}")
    )
    return progress
