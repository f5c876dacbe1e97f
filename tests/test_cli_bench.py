"""``nightlab bench`` wiring: areas run in one process, table and JSON agree, bad areas refused."""

from __future__ import annotations

import json

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
        assert r["met"] == (1000.0 / r["ours_ms"] >= 60.0)


def test_bench_unknown_area_is_one_line(capsys):
    assert cli_main(["bench", "--only", "gpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown area gpu" in err[0]


def test_bench_rejects_zero_repeats(capsys):
    assert cli_main(["bench", "--repeats", "0"]) == 2
    assert "--repeats" in capsys.readouterr().err


def test_bench_store_exchange_rows_report_export_and_import_mb_per_s():
    import re

    from engine.bench import AREAS
    from engine.bench._store_exchange import rows

    assert "store" in AREAS
    out = rows(repeats=1, pairs=1, size=(320, 240))
    assert [r.stage for r in out] == [
        "export bag (folder)",
        "export bag (zip, PNG stored)",
        "import bag (zip)",
        "import bag (folder)",
    ]
    mb = float(re.search(r"([\d.]+) MB$", out[0].size).group(1))
    assert mb > 0.1  # the payload of one pair of real-photo PNGs
    for r in out:
        assert r.size == out[0].size and r.ours_ms > 0 and r.reference_ms > 0
        rate = float(re.match(r"(\d+) MB/s", r.note).group(1))  # the row's own figure
        assert abs(rate - mb / (r.ours_ms / 1e3)) <= 0.5 + 0.05 * rate
