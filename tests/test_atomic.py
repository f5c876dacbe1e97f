"""engine.atomic: a write is complete or absent, whatever happens mid-way."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.atomic import (
    PARTIAL_SUFFIX,
    atomic_write,
    is_partial,
    write_bytes_atomic,
    write_json_atomic,
)
from tests.conftest import REPO


def test_failed_write_keeps_previous_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target, mode="w") as f:
        f.write("half of the new con")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_unserialisable_json_writes_nothing(tmp_path):
    target = tmp_path / "m.json"
    with pytest.raises(TypeError):
        write_json_atomic(target, {"x": object()})
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_folder_in_the_way_is_refused_before_writing(tmp_path):
    (tmp_path / "colorized.png").mkdir()
    with pytest.raises(IsADirectoryError, match="colorized.png"):
        write_bytes_atomic(tmp_path / "colorized.png", b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["colorized.png"]


@pytest.mark.parametrize("via_link", [False, True], ids=["fifo", "link-to-a-device"])
def test_a_special_file_in_the_way_is_refused_and_left_as_it_was(tmp_path, via_link):
    # `--json /dev/stdout` as root: the rename would have replaced /dev's entry with our file
    if via_link:
        target = tmp_path / "stdout"
        target.symlink_to(os.devnull)
    else:
        target = tmp_path / "pipe"
        os.mkfifo(target)
    with pytest.raises(OSError, match=r"^cannot write .*: not a regular file \(a "):
        write_bytes_atomic(target, b"x")
    assert target.is_symlink() if via_link else target.is_fifo()
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_staged_set_with_a_fifo_where_a_file_goes_moves_nothing(tmp_path):
    from engine.atomic import StagedOutputs

    os.mkfifo(tmp_path / "overlay.png")
    (tmp_path / "metrics.json").write_text("old")
    with pytest.raises(OSError, match="overlay.png: not a regular file"):
        with StagedOutputs(tmp_path, marker="metrics.json") as staged:
            write_bytes_atomic(staged.path("overlay.png"), b"new")
            write_json_atomic(staged.path("metrics.json"), {"new": True})
    assert (tmp_path / "overlay.png").is_fifo() and (tmp_path / "metrics.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "overlay.png"]


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc (refuses new files)")
def test_a_folder_refusing_the_temporary_names_the_file_asked_for():
    # 'nightlab bench --json /proc/x.json' ended "No such file or directory:
    # '/proc/.x.json.jygh36pf.partial'": a name the operator never gave
    with pytest.raises(OSError) as refused:
        write_bytes_atomic("/proc/x.json", b"{}")
    assert refused.value.errno == errno.ENOENT
    assert refused.value.filename == "/proc/x.json"
    assert "partial" not in str(refused.value)


def test_new_file_gets_umask_permissions_not_mkstemp_0600(tmp_path):
    p = write_bytes_atomic(tmp_path / "a.bin", b"123")
    umask = os.umask(0)
    os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask


def test_sigkill_mid_write_leaves_old_file_whole_and_marks_leftover_partial(tmp_path):
    target = tmp_path / "big.bin"
    target.write_bytes(b"A" * 10)
    child = textwrap.dedent(
        f"""
        import os, signal
        from engine.atomic import atomic_write
        with atomic_write({str(target)!r}) as f:
            f.write(b"B" * 1_000_000)
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", child], cwd=REPO, timeout=60)
    assert proc.returncode == -9
    assert target.read_bytes() == b"A" * 10
    leftovers = [p for p in tmp_path.iterdir() if p != target]
    assert len(leftovers) == 1 and is_partial(leftovers[0])


def test_json_default_covers_numpy_paths_and_dataclasses_and_writes_nothing_otherwise(tmp_path):
    import dataclasses

    import numpy as np

    from engine.atomic import jsonable, write_json_atomic

    @dataclasses.dataclass(frozen=True)
    class Point:
        x: float
        y: float

    out = write_json_atomic(
        tmp_path / "m.json",
        {
            "m": np.eye(2),
            "s": np.float32(0.5),
            "n": np.int64(3),
            "p": Path("a/b"),
            "q": Point(1, 2),
        },
        default=jsonable,
    )
    assert json.loads(out.read_text()) == {
        "m": [[1.0, 0.0], [0.0, 1.0]], "s": 0.5, "n": 3, "p": "a/b", "q": {"x": 1, "y": 2}
    }  # fmt: skip
    with pytest.raises(TypeError, match="not JSON serialisable: set"):
        write_json_atomic(tmp_path / "bad.json", {"s": {1, 2}}, default=jsonable)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE and SIGXFSZ")
def test_a_file_the_disk_cannot_take_is_one_line_naming_it_and_nothing_is_left(tmp_path):
    # Before: "nightlab camera: error: [Errno 27] File too large" (or "[Errno 28] No space
    # left on device"): which file, the user could not tell
    out = tmp_path / "shots" / "night.png"
    out.parent.mkdir()

    def limited():  # a disk that takes 64 KiB (a 640x480 PNG is ~0.5 MiB)
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 16, 1 << 16))

    proc = subprocess.run(
        [sys.executable, "-m", "main", "camera", "snap", "--out", str(out)],
        capture_output=True, text=True, timeout=120, cwd=REPO, preexec_fn=limited,
        env={**os.environ, "NIGHTLAB_DATA_DIR": str(tmp_path / "data")},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"nightlab camera: error: cannot write {out}: file size limit reached (disk full?)"
    ]
    assert list(out.parent.iterdir()) == []  # no image, no metadata, no .partial


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_a_folder_that_refuses_new_files_names_the_target_not_the_temporary():
    # /proc exists (and root passes access() there) but takes no new files: the error used to
    # name '/proc/.x.png.12dptxn3.partial', a file the user never asked for
    with pytest.raises(OSError) as caught:
        write_bytes_atomic("/proc/nightlab-x.png", b"x")
    assert str(caught.value).startswith("cannot write /proc/nightlab-x.png: ")
    assert PARTIAL_SUFFIX not in str(caught.value)


@pytest.mark.parametrize("hard_links", [True, False], ids=["links", "no-links"])
def test_a_write_that_may_not_replace_keeps_a_file_made_meanwhile(
    tmp_path, monkeypatch, hard_links
):
    target = tmp_path / "night.zip"
    if not hard_links:  # FAT, exFAT, some shares: link() refused by the file system

        def refused(*_a, **_k):
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(os, "link", refused)
    with atomic_write(target, replace=False) as f:
        f.write(b"first")
    assert target.read_bytes() == b"first"
    with pytest.raises(FileExistsError), atomic_write(target, replace=False) as f:
        f.write(b"second")
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["night.zip"]  # no temporary left
