"""Starting the app: clear one-line errors before any window when it cannot start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(args, env_extra, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env_extra}
    return subprocess.run(
        [sys.executable, "-m", "main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=env,
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="display detection is Linux's")
def test_no_display_is_one_line_not_a_qt_abort(tmp_path):
    proc = _run([], {}, tmp_path)
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "no display" in err[0], proc.stderr


def test_bad_camera_is_reported_before_any_window(tmp_path):
    proc = _run(
        ["--camera", "replay:/nonexistent/folder", "--smoke", "1"],
        {"QT_QPA_PLATFORM": "offscreen"},
        tmp_path,
    )
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "cannot open camera" in err[0] and "nonexistent" in err[0]


def test_smoke_run_without_display_renders_offscreen_and_saves_screenshot(tmp_path):
    shot = tmp_path / "shot.png"
    proc = _run(["--smoke", "3", "--screenshot", str(shot)], {}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert shot.is_file() and shot.stat().st_size > 10_000
    from engine._image import read_image

    img = read_image(shot)  # a whole PNG of the window, with something drawn in it
    assert img.shape[0] >= 400 and img.shape[1] >= 600, img.shape
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 100  # not a blank or flat window


def test_python_without_the_dependencies_is_one_line_not_a_traceback(tmp_path):
    # README: "nightlab (or python main.py)". With a Python NightLab was not installed into,
    # `python main.py --help` ended in a ModuleNotFoundError traceback about cv2.
    code = "import sys; sys.modules['cv2'] = None; import main; sys.exit(main.main(['--help']))"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "'cv2'" in err[0] and "pip install -e ." in err[0] and sys.executable in err[0]
