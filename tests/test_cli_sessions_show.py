"""``nightlab sessions show`` of a session made from image files (``ingest``): no camera."""

from __future__ import annotations

import cv2
import skimage.data

import cli
from engine import write_image


def _ingest_one_pair(tmp_path) -> None:
    """Session "lab": one pair ingested from image files, not aligned."""
    day = cv2.resize(skimage.data.astronaut(), (160, 120), interpolation=cv2.INTER_AREA)
    write_image(tmp_path / "day.png", day)
    write_image(tmp_path / "night.png", cv2.cvtColor(day, cv2.COLOR_RGB2GRAY))
    argv = ["ingest", "--session", "lab", "--day", str(tmp_path / "day.png")]
    assert cli.main([*argv, "--night", str(tmp_path / "night.png"), "--no-align"]) == 0


def test_show_of_an_ingested_session_says_no_camera_without_a_dangling_space(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("NIGHTLAB_DATA_DIR", str(tmp_path / "data"))
    _ingest_one_pair(tmp_path)
    capsys.readouterr()
    assert cli.main(["sessions", "show", "lab"]) == 0
    lines = capsys.readouterr().out.splitlines()
    camera = next(line for line in lines if line.strip().startswith("camera"))
    assert camera.strip().startswith("camera -, NightLab "), camera  # was "camera - , ..."


def test_show_says_ok_for_an_aligned_pair_whose_method_the_record_does_not_know(
    tmp_path, monkeypatch, capsys
):
    """An imported bag need not name the method: the table said "None" (partner's walk)."""
    from engine.store import Store

    data = tmp_path / "data"
    monkeypatch.setenv("NIGHTLAB_DATA_DIR", str(data))
    _ingest_one_pair(tmp_path)
    with Store(data) as store:
        (pair,) = store.pairs(session_id=store.sessions()[0].id)
        store.update_pair(pair.id, alignment={"ok": True, "score": 0.9})
    capsys.readouterr()
    assert cli.main(["sessions", "show", "lab"]) == 0
    out = capsys.readouterr().out.splitlines()
    head = next(i for i, line in enumerate(out) if line.startswith("PAIR"))
    row = out[head + 2]  # under the header and its rule
    assert row.split()[3] == "ok" and "None" not in row, row


def test_show_lists_the_note_of_each_pairs_verdict_on_one_line_and_json_has_it_whole(
    tmp_path, monkeypatch, capsys
):
    """``qa --note`` stored a note that neither the table nor ``--json`` showed."""
    import json

    monkeypatch.setenv("NIGHTLAB_DATA_DIR", str(tmp_path / "data"))
    _ingest_one_pair(tmp_path)
    note = "halo on the roof\nand a van " + "x" * 80
    assert cli.main(["qa", "1", "fail", "--note", note]) == 0
    capsys.readouterr()
    assert cli.main(["sessions", "show", "lab"]) == 0
    out = capsys.readouterr().out.splitlines()
    head = next(i for i, line in enumerate(out) if line.startswith("PAIR"))
    assert out[head].split()[-1] == "NOTE"
    row = out[head + 2]
    assert "fail" in row and "halo on the roof and a van xxx" in row and row.endswith("…"), row
    assert cli.main(["sessions", "show", "lab", "--json"]) == 0
    (pair,) = json.loads(capsys.readouterr().out)["pairs"]
    assert pair["verdict"] == "fail" and pair["note"] == note


def test_show_prints_a_multi_line_scene_note_on_one_line_and_json_has_it_whole(
    tmp_path, monkeypatch, capsys
):
    """A scene note typed over several lines was printed over several lines, its later lines
    at the left margin among the session's fields."""
    import json

    from engine.store import Store

    data = tmp_path / "data"
    monkeypatch.setenv("NIGHTLAB_DATA_DIR", str(data))
    _ingest_one_pair(tmp_path)
    note = "car park, east corner\nlamp 3 out\n\nwind " + "y" * 100
    with Store(data) as store:
        store.update_session(store.sessions()[0].id, scene_notes=note)
    capsys.readouterr()
    assert cli.main(["sessions", "show", "lab"]) == 0
    out = capsys.readouterr().out.splitlines()
    (line,) = [line for line in out if "notes:" in line]
    assert line.startswith("  notes: car park, east corner lamp 3 out wind yyy"), line
    assert line.endswith("…") and len(line) <= 100, line
    assert not any(line.startswith("lamp") or line.startswith("wind") for line in out)
    assert cli.main(["sessions", "show", "lab", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["session"]["scene_notes"] == note
