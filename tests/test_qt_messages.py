"""A headless ``nightlab --smoke`` ends with its summary line, not with Qt's offscreen note
("This plugin does not support propagateSizeHints()" was printed before it on every run)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

pytest.importorskip("PySide6")


def test_the_offscreen_note_is_dropped_and_other_messages_still_print(qapp, capfd):
    from PySide6.QtCore import qInstallMessageHandler, qWarning

    from gui._qt_messages import quiet_offscreen_notes

    saved = qInstallMessageHandler(None)  # pytest-qt's, which would keep the messages
    try:
        assert quiet_offscreen_notes()  # the tests run offscreen
        qWarning("This plugin does not support propagateSizeHints()")
        qWarning("QPainter::begin: Paint device returned engine == 0")
    finally:
        qInstallMessageHandler(saved)
    err = capfd.readouterr().err
    assert "propagateSizeHints" not in err
    assert "QPainter::begin: Paint device returned engine == 0" in err


def test_a_headless_smoke_run_prints_only_its_summary_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "main", "--smoke", "3"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nightlab --smoke: "), lines
