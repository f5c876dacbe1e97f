"""A session's name, operator and scene notes are refused when the export could not carry
them. Found walking an operator's night: a 600-character session name (a paste gone wrong)
was recorded all night, and in the morning `sessions export` failed with
``data/manifest.json: session.name: must be shorter than or equal to 500 characters`` — the
night could not leave NightLab at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cli
from engine.exchange import export_session, import_session
from engine.store import SESSION_TEXT_LIMITS, Store

SCHEMA = Path(__file__).resolve().parents[1] / "resources" / "export_manifest.schema.json"


def test_the_limits_are_the_export_schemas():
    session = json.loads(SCHEMA.read_text())["properties"]["session"]["properties"]
    assert {k: session[k]["maxLength"] for k in SESSION_TEXT_LIMITS} == SESSION_TEXT_LIMITS


def test_capture_refuses_a_session_name_the_export_cannot_carry_and_records_nothing(
    tmp_path, capsys
):
    data = tmp_path / "data"
    code = cli.main(
        ["capture", "--data-dir", str(data), "--session", "n" * 600,
         "--day-reference", "--count", "0"]
    )  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [
        "nightlab capture: error: a session name is at most 500 characters "
        "(what an export can carry), got 600"
    ]
    with Store(data) as store:
        assert store.sessions() == []


@pytest.mark.parametrize(
    ("field", "words"),
    [("name", "a session name"), ("operator", "an operator name"),
     ("scene_notes", "scene notes")],
)  # fmt: skip
def test_the_store_refuses_each_text_over_its_limit_when_created_or_edited(tmp_path, field, words):
    limit = SESSION_TEXT_LIMITS[field]
    with Store(tmp_path / "data") as store:
        too_long = {"name": "ok", field: "x" * (limit + 1)}
        with pytest.raises(ValueError, match=f"^{words} is at most {limit:,} characters"):
            store.create_session(**too_long)
        s = store.create_session("ok")
        with pytest.raises(ValueError, match=f"^{words} is at most {limit:,} characters"):
            store.update_session(s.id, **{field: "x" * (limit + 1)})
        assert store.session(s.id).name == "ok"


def test_a_session_at_every_limit_exports_and_imports(tmp_path):
    texts = {k: "é" * v for k, v in SESSION_TEXT_LIMITS.items()}
    with Store(tmp_path / "data") as store:
        s = store.create_session(**texts)
        export_session(store, s.id, tmp_path / "bag")
    with Store(tmp_path / "other") as other:
        imported = import_session(other, tmp_path / "bag").session
        assert (imported.name, imported.operator, imported.scene_notes) == tuple(texts.values())
