"""``nightlab sessions export`` / ``sessions import`` end to end on a real data folder: outputs,
exit codes, one-line errors, progress on a terminal and as plain lines."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile

import pytest

from cli import main
from cli._progress import ProgressPrinter
from engine.store import Store
from tests.conftest import REPO
from tests.exchange_fixtures import fill


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli") / "data"
    with Store(root) as store:
        fill(store)
    return root


def test_export_zip_only_pass_then_import_then_refuse_then_copy(data_dir, tmp_path, capsys):
    out = tmp_path / "roof-pass"
    rc = main(
        [
            "sessions",
            "export",
            "roof night",
            "--out",
            str(out),
            "--zip",
            "--only",
            "pass",
            "--data-dir",
            str(data_dir),
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    zpath = tmp_path / "roof-pass.zip"  # --zip adds the suffix
    assert zpath.is_file() and zipfile.is_zipfile(zpath)
    assert "exported session 1 (roof night): 1 pair," in captured.out
    # the size of the zip written, as the export dialog says it (it printed the payload's)
    kb = zpath.stat().st_size / 1e3
    said = f"{kb / 1e3:.1f} MB" if kb >= 100 else f"{kb:.0f} kB"
    assert f"files, {said} -> " in captured.out, captured.out
    assert "writing: 100%" in captured.err  # plain progress lines when not on a terminal

    dest = tmp_path / "dest"
    assert main(["sessions", "import", str(zpath), "--data-dir", str(dest)]) == 0
    assert "imported session 1 (roof night): 1 pair," in capsys.readouterr().out

    assert main(["sessions", "import", str(zpath), "--data-dir", str(dest)]) == 3
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 or "error" in err.splitlines()[-1]
    assert "already in" in err.splitlines()[-1] and "--as-copy" in err.splitlines()[-1]

    assert main(["sessions", "import", str(zpath), "--as-copy", "--data-dir", str(dest)]) == 0
    assert "as a copy" in capsys.readouterr().out
    assert main(["sessions", "list", "--data-dir", str(dest)]) == 0
    listing = capsys.readouterr().out
    assert "roof night (copy)" in listing


def test_unknown_session_and_existing_target_are_one_line_errors(data_dir, tmp_path, capsys):
    assert (
        main(
            ["sessions", "export", "42", "--out", str(tmp_path / "x"), "--data-dir", str(data_dir)]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("nightlab sessions: error:") and "42" in err[-1]
    (tmp_path / "taken").mkdir()
    assert (
        main(
            [
                "sessions",
                "export",
                "1",
                "--out",
                str(tmp_path / "taken"),
                "--data-dir",
                str(data_dir),
            ]
        )
        == 2
    )
    assert "already exists" in capsys.readouterr().err


@pytest.mark.skipif(
    not os.path.isdir("/proc"), reason="needs /proc (a folder that refuses new files)"
)
@pytest.mark.parametrize("zip_flag", [[], ["--zip"]], ids=["folder", "zip"])
def test_export_to_a_folder_that_refuses_files_is_one_line_naming_out_before_progress(
    data_dir, capsys, zip_flag
):
    out = "/proc/x.zip" if zip_flag else "/proc/x"
    argv = ["sessions", "export", "1", "--out", "/proc/x", *zip_flag]
    assert main([*argv, "--data-dir", str(data_dir)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, lines  # no progress line before it
    assert lines[0].startswith(f"nightlab sessions: error: --out {out}: ")
    assert ".partial" not in lines[0] and "Errno" not in lines[0]


def test_export_into_a_missing_folder_is_one_line_naming_out(data_dir, tmp_path, capsys):
    out = tmp_path / "no" / "such" / "bag.zip"
    assert main(["sessions", "export", "1", "--out", str(out), "--data-dir", str(data_dir)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == f"nightlab sessions: error: --out {out}: folder {out.parent} does not exist"


def test_hostile_zip_is_refused_in_one_line_with_no_traceback(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("bag/bagit.txt", "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
        zf.writestr("../../escape.txt", "owned")
    env = dict(os.environ, NIGHTLAB_DATA_DIR=str(tmp_path / "data"))
    env.pop("NIGHTLAB_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "sessions", "import", str(evil)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines == [
        f"nightlab sessions: error: {evil}: '../../escape.txt': path traversal "
        "('..', '.' or an empty part)"
    ]
    assert not (tmp_path / "escape.txt").exists()


def test_progress_draws_a_bar_on_a_terminal_and_plain_lines_elsewhere():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    bar = ProgressPrinter(tty, interval=0.0)
    for done in (0, 50, 100):
        bar("writing", done * 10**6, 100 * 10**6, "pairs/pair-0001/night.png")
    bar.close()
    text = tty.getvalue()
    assert "\r" in text and "[###############---------------]" in text and "100.0%" in text
    assert text.endswith("\n")

    plain = io.StringIO()
    lines = ProgressPrinter(plain)
    for done in range(0, 101, 5):
        lines("verifying", done, 100)
    out = plain.getvalue().splitlines()
    assert "\r" not in plain.getvalue()
    assert out[0] == "verifying: 0% (0.0 MB of 0.0 MB)" and len(out) == 11  # every 10 %


def test_import_check_verifies_everything_and_imports_nothing(data_dir, tmp_path, capsys):
    out = tmp_path / "roof"
    assert main(["sessions", "export", "1", "--out", str(out), "--data-dir", str(data_dir)]) == 0
    capsys.readouterr()
    dest = tmp_path / "dest"
    assert main(["sessions", "import", str(out), "--check", "--data-dir", str(dest)]) == 0
    captured = capsys.readouterr()
    assert "session 'roof night' by ana: 3 pairs" in captured.err  # the summary, first
    assert "complete and valid" in captured.out and "every sha256 verified" in captured.out
    assert not dest.exists()  # nothing imported, not even a data folder made

    # against the source record: it says the session is already there
    assert main(["sessions", "import", str(out), "--check", "--data-dir", str(data_dir)]) == 0
    assert "already in the record as session 1" in capsys.readouterr().out

    p = out / "data" / "pairs" / "pair-0001" / "colorized.png"
    p.write_bytes(p.read_bytes()[:-1] + b"\x00")
    assert main(["sessions", "import", str(out), "--check", "--data-dir", str(dest)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "pair-0001/colorized.png: changed since export" in err[-1]


def test_a_refused_import_into_a_new_data_folder_leaves_no_folder(data_dir, tmp_path, capsys):
    """The record the import created for the bag was left behind, empty, when the bag was
    refused: a mistyped --data-dir became a new NightLab folder."""
    bag = tmp_path / "bag"
    assert (
        main(["sessions", "export", "roof night", "--out", str(bag), "--data-dir", str(data_dir)])
        == 0
    )
    night = bag / "data" / "pairs" / "pair-0001" / "night.png"
    night.write_bytes(night.read_bytes() + b"x")
    new = tmp_path / "new" / "record"
    argv = ["sessions", "import", str(bag), "--data-dir", str(new)]
    assert main(argv) == 2
    assert "pair-0001/night.png: changed since export" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    night.write_bytes(night.read_bytes()[:-1])  # repaired: the same command creates it
    assert main(argv) == 0 and (new / "nightlab.sqlite3").is_file()
