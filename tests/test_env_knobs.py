"""Bad ``NIGHTLAB_*`` knobs: one warning line naming the variable, the value and what is used
instead, never a crash and never silence."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.knobs import env_number

REPO = Path(__file__).resolve().parents[1]


def test_a_value_that_is_not_a_number_warns_once_and_uses_the_default(monkeypatch):
    monkeypatch.setenv("NIGHTLAB_TEST_KNOB_A", "two")
    err = io.StringIO()
    assert env_number("NIGHTLAB_TEST_KNOB_A", 1, minimum=1, stream=err) == 1
    assert env_number("NIGHTLAB_TEST_KNOB_A", 1, minimum=1, stream=err) == 1  # read again
    assert err.getvalue().splitlines() == [
        "nightlab: warning: NIGHTLAB_TEST_KNOB_A='two' is not a whole number; using the default, 1"
    ]


@pytest.mark.parametrize("raw", ["2.5", "nan", "inf", "1e400"])
def test_fractions_and_non_finite_values_are_refused(monkeypatch, raw):
    name = f"NIGHTLAB_TEST_KNOB_{'INT' if raw == '2.5' else 'FLOAT'}_{abs(hash(raw))}"
    monkeypatch.setenv(name, raw)
    err = io.StringIO()
    kind = int if raw == "2.5" else float
    assert env_number(name, 3, kind=kind, stream=err) == 3
    assert f"{name}='{raw}' is not" in err.getvalue() and "using the default, 3" in err.getvalue()


def test_out_of_range_values_are_clamped_or_replaced_and_said_so(monkeypatch):
    monkeypatch.setenv("NIGHTLAB_TEST_KNOB_NICE", "40")
    err = io.StringIO()
    assert env_number("NIGHTLAB_TEST_KNOB_NICE", 5, minimum=0, maximum=19, stream=err) == 19
    line = "nightlab: warning: NIGHTLAB_TEST_KNOB_NICE='40' is above 19; using 19\n"
    assert err.getvalue() == line
    monkeypatch.setenv("NIGHTLAB_TEST_KNOB_THREADS", "0")
    err = io.StringIO()
    threads = env_number("NIGHTLAB_TEST_KNOB_THREADS", None, minimum=1, clamp=False, stream=err)
    assert threads is None
    assert "NIGHTLAB_TEST_KNOB_THREADS='0' is below 1; using the default" in err.getvalue()


def test_good_unset_and_blank_values_say_nothing(monkeypatch):
    err = io.StringIO()
    monkeypatch.setenv("NIGHTLAB_TEST_KNOB_OK", " 2 ")
    assert env_number("NIGHTLAB_TEST_KNOB_OK", 1, minimum=1, stream=err) == 2
    monkeypatch.setenv("NIGHTLAB_TEST_KNOB_OK", "")
    assert env_number("NIGHTLAB_TEST_KNOB_OK", 1, stream=err) == 1
    monkeypatch.delenv("NIGHTLAB_TEST_KNOB_OK")
    assert env_number("NIGHTLAB_TEST_KNOB_OK", 0.25, kind=float, stream=err) == 0.25
    assert err.getvalue() == ""


def test_job_runner_knobs_warn_on_stderr(monkeypatch, capsys):
    from gui.jobs import _job_nice, default_job_workers

    monkeypatch.setenv("NIGHTLAB_JOB_WORKERS", "lots")
    monkeypatch.setenv("NIGHTLAB_JOB_NICE", "-3")
    assert default_job_workers() >= 1
    assert _job_nice() == 0
    err = capsys.readouterr().err
    assert "NIGHTLAB_JOB_WORKERS='lots' is not a whole number; using the default" in err
    assert "NIGHTLAB_JOB_NICE='-3' is below 0; using 0" in err


def test_job_workers_above_the_cores_are_capped_with_one_warning(monkeypatch, capsys):
    # Before: no upper bound. NIGHTLAB_JOB_WORKERS=1000000 asked the job pool for a million
    # threads on a 2-core machine
    from engine.knobs import usable_cores
    from gui.jobs import default_job_workers

    cap = max(2, usable_cores())
    monkeypatch.setenv("NIGHTLAB_JOB_WORKERS", "1000000")
    assert default_job_workers() == cap
    assert default_job_workers() == cap  # read again: still capped, warned once
    err = capsys.readouterr().err.splitlines()
    assert err == [f"nightlab: warning: NIGHTLAB_JOB_WORKERS='1000000' is above {cap}; using {cap}"]
    monkeypatch.setenv("NIGHTLAB_JOB_WORKERS", str(cap))  # the cap itself is taken as asked
    assert default_job_workers() == cap and capsys.readouterr().err == ""


def test_the_app_warns_about_each_bad_knob_and_still_runs(tmp_path):
    bad = {
        "NIGHTLAB_SWITCH_MS": "fast",  # crashed the app before (float() ValueError)
        "NIGHTLAB_LIVE_WORKERS": "two",
        "NIGHTLAB_COLORIZE_THREADS": "0",
        "NIGHTLAB_CV_THREADS": "x2",
        "NIGHTLAB_LIVE_REALIGN_S": "soon",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "main", "--smoke", "1", "--resolution", "320x240"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen",
             **bad},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "warning: NIGHTLAB_" in line]
    assert len(warnings) == len(bad), proc.stderr
    for name, raw in bad.items():
        assert any(f"{name}='{raw}'" in w and "using" in w for w in warnings), (name, warnings)


def test_a_whole_number_too_large_for_a_float_is_clamped_not_a_crash(monkeypatch):
    # int() takes 400 digits; math.isfinite() of that int raised OverflowError at app start
    monkeypatch.setenv("NIGHTLAB_TEST_KNOB_HUGE", "9" * 400)
    err = io.StringIO()
    assert env_number("NIGHTLAB_TEST_KNOB_HUGE", 2, minimum=1, maximum=19, stream=err) == 19
    assert "NIGHTLAB_TEST_KNOB_HUGE=" in err.getvalue()
    assert "is above 19; using 19" in err.getvalue()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity (Linux)")
def test_thread_knobs_above_the_cores_are_capped_with_one_warning_each(tmp_path):
    # Before: no upper bound. NIGHTLAB_LIVE_WORKERS=64 started 64 live threads on a 2-core
    # machine (a typo of a million failed at start once the OS had no threads left), and
    # NIGHTLAB_COLORIZE_THREADS=64 gave ONNX Runtime 64 threads contending for the cores
    stats = tmp_path / "stats.json"
    knobs = {"NIGHTLAB_LIVE_WORKERS": "64", "NIGHTLAB_COLORIZE_THREADS": "64",
             "NIGHTLAB_CV_THREADS": "64"}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "main", "--smoke", "1", "--resolution", "320x240",
         "--stats", str(stats)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen",
             **knobs},
        preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "warning: NIGHTLAB_" in line]
    assert sorted(warnings) == [
        "nightlab: warning: NIGHTLAB_COLORIZE_THREADS='64' is above 1; using the default",
        "nightlab: warning: NIGHTLAB_CV_THREADS='64' is above 1; using the default",
        "nightlab: warning: NIGHTLAB_LIVE_WORKERS='64' is above 2; using 2",
    ]
    fig = json.loads(stats.read_text())
    assert fig["cores"] == 1 and fig["live_workers"] == 2
    # the defaults: the one core shared among the workers; OpenCV's own setting
    assert fig["live_colorize_threads"] == 1 and fig["opencv_threads"] != 64
