"""``nightlab --smoke --stats``: the real app walks the main flows and writes its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_smoke_walks_the_flows_and_writes_stats(tmp_path):
    stats, shot = tmp_path / "stats.json", tmp_path / "shot.png"
    proc = subprocess.run(
        [sys.executable, "-m", "main", "--smoke", "14", "--resolution", "320x240",
         "--stats", str(stats), "--screenshot", str(shot)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    fig = json.loads(stats.read_text())
    assert fig["steps_failed"] == []
    # on a loaded machine the last steps may not be reached in 14 s; the first ones must be
    assert {"capture day reference", "live colorize on"} <= set(fig["steps_ok"])
    assert fig["frame_size"] == [320, 240]
    assert fig["results_per_s"] > 0 and fig["display_fps"] > 0
    assert fig["gui_stall_ms"]["heartbeat_ms"] == 5
    assert fig["gui_stall_ms"]["max"] >= fig["gui_stall_ms"]["p99"] >= fig["gui_stall_ms"]["p50"]
    assert fig["frame_to_painted_ms"]["result"]["p50"] is not None
    assert fig["rss_mib"]["start"] > 0 and fig["rss_mib"]["end"] > 0
    # what holds the GIL for long when it loads (ONNX's ml_dtypes: 0.25-1.1 s) loads before
    # the window opens, never beside the live view (gui.app._load_before_window)
    assert not {"onnx", "ml_dtypes", "onnxruntime", "jsonschema"} & set(fig["modules_loaded_late"])
    # the objects built at start-up are frozen out of the collector (full collections ~3 ms)
    assert fig["gc"]["frozen_objects"] > 10_000
    # what a slow run is diagnosed from: who had the CPU, how the app was sized
    from gui.jobs import default_job_workers

    assert fig["job_runner"]["workers"] == default_job_workers()
    assert fig["cores"] >= 1 and fig["live_colorize_threads"] >= 1
    assert fig["live_realign_s"] == 0.25  # the live view reuses a fixed camera's registration
    # how far behind the live view fell: frames it made a result of, frames it skipped
    assert fig["live_frames"]["processed"] >= 1 and fig["live_frames"]["skipped"] >= 0
    roles = fig["thread_cpu"]["by_role"]
    assert {"gui", "nightlab-live", "camera-sim"} <= set(roles)
    assert roles["nightlab-live"]["cpu_s"] > 0 and roles["gui"]["cpu_s"] > 0
    assert fig["thread_cpu"]["threads_seen"] >= fig["thread_cpu"]["threads"] > 3
    # the flows start once the window has begun: they are always measured
    assert fig["window_from_s"] >= fig["live_on_at_s"] > 0
    assert shot.stat().st_size > 10_000
    assert "nightlab --smoke:" in proc.stderr  # the one summary line


def test_bad_resolution_is_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "main", "--smoke", "1", "--resolution", "big"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"},
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "nightlab: error: --resolution must look like 1280x720, got 'big'"
    ]


def test_summary_line_of_a_run_without_a_live_result_says_so_instead_of_none():
    # a smoke run on a replay camera (no day reference, so no live result) printed
    # "None display fps, None results/s ... result latency p50 None ms"
    from gui.smoke import summary_line

    fig = {
        "display_fps": None,
        "results_per_s": None,
        "gui_stall_ms": {"p99": 25.1, "max": 126.4},
        "frame_to_painted_ms": {"result": {"p50": None}},
    }
    line = summary_line(fig, 17, 1, [])
    assert "None" not in line
    assert line.startswith("nightlab --smoke: no live result, so no display fps or results/s,")
    assert "no result latency" in line and "17 steps done, 1 failed, 0 not reached" in line
    fig.update(display_fps=28.8, results_per_s=25.1, measured_seconds=0.14)
    fig["frame_to_painted_ms"]["result"]["p50"] = 49.2
    # a 3 s run measures from the window's opening, a fraction of a second: the line says so
    assert summary_line(fig, 27, 0, []) == (
        "nightlab --smoke: 28.8 display fps, 25.1 results/s (over 0.14 s), GUI stall p99 "
        "25.1 ms (max 126.4), result latency p50 49.2 ms, 27 steps done, 0 failed, "
        "0 not reached"
    )


def test_summary_line_of_a_short_run_names_the_steps_not_reached_and_says_run_longer():
    # a 14 s run printed "..., 3 not reached" alone: a new user read it as a failure
    from gui.smoke import WHOLE_FLOW_SECONDS, summary_line

    fig = {
        "seconds": 14.0,
        "display_fps": 28.8,
        "results_per_s": 25.1,
        "measured_seconds": 11.2,
        "gui_stall_ms": {"p99": 25.1, "max": 126.4},
        "frame_to_painted_ms": {"result": {"p50": 49.2}},
    }
    skipped = [
        "inspector: views and nudge (still running at the end)",
        "export the session (not reached)",
        "back to the live view (not reached)",
    ]
    line = summary_line(fig, 21, 0, skipped)
    assert line.endswith(
        "21 steps done, 0 failed, 3 not reached (inspector: views and nudge (still running), "
        "export the session, back to the live view; run too short, not a failure: "
        f"--smoke {WHOLE_FLOW_SECONDS} reaches every step)"
    )
    # a run already as long as that, which still ended first (a loaded machine), is not
    # told to run for the length it ran
    fig["seconds"] = 30.0
    assert summary_line(fig, 21, 0, skipped).endswith(
        "back to the live view; the run ended first, not a failure: a longer run reaches them)"
    )
