"""`sessions list` prints one session a line, its fields split by tabs, whatever the name.
Found walking an operator's night: a session name pasted with a tab and a newline in it
(`nightlab ingest --session "$(pbpaste)"`) was accepted, and `sessions list` then printed
that session over two lines with an extra field (``4\\ta\\tb`` / ``c\\troot\\t...``), so a
script reading one session a line got a wrong id and name; ``1 pairs`` read oddly too."""

from __future__ import annotations

import numpy as np

import cli
from engine.store import Store


def test_a_name_with_a_tab_and_a_newline_stays_on_its_line_and_counts_read_right(tmp_path, capsys):
    data = tmp_path / "data"
    with Store(data) as store:
        s = store.create_session("east\troof\nnight", operator="ana\tb")
        store.add_capture(s.id, np.zeros((40, 40), "uint8"), kind="night")
        store.create_session("west", operator="bo")
    assert cli.main(["sessions", "list", "--data-dir", str(data)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:3] for line in lines] == [
        ["1", "east roof night", "ana b"],
        ["2", "west", "bo"],
    ]
    assert all(len(line.split("\t")) == 7 for line in lines)
    assert lines[0].split("\t")[5:] == ["1 capture", "0 pairs"]
    # the exact name is still in --json, and `show` heads the session on one line
    assert cli.main(["sessions", "list", "--data-dir", str(data), "--json"]) == 0
    assert '"name": "east\\troof\\nnight"' in capsys.readouterr().out
    assert cli.main(["sessions", "show", "1", "--data-dir", str(data)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "session 1: east roof night  (open)"
