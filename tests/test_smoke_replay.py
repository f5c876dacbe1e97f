"""``nightlab --smoke`` on a replayed session (``--camera replay:DATA/sessions/<uid>``) walks the
flows and exits 0; a run that fails says why on its one ``step failed`` line.

It exited 1: the replay has no day mode, so its day reference was asked of whatever frame was
newest (a night one), and the step failed without a reason; a recording shorter than the run
ended (no loop), and the pair's night burst took the session's day capture with its nights
("burst frames differ in shape")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from engine.camera import ReplayCamera, SimulatedCamera
from engine.live import CapturePlan, CaptureRunner
from engine.store import Store

REPO = Path(__file__).resolve().parents[1]


def _recorded_session(root: Path, *, day: bool = True) -> Path:
    """A data folder's session of the simulated scene: a day capture (if ``day``) among three
    night captures, as ``nightlab capture`` records them; its folder."""
    cam = SimulatedCamera(resolution=(320, 240), seed=4)
    with Store(root) as store:
        s = store.create_session("roof")
        for i in range(4):
            kind = "day" if day and i == 1 else "night"
            cam.set_control("mode", kind)
            frame = cam.render(0.2 * i, sequence=i)
            store.add_capture(s.id, frame.image, kind=kind, meta=frame.meta.to_dict())
        return root / "sessions" / s.uid


def _smoke(tmp_path, spec: str, seconds: int):
    stats = tmp_path / "stats.json"
    proc = subprocess.run(
        [sys.executable, "-m", "main", "--camera", spec, "--smoke", str(seconds),
         "--stats", str(stats)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"},
    )  # fmt: skip
    return proc, json.loads(stats.read_text())


def test_a_night_burst_from_a_replayed_session_takes_no_day_capture(tmp_path):
    """The replay has no mode to switch, but each frame says its kind (the store's file name):
    a night capture takes night frames only, the day capture between them is passed over."""
    cam = ReplayCamera(_recorded_session(tmp_path / "data"), fps=60, loop=True)
    runner = CaptureRunner(cam, CapturePlan(count=2, burst=3))
    shots, finished = [], []
    runner.events.frame_captured.connect(shots.append)
    runner.events.finished.connect(finished.append)
    cam.start()
    try:
        runner.start()
        assert runner.wait(30)
    finally:
        cam.close()
    assert finished == ["done"], finished
    assert len(shots) == 2
    for shot in shots:  # a colour frame among them: "burst frames differ in shape" at the store
        assert [f.image.ndim for f in shot.frames] == [2, 2, 2]
        assert [f.meta.mode for f in shot.frames] == ["night"] * 3


def test_smoke_on_a_replayed_session_walks_the_flows_and_exits_0(tmp_path):
    folder = _recorded_session(tmp_path / "data")
    proc, fig = _smoke(tmp_path, f"replay:{folder}", 22)
    assert proc.returncode == 0, proc.stderr
    assert fig["steps_failed"] == []
    # the day reference (the session's day capture), live colour and a recorded pair
    assert {"capture day reference", "live colorize on", "capture a pair"} <= set(fig["steps_ok"])
    assert fig["results_per_s"] > 0


def test_smoke_that_fails_says_why_on_its_one_line(tmp_path):
    """A replay with no colour frame at all cannot give a day reference: the run fails, and
    its line says why (the window's own words), not only the step's name."""
    folder = _recorded_session(tmp_path / "data", day=False)
    proc, fig = _smoke(tmp_path, f"replay:{folder}", 17)
    assert proc.returncode == 1
    failed = [line for line in proc.stderr.splitlines() if "step failed" in line]
    assert len(failed) == 1, proc.stderr
    assert failed[0].startswith("nightlab --smoke: step failed: capture day reference: ")
    assert "gray" in failed[0] and "no day mode" in failed[0], failed[0]
    assert fig["steps_failed"] == [failed[0].removeprefix("nightlab --smoke: step failed: ")]
