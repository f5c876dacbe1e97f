"""Export a real SQLite-backed store session and import it into a fresh data folder: identical
records and identical image bytes; selections; refusing a present session; nothing written on a
refused or cancelled import."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.exchange import BagRejected, Cancelled, SessionExists, export_session, import_session
from engine.store import Store
from tests.exchange_fixtures import fill


def canonical(store: Store, session_id: int) -> tuple[dict, dict]:
    """(records with store ids replaced by content keys, {key: file bytes})."""
    files = {}
    caps = store.captures(session_id, members=True)
    key = {c.id: f"{c.kind}@{c.taken_at!r}#{c.sha256[:12]}" for c in caps}
    cap_records = []
    for c in caps:
        files[key[c.id]] = store.path(c.path).read_bytes()
        cap_records.append(
            {
                "key": key[c.id],
                "kind": c.kind,
                "sha256": c.sha256,
                "width": c.width,
                "height": c.height,
                "channels": c.channels,
                "taken_at": c.taken_at,
                "meta": c.meta,
                "controls": c.controls,
                "burst_of": key.get(c.burst_of),
                "burst_index": c.burst_index,
                "burst_size": c.burst_size,
            }
        )
    pair_records = []
    for p in store.pairs(session_id=session_id, limit=None):
        runs = []
        for r in store.runs(p.id):
            outs = {}
            for role, rel in r.outputs.items():
                data = store.path(rel).read_bytes()
                files[f"run@{r.created_at!r}/{role}"] = data
                outs[role] = len(data)
            runs.append(
                {
                    "model": r.model_name,
                    "sha": r.model_sha256,
                    "params": r.params,
                    "outputs": outs,
                    "metrics": r.metrics,
                    "timings": r.timings_ms,
                    "created_at": r.created_at,
                }
            )
        pair_records.append(
            {
                "night": key[p.night_id],
                "days": [key[d] for d in p.day_ids],
                "aligned_ok": p.aligned_ok,
                "method": p.method,
                "motion": p.motion,
                "score": p.score,
                "reason": p.reason,
                "matrix": p.matrix,
                "leak_params": p.leak_params,
                "ssim_mean": p.ssim_mean,
                "leak_area_pct": p.leak_area_pct,
                "created_at": p.created_at,
                "verdict": p.verdict,
                "tags": p.tags,
                "runs": runs,
                "verdicts": [
                    (v.verdict, v.note, v.operator, v.created_at) for v in store.verdicts(p.id)
                ],
            }
        )
    s = store.session(session_id)
    session = {
        k: getattr(s, k)
        for k in (
            "uid",
            "name",
            "operator",
            "scene_notes",
            "camera_backend",
            "device_id",
            "app_version",
            "created_at",
            "closed_at",
            "settings",
            "n_captures",
            "n_pairs",
        )
    }
    records = {
        "session": session,
        "captures": sorted(cap_records, key=lambda c: c["key"]),
        "pairs": sorted(pair_records, key=lambda p: p["created_at"]),
    }
    return records, files


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("source")
    store = Store(root / "data")
    session = fill(store)
    yield store, session, root
    store.close()


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_export_then_import_gives_identical_records_and_identical_image_bytes(
    source, tmp_path, as_zip
):
    store, session, _ = source
    out = tmp_path / ("roof.zip" if as_zip else "roof")
    result = export_session(store, session.id, out, as_zip=as_zip)
    assert result.pairs == 3
    want_records, want_files = canonical(store, session.id)

    with Store(tmp_path / "fresh") as fresh:
        imported = import_session(fresh, out)
        assert imported.session.uid == session.uid and not imported.as_copy
        got_records, got_files = canonical(fresh, imported.session.id)
        assert got_records == want_records
        assert got_files.keys() == want_files.keys()
        for k in want_files:
            assert got_files[k] == want_files[k], k  # byte for byte
        assert fresh.verify() == []  # the imported files match the sha256 the store recorded
    with Store(tmp_path / "fresh") as reopened:  # and reconcile finds nothing astray
        assert reopened.last_reconcile is None or reopened.last_reconcile.clean


def test_only_pass_exports_the_passing_pairs_and_only_the_captures_they_use(source, tmp_path):
    store, session, _ = source
    out = tmp_path / "pass"
    export_session(store, session.id, out, verdict="pass")
    m = json.loads((out / "data" / "manifest.json").read_text())
    assert [p["verdict"] for p in m["pairs"]] == ["pass"]
    assert m["selection"] == {"whole_session": False, "verdict": "pass", "tag": None}
    pair = m["pairs"][0]
    used = {pair["night"], *pair["days"]}
    burst_members = {c["id"] for c in m["captures"] if c["burst_of"] in used}
    assert {c["id"] for c in m["captures"]} == used | burst_members
    assert len(burst_members) == 3  # the burst night keeps its member frames
    assert sorted(p.name for p in (out / "data" / "pairs").iterdir()) == ["pair-0001"]
    folder = out / "data" / "pairs" / "pair-0001"
    assert {
        "night.png",
        "day.png",
        "day-2.png",
        "aligned_reference.png",
        "leak_mask.png",
        "colorized.png",
    } <= {p.name for p in folder.iterdir()}
    # the chosen run is the latest; the earlier one is kept under runs/
    assert pair["chosen_run"] == pair["runs"][-1]["id"]
    assert (folder / "runs" / str(pair["runs"][0]["id"]) / "colorized.png").is_file()


def test_selection_matching_nothing_is_refused_without_writing(source, tmp_path):
    store, session, _ = source
    with pytest.raises(ValueError, match="no pair with tag 'nope'"):
        export_session(store, session.id, tmp_path / "x", tag="nope")
    assert not (tmp_path / "x").exists()


def test_a_session_already_present_is_refused_unless_imported_as_a_copy(source, tmp_path):
    store, session, _ = source
    out = tmp_path / "roof.zip"
    export_session(store, session.id, out, as_zip=True, tag="roof")
    with Store(tmp_path / "dest") as dest:
        first = import_session(dest, out)
        before = files_under(dest.root)
        with pytest.raises(SessionExists, match="already in"):
            import_session(dest, out)
        assert files_under(dest.root) == before and len(dest.sessions()) == 1
        copy = import_session(dest, out, as_copy=True)
        assert copy.as_copy and copy.session.uid != first.session.uid
        assert copy.session.name == "roof night (copy)"
        assert import_session(dest, out, as_copy=True).session.name == "roof night (copy 2)"
        a, _ = canonical(dest, first.session.id)
        b, _ = canonical(dest, copy.session.id)
        for rec in (a, b):
            rec["session"].pop("uid"), rec["session"].pop("name")
        assert a == b


def test_a_refused_bag_writes_nothing_to_the_store(source, tmp_path):
    store, session, _ = source
    out = tmp_path / "roof"
    export_session(store, session.id, out)
    night = out / "data" / "pairs" / "pair-0003" / "night.png"
    night.write_bytes(night.read_bytes()[:-1] + b"\0")  # same size, one byte changed
    with Store(tmp_path / "dest") as dest:
        before = files_under(dest.root)
        with pytest.raises(BagRejected, match="pair-0003/night.png: changed since export"):
            import_session(dest, out)
        assert dest.sessions() == [] and files_under(dest.root) == before


def test_an_import_cancelled_while_copying_leaves_no_session_and_no_files(source, tmp_path):
    store, session, _ = source
    out = tmp_path / "roof"
    export_session(store, session.id, out)

    def progress(p):
        if p.phase == "importing" and p.done > 0:
            raise Cancelled("stop")

    with Store(tmp_path / "dest") as dest:
        before = files_under(dest.root)
        with pytest.raises(Cancelled):
            import_session(dest, out, progress=progress)
        assert dest.sessions() == []
        assert files_under(dest.root) == before  # the copied files were removed again


def test_export_reads_a_store_open_read_only_beside_its_writer(source, tmp_path):
    store, session, root = source
    with Store(root / "data", read_only=True) as reader:
        result = export_session(reader, session.uid, tmp_path / "ro.zip", as_zip=True)
    assert result.pairs == 3


def test_a_store_file_that_rotted_fails_the_export(source, tmp_path):
    store, session, root = source
    copy_root = tmp_path / "copy"
    shutil.copytree(root / "data", copy_root, ignore=shutil.ignore_patterns(".writer.lock"))
    with Store(copy_root) as st:
        cap = st.captures(session.id)[0]
        p = st.path(cap.path)
        data = bytearray(p.read_bytes())
        data[-30] ^= 0x55
        p.write_bytes(bytes(data))
        with pytest.raises(ValueError, match="contents changed since they were recorded"):
            export_session(st, session.id, tmp_path / "rot")
    assert not (tmp_path / "rot").exists()
