"""A session of the data folder replayed as a camera (``replay:DATA/sessions/<uid>``) is named
by the session's name where the operator reads it (the window title, the live view's label,
the status bar); its folder is named by the uid, which told nobody which night it was. The uid
stays where an identifier is needed: the camera's ``device_id`` (the path)."""

from __future__ import annotations

import shutil
import sqlite3

import numpy as np
import pytest

from engine.camera import ReplayCamera
from engine.store import SCHEMA_VERSION
from tests.old_records import old_record, user_version


def _recorded(store, name: str):
    """A session of ``store`` with two captures (day and night), and its folder."""
    s = store.create_session(name)
    store.capture_pair(
        s.id, day=np.full((48, 64, 3), 90, np.uint8), night=np.full((48, 64), 30, np.uint8)
    )
    folder = store.root / "sessions" / s.uid
    assert folder.is_dir()
    return s, folder


def test_a_replayed_data_folder_session_is_named_by_its_session_name_not_its_uid(store):
    s, folder = _recorded(store, "roof, night 3")
    cam = ReplayCamera(folder)
    cam.open()
    try:
        assert "'roof, night 3'" in cam.info.name and s.uid not in cam.info.name
        assert cam.info.device_id == str(folder)  # the identifier keeps the uid
        assert cam.info.details["folder"] == s.uid
    finally:
        cam.close()


def test_a_folder_named_like_a_session_id_is_not_named_after_that_session(store, tmp_path):
    """``sessions/1`` is not session 1's folder (folders are named by uid): no name taken."""
    s, folder = _recorded(store, "roof")
    fake = store.root / "sessions" / str(s.id)
    (fake / "captures").mkdir(parents=True)
    for png in (folder / "captures").iterdir():
        (fake / "captures" / png.name).write_bytes(png.read_bytes())
    cam = ReplayCamera(fake)
    cam.open()
    try:
        assert "roof" not in cam.info.name and f"Replay of {s.id} " in cam.info.name
    finally:
        cam.close()


@pytest.mark.usefixtures("no_leaked_windows")
def test_the_window_shows_the_replayed_session_by_name(open_window, store, qtbot):
    pytest.importorskip("PySide6")
    s, folder = _recorded(store, "east roof")
    win = open_window(resolution=(160, 120))
    win.open_camera(f"replay:{folder}")
    qtbot.waitUntil(
        lambda: win.state.camera is not None and win.state.camera.info.backend == "replay",
        timeout=30_000,
    )
    for shown in (win.windowTitle(), win.live.camera_title.text()):
        assert "'east roof'" in shown and s.uid not in shown, shown
    assert win.state.camera_spec == f"replay:{folder}"  # the spec still names the folder


def test_a_session_of_a_schema_v2_record_is_named_by_its_name_and_the_record_is_left_as_is(
    store, tmp_path
):
    # Before: the read-only store refused a v2 record ("open it once for writing") and the
    # replay was named by its folder's uid, where a v3 record gave the session's name
    s, folder = _recorded(store, "north roof, night 1")
    old = tmp_path / "old-data"
    db = old_record(old, 2, uid=s.uid, name="north roof, night 1")
    shutil.copytree(folder, old / "sessions" / s.uid)
    files = sorted((p.relative_to(old), p.stat().st_mtime_ns) for p in old.rglob("*"))
    cam = ReplayCamera(old / "sessions" / s.uid)
    cam.open()
    try:
        assert "'north roof, night 1'" in cam.info.name and s.uid not in cam.info.name
        assert cam.info.details["folder"] == s.uid
    finally:
        cam.close()
    assert user_version(db) == 2  # a replay never migrates (nor writes) the record
    assert sorted((p.relative_to(old), p.stat().st_mtime_ns) for p in old.rglob("*")) == files


def test_a_record_newer_than_this_nightlab_names_nothing(store, tmp_path):
    s, folder = _recorded(store, "roof")
    new = tmp_path / "new-data"
    conn = sqlite3.connect(old_record(new, 2, uid=s.uid, name="roof"), isolation_level=None)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")  # its tables may differ
    conn.close()
    shutil.copytree(folder, new / "sessions" / s.uid)
    cam = ReplayCamera(new / "sessions" / s.uid)
    cam.open()
    try:
        assert f"Replay of {s.uid} " in cam.info.name
    finally:
        cam.close()


@pytest.mark.usefixtures("no_leaked_windows")
def test_a_replayed_session_whose_name_looks_like_markup_is_shown_as_typed(
    open_window, store, qtbot
):
    # the live view's title is markup ("<b>Live</b> — name"): a session "R&D <b>night</b>"
    # read "R&D night" there, in bold
    from PySide6.QtGui import QTextDocument

    name = "R&D <b>night</b>"
    _s, folder = _recorded(store, name)
    win = open_window(resolution=(160, 120))
    win.open_camera(f"replay:{folder}")
    qtbot.waitUntil(
        lambda: win.state.camera is not None and win.state.camera.info.backend == "replay",
        timeout=30_000,
    )
    shown = QTextDocument()
    shown.setHtml(win.live.camera_title.text())
    assert f"session {name!r}" in shown.toPlainText(), shown.toPlainText()
    win.live.set_connection(False)  # the title of a camera lost
    shown.setHtml(win.live.camera_title.text())
    assert f"session {name!r}" in shown.toPlainText(), shown.toPlainText()
