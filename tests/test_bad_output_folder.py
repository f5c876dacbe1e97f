"""An output file whose folder exists but refuses new files (/proc, /sys) is refused before
the work, in one line naming the option and the folder.

Found following the README: ``camera snap --out /proc/x.png`` and ``bench --json
/proc/x.json`` passed the early check (/proc exists and passes access() for root), ran the
whole command and then failed on the temporary file's name
(``[Errno 2] No such file or directory: '/proc/.x.json.jygh36pf.partial'``).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cli import main as cli_main
from tests.conftest import REPO

pytestmark = pytest.mark.skipif(
    not os.path.isdir("/proc/self"), reason="needs Linux's /proc (a folder that refuses files)"
)


@pytest.mark.parametrize(
    "argv, option",
    [
        (["camera", "snap", "sim", "--out", "/proc/x.png"], "--out /proc/x.png"),
        (["bench", "--only", "camera", "--repeats", "1", "--json", "/proc/x.json"], "--json"),
    ],
    ids=["snap", "bench"],
)
def test_output_file_in_a_folder_that_refuses_files_is_refused_first(argv, option, capsys):
    code = cli_main(argv)
    out, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert option in lines[0] and "cannot write into /proc" in lines[0], lines[0]
    assert ".partial" not in lines[0]
    assert "sim camera render" not in out  # refused before the benchmark ran


def test_app_screenshot_in_a_folder_that_refuses_files_is_refused_before_the_window():
    proc = subprocess.run(
        [sys.executable, "-m", "main", "--smoke", "2", "--screenshot", "/proc/x.png"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "nightlab: error: /proc/x.png: cannot write into /proc (/proc does not accept new files)"
    ]


def test_an_ordinary_folder_passes_and_keeps_no_probe(tmp_path):
    from cli._common import check_output_file

    check_output_file(tmp_path / "x.json", "--json")
    assert list(tmp_path.iterdir()) == []
