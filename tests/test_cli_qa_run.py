"""``nightlab qa PAIR VERDICT --run RUN``: a verdict from the command line names the stored
run judged, as the QA panel's does; a run that is not the pair's is refused in one line and
nothing is recorded. Before, ``nightlab qa`` had no way to name a run (every verdict it gave
read as one on the live model, and an export handed over the newest run)."""

from __future__ import annotations

import json

import pytest

import cli
from engine.store import Store
from tests.test_export_format_pinned import png


@pytest.fixture
def data(tmp_path, monkeypatch):
    """Pair 1 with two runs, pair 2 with one, pair 3 with none; pair 1 judged "review"."""
    d = tmp_path / "data"
    monkeypatch.setenv("NIGHTLAB_DATA_DIR", str(d))
    with Store(d, compression="none") as store:
        s = store.create_session("roof")
        day = store.add_capture(s.id, png(8, 6, 3, 1), kind="day")
        for i, n_runs in enumerate((2, 1, 0)):
            nid = store.add_capture(s.id, png(8, 6, 3, 10 + i), kind="night").id
            p = store.add_pair(s.id, night_id=nid, day_ids=[day.id], alignment={"ok": True})
            for k in range(n_runs):
                store.add_run(
                    p.id,
                    model_name=f"model-{'ab'[k]}",
                    model_sha256=f"{k + 1:02d}" * 32,
                    outputs={"colorized": png(8, 6, 3, 100 + 10 * i + k)},
                )
        store.set_verdict(1, "review", note="first look")
    return d


def test_qa_run_records_the_run_judged_and_the_export_hands_it_over(data, tmp_path, capsys):
    with Store(data, read_only=True) as store:
        older, newer = store.runs(1)
    assert cli.main(["qa", "1", "pass", "--run", str(older.id), "--note", "sharp"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == f"pair 1: pass on run {older.id} (model-a) (was review)"
    with Store(data, read_only=True) as store:
        assert [v.run_id for v in store.verdicts(1)] == [None, older.id]
        assert store.pair(1).verdict_model == "model-a"
    assert cli.main(["sessions", "export", "roof", "--out", str(tmp_path / "bag")]) == 0
    m = json.loads((tmp_path / "bag" / "data" / "manifest.json").read_text("utf-8"))
    p = m["pairs"][0]
    assert p["verdicts"][-1]["run"]["id"] == older.id and p["chosen_run"] == older.id
    assert p["chosen_run"] != newer.id


def test_qa_without_run_names_no_run(data, capsys):
    assert cli.main(["qa", "2", "fail"]) == 0
    assert capsys.readouterr().out.strip() == "pair 2: fail"
    with Store(data, read_only=True) as store:
        assert [v.run_id for v in store.verdicts(2)] == [None]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["qa", "1", "pass", "--run", "3"], "pair 1: run 3 is a run of pair 2 (its runs: 1 "),
        (["qa", "1", "pass", "--run", "99"], "pair 1: no run 99 (its runs: 1 (model-a), 2 "),
        (["qa", "3", "pass", "--run", "1"], "it has no run yet; judge it without --run"),
        (["qa", "1", "fail", "--run", "3", "--tag", "wind"], "run 3 is a run of pair 2"),
    ],
    ids=["another pair's run", "no such run", "a pair without runs", "with a tag"],
)
def test_qa_with_a_run_not_of_the_pair_says_so_in_one_line_and_records_nothing(
    data, capsys, argv, said
):
    with Store(data, read_only=True) as store:
        before = {p: (store.verdicts(p), store.pair(p).tags) for p in (1, 2, 3)}
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and said in err[0] and err[0].endswith("nothing recorded"), err
    assert captured.out == ""
    with Store(data, read_only=True) as store:
        assert {p: (store.verdicts(p), store.pair(p).tags) for p in (1, 2, 3)} == before


def test_qa_takes_a_verdict_typed_with_capitals(data, capsys):
    # "nightlab qa 3 Pass" was refused ("invalid choice: 'Pass'"): a verdict copied from a note
    # or a spreadsheet column is capitalised
    assert cli.main(["qa", "3", "Pass"]) == 0
    assert capsys.readouterr().out.strip() == "pair 3: pass"
    assert cli.main(["qa", "2", "FAIL", "--run", "3"]) == 0
    with Store(data, read_only=True) as store:
        assert (store.pair(3).verdict, store.pair(2).verdict) == ("pass", "fail")


def test_sessions_show_runs_lists_the_run_ids_qa_run_takes(data, capsys):
    # no command listed a pair's runs: the ids '--run' takes were known only from its own
    # refusal
    assert cli.main(["sessions", "show", "roof", "--runs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("PAIR"))
    assert lines[head].split()[-1] == "RUNS"
    rows = {line.split()[0]: line for line in lines[head + 1 :] if line.strip()}
    assert rows["1"].rstrip().endswith("#1 model-a, #2 model-b")
    assert rows["2"].rstrip().endswith("#3 model-a")
    assert rows["3"].rstrip().endswith("-")
    assert cli.main(["sessions", "show", "roof", "--runs", "--json"]) == 0
    pairs = json.loads(capsys.readouterr().out)["pairs"]
    assert [[(r["id"], r["model_name"]) for r in p["runs"]] for p in pairs] == [
        [(1, "model-a"), (2, "model-b")],
        [(3, "model-a")],
        [],
    ]
    # the id listed is the one qa takes
    assert cli.main(["qa", "1", "pass", "--run", "2"]) == 0
    assert "on run 2 (model-b)" in capsys.readouterr().out
    # without --runs, show is as before: no RUNS column, no runs in JSON
    assert cli.main(["sessions", "show", "roof", "--json"]) == 0
    assert all("runs" not in p for p in json.loads(capsys.readouterr().out)["pairs"])


def test_a_model_name_with_a_tab_or_newline_keeps_each_row_on_one_line(tmp_path, capsys):
    # a run's model name comes from its card (someone else's file): "model\tx\ny" split the
    # ON RUN / RUNS columns and the pair's row, and qa's own line, over several lines
    d = tmp_path / "data"
    with Store(d, compression="none") as store:
        s = store.create_session("roof")
        day = store.add_capture(s.id, png(8, 6, 3, 1), kind="day")
        nid = store.add_capture(s.id, png(8, 6, 3, 2), kind="night").id
        p = store.add_pair(s.id, night_id=nid, day_ids=[day.id], alignment={"ok": True})
        run = store.add_run(p.id, model_name="odd\tmodel\nname", model_sha256="ab" * 32,
                            outputs={"colorized": png(8, 6, 3, 3)})  # fmt: skip
    assert cli.main(["qa", str(p.id), "pass", "--run", str(run.id), "--data-dir", str(d)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"pair {p.id}: pass on run 1 (odd model name)"]
    assert cli.main(["sessions", "show", "roof", "--runs", "--data-dir", str(d)]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("PAIR"))
    rows = [line for line in lines[head + 1 :] if line.strip() and not line.startswith("--")]
    assert len(rows) == 1 and rows[0].rstrip().endswith("#1 odd model name")
    assert "#1 odd model name" in rows[0]  # ON RUN, in its column
    assert cli.main(["sessions", "show", "roof", "--runs", "--json", "--data-dir", str(d)]) == 0
    (pair,) = json.loads(capsys.readouterr().out)["pairs"]
    assert pair["runs"][0]["model_name"] == "odd\tmodel\nname"  # exact in JSON
