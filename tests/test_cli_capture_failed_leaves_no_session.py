"""`nightlab capture` into a new session that fails before recording anything leaves no
empty session behind, as `ingest` does. Found walking an operator's night: a capture with
``--day-reference`` from a recording of night frames only failed, and `sessions list` then
showed the new session with 0 captures and 0 pairs, to be found (and deleted) in the morning.
A session that already existed, or one the run recorded into, is kept."""

from __future__ import annotations

import numpy as np

import cli
from engine._image import write_image
from engine.store import Store


def _night_only_recording(folder):
    for i in range(2):
        write_image(folder / f"{i:04d}_night.png", np.full((48, 64), 40 + 40 * i, np.uint8))
    return folder


def _capture(data, session, camera, *extra):
    return cli.main(["capture", "--data-dir", str(data), "--session", session,
                     "--camera", f"replay:{camera}", "--count", "1", *extra])  # fmt: skip


def _sessions(data) -> list[tuple[str, int]]:
    with Store(data, read_only=True) as store:
        return [(s.name, s.n_captures) for s in store.sessions()]


def test_a_failed_capture_into_a_new_session_leaves_no_session(tmp_path, capsys):
    night_only = _night_only_recording(tmp_path / "rec")
    data = tmp_path / "data"
    assert _capture(data, "fromreplay", night_only, "--day-reference") != 0
    assert "before a day frame" in capsys.readouterr().err  # the run failed, and said why
    assert _sessions(data) == []  # before: [('fromreplay', 0)]


def test_a_failed_capture_keeps_a_session_that_existed_before_it(tmp_path, capsys):
    night_only = _night_only_recording(tmp_path / "rec")
    data = tmp_path / "data"
    with Store(data) as store:
        store.create_session("made on purpose")
    assert _capture(data, "made on purpose", night_only, "--day-reference") != 0
    capsys.readouterr()
    assert _sessions(data) == [("made on purpose", 0)]


def test_a_capture_that_recorded_into_its_new_session_keeps_it(tmp_path, capsys):
    night_only = _night_only_recording(tmp_path / "rec")
    data = tmp_path / "data"
    assert _capture(data, "unpaired night", night_only) == 0
    capsys.readouterr()
    assert _sessions(data) == [("unpaired night", 1)]
