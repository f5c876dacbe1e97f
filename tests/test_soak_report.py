"""`benchmarks/soak.py` reads what the probe writes and judges a capture soak: a descriptor
leak, a WAL never checkpointed or a backlog that only grows is "not flat"; the record the
run wrote is checked against its checksums afterwards."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def soak():
    spec = importlib.util.spec_from_file_location("soak_bench", REPO / "benchmarks" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def _probe_log(path: Path, rows: list[dict]) -> None:
    from gui._soak_probe import HEADER

    names = HEADER.split("\t")
    lines = [HEADER] + ["\t".join(str(r[n]) for n in names) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _row(t: float, *, fds: int = 25, wal: int = 4 << 20, jobs: int = 1, pairs: int = 0) -> dict:
    return {
        "t_s": t, "rss_kib": 600 * 1024, "gc_objects": 200_000, "refcount_None": 100_000,
        "refcount_True": 9000, "timer_late_ms": 0.0, "result_view": "Colorized",
        "stall_max_ms": 40.0, "stall_p99_ms": 20.0, "stalls_over_50ms": 0, "results": 50,
        "fds": fds, "threads": 17, "py_threads": 9, "db_bytes": 800_000, "wal_bytes": wal,
        "pairs": pairs, "captures": 5 * pairs, "log_rows": 3, "jobs": jobs, "cached": 8,
        "load1": 3.5, "rss_anon_kib": 500 * 1024, "rss_file_kib": 100 * 1024,
        "heap_kib": 300 * 1024, "heap_free_kib": 20 * 1024,
    }  # fmt: skip


def test_a_flat_capture_soak_reads_back_and_is_judged_flat(soak, tmp_path):
    log = tmp_path / "probe.tsv"
    _probe_log(log, [_row(5.0 * i, pairs=2 * i) for i in range(60)])
    samples = soak.read_samples(log)
    assert len(samples) == 60 and samples[-1].pairs == 118 and samples[-1].load1 == 3.5
    summary = soak.summarise(samples, 60.0)
    assert soak.not_flat(summary) == []
    res = summary["resources"]
    assert res["fds"]["max"] == 25 and res["pairs_per_min"] == pytest.approx(24.0)


def test_a_capture_soak_tells_heap_in_use_from_memory_the_allocator_holds_free(soak, tmp_path):
    # the RSS grows 8 KiB a pair, all of it anonymous memory malloc holds free: fragmentation
    log = tmp_path / "probe.tsv"
    rows = []
    for i in range(60):
        r = _row(5.0 * i, pairs=2 * i)
        r["rss_kib"] += 16 * i
        r["rss_anon_kib"] += 16 * i
        r["heap_free_kib"] += 16 * i
        rows.append(r)
    _probe_log(log, rows)
    res = soak.summarise(soak.read_samples(log), 60.0)["resources"]
    assert res["rss_kib_per_pair"] == pytest.approx(8.0)
    assert res["rss_anon_kib_per_pair"] == pytest.approx(8.0)
    assert res["heap_free_kib_per_pair"] == pytest.approx(8.0)
    assert res["heap_kib_per_pair"] == pytest.approx(0.0, abs=1e-9)
    assert res["rss_file_kib_per_pair"] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"fds": lambda i: 25 + i // 3}, "open fds"),  # two descriptors a few pairs
        ({"wal": lambda i: (4 << 20) + i * (1 << 20)}, "WAL reached"),  # never checkpointed
        ({"jobs": lambda i: 1 + i}, "job backlog"),  # renders that cannot keep up
    ],
)
def test_what_grows_with_the_record_is_not_flat(soak, tmp_path, change, why):
    log = tmp_path / "probe.tsv"
    rows = []
    for i in range(60):
        kw = {k: f(i) for k, f in change.items()}
        rows.append(_row(5.0 * i, pairs=2 * i, **kw))
    _probe_log(log, rows)
    bad = soak.not_flat(soak.summarise(soak.read_samples(log), 60.0))
    assert any(b.startswith(why) for b in bad), bad


def test_an_older_probe_log_without_resources_still_reads(soak, tmp_path):
    log = tmp_path / "probe.tsv"
    old = "\t".join(["5.0", "614400", "200000", "100000", "9000", "0.0", "Night frame"])
    log.write_text(old + "\n" + old.replace("5.0", "10.0", 1) + "\n", encoding="utf-8")
    samples = soak.read_samples(log)
    assert [s.t_s for s in samples] == [5.0, 10.0] and samples[0].fds == -1
    assert soak.summarise(samples, 0.0)["resources"] is None


def test_the_record_a_run_wrote_is_checked_file_by_file(soak, tmp_path):
    from engine.store import Store

    data = tmp_path / "data"
    with Store(data) as store:
        s = store.create_session("night")
        pair = store.capture_pair(s.id, day=np.zeros((48, 64, 3), np.uint8),
                                  night=np.full((48, 64), 9, np.uint8))  # fmt: skip
        night_path = store.path(store.capture(pair.night_id).path)
    record = soak.check_record(data)
    assert record["problems"] == [] and (record["pairs"], record["files"]) == (1, 2)
    night_path.write_bytes(night_path.read_bytes()[:-8])  # a truncated image
    assert soak.check_record(data)["problems"]
    assert soak.check_record(tmp_path / "nothing")["problems"]
