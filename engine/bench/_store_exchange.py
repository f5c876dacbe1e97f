"""Export and import throughput (MB/s of payload) on a synthetic session of real-size PNGs.

The session: ``PAIRS`` pairs of 1920x1080 captures made from real photos (so the PNGs compress
like real scenes, ~2-4 MB each), one shared day reference, one run per pair (aligned
reference, leak mask, colorized), written by the store itself. Rows, each a median:

- export to a folder / to a zip (ours: hash while copying, fsync, atomic rename), beside the
  reference: what ``bagit`` would take for the same folder bag, a tree copy (``copytree``) of
  the payload then ``bagit.make_bag`` on it (sha256 only; neither fsyncs), with the copy alone
  as the floor;
- import of the zip / the folder into a fresh data folder (every check, extraction, hashing,
  copy, one transaction), beside ``bagit.Bag.validate`` of the same folder (hashing alone).

- zip export and import of a session from real footage (``../shared/data/webcam/stlouis``:
  a midday reference, night frames through the real align / leak-mask / colorize pipeline),
  when ``../shared`` is there.

There is no issue target for these figures; they are reported (README) for the partner team.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from engine.bench import BenchRow

__all__ = ["rows"]

PAIRS = 6
SIZE = (1920, 1080)


def _session(store, pairs: int, size: tuple[int, int]) -> int:
    from engine.scene_change import donor_photos

    photos = [cv2.resize(p, size, interpolation=cv2.INTER_CUBIC) for p in donor_photos()]
    rng = np.random.default_rng(0)
    s = store.create_session("bench export", operator="bench")
    day = store.add_capture(s.id, photos[0], kind="day")
    for i in range(pairs):
        src = photos[(i + 1) % len(photos)]
        night = cv2.cvtColor(src, cv2.COLOR_RGB2GRAY)
        noisy = np.clip(night.astype(np.int16) // 3 + rng.normal(0, 4, night.shape), 0, 255)
        cap = store.add_capture(s.id, noisy.astype(np.uint8), kind="night")
        pair = store.add_pair(s.id, night_id=cap.id, day_ids=[day.id])
        mask = cv2.GaussianBlur((rng.random(size[::-1]) > 0.97).astype(np.float32), (0, 0), 9)
        store.add_run(
            pair.id,
            model_name="bench",
            model_sha256="0" * 64,
            outputs={
                "aligned_reference": photos[0],
                "leak_mask": mask / mask.max(),
                "colorized": src,
            },
        )
        store.set_verdict(pair.id, "pass")
    return s.id


def _real_session(store, folder: Path, limit: int = 10) -> int | None:
    """A session from a real fixed webcam (../shared/data/webcam/<name>): a midday frame as
    the day reference, the night frames (21:00-02:00) processed by the real pipeline (align,
    leak mask, default model) and recorded like the app does. None when the data is absent."""
    from engine._image import read_image
    from engine.colorize import load_colorizer
    from engine.pipeline import process_pair

    frames = sorted(folder.glob("*.png")) if folder.is_dir() else []
    days = [f for f in frames if 11 <= int(f.stem[9:11]) <= 14]
    nights = [f for f in frames if int(f.stem[9:11]) >= 21 or int(f.stem[9:11]) <= 1][:limit]
    if not days or not nights:
        return None
    colorizer = load_colorizer(threads=2)
    s = store.create_session(f"webcam {folder.name}", operator="bench", camera_backend="replay")
    day_img = read_image(days[0])
    day = store.add_capture(s.id, day_img, kind="day")
    for f in nights:
        night_img = read_image(f)
        night = store.add_capture(s.id, night_img, kind="night")
        res = process_pair(day_img, night_img, colorizer=colorizer)
        pair = store.add_pair(
            s.id,
            night_id=night.id,
            day_ids=[day.id],
            alignment=res.alignment,
            ssim_mean=res.ssim_mean,
            leak_area_pct=res.leak_area_pct,
        )
        if res.ok:
            store.add_run(
                pair.id,
                model_name=colorizer.name,
                model_sha256=colorizer.card.sha256,
                outputs={
                    "aligned_reference": res.aligned_reference,
                    "leak_mask": res.leak_mask,
                    "colorized": res.colorized.rgb,
                },
                timings_ms=res.timings_ms,
            )
    return s.id


def _real_rows(store, tmp: Path, n: int) -> list[BenchRow]:
    """Zip export and import of a session made from real webcam footage (skipped if absent)."""
    from engine.data import shared_dir
    from engine.exchange import export_session, import_session
    from engine.store import Store

    sid = _real_session(store, shared_dir() / "data" / "webcam" / "stlouis", limit=8)
    if sid is None:
        return []
    first = export_session(store, sid, tmp / "real.zip", as_zip=True)
    mb = first.payload_bytes / 1e6
    label = f"{first.pairs} pairs webcam 800x450, {mb:.2f} MB"
    t_exp = _timed(
        lambda k: export_session(store, sid, tmp / f"r{k}.zip", as_zip=True),
        n,
        lambda k: _rm(tmp / f"r{k}.zip"),
    )
    times = []

    def imp(k: int) -> None:
        with Store(tmp / f"rd{k}") as dest:
            t0 = time.perf_counter()
            import_session(dest, tmp / "real.zip")
            times.append(time.perf_counter() - t0)

    _timed(imp, n, lambda k: _rm(tmp / f"rd{k}"))
    t_imp = statistics.median(times)
    note = "real footage (../shared webcam/stlouis) through the real pipeline"
    return [
        BenchRow(
            stage="store: export bag (zip), real session",
            size=label,
            ours_ms=t_exp * 1e3,
            note=f"{mb / t_exp:.0f} MB/s; {note}",
        ),
        BenchRow(
            stage="store: import bag (zip), real session",
            size=label,
            ours_ms=t_imp * 1e3,
            note=f"{mb / t_imp:.0f} MB/s; {note}",
        ),
    ]


def _timed(fn: Callable[[int], object], repeats: int, cleanup: Callable[[int], None]) -> float:
    times = []
    for k in range(repeats):
        t0 = time.perf_counter()
        fn(k)
        times.append(time.perf_counter() - t0)
        cleanup(k)
    return statistics.median(times)


def _rm(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def rows(
    *, repeats: int, pairs: int = PAIRS, size: tuple[int, int] = SIZE, real: bool = True
) -> list[BenchRow]:
    import bagit

    from engine.exchange import export_session, import_session
    from engine.store import Store

    logging.getLogger("bagit").setLevel(logging.ERROR)
    n = max(1, min(repeats, 3))  # each run moves ~100 MB: 3 medians are plenty
    with tempfile.TemporaryDirectory(prefix="nightlab-bench-exchange-") as tmp:
        tmp = Path(tmp)
        store = Store(tmp / "data")
        try:
            sid = _session(store, pairs, size)
            # one export to learn the payload and to feed the import rows
            folder = export_session(store, sid, tmp / "bag")
            export_session(store, sid, tmp / "bag.zip", as_zip=True)
            mb = folder.payload_bytes / 1e6
            label = f"{pairs} pairs {size[0]}x{size[1]}, {mb:.2f} MB"

            t_folder = _timed(
                lambda k: export_session(store, sid, tmp / f"f{k}"), n, lambda k: _rm(tmp / f"f{k}")
            )
            t_zip = _timed(
                lambda k: export_session(store, sid, tmp / f"z{k}.zip", as_zip=True),
                n,
                lambda k: _rm(tmp / f"z{k}.zip"),
            )

            def copy(k: int) -> None:
                # direct write: scratch copies in the bench's own temporary folder
                shutil.copytree(tmp / "bag" / "data", tmp / f"c{k}")

            t_copy = _timed(copy, n, lambda k: _rm(tmp / f"c{k}"))
            make_bag_times = []
            for k in range(n):
                copy(k)
                t0 = time.perf_counter()
                bagit.make_bag(str(tmp / f"c{k}"), checksums=["sha256"])
                make_bag_times.append(time.perf_counter() - t0)
                _rm(tmp / f"c{k}")
            t_make_bag = statistics.median(make_bag_times)

            def imp(src: Path) -> Callable[[int], object]:
                def go(k: int) -> None:
                    with Store(tmp / f"d{k}") as dest:
                        t0 = time.perf_counter()
                        import_session(dest, src)
                        go.times.append(time.perf_counter() - t0)  # type: ignore[attr-defined]

                go.times = []  # type: ignore[attr-defined]
                return go

            imports = {}
            for kind, src in (("zip", tmp / "bag.zip"), ("folder", tmp / "bag")):
                go = imp(src)
                _timed(go, n, lambda k: _rm(tmp / f"d{k}"))
                imports[kind] = statistics.median(go.times)  # type: ignore[attr-defined]
            t_validate = _timed(lambda k: bagit.Bag(str(tmp / "bag")).validate(), n, lambda k: None)
            real_rows = _real_rows(store, tmp, n) if real else []
        finally:
            store.close()

    def row(stage, seconds, ref, ref_seconds, note) -> BenchRow:
        return BenchRow(
            stage=stage,
            size=label,
            ours_ms=seconds * 1e3,
            reference=ref,
            reference_ms=None if ref_seconds is None else ref_seconds * 1e3,
            note=f"{mb / seconds:.0f} MB/s" + (f"; {note}" if note else ""),
        )

    ref = "copytree+make_bag"
    floor = (
        f"bagit {mb / (t_copy + t_make_bag):.0f} MB/s without fsync; "
        f"copytree alone {mb / t_copy:.0f} MB/s"
    )
    return [
        row("store: export bag (folder)", t_folder, ref, t_copy + t_make_bag, floor),
        row(
            "store: export bag (zip, PNG stored)",
            t_zip,
            ref,
            t_copy + t_make_bag,
            "one zip, one fsync",
        ),
        row(
            "store: import bag (zip)",
            imports["zip"],
            "bagit validate",
            t_validate,
            f"validate alone {mb / t_validate:.0f} MB/s; all checks + copy + 1 commit",
        ),
        row(
            "store: import bag (folder)",
            imports["folder"],
            "bagit validate",
            t_validate,
            "all checks + copy + 1 commit",
        ),
        *real_rows,
    ]


if __name__ == "__main__":  # pragma: no cover
    for r in rows(repeats=int(os.environ.get("REPEATS", "3"))):
        print(r)
