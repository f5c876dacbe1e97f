"""What a new user reads while trying the commands (found walking the CLI from a fresh
clone): ``bench`` and ``doctor`` had a usage line and nothing that said what they do or
what doctor's exit status means; ``qa``'s verdict showed as a bare ``{pass,fail,review}``
with no name; ``nightlab --help`` did not say where each command's options are; ``sessions
list`` did not say which folder it found nothing in."""

from __future__ import annotations

import pytest

import cli
from tests.conftest import cli_help

_help = cli_help


def test_top_level_help_says_where_each_commands_options_are(capsys):
    assert "Each command's options: nightlab COMMAND --help." in _help([], capsys)


def test_bench_and_doctor_say_what_they_do_and_doctor_its_exit_status(capsys):
    bench = _help(["bench"], capsys)
    assert "beside the reference libraries, in one process: medians of --repeats runs" in bench
    doctor = _help(["doctor"], capsys)
    assert "One OK, WARN or FAIL line per check" in doctor
    assert "Exits 1 when anything FAILs." in doctor


def test_qa_names_its_verdict_argument_and_refuses_others_by_that_name(capsys):
    text = _help(["qa"], capsys)
    assert "pair VERDICT" in text and "VERDICT pass, fail or review" in text
    with pytest.raises(SystemExit) as ended:
        cli.main(["qa", "1", "maybe"])
    assert ended.value.code == 2
    err = capsys.readouterr().err
    assert "argument VERDICT: invalid choice: 'maybe'" in err


def test_sessions_list_names_the_folder_it_found_no_record_in(tmp_path, capsys):
    # Before: a mistyped --data-dir printed "no sessions yet" and nothing else: the
    # operator could not tell that the night's record was looked for in the wrong place
    typo = tmp_path / "nightlab-dta"
    assert cli.main(["sessions", "list", "--data-dir", str(typo)]) == 0
    assert capsys.readouterr().out.strip() == f"no sessions yet in {typo}"
    assert not typo.exists()  # a reader creates nothing


def test_a_simulated_frame_larger_than_16_mp_is_one_line_before_any_window(capsys):
    # Before: --resolution 100000x100000 ended in a traceback: OpenCV failed to allocate
    # 64 GB for the scene
    from engine.camera import SimulatedCamera

    code = cli.main(["--resolution", "100000x100000", "--smoke", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [
        "nightlab: error: cannot open camera 'sim': resolution 100000x100000 is 10000 MP; "
        "the simulated camera renders at most 16 MP (an OAK's 12 MP sensor, 4K video fit)"
    ]
    # the largest sizes real cameras give still open
    for size in ((4056, 3040), (3840, 2160)):
        SimulatedCamera(resolution=size).close()
    with pytest.raises(ValueError, match="at most 16 MP"):
        SimulatedCamera(resolution=(4001, 4000))
