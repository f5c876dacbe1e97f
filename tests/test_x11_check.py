"""Starting on X11: a missing system library or a silent $DISPLAY is one line, not Qt's abort."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gui.x11_check import XCB_LIBRARIES, display_answers, missing_xcb_libraries, x11_problem

REPO = Path(__file__).resolve().parents[1]
linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="Qt's xcb plugin is Linux's"
)


def _loader_without(*absent):
    def load(name):
        if name in absent:
            raise OSError(f"{name}: cannot open shared object file: No such file or directory")

    return load


def test_missing_xcb_libraries_names_every_absent_one_in_order():
    load = _loader_without("libxcb-keysyms.so.1", "libxcb-icccm.so.4")
    assert missing_xcb_libraries(load=load) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    assert missing_xcb_libraries(load=_loader_without()) == []


def test_problem_names_display_libraries_and_the_packages_to_install(tmp_path):
    (tmp_path / "libqxcb.so").write_bytes(b"")
    load = _loader_without("libxcb-cursor.so.0", "libxcb-keysyms.so.1")
    problem = x11_problem(":5", load=load, platform_dir=tmp_path)
    assert "\n" not in problem
    assert ":5" in problem
    assert "libxcb-cursor.so.0, libxcb-keysyms.so.1" in problem
    assert "sudo apt-get install libxcb-cursor0 libxcb-keysyms1" in problem


def test_no_xcb_plugin_means_nothing_to_check(tmp_path):
    # a Qt built without the xcb plugin reports for itself: no false alarm from us
    assert x11_problem(":5", load=_loader_without(*XCB_LIBRARIES), platform_dir=tmp_path) == ""


@linux_only
def test_display_without_a_server_does_not_answer():
    assert display_answers(":987") is False


@linux_only
def test_unreachable_x_display_is_one_line_and_exit_2_not_a_qt_abort(tmp_path):
    # Before: Qt's xcb plugin printed four lines and aborted the interpreter (SIGABRT, core).
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DISPLAY": ":987"}
    proc = subprocess.run(
        [sys.executable, "-m", "main"], capture_output=True, text=True, timeout=120,
        cwd=REPO, env=env,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1, proc.stderr
    assert err[0].startswith("nightlab: error:") and ":987" in err[0]
