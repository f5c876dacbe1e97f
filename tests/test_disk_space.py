"""Disk space for an unattended night: refused when the plan cannot fit, stopped cleanly before
the disk goes under the floor, nothing half-written (real store, real files in a temp folder;
the disk's capacity is simulated by an injected ``disk_usage`` that counts the real bytes
written)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import cli
from engine.camera import SimulatedCamera
from engine.live import (
    CapturePlan,
    CaptureRunner,
    DiskGuard,
    SessionRecorder,
    captures_in_plan,
    parse_clock,
)
from engine.store import Store
from tests.disk_fakes import FillingDisk, bytes_under

SIZE = (160, 120)
MiB = 1 << 20


def test_plan_sizes_count_a_window_listed_times_and_the_day_reference():
    night = CapturePlan(every_s=600, start=parse_clock("21:00"), end=parse_clock("05:00"))
    assert captures_in_plan(night) == 8 * 6 + 1
    assert captures_in_plan(CapturePlan(times=(parse_clock("22:00"), parse_clock("01:00")))) == 2
    assert captures_in_plan(CapturePlan(count=3, day_reference=True)) == 4
    assert captures_in_plan(CapturePlan(every_s=60)) is None  # until stopped


def test_preflight_refuses_a_plan_the_disk_cannot_hold_and_warns_when_thin(tmp_path):
    plan = CapturePlan(count=100)  # 100 MiB at 1 MiB a capture

    def disk(free):
        return lambda path: (10**12, 10**12 - free, free)

    def verdict(free):
        return DiskGuard(
            tmp_path, bytes_per_capture=MiB, floor_bytes=50 * MiB, disk_usage=disk(free)
        ).check_plan(plan)

    assert verdict(120 * MiB).verdict == "short"  # 70 MiB usable above the floor
    thin = verdict(200 * MiB)
    assert thin.verdict == "thin" and thin.nights_left == pytest.approx(1.5)
    assert verdict(400 * MiB).verdict == "ok"
    assert verdict(50 * MiB).verdict == "full"
    assert "MiB free on" in thin.describe() and "1.5 runs like this fit" in thin.describe()
    # a big disk's count reads with a thousands separator ("16804 runs" read as a code)
    assert ": 16,804 runs like this fit" in verdict(50 * MiB + 16804 * 100 * MiB).describe()
    # a run until stopped: short of room when less than a night is left at its interval
    every10 = CapturePlan(every_s=600)
    guard = DiskGuard(tmp_path, bytes_per_capture=MiB, floor_bytes=50 * MiB,
                      disk_usage=disk(70 * MiB))  # fmt: skip
    status = guard.check_plan(every10)  # 20 captures: 3.3 h
    assert status.verdict == "thin" and status.hours_left == pytest.approx(20 / 6)
    assert "room for 20 more captures (1.0 MiB/capture estimated, 3 h at this interval)" in (
        status.describe()
    )
    guard = DiskGuard(tmp_path, bytes_per_capture=MiB, floor_bytes=50 * MiB,
                      disk_usage=disk(200 * MiB))  # fmt: skip
    assert guard.check_plan(every10).verdict == "ok"  # 150 captures: 25 h


def test_estimate_uses_the_sessions_real_capture_sizes_when_it_has_some(tmp_path):
    with Store(tmp_path / "data") as store:
        s = store.create_session("sizes")
        new = DiskGuard.estimate(store, s.id, burst=1, frame_shape=(120, 160, 3))
        assert not new.measured and new.bytes_per_capture >= 120 * 160 * 3  # raw: conservative
        cam = SimulatedCamera(resolution=SIZE, fps=60, mode="night")
        runner = CaptureRunner(cam, CapturePlan(count=2, burst=2))
        SessionRecorder(store, s.id, runner, align=False)
        runner.run()
        cam.close()
        files = store.captures(s.id, kind="night", members=True)
        per_frame = sum(store.path(c.path).stat().st_size for c in files) / len(files)
        seen = DiskGuard.estimate(store, s.id, burst=4, frame_shape=(120, 160, 3))
        # 4 members and their mean, at the session's measured size per frame (+5 %)
        assert seen.measured
        assert seen.bytes_per_capture == pytest.approx(5 * per_frame * 1.05, rel=0.01)


def test_estimate_reads_the_sessions_recent_captures_not_its_whole_night(tmp_path):
    """Every run into a session sizes its plan first: it read every night capture of the
    session (a 3,000-pair night with bursts of 4: 15,000 rows, ~0.6 s and ~90 MiB) to keep
    the last few. What it holds now does not grow with the session."""
    import tracemalloc

    import numpy as np

    def peak_kib(store, sid) -> float:
        tracemalloc.start()
        try:
            DiskGuard.estimate(store, sid, burst=4, frame_shape=(120, 160, 3))
            return tracemalloc.get_traced_memory()[1] / 1024
        finally:
            tracemalloc.stop()

    with Store(tmp_path / "data") as store:
        sid = store.create_session("night").id
        peaks = []
        for n in (60, 600):
            while len(store.captures(sid, kind="night")) < n:
                store.capture_pair(sid, day=np.zeros((8, 8, 3), np.uint8),
                                   night=[np.zeros((8, 8), np.uint8)] * 2)  # fmt: skip
            peaks.append(peak_kib(store, sid))
        every = store.captures(sid, kind="night", members=True)
        assert store.captures(sid, kind="night", members=True, newest=5) == every[-5:]
        # before: 10x the captures held ~10x the memory (about 3 KiB a capture)
        assert peaks[1] < 1.5 * peaks[0] + 64, peaks


def test_a_filling_disk_stops_the_run_with_the_reason_and_nothing_half_written(tmp_path):
    data = tmp_path / "data"
    cam = SimulatedCamera(resolution=SIZE, fps=60, mode="night")
    with Store(data) as store:
        s = store.create_session("filling")
        base = bytes_under(data)
        per_capture = 3 * 120 * 160 * 3  # burst 2: two members and their mean, raw
        # room above the floor for about 4 captures, however well PNG compresses them
        floor = 4 * MiB
        disk = FillingDisk(data, base + floor + 4 * per_capture + per_capture // 2)
        guard = DiskGuard(data, bytes_per_capture=per_capture, floor_bytes=floor,
                          disk_usage=disk)  # fmt: skip
        runner = CaptureRunner(cam, CapturePlan(count=500, burst=2), disk=guard)
        statuses = []
        runner.events.disk_checked.connect(statuses.append)
        SessionRecorder(store, s.id, runner, align=False)
        reason = runner.run()
        cam.close()
        assert reason.startswith("error: disk low: ") and "\n" not in reason, reason
        assert "to keep free" in reason and "stopped before writing it" in reason
        # from the first capture on, the guard sizes captures by what the run really wrote
        assert guard.measured and guard.bytes_per_capture < per_capture
        assert 4 <= runner.captured < 500
        # the floor held for the images; the SQLite journal grows inside it (the room the
        # floor keeps is for such writes)
        assert disk.capacity - bytes_under(data) >= floor - 256 * 1024
        # checked before every capture, on the runner's own measurements
        assert len(statuses) == runner.captured + 1 and statuses[-1].verdict == "full"
        finished = [e for e in store.log_entries(s.id) if e.kind == "finished"]
        assert len(finished) == 1 and "disk low" in finished[0].message
        assert store.verify(s.id) == []
        rows = {c.path for c in store.captures(s.id, members=True)}
        assert len(store.captures(s.id)) == runner.captured
    # nothing half-written: a fresh open finds every file with its row, no leftovers
    with Store(data, reconcile="always") as store:
        assert store.last_reconcile.clean
    on_disk = {
        (Path(d) / n).relative_to(data).as_posix()
        for d, _, names in os.walk(data / "sessions")
        for n in names
    }
    assert on_disk == rows


class HiccupDisk(FillingDisk):
    """A roomy disk whose measurement fails with EIO on the listed calls (a network share
    that does not answer for a moment)."""

    def __init__(self, folder: Path, capacity: int, failing: set[int]) -> None:
        super().__init__(folder, capacity)
        self.failing = failing

    def __call__(self, path: str):
        if self.calls + 1 in self.failing:
            self.calls += 1
            raise OSError(5, "Input/output error", path)
        return super().__call__(path)


def test_a_disk_measurement_that_fails_once_does_not_end_the_night(tmp_path):
    data = tmp_path / "data"
    cam = SimulatedCamera(resolution=SIZE, fps=60, mode="night")
    with Store(data) as store:
        s = store.create_session("hiccup")
        disk = HiccupDisk(data, 1 << 40, failing={3})
        guard = DiskGuard(data, bytes_per_capture=MiB, floor_bytes=MiB, disk_usage=disk)
        runner = CaptureRunner(cam, CapturePlan(count=5, burst=1), disk=guard)
        skipped, checked = [], []
        runner.events.disk_unchecked.connect(skipped.append)
        runner.events.disk_checked.connect(checked.append)
        SessionRecorder(store, s.id, runner, align=False)
        reason = runner.run()
        cam.close()
        # the run went on: every capture taken, the failed check said once, the others made
        assert reason == "done" and runner.error is None, reason
        assert runner.captured == 5 and len(store.captures(s.id)) == 5
        assert len(skipped) == 1 and "could not be measured" in skipped[0]
        assert "Input/output error" in skipped[0] and str(data) in skipped[0]
        assert len(checked) == 4 and all(c.verdict != "full" for c in checked)
        logged = [e for e in store.log_entries(s.id) if e.kind == "disk_unchecked"]
        assert [e.message for e in logged] == skipped


def test_cli_refuses_a_night_the_disk_cannot_hold_in_one_line_and_creates_nothing(data, capsys):
    # a floor no disk has free: the whole night is refused before anything is written
    argv = ["capture", "--session", "roof", "--every", "10m", "--from", "21:00",
            "--to", "05:00", "--min-free", "100000T"]  # fmt: skip
    code = cli.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "not enough disk space for this run" in err[0], err
    assert "the plan needs" in err[0] and "free on" in err[0]
    with Store(data, reconcile="never") as store:
        assert [s.name for s in store.sessions()] == []


def test_cli_says_the_disk_space_when_it_starts(data, capsys):
    assert cli.main(["capture", "--session", "roof", "--count", "1", "--min-free", "1M"]) == 0
    out = capsys.readouterr().out
    assert "disk: " in out and "free on" in out and "runs like this fit" in out


def test_cli_refuses_a_bad_min_free_in_one_line(data, capsys):
    assert cli.main(["capture", "--session", "roof", "--count", "1", "--min-free", "lots"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "nightlab capture: error: --min-free: size must look like 2G or 500M, got 'lots'"
    ]


def test_cli_run_that_fills_the_disk_stops_in_one_line_with_exit_2_and_logs_why(
    data, capsys, monkeypatch
):
    import shutil

    assert cli.main(["capture", "--session", "roof", "--count", "0", "--day-reference"]) == 0
    capsys.readouterr()
    # the data folder's disk: room for a few captures above a 1 MiB floor (the command line
    # has no hook for a fake disk, so the stand-in replaces the standard library's function)
    disk = FillingDisk(data, bytes_under(data) + MiB + 6 * 640 * 480 * 3)
    monkeypatch.setattr(shutil, "disk_usage", disk)
    argv = ["capture", "--session", "roof", "--every", "0s", "--min-free", "1M"]  # until stopped
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nightlab capture: error: disk low: "), err
    assert "stopped before writing it (stopped; " in lines[0] and "night capture(s)" in lines[0]
    assert "night 1: capture" in out  # it captured until the disk ran short
    monkeypatch.undo()
    with Store(data, reconcile="always") as store:
        assert store.last_reconcile.clean
        session = store.session("roof")
        finished = [e for e in store.log_entries(session.id) if e.kind == "finished"]
        assert "disk low" in finished[-1].message
        assert store.verify(session.id) == []


def test_cli_warns_in_one_line_when_the_night_fits_but_not_another(data, capsys, monkeypatch):
    import shutil

    per = 640 * 480 * 3  # a new session: raw colour pixels per frame
    # room above the 1 MiB floor for the 3 captures, not for 6
    disk = FillingDisk(data, MiB + 4 * per + 4096)
    monkeypatch.setattr(shutil, "disk_usage", disk)
    assert cli.main(["capture", "--session", "roof", "--count", "3", "--min-free", "1M"]) == 0
    out, err = capsys.readouterr()
    # (the other warning line: this new session has no day capture to pair with)
    warnings = [line for line in err.splitlines() if "disk" in line]
    assert len(warnings) == 1 and "warning: little disk space left" in warnings[0], err
    assert "runs like this fit" in warnings[0]
    assert "done: 3 night capture(s)" in out


@pytest.mark.parametrize("text", ["inf", "nan", "1e400", "infG", "1e300T"])
def test_cli_refuses_a_min_free_that_is_no_finite_size_in_one_line(data, capsys, text):
    # float() takes these, but no disk has infinity bytes: one line, not a traceback
    argv = ["capture", "--session", "roof", "--count", "1", "--min-free", text]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"nightlab capture: error: --min-free: size must be a finite number of bytes, "
                   f"got {text!r}"]  # fmt: skip
    assert not data.exists() or not list(data.rglob("*.png"))
