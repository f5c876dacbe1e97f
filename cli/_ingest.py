"""``nightlab ingest --session NAME --day D [--day D2 ...] --night N``: add external images.

Every input is read, size-checked and aligned before anything is written; the captures and
the pair are then committed together, and the session is created when it does not exist (and
removed again if that commit fails). Several ``--day`` images form one day reference: each is
kept as its own capture, and they are fused in the first one's grid
(`engine.reference.fuse_day_captures`: registered, exposure and cast matched, robust median,
stability map for the leak mask); the note and the session log say which were used.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from cli._common import CliError, check_image_size, warn_if_no_colour
from cli._store_args import add_data_dir, add_operator, open_store, operator_name

if TYPE_CHECKING:
    from engine.live import Reference


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="add a day/night pair from image files to a session")
    p.add_argument("--session", required=True, help="session name (created if new) or id")
    p.add_argument("--day", type=Path, action="append", required=True, help="day image (repeat)")
    p.add_argument("--night", type=Path, required=True, help="night image")
    p.add_argument("--notes", default="", help="scene notes for a new session")
    p.add_argument(
        "--no-align", action="store_true", help="record the pair without aligning it now"
    )
    p.add_argument(
        "--fixed-camera",
        action="store_true",
        help="day and night come from the same camera that was not moved (a fixed webcam): "
        "start from the identity and refine locally, full search only if that does not verify",
    )
    add_operator(p)
    add_data_dir(p)
    p.set_defaults(func=run)


def _read(path: Path, mode: str):
    from engine import read_image

    data = path.read_bytes() if path.is_file() else None
    image = read_image(path, mode=mode)  # names the file in its one-line error
    return image, {"source": str(path.resolve()), "source_sha256": hashlib.sha256(data).hexdigest()}


def run(args: argparse.Namespace) -> int:
    """Read, check and align everything first; then one commit records the captures and
    the pair together, so a failure leaves nothing (not even a session made for it)."""
    days = [_read(p, "rgb") for p in args.day]
    night, night_meta = _read(args.night, "any")
    for (image, _), path in zip(days, args.day, strict=True):
        check_image_size(image, path)
        warn_if_no_colour(image, path, "ingest")
    check_image_size(night, args.night)
    fields, note, ref = {}, "not aligned (--no-align)", None
    if not args.no_align:
        fields, note, ref = _align([d for d, _ in days], night, args)
    with open_store(args) as store:
        session, created = _session(store, args)
        try:
            pair = store.add_pair_with_captures(
                session.id,
                days=[d for d, _ in days],
                night=night,
                day_metas=[{"extra": meta} for _, meta in days],
                night_meta={"extra": night_meta},
                **fields,
            )
        except BaseException:
            if created:  # made for this ingest only: leave no empty session behind
                with contextlib.suppress(Exception):  # the first error is the one to report
                    store.delete_session(session.id)
            raise
        if ref is not None and len(pair.day_ids) > 1:  # what the reference fused, by capture id
            used = dataclasses.replace(ref, capture_ids=pair.day_ids).describe()
            store.log(session.id, "reference", f"pair {pair.id}: {used}")
            note += f"; {used}"
        print(f"pair {pair.id} in session {session.id} ({session.name}): {note}")
    # recorded, yet not aligned: 3, as `process` exits on a pair it cannot align, so that a
    # script ingesting a night's archive can tell which pairs need the inspector
    alignment = fields.get("alignment")
    return 3 if alignment is not None and not alignment.ok else 0


def _align(days, night, args: argparse.Namespace) -> tuple[dict, str, Reference]:
    """The pair's alignment fields, a one-line note and the day reference (which images it
    fused; nothing is written here)."""
    from engine.live import PairTracker

    tracker = PairTracker()
    try:
        ref = tracker.set_reference(days, fixed_camera=args.fixed_camera)
    except ValueError as exc:
        raise CliError(f"--day: {exc}") from None
    try:
        res = tracker.process(night)
    except ValueError as exc:
        raise CliError(f"{args.night}: {exc}") from None
    fields = {
        "alignment": res.alignment,
        "leak_params": dataclasses.asdict(tracker.leak_params),
        "ssim_mean": res.ssim_mean,
        "leak_area_pct": res.leak_area_pct,
    }
    a = res.alignment
    if not res.ok:
        return fields, f"NOT aligned: {a.reason}", ref
    return (
        fields,
        (
            f"aligned by {a.method}, score {a.score:.2f}, SSIM {res.ssim_mean:.3f}, "
            f"leak {res.leak_area_pct:.1f} %"
        ),
        ref,
    )


def _session(store, args):
    """The session to record into, and whether it was created just now."""
    try:
        return store.session(args.session), False
    except KeyError:
        session = store.create_session(
            args.session, operator=operator_name(args), scene_notes=args.notes
        )
        return session, True
