"""``nightlab sessions export`` onto a disk that fills up: one line naming the bag and the
problem, status 2, nothing left behind.

Before: "nightlab sessions: error: [Errno 28] No space left on device" -- which file, the
partner team's operator could not tell (the bag, the store, a temporary?)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from engine.store import Store
from tests.conftest import REPO


def _limited_to_64_kib() -> None:  # a disk that takes 64 KiB per file (the pair is ~300 KiB)
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 16, 1 << 16))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE and SIGXFSZ")
@pytest.mark.parametrize("name", ["night.zip", "night-bag"], ids=["zip", "folder"])
def test_an_export_the_disk_cannot_take_names_the_bag_and_leaves_nothing(tmp_path, name):
    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    with Store(data) as store:  # noise: PNG cannot shrink it under the limit
        s = store.create_session("roof")
        day = store.add_capture(s.id, rng.integers(0, 255, (200, 240, 3), np.uint8), kind="day")
        night = store.add_capture(s.id, rng.integers(0, 255, (200, 240), np.uint8), kind="night")
        store.add_pair(s.id, night_id=night.id, day_ids=[day.id])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / name
    proc = subprocess.run(
        [sys.executable, "-m", "main", "sessions", "export", "1", "--out", str(out),
         "--data-dir", str(data)],
        capture_output=True, text=True, timeout=120, cwd=REPO, preexec_fn=_limited_to_64_kib,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert errors == [
        f"nightlab sessions: error: cannot write {out}: file size limit reached (disk full?)"
    ], proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(out_dir.iterdir()) == []  # no bag, no hidden staging folder, no .partial


def _one_pair_store(data):
    rng = np.random.default_rng(1)
    store = Store(data)
    s = store.create_session("roof")
    store.capture_pair(s.id, day=rng.integers(0, 255, (60, 80, 3), np.uint8),
                       night=rng.integers(0, 255, (60, 80), np.uint8))  # fmt: skip
    return store, s


def test_a_disk_with_no_room_for_one_more_file_names_the_bag_not_its_staging_folder(
    tmp_path, monkeypatch
):
    # Before: "[Errno 28] No space left on device: '/media/usb/.night.4krotpca.partial/data/
    # pairs/pair-0001/day.png'" (a disk out of inodes, seen on a 20 MB tmpfs of 8 inodes)
    import errno
    import pathlib

    from engine.exchange import export_session

    store, s = _one_pair_store(tmp_path / "data")
    out = tmp_path / "out" / "night"
    out.parent.mkdir()
    real_mkdir = pathlib.Path.mkdir

    def no_inode_left(self, *args, **kwargs):  # the staging folder's subfolders: no room
        if ".partial" in str(self) and self.name != "data":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", no_inode_left)
    try:
        with pytest.raises(OSError) as caught:
            export_session(store, s.id, out)
    finally:
        store.close()
    assert str(caught.value) == f"cannot write {out}: disk full"
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "when"),
    [("night.zip", "copying"), ("night-bag", "copying"), ("night.zip", "ending")],
    ids=["zip", "folder", "zip-while-it-ends"],
)
def test_a_bag_made_elsewhere_while_exporting_is_kept_and_the_export_says_so(
    tmp_path, monkeypatch, name, when
):
    # Before: the zip replaced it silently (another export of the same name, the app's or the
    # command's); the folder's refusal could not be said (str() recursed: a job's failure
    # never reached the dialog). Then the zip was checked only before its end: its central
    # directory and fsync (seconds on a big bag) left the other export time to finish
    import zipfile

    from engine.exchange import export_session

    store, s = _one_pair_store(tmp_path / "data")
    out = tmp_path / "out" / name
    out.parent.mkdir()

    def other_export_finishes() -> None:
        if not out.exists():
            out.write_bytes(b"the other export")

    progress = None
    if when == "copying":
        progress = lambda p: other_export_finishes() if p.done else None  # noqa: E731
    else:
        real_close = zipfile.ZipFile.close

        def ending(zf) -> None:
            if zf.mode == "w":
                other_export_finishes()
            real_close(zf)

        monkeypatch.setattr(zipfile.ZipFile, "close", ending)
    try:
        with pytest.raises(FileExistsError) as caught:
            export_session(store, s.id, out, as_zip=name.endswith(".zip"), progress=progress)
    finally:
        store.close()
    assert str(caught.value) == f"{out}: appeared while exporting; not overwritten"
    assert out.read_bytes() == b"the other export"
    assert [p.name for p in out.parent.iterdir()] == [name]  # nothing else left behind


@pytest.mark.parametrize("as_zip", [True, False], ids=["zip", "folder"])
def test_a_store_file_removed_while_exporting_is_named_as_missing_and_nothing_is_left(
    tmp_path, as_zip
):
    # Before: "[Errno 2] No such file or directory: '...png'", not the line the same file
    # gets when it is missing before the export starts
    from engine.exchange import export_session

    store, s = _one_pair_store(tmp_path / "data")
    night = store.capture(store.pairs(session_id=s.id)[0].night_id)
    out = tmp_path / "out" / ("night.zip" if as_zip else "night")
    out.parent.mkdir()

    def removed_meanwhile(progress) -> None:  # planned (it was there), then the copy starts
        if progress.phase == "writing" and store.path(night.path).exists():
            store.path(night.path).unlink()

    try:
        with pytest.raises(FileNotFoundError) as caught:
            export_session(store, s.id, out, as_zip=as_zip, progress=removed_meanwhile)
    finally:
        store.close()
    assert str(caught.value) == (
        f"{store.path(night.path)}: file missing (for data/pairs/pair-0001/night.png); "
        "removed while exporting"
    )
    assert list(out.parent.iterdir()) == []


def test_a_metrics_csv_the_disk_cannot_take_closes_the_spooled_manifest_at_once(
    tmp_path, monkeypatch
):
    # Before: the manifest's temporary file, already written, was closed only when the
    # traceback holding it was collected: an open descriptor (and its disk space, on a disk
    # already full) for as long as the error was kept (a GUI's last failure, a log)
    import errno
    import tempfile

    from engine.exchange import export_session

    store, s = _one_pair_store(tmp_path / "data")
    out = tmp_path / "out" / "night"
    out.parent.mkdir()
    spooled: list = []
    real_temporary_file = tempfile.TemporaryFile

    def recorded(*args, **kwargs):
        f = real_temporary_file(*args, **kwargs)
        spooled.append(f)
        return f

    def disk_full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(tempfile, "TemporaryFile", recorded)
    monkeypatch.setattr("engine.exchange._spool.write_metrics_csv", disk_full)
    try:
        with pytest.raises(OSError) as caught:  # keeps the traceback, as a caller may
            export_session(store, s.id, out)
    finally:
        store.close()
    assert caught.value.errno == errno.ENOSPC
    assert len(spooled) >= 5  # captures, pairs, rows, the manifest and the CSV
    assert [f for f in spooled if not f.closed] == []
    assert list(out.parent.iterdir()) == []


def test_a_disk_full_while_the_plan_is_spooled_names_the_bag(tmp_path, monkeypatch):
    # Before: "[Errno 28] No space left on device", which file not said (the spooled plan's
    # temporaries, beside the bag on its disk, have no name)
    import errno

    from engine.exchange import export_session

    store, s = _one_pair_store(tmp_path / "data")
    out = tmp_path / "out" / "night.zip"
    out.parent.mkdir()

    def disk_full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("engine.exchange._spool.write_metrics_csv", disk_full)
    try:
        with pytest.raises(OSError) as caught:
            export_session(store, s.id, out, as_zip=True)
    finally:
        store.close()
    assert str(caught.value) == f"cannot write {out}: disk full"
    assert list(out.parent.iterdir()) == []
