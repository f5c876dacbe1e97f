"""An export beside an app that judges: a verdict recorded on a pair after the export read its
page (200 pairs) and before it read that pair's verdict history.

The export runs on a read-only store beside the app (`nightlab sessions export` says so), and
a judge gives a verdict a second. Before, the pair record's ``verdict`` was the page's and
its ``verdicts`` the history read later: the bag's own check refused the export as a whole
(``pairs[1].verdict: None is not the latest verdict ('pass')``).
"""

from __future__ import annotations

import json
import time

from engine.exchange import export_session, validate_manifest
from engine.store import Store
from tests.test_export_format_pinned import png


def _night(tmp_path, verdicts):
    """A session of ``len(verdicts)`` pairs, each with one run and the verdict given."""
    store = Store(tmp_path / "data", compression="none")
    s = store.create_session("roof", operator="ana")
    day = store.add_capture(s.id, png(8, 6, 3, 1), kind="day")
    pairs = []
    for i, verdict in enumerate(verdicts):
        nid = store.add_capture(s.id, png(8, 6, 3, 10 + i), kind="night").id
        p = store.add_pair(s.id, night_id=nid, day_ids=[day.id], alignment={"ok": True})
        run = store.add_run(p.id, model_name="m", model_sha256="01" * 32,
                            outputs={"colorized": png(8, 6, 3, 100 + i)})  # fmt: skip
        if verdict:
            store.set_verdict(p.id, verdict, run_id=run.id)
        pairs.append(p)
    return store, s.id, pairs


def _judge_during_export(store, pair_id: int, verdict: str):
    """A progress callback that, once the first pair is read (its page read with it), records
    ``verdict`` on ``pair_id`` as the app's judge would meanwhile."""
    judged = []

    def progress(p) -> None:
        if p.phase == "reading" and p.item == "" and p.done == 0:
            time.sleep(0.15)  # the reporter's interval: the first pair's advance reports
        elif p.phase == "reading" and p.item == "pair 1" and not judged:
            judged.append(store.set_verdict(pair_id, verdict))

    return progress, judged


def test_a_verdict_given_while_the_export_reads_its_page_is_exported_with_its_history(tmp_path):
    store, sid, pairs = _night(tmp_path, [None, None, None])
    progress, judged = _judge_during_export(store, pairs[1].id, "pass")
    export_session(store, sid, tmp_path / "bag", progress=progress)
    assert judged, "the verdict was not given during the export"
    m = json.loads((tmp_path / "bag" / "data" / "manifest.json").read_text("utf-8"))
    validate_manifest(m)
    second = m["pairs"][1]
    assert second["verdict"] == "pass"
    assert [v["verdict"] for v in second["verdicts"]] == ["pass"]
    store.close()


def test_a_pair_judged_out_of_the_selection_meanwhile_is_left_out(tmp_path):
    store, sid, pairs = _night(tmp_path, ["pass", "pass", "pass"])
    progress, judged = _judge_during_export(store, pairs[1].id, "fail")
    export_session(store, sid, tmp_path / "bag", verdict="pass", progress=progress)
    assert judged, "the verdict was not given during the export"
    m = json.loads((tmp_path / "bag" / "data" / "manifest.json").read_text("utf-8"))
    validate_manifest(m)
    assert [p["id"] for p in m["pairs"]] == [pairs[0].id, pairs[2].id]
    assert all(p["verdict"] == "pass" for p in m["pairs"])
    assert [p["folder"] for p in m["pairs"]] == ["pairs/pair-0001", "pairs/pair-0002"]
    store.close()
