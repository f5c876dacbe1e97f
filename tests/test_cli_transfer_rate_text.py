"""The rate ``sessions export`` / ``sessions import`` print for a small bag."""

from __future__ import annotations

import re
import time
from itertools import count
from types import SimpleNamespace

import cv2
import skimage.data

import cli
from engine import write_image


def _clock_of_steps(step_s: float) -> SimpleNamespace:
    """``time`` whose ``perf_counter`` moves on ``step_s`` a call: a transfer timed by two
    calls takes exactly ``step_s``, however loaded the machine."""
    ticks = count()
    return SimpleNamespace(
        perf_counter=lambda: 1000.0 + step_s * next(ticks),
        time=time.time,
        localtime=time.localtime,
    )


def test_import_and_export_of_a_small_bag_at_0_2_s_say_kb_per_s_not_0_mb_per_s(
    tmp_path, monkeypatch, capsys
):
    # Before: "imported session 2 (lab): ..., 0.0 MB (0.2 s, 0 MB/s)" for a one-pair bag
    monkeypatch.setenv("NIGHTLAB_DATA_DIR", str(tmp_path / "data"))
    day = cv2.resize(skimage.data.astronaut(), (160, 120), interpolation=cv2.INTER_AREA)
    write_image(tmp_path / "day.png", day)
    write_image(tmp_path / "night.png", cv2.cvtColor(day, cv2.COLOR_RGB2GRAY))
    argv = ["ingest", "--session", "lab", "--day", str(tmp_path / "day.png")]
    assert cli.main([*argv, "--night", str(tmp_path / "night.png"), "--no-align"]) == 0
    monkeypatch.setattr("engine.exchange._write.time", _clock_of_steps(0.2))
    monkeypatch.setattr("engine.exchange._session.time", _clock_of_steps(0.2))
    capsys.readouterr()
    assert cli.main(["sessions", "export", "lab", "--out", str(tmp_path / "bag.zip")]) == 0
    exported = capsys.readouterr().out.splitlines()[0]
    other = ["--data-dir", str(tmp_path / "other")]
    assert cli.main(["sessions", "import", str(tmp_path / "bag.zip"), *other]) == 0
    imported = capsys.readouterr().out.splitlines()[0]
    for said in (exported, imported):
        assert "MB/s" not in said and " 0.0 MB" not in said, said
        kb_per_s = re.search(r"\(0\.2 s, (\d+) kB/s\)$", said)
        assert kb_per_s and int(kb_per_s.group(1)) > 0, said
    # the size each names is said the same way (kB under 0.1 MB)
    assert re.search(r", \d+ kB -> ", exported), exported
    assert re.search(r" runs, \d+ kB \(0\.2 s", imported), imported
