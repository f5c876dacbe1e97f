"""Export format 1.1: a verdict carries the stored run it was given on, the pair folder holds
that run (``chosen_run``), an import keeps it, and a 1.0 bag still imports.

Before 1.1 the bag dropped ``verdicts.run_id`` (store v3) and always handed over the newest
run, so a partner saw outputs nobody had judged when the verdict was given on an older one.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from engine.exchange import (
    BagRejected,
    describe_bag,
    export_session,
    import_session,
    validate_manifest,
)
from engine.store import Store
from tests.test_export_format_pinned import png

#: A bag written by format 1.0's exporter (commit d2df642, the session of
#: tests/test_export_format_pinned.py's `record`): no verdict names a run.
BAG_1_0 = Path(__file__).resolve().parent / "data" / "export_v1_0" / "pinned-session.zip"


@pytest.fixture
def night(tmp_path):
    """Pair 1: three runs (models a, b, c), judged "review" on run a then "pass" on run b.
    Pair 2: two runs, "fail" on the older, then "pass" on the live model. Pair 3: one run,
    "pass" on the live model. Pair 4: no run, no verdict."""
    store = Store(tmp_path / "data", compression="none")
    s = store.create_session("roof", operator="ana")
    day = store.add_capture(s.id, png(8, 6, 3, 1), kind="day")
    pairs, runs = [], []
    for i, n_runs in enumerate((3, 2, 1, 0)):
        nid = store.add_capture(s.id, png(8, 6, 3, 10 + i), kind="night").id
        p = store.add_pair(s.id, night_id=nid, day_ids=[day.id], alignment={"ok": True})
        runs.append(
            [
                store.add_run(
                    p.id,
                    model_name=f"model-{'abc'[k]}",
                    model_sha256=f"{k + 1:02d}" * 32,
                    outputs={"colorized": png(8, 6, 3, 100 + 10 * i + k)},
                    metrics={"ssim_color": 0.5 + k / 10},
                )
                for k in range(n_runs)
            ]
        )
        pairs.append(p)
    store.set_verdict(pairs[0].id, "review", run_id=runs[0][0].id)
    store.set_verdict(pairs[0].id, "pass", run_id=runs[0][1].id)
    store.set_verdict(pairs[1].id, "fail", run_id=runs[1][0].id)
    store.set_verdict(pairs[1].id, "pass")
    store.set_verdict(pairs[2].id, "pass")
    yield store, s.id, pairs, runs
    store.close()


def manifest_of(bag: Path) -> dict:
    return json.loads((bag / "data" / "manifest.json").read_text("utf-8"))


def test_a_verdict_carries_the_run_it_was_given_on_with_that_runs_model(night, tmp_path):
    store, sid, pairs, runs = night
    export_session(store, sid, tmp_path / "bag")
    m = manifest_of(tmp_path / "bag")
    assert m["format_version"] == "1.1"
    first, second = m["pairs"][0]["verdicts"]
    a, b = runs[0][0], runs[0][1]
    assert first["run"] == {"id": a.id, "model_name": "model-a", "model_sha256": a.model_sha256}
    assert second["run"] == {"id": b.id, "model_name": "model-b", "model_sha256": b.model_sha256}
    # the live model's render: the key is there, null (absent would mean "not recorded": 1.0)
    assert [v["run"] for v in m["pairs"][1]["verdicts"]] == [
        {"id": runs[1][0].id, "model_name": "model-a", "model_sha256": runs[1][0].model_sha256},
        None,
    ]
    assert [v["run"] for v in m["pairs"][2]["verdicts"]] == [None]
    # every run a verdict names is one of its pair's runs in the bag
    for p in m["pairs"]:
        ids = {r["id"] for r in p["runs"]}
        assert all(v["run"]["id"] in ids for v in p["verdicts"] if v["run"])


def test_the_pair_folder_holds_the_run_the_latest_verdict_was_given_on(night, tmp_path):
    store, sid, pairs, runs = night
    export_session(store, sid, tmp_path / "bag")
    data = tmp_path / "bag" / "data"
    p = manifest_of(tmp_path / "bag")["pairs"][0]
    judged, newest = runs[0][1], runs[0][2]
    assert p["chosen_run"] == judged.id  # not the newest (1.0 took run c)
    assert p["files"]["colorized"] == "pairs/pair-0001/colorized.png"
    folder_png = (data / "pairs/pair-0001/colorized.png").read_bytes()
    assert folder_png == store.path(judged.outputs["colorized"]).read_bytes()
    by_id = {r["id"]: r for r in p["runs"]}
    assert by_id[judged.id]["outputs"]["colorized"] == "pairs/pair-0001/colorized.png"
    moved = f"pairs/pair-0001/runs/{newest.id}/colorized.png"
    assert by_id[newest.id]["outputs"]["colorized"] == moved
    assert (data / moved).read_bytes() == store.path(newest.outputs["colorized"]).read_bytes()
    # the CSV's run columns follow the chosen run
    row = next(csv.DictReader(io.StringIO((data / "metrics.csv").read_text("utf-8"))))
    assert (row["model"], row["model_sha256"]) == ("model-b", judged.model_sha256)
    assert row["metric:ssim_color"] == "0.6"


def test_a_later_verdict_on_the_live_model_hands_over_the_newest_run_again(night, tmp_path):
    store, sid, pairs, runs = night
    export_session(store, sid, tmp_path / "bag")
    m = manifest_of(tmp_path / "bag")
    assert m["pairs"][1]["chosen_run"] == runs[1][-1].id  # its "fail" named the older run
    assert m["pairs"][2]["chosen_run"] == runs[2][-1].id
    assert m["pairs"][3]["chosen_run"] is None


def test_a_selection_hands_over_the_judged_run_too(night, tmp_path):
    store, sid, pairs, runs = night
    export_session(store, sid, tmp_path / "pass", verdict="pass")
    m = manifest_of(tmp_path / "pass")
    assert [p["chosen_run"] for p in m["pairs"]] == [runs[0][1].id, runs[1][-1].id, runs[2][0].id]


def test_import_gives_each_verdict_its_run_in_the_new_record(night, tmp_path):
    store, sid, pairs, runs = night
    export_session(store, sid, tmp_path / "bag.zip", as_zip=True)
    with Store(tmp_path / "other", compression="none") as other:
        # a pair with two runs first: the imported pairs and runs get other ids than the bag's
        s0 = other.create_session("another night")
        d = other.add_capture(s0.id, png(8, 6, 3, 99), kind="day")
        n = other.add_capture(s0.id, png(8, 6, 3, 98), kind="night")
        p0 = other.add_pair(s0.id, night_id=n.id, day_ids=[d.id], alignment={"ok": True})
        for k in range(2):
            other.add_run(p0.id, model_name="x", model_sha256="ee" * 32,
                          outputs={"colorized": png(8, 6, 3, 90 + k)})  # fmt: skip
        got = import_session(other, tmp_path / "bag.zip").session
        new_pairs = other.pairs(session_id=got.id, sort="id")
        assert new_pairs[0].verdict_run_id != pairs[0].verdict_run_id
        judged = []
        assert len(new_pairs) == len(pairs)
        for new in new_pairs:
            new_runs = {r.id: r for r in other.runs(new.id)}
            for v in other.verdicts(new.id):
                run = None if v.run_id is None else new_runs[v.run_id]  # a run of its pair
                judged.append(None if run is None else (run.model_name, run.created_at))
        want = []
        for old in pairs:
            old_runs = {r.id: r for r in store.runs(old.id)}
            for v in store.verdicts(old.id):
                run = None if v.run_id is None else old_runs[v.run_id]
                want.append(None if run is None else (run.model_name, run.created_at))
        assert judged == want and judged.count(None) == 2
        assert new_pairs[0].verdict_model == "model-b"
        # and the imported record exports the same chosen runs (by their models)
        export_session(other, got.id, tmp_path / "again")
    again = manifest_of(tmp_path / "again")
    first = manifest_of_zip(tmp_path / "bag.zip")
    assert [chosen_model(p) for p in again["pairs"]] == [chosen_model(p) for p in first["pairs"]]


def manifest_of_zip(path: Path) -> dict:
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.endswith("/data/manifest.json"))
        return json.loads(zf.read(name))


def chosen_model(p: dict) -> str | None:
    return next((r["model_name"] for r in p["runs"] if r["id"] == p["chosen_run"]), None)


def test_a_format_1_0_bag_still_imports_with_no_run_on_its_verdicts(tmp_path):
    assert describe_bag(BAG_1_0).format_version == "1.0"
    bag = tmp_path / "old.zip"
    shutil.copyfile(BAG_1_0, bag)
    m = manifest_of_zip(bag)
    assert m["format_version"] == "1.0"
    assert all("run" not in v for p in m["pairs"] for v in p["verdicts"])
    with Store(tmp_path / "data", compression="none") as store:
        result = import_session(store, bag)
        assert (result.pairs, result.captures, result.runs) == (12, 18, 18)
        verdicts = [v for p in store.pairs(session_id=result.session.id) for v in
                    store.verdicts(p.id)]  # fmt: skip
        assert len(verdicts) == sum(len(p["verdicts"]) for p in m["pairs"]) > 0
        assert all(v.run_id is None for v in verdicts)
        # written out again it is a 1.1 bag with the same chosen runs (the newest: 1.0's rule)
        export_session(store, result.session.id, tmp_path / "again")
    again = manifest_of(tmp_path / "again")
    assert again["format_version"] == "1.1"
    assert all(v["run"] is None for p in again["pairs"] for v in p["verdicts"])
    assert [chosen_model(p) for p in again["pairs"]] == [chosen_model(p) for p in m["pairs"]]
    # the images come back byte for byte (the record keeps the bag's bytes)
    with zipfile.ZipFile(bag) as zf:
        colorized = sorted(n for n in zf.namelist() if n.endswith("/colorized.png"))
        assert colorized
        for name in colorized:
            rel = name.split("/data/", 1)[1]
            got = (tmp_path / "again" / "data" / rel).read_bytes()
            assert hashlib.sha256(got).digest() == hashlib.sha256(zf.read(name)).digest()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p, other: p["verdicts"][0].update(run=other), "no run"),
        (lambda p, other: p["verdicts"][0]["run"].update(model_sha256="ff" * 32), "model"),
        (lambda p, other: p["verdicts"][0]["run"].pop("model_name"), "model_name"),
    ],
    ids=["another pair's run", "another model", "no model name"],
)
def test_a_verdict_run_that_is_not_its_pairs_run_is_refused_in_one_line(
    night, tmp_path, edit, message
):
    store, sid, pairs, runs = night
    export_session(store, sid, tmp_path / "bag")
    m = manifest_of(tmp_path / "bag")
    first_run_of_pair_2 = m["pairs"][1]["runs"][0]
    edit(m["pairs"][0], {k: first_run_of_pair_2[k] for k in ("id", "model_name", "model_sha256")})
    with pytest.raises(BagRejected) as err:
        validate_manifest(m)
    text = str(err.value)
    assert "\n" not in text and "pairs[0].verdicts[0]" in text and message in text, text
