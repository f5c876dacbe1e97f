"""``nightlab sessions / ingest / capture / qa``: the operator's command line on a real store."""

from __future__ import annotations

import json

import numpy as np
import pytest

import cli
from engine._image import write_image
from engine.store import Store


def _images(tmp_path, rng):
    import skimage.data

    day = skimage.data.astronaut()[::4, ::4].copy()
    night = (day.mean(axis=2) * 0.5).astype(np.uint8)
    return write_image(tmp_path / "day.png", day), write_image(tmp_path / "night.png", night)


def test_capture_then_list_show_and_judge(data, capsys):
    argv = ["capture", "--camera", "sim", "--session", "roof", "--count", "2", "--day-reference"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "day reference: capture" in out and "night 2/2" in out and "done:" in out
    # not a terminal: plain lines, never a redrawn status line
    assert "\r" not in out

    assert cli.main(["sessions", "list"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.split("\t")[:2] == ["1", "roof"] and "2 pairs" in line
    assert cli.main(["sessions", "list", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["name"] == "roof" and listed["n_pairs"] == 2

    assert cli.main(["qa", "1", "fail", "--note", "smear", "--tag", "wind"]) == 0
    assert cli.main(["qa", "1", "pass"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "pair 1: pass (was fail)"
    assert cli.main(["sessions", "show", "roof", "--verdict", "pass", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [p["id"] for p in shown["pairs"]] == [1] and shown["pairs"][0]["tags"] == ["wind"]
    assert [e["kind"] for e in shown["log"]] == ["started", "finished"]
    with Store(data, read_only=True) as store:
        assert [v.verdict for v in store.verdicts(1)] == ["fail", "pass"]
        assert store.verify() == []


def test_ingest_creates_the_session_and_aligns(data, tmp_path, rng, capsys):
    day, night = _images(tmp_path, rng)
    assert cli.main(["ingest", "--session", "lab", "--day", str(day), "--night", str(night)]) == 0
    assert "pair 1 in session 1 (lab): aligned by" in capsys.readouterr().out
    argv = ["ingest", "--session", "lab", "--day", str(day), "--day", str(day)]
    assert cli.main([*argv, "--night", str(night), "--no-align"]) == 0
    with Store(data, read_only=True) as store:
        p1, p2 = store.pairs(session_id=1)
        assert p1.aligned_ok and len(p1.day_ids) == 1
        assert len(p2.day_ids) == 2 and p2.aligned_ok is None
        day_cap = store.capture(p1.day_ids[0])
        assert day_cap.meta["extra"]["source"] == str(day.resolve())
        assert not p1.method.startswith("fixed")  # files from elsewhere: the full search
    argv = ["ingest", "--session", "lab", "--day", str(day), "--night", str(night)]
    assert cli.main([*argv, "--fixed-camera"]) == 0
    with Store(data, read_only=True) as store:
        assert store.pairs(session_id=1)[-1].method.startswith("fixed")


def test_ingest_of_a_too_small_night_names_the_file_and_records_nothing(
    data, tmp_path, rng, capsys
):
    day, _ = _images(tmp_path, rng)
    tiny = write_image(tmp_path / "tiny.png", np.zeros((5, 5), np.uint8))
    Store(data).close()  # an empty record: the ingest must leave it empty
    code = cli.main(["ingest", "--session", "t", "--day", str(day), "--night", str(tiny)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "tiny.png" in err and "5x5" in err and "fixed" not in err
    with Store(data, read_only=True) as store:
        assert store.sessions() == []
    assert not list(data.rglob("*.png"))


def test_ingest_that_fails_to_write_leaves_no_session_or_capture(
    data, tmp_path, rng, capsys, monkeypatch
):
    import errno

    import engine.store._store as store_module

    day, night = _images(tmp_path, rng)
    assert cli.main(["ingest", "--session", "kept", "--day", str(day), "--night", str(night)]) == 0
    calls = []

    def disk_full_at_the_second_file(root, rel, data):
        calls.append(rel)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_file(root, rel, data)

    write_file = store_module.write_file
    monkeypatch.setattr(store_module, "write_file", disk_full_at_the_second_file)
    for session in ("new", "kept"):
        calls.clear()
        argv = ["ingest", "--session", session, "--day", str(day), "--night", str(night)]
        assert cli.main([*argv, "--no-align"]) == 2
        assert "disk full" in capsys.readouterr().err
    with Store(data, read_only=True) as store:
        (kept,) = store.sessions()  # no "new" session: it was made for the failed ingest
        assert (kept.name, kept.n_captures, kept.n_pairs) == ("kept", 2, 1)
        assert store.verify() == []
    assert len(list(data.rglob("*.png"))) == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ingest", "--session", "x", "--day", "NOPE.png", "--night", "NIGHT"], "NOPE.png"),
        (["qa", "7", "pass"], "no pair 7"),
        (["sessions", "show", "ghost"], "ghost"),
        (["capture", "--session", "x", "--every", "soon"], "interval must look like"),
        (["capture", "--session", "x", "--from", "21:00"], "--from and --to go together"),
        (["capture", "--session", "x", "--count", "2", "--from", "21:00", "--to", "5:00"],
         "either --count or --from/--to"),
        (["capture", "--camera", "replay:/no/such", "--session", "x", "--count", "1"],
         "/no/such"),
        (["capture", "--session", "x", "--count", "1", "--set", "iso=5"], "iso: 5 out of range"),
        (["sessions", "delete", "1"], "no session"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_non_zero(data, tmp_path, rng, capsys, argv, message):
    _, night = _images(tmp_path, rng)
    argv = [str(night) if a == "NIGHT" else a for a in argv]
    if argv[0] != "ingest":
        Store(data).close()  # an empty record, so the thing asked for is what is missing
    code = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert code != 0 and message in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("setting", ["iso=abc", "iso=5"])
def test_capture_refuses_a_bad_set_value_before_creating_the_session(data, capsys, setting):
    Store(data).close()  # an empty record: the refused capture must leave it empty
    argv = ["capture", "--session", "fresh", "--count", "1", "--set", setting]
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nightlab capture: error: iso: "), lines
    assert "session" not in lines[0] and captured.out == ""  # refused before anything started
    with Store(data, read_only=True) as store:
        assert store.sessions() == []


def test_delete_needs_yes_off_a_terminal_and_removes_files(data, capsys):
    assert cli.main(["capture", "--session", "gone", "--count", "1", "--no-align"]) == 0
    folder = next((data / "sessions").iterdir())
    assert cli.main(["sessions", "delete", "gone"]) == 2
    assert "without --yes" in capsys.readouterr().err and folder.exists()
    assert cli.main(["sessions", "delete", "gone", "--yes"]) == 0
    assert not folder.exists()
    assert cli.main(["sessions", "list"]) == 0
    assert "no sessions yet" in capsys.readouterr().out


def test_data_dir_option_overrides_the_environment(data, tmp_path, capsys):
    other = tmp_path / "other"
    argv = ["capture", "--session", "a", "--count", "1", "--no-align", "--data-dir", str(other)]
    assert cli.main(argv) == 0
    assert (other / "nightlab.sqlite3").is_file() and not data.exists()
    assert cli.main(["sessions", "list"]) == 0
    assert "no sessions yet" in capsys.readouterr().out


def test_verify_reports_a_changed_file_with_one_line(data, capsys):
    assert cli.main(["capture", "--session", "v", "--count", "2", "--no-align"]) == 0
    assert cli.main(["sessions", "verify", "v"]) == 0
    assert "2 files of session v verified" in capsys.readouterr().out
    victim = sorted((data / "sessions").rglob("*.png"))[0]
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")  # bit rot
    assert cli.main(["sessions", "verify"]) == 2
    captured = capsys.readouterr()
    assert f"{victim.name}: checksum mismatch" in captured.out
    assert captured.err.strip() == (
        "nightlab sessions: error: 1 of 2 files of the record are missing or changed"
    )


def test_capture_pairs_with_several_chosen_day_captures(data, capsys):
    for _ in range(2):
        assert cli.main(["capture", "--session", "m", "--count", "1", "--day-reference"]) == 0
    with Store(data, read_only=True) as store:
        days = [c.id for c in store.captures(1, kind="day")]
    argv = ["capture", "--camera", "sim:night", "--session", "m", "--count", "1"]
    assert cli.main([*argv, "--reference", ",".join(map(str, days))]) == 0
    with Store(data, read_only=True) as store:
        assert store.pairs(session_id=1)[-1].day_ids == tuple(days)
        night = store.pairs(session_id=1)[-1].night_id
    assert cli.main([*argv, "--reference", str(night)]) == 2
    assert "is not a day capture" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["sessions", "list"],
        ["sessions", "list", "--json"],
        ["sessions", "show", "1"],
        ["qa", "1", "pass"],
        ["capture", "--camera", "sim", "--session", "s", "--count", "0", "--day-reference"],
    ],
)
def test_a_data_dir_that_is_a_file_is_one_line_naming_it(tmp_path, capsys, argv):
    # e.g. the database file itself given as --data-dir: never "no sessions yet", never a write
    db = tmp_path / "nightlab.sqlite3"
    db.write_bytes(b"SQLite format 3\x00" + bytes(84))
    assert cli.main([*argv, "--data-dir", str(db)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and f"{db}: not a folder" in lines[0], lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nightlab.sqlite3"]


@pytest.mark.parametrize("reference", ["999", "1,x"], ids=["no-such-capture", "not-a-number"])
def test_capture_with_a_bad_reference_into_a_new_session_creates_no_session(
    data, capsys, reference
):
    argv = ["capture", "--camera", "sim", "--session", "fresh", "--count", "1"]
    assert cli.main([*argv, "--reference", reference]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--reference" in err[0], err
    if (data / "nightlab.sqlite3").exists():
        with Store(data, read_only=True) as store:
            assert store.sessions() == []


def test_qa_with_a_bad_tag_records_no_verdict(data, tmp_path, rng, capsys):
    day, night = _images(tmp_path, rng)
    assert cli.main(["ingest", "--session", "lab", "--day", str(day), "--night", str(night)]) == 0
    capsys.readouterr()
    assert cli.main(["qa", "1", "fail", "--note", "smear", "--tag", "bad,tag"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'bad,tag'" in err[0], err
    with Store(data, read_only=True) as store:  # refused as a whole: no verdict, no tag
        assert store.verdicts(1) == [] and store.pair(1).tags == ()
