"""Command lines copied from the README by a new user work as written."""

from __future__ import annotations

import json

import pytest

import cli
from cli._doctor import check_data_dir


@pytest.fixture
def data(tmp_path, monkeypatch):
    d = tmp_path / "data"
    monkeypatch.setenv("NIGHTLAB_DATA_DIR", str(d))
    return d


def test_sessions_show_sort_descending_as_the_readme_writes_it(data, capsys):
    # README: `nightlab sessions show ID ... [--sort -ssim_mean]`. Before, argparse took
    # "-ssim_mean" for an unknown option: "argument --sort: expected one argument", exit 2.
    argv = ["capture", "--camera", "sim", "--session", "s", "--count", "3", "--day-reference"]
    assert cli.main(argv) == 0
    capsys.readouterr()
    assert cli.main(["sessions", "show", "s", "--sort", "-ssim_mean", "--json"]) == 0
    pairs = json.loads(capsys.readouterr().out)["pairs"]
    ssim = [p["ssim_mean"] for p in pairs]
    assert len(ssim) == 3 and ssim == sorted(ssim, reverse=True)
    # the spelled-out form still works, and ascending still sorts the other way
    assert cli.main(["sessions", "show", "s", "--sort=-ssim_mean", "--json"]) == 0
    assert [p["ssim_mean"] for p in json.loads(capsys.readouterr().out)["pairs"]] == ssim
    assert cli.main(["sessions", "show", "s", "--sort", "ssim_mean", "--json"]) == 0
    assert [p["ssim_mean"] for p in json.loads(capsys.readouterr().out)["pairs"]] == ssim[::-1]


def test_sort_value_that_is_no_key_is_still_one_clear_line(data, capsys):
    assert cli.main(["capture", "--session", "s", "--count", "1", "--day-reference"]) == 0
    capsys.readouterr()
    assert cli.main(["sessions", "show", "s", "--sort", "-bogus"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "-bogus" in err[0]


def test_doctor_checks_the_data_dir_given_on_its_command_line(tmp_path, capsys):
    # README: "--data-dir DIR on every command"; before, doctor refused it (exit 2)
    blocker = tmp_path / "file"
    blocker.write_text("a file where the data folder should go")
    assert check_data_dir(str(blocker))[0][0] == "FAIL"
    code = cli.main(["doctor", "--data-dir", str(tmp_path / "lab")])
    out = capsys.readouterr().out
    assert f"data directory {tmp_path / 'lab'}: writable" in out
    assert (tmp_path / "lab").is_dir() and code in (0, 1)
