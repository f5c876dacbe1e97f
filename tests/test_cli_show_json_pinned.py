"""``nightlab sessions show --json`` prints what it printed before it was made faster
(``tests/data/show_json_pinned/``, recorded from the ``dataclasses.asdict`` version): the
pinned export's session (tuples, nested dicts, NaN, non-ASCII, a fused reference), with two
log lines, every pair listed and a selection. Only the NightLab version that recorded the
session may differ (this NightLab's); it is checked, then replaced.

Regenerate only for a deliberate change:
``NIGHTLAB_PIN_SHOW=1 pytest tests/test_cli_show_json_pinned.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import cli
from engine.store import Store
from engine.store._rows import app_version
from tests.test_export_format_pinned import T0, record

PINNED = Path(__file__).resolve().parent / "data" / "show_json_pinned"
SHOWS = {
    "every-pair": ["--limit", "0"],
    "fail-by-leak": ["--verdict", "fail", "--sort", "-leak_area_pct"],
    "tag-2-pairs": ["--tag", "roof", "--limit", "2"],
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("show") / "data"
    with Store(root) as store:
        sid = record(store)
        store.log(sid, "capture", "night 1/12: pair 1 — aligned", at=T0 + 5)
        store.log(sid, "gap", "camera gap 3.5 s", at=T0 + 6.25)
    return root


def test_show_json_prints_what_the_asdict_version_printed(data, capsys):
    for name, argv in SHOWS.items():
        assert cli.main(["sessions", "show", "1", "--json", *argv, "--data-dir", str(data)]) == 0
        text = capsys.readouterr().out
        assert text.count(f'"app_version": "{app_version()}"') == 1
        got = text.replace(f'"app_version": "{app_version()}"', '"app_version": "<varies>"')
        pinned = PINNED / f"{name}.json"
        if os.environ.get("NIGHTLAB_PIN_SHOW") == "1":
            pinned.parent.mkdir(exist_ok=True)
            pinned.write_text(got, "utf-8")
        assert got == pinned.read_text("utf-8"), name  # the printed text, character for character
