"""``nightlab ingest --session NAME --day D [--day D2 ...] --night N``: add external images.

Every input is read and checked before anything is written; the session is created when it
does not exist. Several ``--day`` images form one day reference (their per-pixel median is
aligned; each is kept as its own capture).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from cli._common import CliError
from cli._store_args import add_data_dir, add_operator, open_store, operator_name


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="add a day/night pair from image files to a session")
    p.add_argument("--session", required=True, help="session name (created if new) or id")
    p.add_argument("--day", type=Path, action="append", required=True, help="day image (repeat)")
    p.add_argument("--night", type=Path, required=True, help="night image")
    p.add_argument("--notes", default="", help="scene notes for a new session")
    p.add_argument(
        "--no-align", action="store_true", help="record the pair without aligning it now"
    )
    add_operator(p)
    add_data_dir(p)
    p.set_defaults(func=run)


def _read(path: Path, mode: str):
    from engine._image import read_image

    data = path.read_bytes() if path.is_file() else None
    image = read_image(path, mode=mode)  # names the file in its one-line error
    return image, {"source": str(path.resolve()), "source_sha256": hashlib.sha256(data).hexdigest()}


def run(args: argparse.Namespace) -> int:
    from engine.live import PairTracker

    days = [_read(p, "rgb") for p in args.day]
    night, night_meta = _read(args.night, "any")
    tracker = PairTracker()
    if not args.no_align:
        try:
            tracker.set_reference([d for d, _ in days])
        except ValueError as exc:
            raise CliError(f"--day: {exc}") from None
    with open_store(args) as store:
        session = _session(store, args)
        day_caps = [
            store.add_capture(session.id, img, kind="day", meta={"extra": meta})
            for img, meta in days
        ]
        night_cap = store.add_capture(session.id, night, kind="night", meta={"extra": night_meta})
        kwargs = {}
        note = "not aligned (--no-align)"
        if not args.no_align:
            import dataclasses

            res = tracker.process(night)
            kwargs = {
                "alignment": res.alignment,
                "leak_params": dataclasses.asdict(tracker.leak_params),
                "ssim_mean": res.ssim_mean,
                "leak_area_pct": res.leak_area_pct,
            }
            a = res.alignment
            if res.ok:
                note = (
                    f"aligned by {a.method}, score {a.score:.2f}, SSIM {res.ssim_mean:.3f}, "
                    f"leak {res.leak_area_pct:.1f} %"
                )
            else:
                note = f"NOT aligned: {a.reason}"
        pair = store.add_pair(
            session.id, night_id=night_cap.id, day_ids=[c.id for c in day_caps], **kwargs
        )
        print(f"pair {pair.id} in session {session.id} ({session.name}): {note}")
    return 0


def _session(store, args):
    try:
        return store.session(args.session)
    except KeyError:
        return store.create_session(
            args.session, operator=operator_name(args), scene_notes=args.notes
        )
