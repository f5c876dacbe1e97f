"""An export reads the store before it writes a file (4-8 s at 3,000 pairs): that phase now
reports progress (``"reading"``, records) and can be cancelled, leaving nothing behind. Before,
the first report came with the first file written: the dialog showed nothing for seconds and
its Cancel did nothing until then."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from engine.exchange import Cancelled, export_session

PAIRS = 240
TIMEOUT = 30_000


def _night(store, n: int = PAIRS) -> int:
    """A session of ``n`` pairs (small frames: the reading is what is measured)."""
    s = store.create_session("long night")
    day = np.full((24, 32, 3), 90, np.uint8)
    for i in range(n):
        store.capture_pair(s.id, day=day, night=np.full((24, 32), i % 200, np.uint8))
    return s.id


@pytest.fixture
def unthrottled(monkeypatch):
    """Every progress step reported (the reporter's 0.1 s throttle off)."""
    import engine.exchange._progress as prog

    orig = prog.Reporter.__init__
    monkeypatch.setattr(
        prog.Reporter, "__init__", lambda self, cb, interval=0.0: orig(self, cb, interval=0.0)
    )


@pytest.mark.usefixtures("unthrottled")
def test_an_export_reports_reading_the_store_before_the_first_file(store, tmp_path):
    sid = _night(store)
    reports = []
    export_session(store, sid, tmp_path / "bag", progress=reports.append)
    phases = [r.phase for r in reports]
    assert phases[0] == "reading", phases[:3]  # was "writing": nothing until the first file
    reading = [r for r in reports if r.phase == "reading"]
    assert phases.index("writing") == len(reading)  # all of the reading comes first
    assert {r.unit for r in reading} == {"records"} and reading[-1].done == reading[-1].total
    assert reading[-1].total == PAIRS + 2 * PAIRS  # every pair, then every capture
    assert len(reading) > PAIRS  # a report each pair: a cancel is heard within one
    assert [r.done for r in reading] == sorted(r.done for r in reading)


@pytest.mark.usefixtures("unthrottled")
@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_cancelling_while_the_store_is_read_leaves_nothing(store, tmp_path, as_zip):
    sid = _night(store)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    seen = []

    def progress(p):
        seen.append(p)
        if p.phase == "reading" and p.done >= PAIRS // 2:
            raise Cancelled("cancelled by the operator")

    with pytest.raises(Cancelled):
        export_session(
            store, sid, out_dir / ("bag.zip" if as_zip else "bag"), as_zip=as_zip,
            progress=progress,
        )  # fmt: skip
    assert 0 < seen[-1].done < seen[-1].total and seen[-1].phase == "reading"  # midway
    assert list(out_dir.iterdir()) == []  # no bag, no hidden partial, no temporary file


def test_the_export_dialog_says_it_reads_the_session_and_cancel_works_then(
    qtbot, store, tmp_path, monkeypatch
):
    pytest.importorskip("PySide6")
    import gui.sessions.exchange as exchange
    from gui.jobs import JobRunner

    sid = _night(store)
    real = exchange.export_session
    reading, seen = threading.Event(), []

    def held_while_reading(*args, progress, **kwargs):
        def held(p):
            seen.append(p.phase)
            progress(p)  # raises Cancelled once the dialog was cancelled
            if p.phase == "reading":
                reading.set()
                while True:  # stay in the reading phase until Cancel is heard
                    threading.Event().wait(0.02)
                    progress(p)

        return real(*args, progress=held, **kwargs)

    monkeypatch.setattr(exchange, "export_session", held_while_reading)
    jobs = JobRunner()
    dlg = exchange.ExportDialog(store, jobs, store.session(sid))
    qtbot.addWidget(dlg)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    dlg.path.setText(str(out_dir / "handover.zip"))
    dlg.show()
    qtbot.waitUntil(dlg.go.isEnabled, timeout=TIMEOUT)
    dlg.start()
    assert reading.wait(20), seen  # the old export's first report was "writing"
    qtbot.waitUntil(lambda: dlg.phase.text().startswith("Reading the session"), timeout=TIMEOUT)
    assert "records" in dlg.phase.text() and dlg.cancel.text() == "Cancel"
    dlg.cancel.click()
    qtbot.waitUntil(lambda: not dlg.running, timeout=TIMEOUT)
    assert dlg.phase.text() == "Cancelled: nothing was written" and dlg.bar.value() == 0
    assert "writing" not in seen
    assert list(out_dir.iterdir()) == []  # nothing written, not even a temporary file
    dlg.close()
    jobs.shutdown()
