"""The help a new user reads first says what the commands really offer (found following the
README on a fresh clone: the app's options were not named by ``nightlab --help``, and the
sessions command was said to list, show and delete only)."""

from __future__ import annotations

import re

import pytest

import cli
from tests.conftest import cli_help

_help = cli_help


def test_top_level_help_names_the_apps_options_and_where_they_are(capsys):
    text = _help([], capsys)
    for option in ("--camera", "--smoke", "--screenshot", "--resolution", "--stats"):
        assert option in text
        assert option in _help(["gui"], capsys)
    assert "'nightlab gui --help'" in text


def test_sessions_summary_lists_every_action_it_has(capsys):
    summary = re.search(r"sessions (.*?) ingest", _help([], capsys)).group(1)
    actions = re.findall(r"^ {4}(\w+)", _raw_help(["sessions"], capsys), flags=re.M)
    assert set(actions) == {"list", "show", "delete", "verify", "export", "import"}
    for action in actions:
        assert action in summary, (action, summary)


def _raw_help(argv, capsys) -> str:
    with pytest.raises(SystemExit):
        cli.main([*argv, "--help"])
    return capsys.readouterr().out


@pytest.mark.parametrize("command", [["gui"], ["capture"]])
def test_camera_option_names_every_kind_of_camera_spec(command, capsys):
    # the app's help left out sim:night and sim:PATH, capture's also replay:PATH
    text = _help(command, capsys)
    for spec in ("sim:night", "sim:PATH", "oak[:ID]", "webcam[:INDEX|URL]", "replay:PATH"):
        assert spec in text, spec
