"""NightLab's process runs no depthai telemetry uploader: no queued events on disk, no uploads,
unless the user asks for it (``DEPTHAI_TELEMETRY=1``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("depthai")

# what the app does with depthai: import it through engine, run a host pipeline, stop it
HOST_PIPELINE_AFTER_ENGINE = """
import engine.camera, depthai as dai, time
p = dai.Pipeline(createImplicitDevice=False)
manip = p.create(dai.node.ImageManip)
manip.setRunOnHost(True)
p.start(); time.sleep(0.3); p.stop(); p.wait()
"""


def _run(home: Path, env_extra: dict[str, str]) -> list[Path]:
    """Run the pipeline with a fresh cache folder; the files depthai's telemetry left there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPTHAI_TELEMETRY")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / "cache"), **env_extra)
    proc = subprocess.run(
        [sys.executable, "-c", HOST_PIPELINE_AFTER_ENGINE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-800:]
    return sorted(p for p in (home / "cache").rglob("*") if p.is_file())


def test_importing_engine_turns_depthai_telemetry_off(tmp_path):
    assert _run(tmp_path, {}) == []


def test_a_user_who_asks_for_telemetry_gets_it(tmp_path):
    # sent nowhere: the upload address is a closed local port
    files = _run(
        tmp_path, {"DEPTHAI_TELEMETRY": "1", "DEPTHAI_TELEMETRY_URL": "http://127.0.0.1:9"}
    )
    assert any(p.name == "tmpIds.json" for p in files), files
