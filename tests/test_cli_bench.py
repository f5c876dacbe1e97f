"""``nightlab bench`` wiring: areas run in one process, table and JSON agree, bad areas refused."""

from __future__ import annotations

import json

import pytest

from cli import main as cli_main


def test_bench_camera_area_writes_table_and_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert cli_main(["bench", "--only", "camera", "--repeats", "1", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "sim camera render" in text and "ours ms" in text
    data = json.loads(out.read_text())
    assert data["machine"].startswith("#")
    stages = {r["stage"] for r in data["rows"]}
    assert any(s.startswith("sim camera render (day") for s in stages)
    for r in data["rows"]:
        assert r["ours_ms"] > 0 and r["target"] == ">= 60 FPS"
        assert isinstance(r["met"], bool)


def test_bench_verdicts_follow_the_timings_in_table_and_json(tmp_path, capsys, monkeypatch):
    """Scripted frame times around the 60 FPS target (16.7 ms): yes, NO, yes, NO."""
    import engine.bench._camera as bench

    # per mode: the warpAffine floor, then the render; then the two defocused renders
    times = iter([1.0, 10.0, 1.0, 20.0, 16.0, 17.0])
    monkeypatch.setattr(bench, "median_ms", lambda *a, **k: next(times))
    out = tmp_path / "bench.json"
    assert cli_main(["bench", "--only", "camera", "--repeats", "1", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["met"] for r in rows] == [True, False, True, False]
    assert [r["ours_ms"] for r in rows] == [10.0, 20.0, 16.0, 17.0]
    assert rows[0]["note"].startswith("100 FPS") and rows[1]["note"].startswith("50 FPS")
    table = [ln for ln in capsys.readouterr().out.splitlines() if "sim camera render" in ln]
    assert [" yes " in ln for ln in table] == [
        True, False, True, False
    ]  # fmt: skip
    assert all(" NO " in ln for ln in table[1::2])


def test_bench_json_into_a_folder_is_refused_before_the_run(tmp_path, capsys, monkeypatch):
    import engine.bench._camera as bench

    monkeypatch.setattr(bench, "rows", lambda **k: pytest.fail("the bench ran"))
    assert cli_main(["bench", "--only", "camera", "--json", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"nightlab bench: error: --json {tmp_path}: is a folder; give a file name"]


def test_bench_unknown_area_is_one_line(capsys):
    assert cli_main(["bench", "--only", "gpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown area gpu" in err[0]


def test_bench_rejects_zero_repeats(capsys):
    assert cli_main(["bench", "--repeats", "0"]) == 2
    assert "--repeats" in capsys.readouterr().err


def test_bench_store_exchange_rows_report_export_and_import_mb_per_s():
    import re

    import engine.bench._store as store_area
    from engine.bench import AREAS
    from engine.bench._store_exchange import rows

    # `--only store` runs them
    assert "store" in AREAS and {"_store_exchange", "_store_reprocess"} <= set(store_area.PARTS)
    out = rows(repeats=1, pairs=1, size=(320, 240), real=False)
    assert [r.stage for r in out] == [
        "store: export bag (folder)",
        "store: export bag (zip, PNG stored)",
        "store: import bag (zip)",
        "store: import bag (folder)",
    ]
    mb = float(re.search(r"([\d.]+) MB$", out[0].size).group(1))
    assert mb > 0.1  # the payload of one pair of real-photo PNGs
    for r in out:  # the wiring: every row timed ours and the bagit reference, with a rate
        assert r.size == out[0].size and r.ours_ms > 0 and r.reference_ms > 0
        assert re.match(r"\d+ MB/s", r.note), r.note


@pytest.mark.slow
def test_bench_store_area_reports_commit_ingest_and_query_rows(tmp_path, monkeypatch):
    import engine.bench._store as bench_store

    # the wiring, not the figures: few pairs
    monkeypatch.setattr(bench_store, "N_SCALE", 2000)
    monkeypatch.setattr(bench_store, "COMMIT_MIN_PAIRS", 3)
    monkeypatch.setattr(bench_store, "INGEST_PAIRS", 2)
    monkeypatch.setattr(bench_store, "PARTS", ())  # export/import rows: tested on their own
    rows = bench_store.rows(repeats=1)
    stages = [r.stage for r in rows]
    commits = [r for r in rows if r.stage.startswith("store: pair capture commit p99")]
    assert len(commits) == 2 and all(r.size == "1920x1080" and "p50" in r.note for r in commits)
    assert sum("ingest a pair" in s for s in stages) == 2
    queries = [r for r in rows if r.target == "< 100 ms"]
    assert len(queries) == 6 and all(r.ours_ms > 0 for r in queries)
