"""Export a real SQLite-backed store session and import it into a fresh data folder: identical
records and identical image bytes; selections; refusing a present session; nothing written on a
refused or cancelled import."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.exchange import (
    BagRejected,
    Cancelled,
    SessionExists,
    build_plan,
    export_session,
    import_session,
)
from engine.store import Store
from tests.exchange_fixtures import canonical, fill


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
    with build_plan(store, session.id, verdict="pass") as plan:  # what a dialog could preview
        assert plan.pairs == 1 and plan.source_bytes > 0
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
    # an empty tag (--tag "") is named too: the line read "no pair with ; nothing to export"
    with pytest.raises(ValueError, match="no pair with tag ''; nothing to export"):
        export_session(store, session.id, tmp_path / "x", tag="")
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


def test_a_zip_import_unpacks_beside_the_store_and_leaves_no_staging(source, tmp_path):
    store, session, _ = source
    out = tmp_path / "roof.zip"
    export_session(store, session.id, out, as_zip=True)
    dest_root = tmp_path / "dest"
    with Store(dest_root) as dest:
        # what a import killed midway by another process would have left
        dead = dest_root / ".nightlab-import-999999-abc.partial"
        (dead / "data").mkdir(parents=True)
        (dead / "data" / "x.png").write_bytes(b"half")
        imported = import_session(dest, out)
        assert not dead.exists()
        assert not list(dest_root.glob(".nightlab-import-*"))  # its own staging is gone too
        assert dest.verify(imported.session.id) == []  # moved files are whole and recorded


def test_a_bag_file_changing_after_the_checks_aborts_the_import_cleanly(source, tmp_path):
    """A folder bag is read in place: if a file changes between the checks and the copy (a
    live folder, a hostile race), restore_session notices while copying and writes nothing."""
    from engine.exchange import open_bag
    from engine.store import restore_session

    store, session, _ = source
    out = tmp_path / "roof"
    export_session(store, session.id, out)
    with open_bag(out) as bag, Store(tmp_path / "dest") as dest:
        before = files_under(dest.root)
        victim = bag.manifest["captures"][-1]["file"]

        def source_file(name):
            if name == victim:  # swapped after the bag was verified
                bag.path(name).write_bytes(bag.path(name).read_bytes()[::-1])
            return bag.path(name), bag.sha256[name]

        with pytest.raises(ValueError, match="changed while being imported"):
            restore_session(dest, bag.manifest, source_file)
        assert dest.sessions() == [] and files_under(dest.root) == before


def test_a_session_without_runs_or_pairs_round_trips(tmp_path):
    """Fresh captures (no pair yet) and a pair never processed (no run) travel too."""
    import numpy as np

    rng = np.random.default_rng(3)
    with Store(tmp_path / "src") as src:
        s = src.create_session("just captured")
        day = src.add_capture(s.id, rng.integers(0, 255, (20, 30, 3), dtype=np.uint8), kind="day")
        night = src.add_capture(s.id, rng.integers(0, 255, (20, 30), dtype=np.uint8), kind="night")
        empty = src.create_session("nothing paired")
        src.add_capture(empty.id, rng.integers(0, 255, (20, 30), dtype=np.uint8), kind="night")
        src.add_pair(s.id, night_id=night.id, day_ids=[day.id])
        export_session(src, s.id, tmp_path / "a.zip", as_zip=True)
        export_session(src, empty.id, tmp_path / "b")
        want_a, files_a = canonical(src, s.id)
        want_b, files_b = canonical(src, empty.id)
    m = json.loads((tmp_path / "b" / "data" / "manifest.json").read_text())
    assert m["pairs"] == [] and [c["file"] for c in m["captures"]] == ["captures/capture-3.png"]
    with Store(tmp_path / "dst") as dst:
        a = import_session(dst, tmp_path / "a.zip").session
        b = import_session(dst, tmp_path / "b").session
        assert canonical(dst, a.id) == (want_a, files_a)
        assert canonical(dst, b.id) == (want_b, files_b)


def test_a_present_session_is_refused_before_any_hashing(source, tmp_path):
    store, session, _ = source
    out = tmp_path / "roof"
    export_session(store, session.id, out)
    reports = []
    # the bag's summary names a session the record has: refused without reading the images
    with pytest.raises(SessionExists, match="already in"):
        import_session(store, out, progress=reports.append)
    assert reports == []


@pytest.mark.parametrize("uid", ["0" * 31 + "1", "9" * 32], ids=["names-id-1", "overflows"])
def test_a_uid_made_of_digits_is_matched_as_a_uid_not_as_a_session_id(tmp_path, uid, capsys):
    """A uid is 32 hex digits, so it can be all decimal digits. The presence check took such a
    uid for a session id: "000...01" was refused as "already in the record" (session 1, another
    session) and 32 nines ended in an OverflowError traceback."""
    import numpy as np

    import cli

    rng = np.random.default_rng(5)
    with Store(tmp_path / "src") as src:
        s = src.create_session("digits", uid=uid)
        src.add_capture(s.id, rng.integers(0, 255, (20, 30), dtype=np.uint8), kind="night")
        export_session(src, s.id, tmp_path / "bag")
    dest = tmp_path / "dest"
    with Store(dest) as dst:
        dst.create_session("unrelated")  # session id 1
    argv = ["sessions", "import", str(tmp_path / "bag"), "--data-dir", str(dest)]
    assert cli.main([*argv, "--check"]) == 0
    assert "not in the record yet" in capsys.readouterr().out
    assert cli.main(argv) == 0
    with Store(dest, read_only=True) as dst:
        assert [x.uid for x in dst.sessions()][1] == uid
    assert cli.main(argv) == 3  # now it is present: refused as such
    assert "already in" in capsys.readouterr().err


def test_exported_by_names_who_ran_the_export_not_the_sessions_operator(
    source, tmp_path, monkeypatch
):
    """provenance.exported_by held the session's operator ('ana', who recorded it), so a bag
    exported by someone else said ana exported it; the operator is session.operator."""
    import getpass

    store, session, _ = source
    monkeypatch.setattr(getpass, "getuser", lambda: "lab-export")
    export_session(store, session.id, tmp_path / "bag")
    m = json.loads((tmp_path / "bag" / "data" / "manifest.json").read_text())
    assert m["provenance"]["exported_by"] == "lab-export"
    assert m["session"]["operator"] == "ana"


def test_a_bag_rebuilt_by_bagit_make_bag_as_bagit_0_97_is_imported_whole(source, tmp_path):
    """The format doc promises BagIt 0.97 is read: the partner's tools (`bagit.make_bag`)
    write 0.97, with bag-info fields of their own."""
    import bagit

    store, session, _ = source
    export_session(store, session.id, tmp_path / "ours")
    rebuilt = Path(shutil.copytree(tmp_path / "ours" / "data", tmp_path / "theirs"))
    bagit.make_bag(str(rebuilt), {"Source-Organization": "Partner"}, checksums=["sha256"])
    assert (rebuilt / "bagit.txt").read_text().startswith("BagIt-Version: 0.97\n")
    with Store(tmp_path / "dest") as dest:
        got = import_session(dest, rebuilt)
        assert canonical(dest, got.session.id) == canonical(store, session.id)
