"""A restart goes on with the session that was open (pytest-qt, offscreen): an operator whose
app was restarted mid-night, after a crash or a power cut, found no session open, and the
next Capture pair was refused ("open a session") or, worse, a new session was started beside
the night's. The open session's uid is remembered when it changes (a crash never reaches the
window's close), and reopened on the next start if the record still has it open."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QSettings  # noqa: E402

TIMEOUT = 30_000  # ms

pytestmark = pytest.mark.usefixtures("no_leaked_windows")


def _settings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "nightlab.ini"), QSettings.Format.IniFormat)


def _key(store) -> str:
    """The QSettings key of ``store``'s folder's open session."""
    from gui.main_window import MainWindow, folder_tag

    return f"{MainWindow.SESSION_KEY}/{folder_tag(store.root)}"


def test_the_session_open_when_the_app_ended_is_open_again_after_a_restart(
    window_at, store, tmp_path, qtbot
):
    night = store.create_session("roof night", operator="ana")
    first = window_at(1366, 768, settings=_settings(tmp_path))
    first.state.session = night
    # remembered at once, not at close: a crash ends the process without closeEvent
    qtbot.waitUntil(lambda: _settings(tmp_path).value(_key(store)) == night.uid,
                    timeout=TIMEOUT)  # fmt: skip
    first.close()
    assert first.wait_closed(timeout=20)

    again = window_at(1366, 768, settings=_settings(tmp_path))
    qtbot.waitUntil(lambda: again.state.session is not None, timeout=TIMEOUT)
    assert again.state.session.uid == night.uid
    assert "'roof night' reopened" in again.statusBar().currentMessage()


def test_a_session_closed_or_deleted_since_is_not_reopened(window_at, store, tmp_path, qtbot):
    closed = store.create_session("closed since", operator="ana")
    deleted = store.create_session("deleted since", operator="ana")
    settings = _settings(tmp_path)
    settings.setValue(_key(store), closed.uid)
    settings.sync()
    store.close_session(closed.id)
    store.delete_session(deleted.id)  # (before a window: it disallows writes on this thread)
    win = window_at(1366, 768, settings=_settings(tmp_path))
    qtbot.wait(300)
    qtbot.waitUntil(lambda: not win.jobs.active, timeout=TIMEOUT)
    assert win.state.session is None

    settings = _settings(tmp_path)
    settings.setValue(_key(store), deleted.uid)
    settings.sync()
    win.close()
    assert win.wait_closed(timeout=20)
    other = window_at(1366, 768, settings=_settings(tmp_path))
    qtbot.wait(300)
    qtbot.waitUntil(lambda: not other.jobs.active, timeout=TIMEOUT)
    assert other.state.session is None


def test_closing_the_session_forgets_it_for_the_next_start(window_at, store, tmp_path, qtbot):
    night = store.create_session("one night", operator="ana")
    win = window_at(1366, 768, settings=_settings(tmp_path))
    win.state.session = night
    win.state.session = None  # as the Sessions dock's Close does once the record is closed
    qtbot.waitUntil(lambda: _settings(tmp_path).value(_key(store)) == "", timeout=TIMEOUT)


def test_a_reopened_night_goes_on_with_its_newest_pairs_day_reference(
    window_at, store, tmp_path, qtbot
):
    # restarted at 3 am there is no daylight to capture a reference in, and Start waited
    # for one: the night goes on with the reference its newest pair was made with
    rng = np.random.default_rng(4)
    night = store.create_session("roof night", operator="ana")
    for _ in range(2):
        store.capture_pair(night.id, day=rng.integers(0, 255, (120, 160, 3), dtype=np.uint8),
                           night=rng.integers(0, 255, (120, 160), dtype=np.uint8))  # fmt: skip
    newest = store.pairs(session_id=night.id, sort="-id", limit=1)[0]
    settings = _settings(tmp_path)
    settings.setValue(_key(store), night.uid)
    settings.sync()
    win = window_at(1366, 768, settings=_settings(tmp_path))
    # said once the reference is read (after the session is reopened)
    qtbot.waitUntil(lambda: "reopened" in win.statusBar().currentMessage(), timeout=TIMEOUT)
    ref = win.preview.tracker.reference
    assert ref is not None and tuple(ref.capture_ids) == newest.day_ids
    day = store.read_image(store.capture(newest.day_ids[0]))
    assert np.array_equal(ref.image, day)
    qtbot.waitUntil(lambda: win.state.reference is not None, timeout=TIMEOUT)
    assert np.array_equal(win.state.reference, day)
    qtbot.waitUntil(lambda: win.night_panel.btn_run.isEnabled(), timeout=TIMEOUT)  # Start
    assert f"with pair #{newest.id}'s day reference (1 capture)" in (
        win.statusBar().currentMessage()
    )


def test_processing_new_pairs_as_recorded_is_still_on_after_a_restart(
    window_at, store, tmp_path, qtbot
):
    first = window_at(1366, 768, settings=_settings(tmp_path))
    assert not first.sessions.runs.auto.isChecked()  # off by default
    first.sessions.runs.auto.setChecked(True)
    first.close()
    assert first.wait_closed(timeout=20)
    again = window_at(1366, 768, settings=_settings(tmp_path))
    assert again.sessions.runs.auto.isChecked()


def test_a_night_whose_newest_reference_is_gray_is_reopened_without_a_reference(
    window_at, store, tmp_path, qtbot
):
    rng = np.random.default_rng(5)
    night = store.create_session("gray day", operator="ana")
    store.capture_pair(night.id, day=rng.integers(0, 255, (120, 160), dtype=np.uint8),
                       night=rng.integers(0, 255, (120, 160), dtype=np.uint8))  # fmt: skip
    settings = _settings(tmp_path)
    settings.setValue(_key(store), night.uid)
    settings.sync()
    win = window_at(1366, 768, settings=_settings(tmp_path))
    qtbot.waitUntil(lambda: "reopened" in win.statusBar().currentMessage(), timeout=TIMEOUT)
    assert win.state.session.uid == night.uid and win.preview.tracker.reference is None
    assert "reopened: it was open" in win.statusBar().currentMessage()


def test_a_session_chosen_before_the_reopening_ends_keeps_the_tracker_without_its_reference(
    store, tmp_path, qtbot
):
    # Before: the reopening's job set the tracker's reference from the remembered night's
    # newest pair before the window knew whether it would reopen that night; the operator had
    # opened another session meanwhile (or imported one), which then went on silently with
    # the other night's day reference
    from engine.camera import SimulatedCamera
    from engine.live_preview import LivePreview
    from gui.main_window import MainWindow

    rng = np.random.default_rng(6)
    remembered = store.create_session("last night", operator="ana")
    store.capture_pair(remembered.id, day=rng.integers(0, 255, (120, 160, 3), dtype=np.uint8),
                       night=rng.integers(0, 255, (120, 160), dtype=np.uint8))  # fmt: skip
    chosen = store.create_session("tonight", operator="ana")
    settings = _settings(tmp_path)
    settings.setValue(_key(store), remembered.uid)
    settings.sync()
    camera = SimulatedCamera(resolution=(160, 120), seed=3)
    camera.start()
    win = MainWindow(camera, store=store, preview=LivePreview(workers=1), settings=settings)
    qtbot.addWidget(win)
    try:
        win.state.session = chosen  # before the reopening's answer reaches the window
        win.show()
        qtbot.wait(300)
        qtbot.waitUntil(lambda: not win.jobs.active, timeout=TIMEOUT)
        assert win.state.session.uid == chosen.uid
        assert win.preview.tracker.reference is None
        assert win.state.reference is None
    finally:
        win.close()
        assert win.wait_closed(timeout=20)


def test_a_session_chosen_while_the_reopened_nights_reference_is_read_goes_on_without_it(
    window_at, store, tmp_path, qtbot, monkeypatch
):
    # the reopened night's newest reference is read and fused on the job runner (seconds for
    # several captures); an operator who chooses another session meanwhile got that night's
    # reference with it, recorded as one of its own day captures: the check came before the
    # reading only
    import threading

    rng = np.random.default_rng(7)
    remembered = store.create_session("last night", operator="ana")
    store.capture_pair(remembered.id, day=rng.integers(0, 255, (120, 160, 3), dtype=np.uint8),
                       night=rng.integers(0, 255, (120, 160), dtype=np.uint8))  # fmt: skip
    (day_id,) = store.pairs(session_id=remembered.id)[0].day_ids
    chosen = store.create_session("tonight", operator="ana")
    settings = _settings(tmp_path)
    settings.setValue(_key(store), remembered.uid)
    settings.sync()
    reading, release = threading.Event(), threading.Event()
    real_read = store.read_image

    def read_held(item):  # the day capture's reading is held until the operator has chosen
        if getattr(item, "id", None) == day_id and threading.current_thread() is not (
            threading.main_thread()
        ):
            reading.set()
            release.wait(20)
        return real_read(item)

    monkeypatch.setattr(store, "read_image", read_held)
    win = window_at(1366, 768, settings=_settings(tmp_path))
    qtbot.waitUntil(reading.is_set, timeout=TIMEOUT)
    assert win.state.session.uid == remembered.uid  # reopened; its reference being read
    win.state.session = chosen
    release.set()
    qtbot.waitUntil(lambda: "reopened" in win.statusBar().currentMessage(), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not win.jobs.active, timeout=TIMEOUT)
    qtbot.wait(200)  # the tracker's events reach the window
    assert win.state.session.uid == chosen.uid
    assert win.preview.tracker.reference is None and win.state.reference is None
    assert store.captures(chosen.id, kind="day") == []  # last night's is not tonight's
    assert "day reference" not in win.statusBar().currentMessage()


@pytest.mark.parametrize("value", ["@ByteArray(\\xff\\xfe)", "abc, def", "@Invalid()"])
def test_a_corrupt_remembered_session_starts_the_app_with_no_session(
    window_at, store, tmp_path, qtbot, value
):
    # Before: bytes that are not text under the key (a settings file damaged, or edited by
    # hand) raised UnicodeDecodeError while the window was made, and the app did not start
    night = store.create_session("roof night", operator="ana")
    key = _key(store).split("/", 1)[1].replace("/", "\\")  # as the INI file writes it
    (tmp_path / "nightlab.ini").write_text(
        f"[session]\n{key}={value}\n[sessions]\nprocess_new_pairs={value}\n"
    )
    if value == "abc, def":  # the test writes where the window reads
        assert _settings(tmp_path).value(_key(store)) == ["abc", "def"]
    win = window_at(1366, 768, settings=_settings(tmp_path))
    qtbot.wait(300)
    qtbot.waitUntil(lambda: not win.jobs.active, timeout=TIMEOUT)
    assert win.state.session is None
    assert not win.sessions.runs.auto.isChecked()  # read as off, not as some true value
    win.state.session = night  # and the key is written anew
    qtbot.waitUntil(lambda: _settings(tmp_path).value(_key(store)) == night.uid,
                    timeout=TIMEOUT)  # fmt: skip


def test_a_start_on_another_data_folder_does_not_forget_the_nights_session(
    window_at, store, tmp_path, qtbot
):
    # Before: one key for every folder; a start on another folder (a copy looked at) that
    # opened a session there overwrote it, and the next start on the lab's folder reopened
    # nothing
    from engine.camera import SimulatedCamera
    from engine.live_preview import LivePreview
    from engine.store import Store
    from gui.main_window import MainWindow

    night = store.create_session("roof night", operator="ana")
    first = window_at(1366, 768, settings=_settings(tmp_path))
    first.state.session = night
    qtbot.waitUntil(lambda: _settings(tmp_path).value(_key(store)) == night.uid, timeout=TIMEOUT)
    first.close()
    assert first.wait_closed(timeout=20)

    with Store(tmp_path / "copy") as copy:
        looked_at = copy.create_session("a copy")
        camera = SimulatedCamera(resolution=(160, 120), seed=3)
        camera.start()
        other = MainWindow(camera, store=copy, preview=LivePreview(workers=1),
                           settings=_settings(tmp_path))  # fmt: skip
        qtbot.addWidget(other)
        try:
            other.state.session = looked_at
            other.state.session = None  # closed there
            qtbot.waitUntil(lambda: _settings(tmp_path).value(_key(copy)) == "", timeout=TIMEOUT)
        finally:
            other.close()
            assert other.wait_closed(timeout=20)

    again = window_at(1366, 768, settings=_settings(tmp_path))
    qtbot.waitUntil(lambda: again.state.session is not None, timeout=TIMEOUT)
    assert again.state.session.uid == night.uid


def test_a_night_remembered_by_a_build_before_per_folder_keys_is_reopened_after_the_upgrade(
    window_at, store, tmp_path, qtbot
):
    # the build before kept one key for every data folder; the upgrade reads it until this
    # folder's own key is written, so a night open across the upgrade is not dropped
    from gui.main_window import MainWindow

    night = store.create_session("night across the upgrade", operator="ana")
    settings = _settings(tmp_path)
    settings.setValue(MainWindow.SESSION_KEY, night.uid)
    settings.sync()
    win = window_at(1366, 768, settings=_settings(tmp_path))
    qtbot.waitUntil(lambda: win.state.session is not None, timeout=TIMEOUT)
    assert win.state.session.uid == night.uid
    # from now on this folder's own key says it (closing it is remembered per folder)
    win.state.session = None
    qtbot.waitUntil(lambda: _settings(tmp_path).value(_key(store)) == "", timeout=TIMEOUT)


def test_the_data_folder_reached_through_a_symlink_has_the_same_session_key(store, tmp_path):
    # Before: the key hashed the absolute path, symlink kept: a start on /lab/data, a link to
    # the folder the night was recorded in, found no remembered session and reopened nothing
    from engine.store import Store
    from gui.main_window import folder_tag

    link = tmp_path / "linked-data"
    link.symlink_to(store.root, target_is_directory=True)
    with Store(link, read_only=True) as through_link:
        assert through_link.root != store.root  # the store keeps the path it was given
        assert _key(through_link) == _key(store)
    assert folder_tag(link) == folder_tag(store.root) != folder_tag(tmp_path / "other")


def test_a_night_recorded_on_the_folder_is_reopened_on_a_start_through_a_symlink_to_it(
    window_at, store, tmp_path, qtbot
):
    # the app started on a link to the night's folder (a read-only look at the lab's data
    # through /lab/data, say) found no session to reopen: the key hashed the link's path
    from engine.camera import SimulatedCamera
    from engine.live_preview import LivePreview
    from engine.store import Store
    from gui.main_window import MainWindow

    night = store.create_session("roof night", operator="ana")
    first = window_at(1366, 768, settings=_settings(tmp_path))
    first.state.session = night
    qtbot.waitUntil(lambda: _settings(tmp_path).value(_key(store)) == night.uid,
                    timeout=TIMEOUT)  # fmt: skip
    first.close()
    assert first.wait_closed(timeout=20)

    link = tmp_path / "linked-data"
    link.symlink_to(store.root, target_is_directory=True)
    with Store(link, read_only=True) as through_link:
        camera = SimulatedCamera(resolution=(160, 120), seed=3)
        camera.start()
        again = MainWindow(camera, store=through_link, preview=LivePreview(workers=1),
                           settings=_settings(tmp_path))  # fmt: skip
        qtbot.addWidget(again)
        again.show()
        try:
            qtbot.waitUntil(lambda: again.state.session is not None, timeout=TIMEOUT)
            assert again.state.session.uid == night.uid
        finally:
            again.close()
            assert again.wait_closed(timeout=20)
