"""Nothing captured is ever lost: ``nightlab capture`` as a real process, killed, starved of disk.

These start the real command line in a subprocess and check the data folder afterwards with a
fresh `Store` (which reconciles on open), exactly as an operator's next command would.
"""

from __future__ import annotations

import hashlib
import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.store import Store
from engine.store._files import decode_png

REPO = Path(__file__).resolve().parents[1]
RUN = "import sys, cli; sys.exit(cli.main(sys.argv[1:]))"


def _start(data: Path, *args: str, preexec=None) -> subprocess.Popen:
    # the simulated camera filming one photo: the default scene (photos plus scene-change
    # donors) takes a second to build at every start, which 20 restarts would pay 20 times
    scene = data.parent / "scene.png"
    if not scene.exists():
        import skimage.data

        from engine._image import write_image

        write_image(scene, skimage.data.astronaut())
    env = {**os.environ, "NIGHTLAB_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1"}
    camera = f"sim:{scene}"
    return subprocess.Popen(
        [sys.executable, "-c", RUN, "capture", "--camera", camera, "--session", "night", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: _as_from_a_terminal(preexec),
    )


def _as_from_a_terminal(preexec=None) -> None:
    """Ctrl-C as an operator's shell leaves it: pytest started in the background by a script
    (``pytest &``) ignores SIGINT, the child inherits that, and the Ctrl-C tests hung."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if preexec is not None:
        preexec()


def _wait_for_line(proc: subprocess.Popen, prefix: str, timeout: float) -> bool:
    """Read stdout until a line starts with ``prefix`` (in a thread, so we can time out)."""
    found = threading.Event()

    def read():
        for line in proc.stdout:
            if line.startswith(prefix):
                found.set()
                break

    threading.Thread(target=read, daemon=True).start()
    return found.wait(timeout)


def _committed(data: Path) -> dict[int, tuple[str, str]]:
    """capture id -> (path, sha256) of every committed capture row."""
    conn = sqlite3.connect(data / "nightlab.sqlite3")
    rows = conn.execute(
        "SELECT c.id, f.path, f.sha256 FROM captures c JOIN files f ON f.id = c.file_id"
    ).fetchall()
    conn.close()
    return {cid: (path, sha) for cid, path, sha in rows}


def _check_consistent(data: Path, seen: frozenset = frozenset()) -> dict[int, tuple[str, str]]:
    """Reopen (reconcile) and check every committed capture (``seen`` ones: checksum only)."""
    with Store(data, reconcile="always") as store:
        report = store.last_reconcile
        rows = _committed(data)
        for cid, (path, sha) in rows.items():
            blob = (data / path).read_bytes()
            assert hashlib.sha256(blob).hexdigest() == sha, path
            if cid not in seen:
                assert decode_png(blob, path).size > 0
        conn = sqlite3.connect(data / "nightlab.sqlite3")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        # a burst is all there or not at all
        for cid, size in conn.execute("SELECT id, burst_size FROM captures WHERE burst_size > 1"):
            (n,) = conn.execute(
                "SELECT COUNT(*) FROM captures WHERE burst_of = ?", (cid,)
            ).fetchone()
            assert n == size, f"burst {cid} has {n} of {size} members"
        conn.close()
        # nothing half-present among the session files: every file is a committed capture
        files = {
            p.relative_to(data).as_posix() for p in (data / "sessions").rglob("*") if p.is_file()
        }
        assert files == {path for path, _ in rows.values()}
        # what reconcile moved aside is kept: complete orphans decode, partials are temp files
        for rel in report.orphans:
            moved = Path(report.moved_to) / rel
            assert decode_png(moved.read_bytes(), rel).size > 0
    return rows


@pytest.mark.slow
def test_capture_killed_at_random_moments_loses_no_committed_capture(tmp_path):
    data = tmp_path / "data"
    rnd = random.Random(20261201)
    known: dict[int, tuple[str, str]] = {}
    kills_after_a_commit = 0
    # The kill lands up to `window` s after start. On a loaded machine (load 13-16 here) the
    # first commit can take longer than 0.6 s, and rounds that commit nothing prove nothing
    # (seen: 3 captures in 20 rounds, then 9 of 10 needed): after such a round the window
    # grows, and it returns to 0.6 s after a round that committed.
    window = 0.6
    # At least 20 kills, and as many more (up to 40 in all) as it takes for 10 of them to land
    # after a commit: at load ~21 a fixed 20 rounds got only 8-9 such kills, and the test then
    # failed on luck, not on a lost capture.
    round_ = 0
    while round_ < 20 or (kills_after_a_commit < 10 and round_ < 40):
        # until killed: no --count (a count of 100000 is a plan the disk check sizes, and
        # refuses on a disk without ~80 GB free)
        args = ["--every", "0s", "--burst", str(1 + round_ % 3)]
        if round_ == 0:
            args.append("--day-reference")
        proc = _start(data, *args)
        try:
            assert _wait_for_line(proc, "capturing into session", 60), proc.stderr.read()
            time.sleep(rnd.uniform(0.0, window))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)  # reap it and close its pipes
        if (data / "nightlab.sqlite3").exists():
            # a killed writer leaves no clean-close mark: the next open reconciles by itself
            assert not (data / ".closed-cleanly").exists()
            before = len(known)
            rows = _check_consistent(data, frozenset(known))
            # every capture committed before an earlier kill is still there, unchanged
            assert {k: rows[k] for k in known} == known
            known = rows
            committed = len(known) > before
            kills_after_a_commit += committed
            window = 0.6 if committed else min(window * 1.5, 4.0)
        round_ += 1
    assert len(known) >= 20 and kills_after_a_commit >= 10, (round_, kills_after_a_commit)


def test_a_full_disk_stops_capture_with_one_line_and_no_corrupt_state(tmp_path):
    data = tmp_path / "data"
    with Store(data) as store:  # the database exists before the limit applies
        store.create_session("night")

    def small_files():  # a "disk" that takes files up to 64 KiB: a 640x480 frame is larger
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    proc = _start(data, "--count", "3", "--day-reference", preexec=small_files)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, (out, err)
    lines = err.strip().splitlines()
    # the frame or the database hits the limit first: either way one line that says so
    assert len(lines) == 1 and "cannot write" in lines[0] and "disk full" in lines[0], err
    assert "Traceback" not in err
    rows = _check_consistent(data)
    assert rows == {}
    with Store(data, reconcile="always") as store:
        assert store.last_reconcile.clean and store.session("night").n_captures == 0


def _drop_root_overrides() -> None:
    """In the child, before it runs: give up root's power to write through permission bits
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH leave the bounding set, so the program exec'd
    next lacks them), so a read-only folder is read-only to it as to an operator's account."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            os._exit(97)


def test_a_read_only_data_dir_gives_one_line(tmp_path):
    data = tmp_path / "data"
    Store(data).close()
    data.chmod(0o555)
    try:
        preexec = None
        if os.geteuid() == 0:  # CI runs as root: root writes into read-only folders anyway
            preexec = _drop_root_overrides
            probe = subprocess.run(
                [sys.executable, "-c", "import sys; open(sys.argv[1] + '/probe', 'w')", data],
                preexec_fn=preexec, capture_output=True,
            )  # fmt: skip
            if probe.returncode == 0:
                (data / "probe").unlink()
                pytest.skip("root here keeps writing into read-only folders (capabilities)")
        proc = _start(data, "--count", "1", preexec=preexec)
        out, err = proc.communicate(timeout=120)
    finally:
        data.chmod(0o755)
    assert proc.returncode == 2 and len(err.strip().splitlines()) == 1, err
    assert str(data) in err
    # the folder and the problem, not an errno and an internal file of the record
    assert f"{data}: cannot open for writing (permission denied" in err, err
    assert "Errno" not in err and ".closed-cleanly" not in err, err


def test_a_data_dir_that_is_a_file_gives_one_line(tmp_path):
    data = tmp_path / "data"
    data.write_text("not a folder")
    proc = _start(data, "--count", "1")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and len(err.strip().splitlines()) == 1, err
    assert str(data) in err and "Traceback" not in err


def test_ctrl_c_stops_after_the_capture_in_progress(tmp_path):
    data = tmp_path / "data"
    proc = _start(data, "--every", "0.3s", "--no-align")
    assert _wait_for_line(proc, "capturing into session", 60)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "stopped:" in out and "Traceback" not in err
    rows = _check_consistent(data)
    assert len(rows) >= 1
    with Store(data, read_only=True) as store:
        log = store.log_entries(1)
        assert log[-1].kind == "finished" and "cancelled" in log[-1].message


def test_ctrl_c_during_a_long_burst_keeps_it_and_says_stopped(tmp_path):
    # The real program (python -m main), a burst that takes ~1.5 s (6 frames at 4 fps): before,
    # the generic signal watchdog ended the process 0.6 s after Ctrl-C, mid-burst -- the
    # capture discarded, no "stopped:" line and no "finished" entry in the session log.
    data = tmp_path / "data"
    env = {**os.environ, "NIGHTLAB_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "main", "capture", "--camera", "sim", "--session", "night",
         "--set", "fps=4", "--burst", "6", "--count", "3", "--no-align"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert _wait_for_line(proc, "capturing into session", 60)
    time.sleep(0.3)  # inside the first burst
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "stopped: 1 night capture(s)" in out, (out, err)
    assert "interrupted" not in err and "Traceback" not in err
    with Store(data, read_only=True) as store:
        session = store.session("night")
        assert session.n_captures == 7  # the burst's 6 frames and their mean, all kept
        log = store.log_entries(session.id)
        assert log[-1].kind == "finished" and "cancelled" in log[-1].message


def test_ctrl_c_as_the_run_starts_stops_it_the_same_way(tmp_path, monkeypatch, capsys):
    # Before: a Ctrl-C landing between "capturing into session" and the wait loop (the disk
    # line, the runner's start) escaped the graceful stop: exit 130 with no "stopped:" line and
    # no "finished" log entry, or the runner left capturing, and a process that then ended
    # with it in native code aborted ("terminate called without an active exception")
    import cli
    from engine.live import DiskGuard

    real, calls = DiskGuard.check_plan, []

    def check_plan(self, plan, **kw):
        calls.append(plan)
        if len(calls) == 2:  # the preflight passed; the run's "disk:" line is being measured
            raise KeyboardInterrupt
        return real(self, plan, **kw)

    monkeypatch.setattr(DiskGuard, "check_plan", check_plan)
    data = tmp_path / "data"
    argv = ["capture", "--camera", "sim", "--session", "night", "--every", "0.3s",
            "--no-align", "--data-dir", str(data)]  # fmt: skip
    assert cli.main(argv) == 130
    out = capsys.readouterr().out
    assert "stopping after the capture in progress" in out
    assert "stopped: 0 night capture(s), 0 missed, session 1 (night)" in out
    with Store(data, read_only=True) as store:
        log = store.log_entries(1)
        assert log[-1].kind == "finished" and "cancelled" in log[-1].message
