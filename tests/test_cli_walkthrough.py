"""Command lines copied from the README by a new user work as written."""

from __future__ import annotations

import json

import pytest

import cli
from cli._doctor import check_data_dir


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
    assert check_data_dir(str(blocker)) == [("FAIL", f"data directory {blocker}: not a folder")]
    code = cli.main(["doctor", "--data-dir", str(tmp_path / "lab")])
    out = capsys.readouterr().out
    assert f"data directory {tmp_path / 'lab'}: writable" in out
    assert (tmp_path / "lab").is_dir() and code in (0, 1)


def test_process_with_several_days_names_a_day_frame_it_left_out(tmp_path, capsys):
    # Before: the summary said only "aligned with ...": a day frame dropped from the fused
    # reference (it did not align) was mentioned nowhere but deep in metrics.json.
    import cv2
    import numpy as np
    import skimage.data

    from engine._image import write_image

    day = skimage.data.astronaut()[::2, ::2].copy()
    night = np.roll((day.mean(axis=2) * 0.5).astype(np.uint8), 3, axis=1)
    other = cv2.resize(skimage.data.coffee(), (256, 256), interpolation=cv2.INTER_AREA)
    d1 = write_image(tmp_path / "day.png", day)
    d2 = write_image(tmp_path / "coffee.png", other)
    n = write_image(tmp_path / "night.png", night)
    out = tmp_path / "out"
    argv = ["process", "--day", str(d1), "--day", str(d2), "--night", str(n), "--out", str(out)]
    assert cli.main([*argv, "--no-colorize"]) == 0
    line = capsys.readouterr().out.strip()
    frames = json.loads((out / "metrics.json").read_text())["day_frames"]
    assert [f["used"] for f in frames] == [True, False]
    assert line.startswith("fused 1 of 2 day frames (left out, not aligned: ")
    assert str(d2) in line and "aligned with" in line


def test_afternoon_day_reference_alone_records_no_night_pair(data, capsys):
    # README's afternoon step took `--day-reference --count 1`: a day reference AND a "night"
    # capture in daylight, paired and aligned -- a bogus pair in the session. --count 0
    # with --day-reference now takes the reference alone.
    from engine.store import Store

    argv = ["capture", "--session", "roof", "--day-reference", "--count", "0", "--burst", "2"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "day reference only" in out and "day reference: capture" in out
    assert "night 1" not in out
    with Store(data, read_only=True) as store:
        s = store.session("roof")
        assert s.n_pairs == 0 and s.n_captures == 3  # two burst frames and their mean
    # the night run then pairs with that reference
    assert cli.main(["capture", "--session", "roof", "--count", "1"]) == 0
    assert "night 1/1" in capsys.readouterr().out


def test_count_zero_without_a_day_reference_is_refused_in_one_line(data, capsys):
    from engine.live import CapturePlan

    with pytest.raises(ValueError, match="0 only with a day reference"):
        CapturePlan(count=0)
    assert CapturePlan(count=0, day_reference=True).describe() == "day reference only"
    assert cli.main(["capture", "--session", "roof", "--count", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "0 only with a day reference" in err[0]


def test_a_single_capture_is_logged_as_one_capture_not_a_continuous_run(data, capsys):
    # every Capture pair of the app (and `capture --count 1`) wrote "started: continuous,
    # 1 capture(s), burst 4" into the session log, which a reader took for a schedule
    from engine.live import CapturePlan
    from engine.store import Store

    assert CapturePlan(count=1, burst=4).describe() == "one capture, burst 4"
    assert CapturePlan(count=3, every_s=600).describe() == "every 10m, 3 captures, burst 1"
    assert CapturePlan(count=1, every_s=600).describe() == "every 10m, 1 capture, burst 1"
    assert cli.main(["capture", "--session", "one", "--day-reference", "--count", "1"]) == 0
    assert "day reference first, one capture, burst 1" in capsys.readouterr().out
    with Store(data, read_only=True) as store:
        (session,) = store.sessions()
        started = [e.message for e in store.log_entries(session.id) if e.kind == "started"]
    assert started == ["day reference first, one capture, burst 1"]


def test_reprocess_of_an_unknown_session_names_it_with_both_quotes(tmp_path, capsys):
    # before: "no session '99" -- the closing quote stripped along with KeyError's own
    from engine.store import Store

    data = tmp_path / "data"
    Store(data).close()  # a record without that session
    assert cli.main(["reprocess", "--session", "99", "--serial", "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"nightlab reprocess: error: no session '99' in {data}"]


def _pair_files(tmp_path):
    import numpy as np
    import skimage.data

    from engine._image import write_image

    day = skimage.data.astronaut()[::4, ::4].copy()
    night = (day.mean(axis=2) * 0.5).astype(np.uint8)
    return write_image(tmp_path / "day.png", day), write_image(tmp_path / "night.png", night)


def test_process_with_day_and_night_swapped_warns_in_one_line(tmp_path, capsys):
    # Before: a gray "day" reference (usually --day and --night swapped) gave a gray
    # colorization and exit 0 without a word.
    day, night = _pair_files(tmp_path)
    argv = ["process", "--day", str(night), "--night", str(day), "--out", str(tmp_path / "o")]
    assert cli.main(argv) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nightlab process: warning:")
    assert str(night) in err[0] and "swapped" in err[0]
    # the right way round: no warning
    argv = ["process", "--day", str(day), "--night", str(night), "--out", str(tmp_path / "p")]
    assert cli.main(argv) == 0
    assert capsys.readouterr().err == ""


def test_ingest_with_a_gray_day_reference_warns(data, tmp_path, capsys):
    day, night = _pair_files(tmp_path)
    argv = ["ingest", "--session", "lab", "--day", str(night), "--night", str(night)]
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert "nightlab ingest: warning:" in err and "no colour" in err


def test_progress_of_a_phase_without_a_size_says_no_fake_percentage():
    # before: "checking: 100% (0.0 MB of 0.0 MB)" while a folder bag was being scanned
    import io

    from cli._progress import ProgressPrinter

    plain = io.StringIO()
    p = ProgressPrinter(plain)
    p("checking", 0, 0)
    p("checking", 0, 0)
    p("verifying", 0, 100)
    assert plain.getvalue().splitlines() == ["checking ...", "verifying: 0% (0.0 MB of 0.0 MB)"]
