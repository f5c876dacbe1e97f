"""The experiment record: records round-trip, history, consistency, migration and scale."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time

import numpy as np
import pytest

from engine.store import (
    SCHEMA_VERSION,
    PairQuery,
    Store,
    StoreBusy,
    StoreError,
    resolve_data_dir,
)
from engine.store._paths import DB_NAME
from tests.old_records import old_record, user_version


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "data") as s:
        yield s


def _img(rng, shape=(48, 64, 3)):
    return rng.integers(0, 256, shape, dtype=np.uint8)


def _pair(store, rng, session_id, **kw):
    day = store.add_capture(session_id, _img(rng), kind="day")
    night = store.add_capture(session_id, _img(rng, (48, 64)), kind="night")
    return store.add_pair(session_id, night_id=night.id, day_ids=[day.id], **kw)


def test_capture_is_stored_losslessly_with_meta_and_controls(store, rng):
    from engine.camera import FrameMeta

    s = store.create_session("roof", operator="ana", camera_backend="sim", device_id="sim-0")
    image = _img(rng, (1080 // 8, 1920 // 8, 3))
    meta = FrameMeta(1.5, 7, "sim-0", iso=800, mode="day", extra={"iso": "auto", "gain": 2.0})
    cap = store.add_capture(s.id, image, kind="day", meta=meta, controls={"iso": 800})
    np.testing.assert_array_equal(store.read_image(cap), image)
    assert cap.path.endswith(".png") and (store.root / cap.path).is_file()
    assert cap.sha256 == hashlib.sha256((store.root / cap.path).read_bytes()).hexdigest()
    assert cap.meta["iso"] == 800 and cap.meta["extra"] == {"iso": "auto", "gain": 2.0}
    assert cap.controls == {"iso": 800} and cap.taken_at == 1.5
    assert (cap.width, cap.height, cap.channels) == (240, 135, 3)
    assert store.session(s.id).n_captures == 1


def test_uncompressed_png_is_still_lossless_and_costs_disk_not_cpu(tmp_path, rng):
    image = _img(rng, (120, 160, 3))
    sizes = {}
    for compression in ("huffman", "none"):
        with Store(tmp_path / compression, compression=compression) as store:
            s = store.create_session("c")
            cap = store.add_capture(s.id, image, kind="day")
            np.testing.assert_array_equal(store.read_image(cap), image)
            sizes[compression] = (store.root / cap.path).stat().st_size
    assert sizes["none"] >= image.size > 0
    with pytest.raises(ValueError, match="compression must be one of"):
        Store(tmp_path / "x", compression="zip")


def test_burst_keeps_its_members_and_stores_their_mean(store, rng):
    s = store.create_session("burst")
    frames = [_img(rng, (32, 40)) for _ in range(4)]
    cap = store.add_burst(s.id, frames, kind="night")
    members = store.burst_members(cap.id)
    assert cap.burst_size == 4 and [m.burst_index for m in members] == [0, 1, 2, 3]
    for m, f in zip(members, frames, strict=True):
        np.testing.assert_array_equal(store.read_image(m), f)
    expected = np.rint(np.mean(np.stack(frames), axis=0)).astype(np.uint8)
    np.testing.assert_array_equal(store.read_image(cap), expected)
    # the session lists the burst once; members only when asked
    assert [c.id for c in store.captures(s.id)] == [cap.id]
    assert len(store.captures(s.id, members=True)) == 5


def test_pair_with_several_day_captures_alignment_and_runs(store, rng):
    s = store.create_session("pairs")
    days = [store.add_capture(s.id, _img(rng), kind="day") for _ in range(3)]
    night = store.add_capture(s.id, _img(rng, (48, 64)), kind="night")
    matrix = np.array([[1, 0, 2.5], [0, 1, -1], [0, 0, 1]], float)
    pair = store.add_pair(
        s.id,
        night_id=night.id,
        day_ids=[d.id for d in days],
        alignment={"ok": True, "method": "features+ecc", "motion": "homography",
                   "score": 0.8, "reason": "", "matrix": matrix},
        leak_params={"window": 13},
        ssim_mean=0.61,
        leak_area_pct=3.5,
    )  # fmt: skip
    assert pair.day_ids == tuple(d.id for d in days)
    np.testing.assert_allclose(pair.matrix, matrix)
    assert (pair.method, pair.aligned_ok, pair.leak_params) == (
        "features+ecc",
        True,
        {"window": 13},
    )
    outputs = {"colorized": _img(rng), "leak_mask": rng.random((48, 64)).astype(np.float32)}
    r1 = store.add_run(
        pair.id,
        model_name="m",
        model_sha256="ab" * 32,
        params={"a": 1},
        outputs=outputs,
        metrics={"psnr": 30.1},
        timings_ms={"colorize": 20.0},
    )
    r2 = store.add_run(pair.id, model_name="m2", model_sha256="cd" * 32)
    assert [r.id for r in store.runs(pair.id)] == [r1.id, r2.id]
    assert set(r1.outputs) == {"colorized", "leak_mask"} and r1.metrics == {"psnr": 30.1}
    np.testing.assert_array_equal(store.read_image(r1.outputs["colorized"]), outputs["colorized"])
    with pytest.raises(ValueError, match="is a night capture"):
        store.add_pair(s.id, night_id=night.id, day_ids=[night.id])


def test_pairs_without_run_are_those_with_no_run_of_that_model_in_that_session(store, rng):
    # what the app's "Process N pairs without a run" counts and processes: a run of another
    # model does not count, nor a pair of another session
    s, other = store.create_session("night"), store.create_session("other")
    pairs = [store.capture_pair(s.id, day=_img(rng), night=_img(rng, (48, 64))) for _ in range(3)]
    elsewhere = store.capture_pair(other.id, day=_img(rng), night=_img(rng, (48, 64)))
    store.add_run(pairs[0].id, model_name="m", model_sha256="ab" * 32)
    store.add_run(pairs[1].id, model_name="old", model_sha256="cd" * 32)
    store.add_run(elsewhere.id, model_name="old", model_sha256="cd" * 32)
    assert store.pair_ids_without_run(s.id, "ab" * 32) == [pairs[1].id, pairs[2].id]
    assert store.pair_ids_without_run(s.id, "cd" * 32) == [pairs[0].id, pairs[2].id]
    assert store.pair_ids_without_run(other.id, "ab" * 32) == [elsewhere.id]


def test_capture_pair_commits_both_frames_and_the_pair_together(store, rng, monkeypatch):
    s = store.create_session("pair")
    day, night = _img(rng), _img(rng, (48, 64))
    pair = store.capture_pair(s.id, day=day, night=night, ssim_mean=0.7)
    np.testing.assert_array_equal(store.read_image(pair.night_id), night)
    np.testing.assert_array_equal(store.read_image(pair.day_ids[0]), day)
    assert pair.ssim_mean == 0.7 and store.capture(pair.night_id).kind == "night"
    # a failing commit leaves neither captures, pair nor files
    import engine.store._store as impl

    monkeypatch.setattr(impl, "insert_pair", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        store.capture_pair(s.id, day=day, night=night)
    assert len(store.captures(s.id)) == 2 and store.count_pairs() == 1
    assert store.reconcile().clean


def test_verdict_history_is_kept_and_the_latest_wins(store, rng):
    s = store.create_session("qa")
    pair = _pair(store, rng, s.id)
    store.set_verdict(pair.id, "fail", note="smeared", operator="ana")
    time.sleep(0.001)
    store.set_verdict(pair.id, "pass", note="re-judged", operator="bo")
    assert [v.verdict for v in store.verdicts(pair.id)] == ["fail", "pass"]
    assert store.pair(pair.id).verdict == "pass"
    assert store.pairs(verdict="pass")[0].id == pair.id and store.pairs(verdict="fail") == []
    with pytest.raises(ValueError, match="verdict must be one of"):
        store.set_verdict(pair.id, "maybe")


def test_tags_filter_and_removal(store, rng):
    s = store.create_session("tags")
    a, b = _pair(store, rng, s.id), _pair(store, rng, s.id)
    assert store.add_tags(a.id, "fog", "tent") == ("fog", "tent")
    store.add_tags(b.id, "fog")
    assert [p.id for p in store.pairs(tag="tent")] == [a.id]
    assert store.count_pairs(tag="fog") == 2
    assert store.remove_tags(a.id, "fog") == ("tent",)


def test_events_fire_after_commit_with_the_committed_record(store, rng):
    seen = []

    def on_capture(cap):
        # the row is visible to a fresh reader when the event fires: it has committed
        with sqlite3.connect(store.db_path) as conn:
            (n,) = conn.execute("SELECT COUNT(*) FROM captures WHERE id = ?", (cap.id,)).fetchone()
        seen.append((cap.kind, n))

    store.events.capture_added.connect(on_capture)
    s = store.create_session("ev")
    store.add_capture(s.id, _img(rng), kind="day")
    assert seen == [("day", 1)]


def test_concurrent_writes_from_many_threads_all_commit(store, rng):
    s = store.create_session("threads")
    pair = _pair(store, rng, s.id)
    errors = []

    def judge(i):
        try:
            for k in range(15):
                store.set_verdict(pair.id, ("pass", "fail", "review")[(i + k) % 3], note=f"{i}")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=judge, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(store.verdicts(pair.id)) == 60
    assert store.writer_thread is not None and store.writer_thread is not threading.current_thread()
    mode = sqlite3.connect(store.db_path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_writes_can_be_kept_off_the_gui_thread(store, rng):
    s = store.create_session("gui")
    store.disallow_writes_on(threading.current_thread())  # as the GUI does for its thread
    with pytest.raises(RuntimeError, match="run it on a worker thread"):
        store.capture_pair(s.id, day=_img(rng), night=_img(rng, (48, 64)))
    assert store.captures(s.id) == [] and store.reconcile().clean  # nothing written
    done = []
    worker = threading.Thread(
        target=lambda: done.append(
            store.capture_pair(s.id, day=_img(rng), night=_img(rng, (48, 64)))
        )
    )
    worker.start()
    worker.join()
    assert len(done) == 1 and store.count_pairs(session_id=s.id) == 1


def test_one_writing_process_at_a_time_but_readers_alongside(tmp_path, rng):
    with Store(tmp_path) as writer:
        s = writer.create_session("busy")
        with pytest.raises(StoreBusy, match="another NightLab process"):
            Store(tmp_path)
        with Store(tmp_path, read_only=True) as reader:
            assert [x.name for x in reader.sessions()] == ["busy"]
            with pytest.raises(StoreError, match="read-only"):
                reader.create_session("nope")
        writer.add_capture(s.id, _img(rng), kind="day")
    with Store(tmp_path) as again:  # the lock went with the first writer
        assert again.session("busy").n_captures == 1


def test_reconcile_moves_strays_aside_and_flags_missing_files(tmp_path, rng):
    with Store(tmp_path) as store:
        s = store.create_session("r")
        kept = store.add_capture(s.id, _img(rng), kind="day")
        gone = store.add_capture(s.id, _img(rng), kind="day")
    folder = (tmp_path / kept.path).parent
    stray = folder / "20260101-000000-000-night-deadbeef.png"
    stray.write_bytes((tmp_path / kept.path).read_bytes())
    partial = folder / ".x.png.abc.partial"
    partial.write_bytes(b"half")
    missing_bytes = (tmp_path / gone.path).read_bytes()
    (tmp_path / gone.path).unlink()

    with Store(tmp_path) as store:  # closed cleanly last time: no walk over every file
        assert store.last_reconcile is None and stray.exists()
    with Store(tmp_path, reconcile="always") as store:
        report = store.last_reconcile
        assert report.orphans == (stray.relative_to(tmp_path).as_posix(),)
        assert report.partials == (partial.relative_to(tmp_path).as_posix(),)
        assert report.missing == (gone.path,)
        moved = tmp_path / "lost+found"
        # nothing deleted: both strays are in lost+found, with a report
        assert {p.name for p in moved.rglob("*") if p.is_file()} >= {stray.name, partial.name}
        assert any(p.name == "report.json" for p in moved.rglob("report.json"))
        assert not stray.exists() and not partial.exists()
        # the records stay, flagged; the sound capture still reads
        assert store.verify(s.id) == [f"{gone.path}: missing"]
        np.testing.assert_array_equal(store.read_image(kept).shape, (48, 64, 3))
    (tmp_path / gone.path).write_bytes(missing_bytes)  # the file comes back (e.g. restored)
    with Store(tmp_path, reconcile="always") as store:
        assert store.last_reconcile.restored == (gone.path,) and store.verify() == []


def test_a_failed_file_write_leaves_neither_file_nor_row(tmp_path, rng, monkeypatch):
    import engine.store._store as impl

    with Store(tmp_path) as store:
        s = store.create_session("disk")

        def full(root, rel, data):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(impl, "write_file", full)
        with pytest.raises(StoreError, match="disk full"):
            store.add_capture(s.id, _img(rng), kind="day")
        assert store.captures(s.id) == [] and store.reconcile().clean


def test_data_dir_option_beats_environment_beats_platform(tmp_path, monkeypatch):
    monkeypatch.setenv("NIGHTLAB_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "opt") == tmp_path / "opt"
    monkeypatch.delenv("NIGHTLAB_DATA_DIR")
    assert resolve_data_dir().name == "NightLab"


def test_database_made_by_the_first_schema_is_upgraded_in_place(tmp_path):
    # rows as NightLab v1 wrote them (no pairs.verdict column yet)
    db = old_record(
        tmp_path,
        1,
        """
        INSERT INTO verdicts (pair_id, verdict, created_at) VALUES (1, 'fail', 1.0);
        INSERT INTO verdicts (pair_id, verdict, created_at) VALUES (1, 'review', 2.0);
        """,
    )
    assert user_version(db) == 1
    with pytest.raises(StoreError, match="open it once for writing"):
        Store(tmp_path, read_only=True)
    with Store(tmp_path) as store:
        pair = store.pair(1)
        assert pair.verdict == "review" and pair.day_ids == (2,) and pair.ssim_mean == 0.5
        store.set_verdict(1, "pass")
        assert store.pairs(verdict="pass")[0].id == 1
        version = sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0]
        assert version == SCHEMA_VERSION
        indexes = {r[0] for r in sqlite3.connect(db).execute("SELECT name FROM sqlite_master")}
        assert {"pairs_verdict", "pairs_ssim", "tags_tag"} <= indexes


def test_a_file_that_is_not_a_database_is_one_line_and_left_alone(tmp_path):
    db = tmp_path / DB_NAME
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a database") as err:
        Store(tmp_path)
    assert "\n" not in str(err.value) and str(db) in str(err.value)
    assert db.read_bytes() == b"this is not sqlite" * 100


def test_a_failed_open_does_not_mark_an_unclean_folder_clean(tmp_path, monkeypatch):
    import engine.store._store as impl

    with Store(tmp_path) as store:
        store.create_session("x")
    (tmp_path / ".closed-cleanly").unlink()  # as a killed writer leaves it
    monkeypatch.setattr(impl, "migrate", lambda conn: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        Store(tmp_path)
    assert not (tmp_path / ".closed-cleanly").exists()  # the next open still reconciles


def test_a_newer_database_is_refused_not_touched(tmp_path):
    db = tmp_path / DB_NAME
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this NightLab"):
        Store(tmp_path)
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1


# -- scale ------------------------------------------------------------------------------------
N_PAIRS = 100_000


def fill_synthetic(root, n=N_PAIRS):
    """The bench's synthetic archive, read back: (session id, ssim, leak, verdict, tagged)."""
    from engine.bench._store import fill_synthetic_pairs

    fill_synthetic_pairs(root, n)
    conn = sqlite3.connect(root / DB_NAME)
    rows = conn.execute("SELECT ssim_mean, leak_area_pct, verdict FROM pairs ORDER BY id")
    ssim, leak, verdicts = zip(*rows.fetchall(), strict=True)
    tagged = [r[0] - 1 for r in conn.execute("SELECT pair_id FROM tags ORDER BY pair_id")]
    conn.close()
    verdicts = np.array([v or "none" for v in verdicts])
    return 1, np.array(ssim), np.array(leak), verdicts, np.array(tagged)


def _top(values, rows, k, *, desc=False):
    """Pair ids of the first ``k`` of ``rows`` ordered by ``values`` (ties: by id, same way)."""
    ids = rows + 1
    sign = -1 if desc else 1
    order = np.lexsort((sign * ids, sign * values[rows]))
    return [int(i) for i in ids[order][:k]]


def _plan(store, query):
    from engine.store._queries import pair_query_sql

    sql, params = pair_query_sql(query)
    conn = sqlite3.connect(store.db_path)
    return " | ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params))


@pytest.mark.slow
def test_100k_pairs_filter_and_sort_correctly_using_indexes(tmp_path):
    sid, ssim, leak, verdicts, tagged = fill_synthetic(tmp_path)
    with Store(tmp_path, read_only=True) as store:
        assert store.count_pairs() == N_PAIRS
        # sort by a metric: the page is the true top of the whole table
        q = PairQuery(sort="-ssim_mean", limit=50)
        assert [p.id for p in store.pairs(q)] == _top(ssim, np.arange(N_PAIRS), 50, desc=True)
        # filter by verdict (latest, kept by the trigger) + sort by another metric
        q = PairQuery(verdict="fail", sort="leak_area_pct", limit=20)
        fails = np.flatnonzero(verdicts == "fail")
        assert [p.id for p in store.pairs(q)] == _top(leak, fails, 20)
        assert store.count_pairs(verdict="fail") == len(fails)
        assert store.count_pairs(verdict="none") == int((verdicts == "none").sum())
        # filter by tag, and by a metric range
        assert store.count_pairs(tag="fog") == len(tagged)
        q = PairQuery(ranges={"ssim_mean": (0.2, 0.3)}, sort="-leak_area_pct", limit=10)
        inside = np.flatnonzero((ssim >= 0.2) & (ssim <= 0.3))
        assert [p.id for p in store.pairs(q)] == _top(leak, inside, 10, desc=True)
        # every one of these is answered through an index, never a full scan of pairs
        for query in [
            PairQuery(sort="-ssim_mean"),
            PairQuery(sort="score"),
            PairQuery(verdict="fail", sort="leak_area_pct"),
            PairQuery(tag="fog"),
            PairQuery(ranges={"leak_area_pct": (99, None)}, sort="-leak_area_pct"),
            PairQuery(session_id=sid, verdict="pass"),
        ]:
            plan = _plan(store, query)
            assert "INDEX" in plan, (query, plan)
            # no full scan of the table ("SCAN p"; "SCAN p USING INDEX" walks an index in order)
            assert not any(s.strip() in ("SCAN p", "SCAN pairs") for s in plan.split("|")), plan


def test_records_can_be_rebuilt_byte_for_byte_as_an_import_does(tmp_path, rng):
    """What BagIt import needs: given PNG bytes and times are kept exactly."""
    with Store(tmp_path / "a") as a:
        s = a.create_session("src", operator="ana", scene_notes="roof")
        pair = a.capture_pair(s.id, day=_img(rng), night=_img(rng, (48, 64)), ssim_mean=0.5)
        run = a.add_run(pair.id, model_name="m", model_sha256="ab" * 32,
                        outputs={"colorized": _img(rng)}, metrics={"x": 1})  # fmt: skip
        v = a.set_verdict(pair.id, "fail", note="n", operator="bo")
        a.close_session(s.id)
        src = (a.session(s.id), a.pair(pair.id), a.run(run.id), a.verdicts(pair.id))
        day_c, night_c = a.capture(pair.day_ids[0]), a.capture(pair.night_id)
        blobs = {k: (a.root / p).read_bytes() for k, p in
                 [("day", day_c.path), ("night", night_c.path),
                  ("colorized", run.outputs["colorized"])]}  # fmt: skip
    with Store(tmp_path / "b") as b:
        s0 = src[0]
        s2 = b.create_session(s0.name, operator=s0.operator, scene_notes=s0.scene_notes,
                              uid=s0.uid, created_at=s0.created_at)  # fmt: skip
        d = b.add_capture(s2.id, blobs["day"], kind="day", meta=day_c.meta,
                          taken_at=day_c.taken_at)  # fmt: skip
        n = b.add_capture(s2.id, blobs["night"], kind="night", meta=night_c.meta,
                          taken_at=night_c.taken_at)  # fmt: skip
        p2 = b.add_pair(s2.id, night_id=n.id, day_ids=[d.id], ssim_mean=src[1].ssim_mean,
                        created_at=src[1].created_at)  # fmt: skip
        r2 = b.add_run(p2.id, model_name="m", model_sha256="ab" * 32,
                       outputs={"colorized": blobs["colorized"]}, metrics={"x": 1},
                       created_at=src[2].created_at)  # fmt: skip
        b.set_verdict(p2.id, "fail", note="n", operator="bo", created_at=v.created_at)
        with pytest.raises(ValueError, match="not a readable PNG"):
            b.add_capture(s2.id, b"not a png", kind="day")
        b.close_session(s2.id, at=s0.closed_at)
        assert b.session(s2.id) == s0
        assert b.pair(p2.id) == src[1]
        assert (b.root / d.path).read_bytes() == blobs["day"] and d.sha256 == day_c.sha256
        assert (b.root / r2.outputs["colorized"]).read_bytes() == blobs["colorized"]
        assert [(x.verdict, x.created_at) for x in b.verdicts(p2.id)] == [("fail", v.created_at)]


def test_every_transaction_runs_on_the_one_writer_thread(tmp_path):
    from engine.store._writer import Writer

    seen = []
    writer = Writer(lambda: sqlite3.connect(tmp_path / "w.db", isolation_level=None))

    def job(conn):
        seen.append(threading.current_thread())
        return conn.in_transaction  # each job runs inside its own transaction

    results = []
    callers = [
        threading.Thread(target=lambda: results.extend(writer.call(job) for _ in range(10)))
        for _ in range(3)
    ]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    results.append(writer.call(job))
    writer.close()
    assert results == [True] * 31  # every job, from every caller, inside a transaction
    assert len(seen) == 31 and set(seen) == {writer.thread}
    assert writer.thread not in callers and writer.thread is not threading.current_thread()


def test_store_writes_from_many_threads_all_execute_on_its_writer_thread(tmp_path, monkeypatch):
    """The Store, not just the Writer: every INSERT/UPDATE/DELETE any connection executes runs
    on one thread, whichever thread called the Store."""
    import engine.store._store as store_module

    writes: list[tuple[threading.Thread, str]] = []
    real_connect = sqlite3.connect

    def traced_connect(*args, **kwargs):
        conn = real_connect(*args, **kwargs)

        def trace(sql: str) -> None:
            if sql.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
                writes.append((threading.current_thread(), sql))

        conn.set_trace_callback(trace)
        return conn

    monkeypatch.setattr(store_module.sqlite3, "connect", traced_connect)
    with Store(tmp_path) as store:
        s = store.create_session("threads")
        day = store.add_capture(s.id, np.zeros((40, 40, 3), np.uint8), kind="day")

        def work(i: int) -> None:
            night = store.add_capture(s.id, np.full((40, 40), i, np.uint8), kind="night")
            pair = store.add_pair(s.id, night_id=night.id, day_ids=[day.id])
            store.set_verdict(pair.id, "pass", note=f"from thread {i}")

        callers = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in callers:
            t.start()
        for t in callers:
            t.join()
        assert len(store.pairs(session_id=s.id, limit=None)) == 4
    writer_threads = {t for t, _ in writes}
    assert len(writes) > 12 and len(writer_threads) == 1, writer_threads
    (writer,) = writer_threads
    assert writer is not threading.current_thread() and writer not in callers


def test_a_session_is_found_by_its_uid_even_when_the_uid_is_all_digits_or_past_any_id(store):
    """``Store.session`` read every all-digit reference as an id: a uid of decimal digits
    named another session (``0...01`` -> session 1), and a number past SQLite's integers
    (32 nines, or ``sessions show 99999999999999999999``) ended in an OverflowError
    traceback instead of "no session"."""
    first = store.create_session("first")  # id 1
    digits = store.create_session("digits", uid="0" * 31 + "1")
    nines = store.create_session("nines", uid="9" * 32)
    assert store.session("0" * 31 + "1").id == digits.id
    assert store.session("9" * 32).id == nines.id
    assert store.session("1").id == first.id and store.session(first.id).id == first.id
    with pytest.raises(KeyError, match="no session"):
        store.session("99999999999999999999")
    with pytest.raises(KeyError, match="no session"):  # another record's uid: not session 2
        store.session("0" * 31 + "2")
