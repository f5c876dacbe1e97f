"""Reprocessing on Dask: the same task function serially, on a LocalCluster and on a cluster
started with the ``dask scheduler`` / ``dask worker`` commands, all on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import skimage.data

from engine import read_image, to_gray, write_image
from engine.reference import fuse_day_captures
from engine.reprocess import PairJob, RunSpec, process_batch, reprocess

SHIFT = (6, -4)  # night = day shifted right 6 px, up 4 px
NUDGED = (11, -1)  # a registration an operator nudged 5 px right and 3 px down of the truth
# leak-mask settings an operator tuned in the GUI: a higher similarity threshold flags more
# (on the brighter-patch pair: about 17 % of the frame, 3.5 % with the defaults, measured)
TUNED_LEAK = {"lo": 0.3, "hi": 0.6}


def _translation(tx: float, ty: float) -> list[list[float]]:
    return [[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]]


def _registration(tx: float, ty: float, *, ok: bool = True, reason: str = "") -> dict:
    return {
        "ok": ok,
        "method": "manual",
        "motion": "translation",
        "score": 0.9,
        "reason": reason,
        "matrix": _translation(tx, ty),
    }


def _second_day(day: np.ndarray) -> np.ndarray:
    """Another day capture of the scene: a patch brighter (a parked van, a sunlit wall)."""
    out = day.copy()
    out[60:150, 100:220] = np.clip(out[60:150, 100:220].astype(int) + 90, 0, 255)
    return out


def _shifted_by(image: np.ndarray, tx: int, ty: int) -> np.ndarray:
    """``image`` moved right ``tx`` px and down ``ty`` px (what a pure translation warp gives
    inside the frame); compare away from the borders."""
    return np.roll(image, (ty, tx), axis=(0, 1))


INNER = (slice(20, -20), slice(20, -20))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    day = cv2.resize(skimage.data.astronaut(), (320, 240), interpolation=cv2.INTER_AREA)
    m = np.float32([[1, 0, SHIFT[0]], [0, 1, SHIFT[1]]])
    night = cv2.warpAffine(to_gray(day), m, (320, 240), borderMode=cv2.BORDER_REFLECT)
    for i in range(6):
        write_image(root / f"captures/{i:04d}_day.png", day)
        write_image(root / f"captures/{i:04d}_night.png", night)
    (root / "captures/0005_night.png").write_bytes(b"not a png")  # one corrupt pair
    write_image(root / "captures/0000_day_b.png", _second_day(day))
    return root


@pytest.fixture(scope="module")
def jobs():
    never_aligned = [
        PairJob(i, (f"captures/{i:04d}_day.png",), f"captures/{i:04d}_night.png") for i in range(6)
    ]
    return [
        *never_aligned,
        # pair 6: the operator nudged its registration in the inspector
        PairJob(6, ("captures/0000_day.png",), "captures/0000_night.png", _registration(*NUDGED)),
        # pair 7: a reference of two day captures, registered (median of both) onto the night
        PairJob(
            7,
            ("captures/0000_day.png", "captures/0000_day_b.png"),
            "captures/0000_night.png",
            _registration(*SHIFT),
        ),
        # pair 8: the day capture with the brighter patch, its leak mask tuned by the operator
        PairJob(
            8,
            ("captures/0000_day_b.png",),
            "captures/0000_night.png",
            _registration(*SHIFT),
            TUNED_LEAK,
        ),
    ]


@pytest.fixture(scope="module")
def spec():
    return RunSpec.for_model(method="auto", motion="affine")


def _decode(png: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED).astype(int)


def _same_image(a: bytes, b: bytes) -> None:
    # worker processes may use other SIMD/thread paths in OpenCV and onnxruntime: allow one grey
    # level of rounding, nothing visible
    da, db = _decode(a), _decode(b)
    assert da.shape == db.shape and np.abs(da - db).max() <= 1, np.abs(da - db).max()


def _by_id(outcomes):
    return {o.pair_id: o for o in outcomes}


@pytest.fixture(scope="module")
def serial_outcomes(jobs, spec, data_dir):
    got = []
    report = reprocess(jobs, spec, data_dir=data_dir, serial=True, on_outcome=got.append)
    assert report.where == "serial" and (report.processed, report.failed) == (8, 1)
    return _by_id(got)


def test_serial_run_recovers_the_known_shift_and_reports_the_corrupt_pair(serial_outcomes):
    good = [serial_outcomes[i] for i in range(5)]
    for o in good:  # pairs without a stored registration are aligned, as before
        assert o.ok, o.error
        assert o.metrics["registration"]["source"] == "aligned"
        matrix = np.array(o.metrics["alignment"]["matrix"])
        assert matrix[0, 2] == pytest.approx(SHIFT[0], abs=0.5)
        assert matrix[1, 2] == pytest.approx(SHIFT[1], abs=0.5)
        colorized = cv2.imdecode(np.frombuffer(o.outputs["colorized"], np.uint8), cv2.IMREAD_COLOR)
        assert colorized.shape == (240, 320, 3)
    bad = serial_outcomes[5]
    assert not bad.ok and "0005_night.png" in bad.error and bad.outputs == {}


def test_nudged_registration_is_what_the_reference_is_warped_by(serial_outcomes, data_dir):
    nudged, aligned = serial_outcomes[6], serial_outcomes[0]
    assert nudged.ok, nudged.error
    assert nudged.metrics["registration"]["source"] == "stored"
    np.testing.assert_allclose(nudged.metrics["alignment"]["matrix"], _translation(*NUDGED))
    assert nudged.metrics["timings_ms"]["align"] == 0  # no search ran
    # the warped reference is the day image moved by the nudged offset, pixel for pixel
    day = read_image(data_dir / "captures/0000_day.png")
    ref = _decode(nudged.outputs["aligned_reference"])[..., ::-1]  # PNG bytes are BGR
    assert np.array_equal(ref[INNER], _shifted_by(day, *NUDGED)[INNER])
    # and the metrics are the nudged reference's: 5x3 px off, it matches the night frame worse
    assert nudged.metrics["ssim_mean"] < aligned.metrics["ssim_mean"] - 0.1


def test_every_day_capture_of_a_pair_goes_into_its_reference(serial_outcomes, data_dir):
    both = serial_outcomes[7]
    assert both.ok, both.error
    assert both.metrics["day_reference"] == {
        "captures": ["captures/0000_day.png", "captures/0000_day_b.png"],
        "combine": "fused-v2",
        "used": ["captures/0000_day.png", "captures/0000_day_b.png"],
        "refused": [],
    }
    day = read_image(data_dir / "captures/0000_day.png")
    day_b = read_image(data_dir / "captures/0000_day_b.png")
    ref = _decode(both.outputs["aligned_reference"])[..., ::-1].astype(int)
    # the captures fused in the first one's grid (as capture and the inspector fuse them),
    # warped by the stored registration
    expected = _shifted_by(fuse_day_captures([day, day_b]).image.astype(int), *SHIFT)
    assert np.abs(ref[INNER] - expected[INNER]).max() <= 1
    patch = (slice(60 + 10 + SHIFT[1], 150 - 10 + SHIFT[1]), slice(100 + 10 + SHIFT[0], 220 - 10))
    only_first = _decode(serial_outcomes[0].outputs["aligned_reference"])[..., ::-1]
    assert (ref[patch].mean() - only_first[patch].mean()) > 30


def test_stored_registration_that_is_not_aligned_fails_with_its_reason_unless_realigned(
    spec, data_dir
):
    refused = PairJob(
        9,
        ("captures/0000_day.png",),
        "captures/0000_night.png",
        _registration(0, 0, ok=False, reason="too few matches"),
    )
    [kept] = process_batch([refused], spec, str(data_dir))
    assert not kept.ok and "too few matches" in kept.error and "--realign" in kept.error
    realign = RunSpec(spec.model_path, spec.model_sha256, {**spec.params, "realign": True})
    [redone] = process_batch([refused], realign, str(data_dir))
    assert redone.ok and redone.metrics["registration"]["source"] == "aligned"
    matrix = np.array(redone.metrics["alignment"]["matrix"])
    assert matrix[0, 2] == pytest.approx(SHIFT[0], abs=0.5)


def test_already_done_pairs_are_skipped_and_counted(jobs, spec, data_dir):
    seen = []
    report = reprocess(
        jobs,
        spec,
        data_dir=data_dir,
        serial=True,
        already_done=lambda job, key: job.pair_id < 4 and key == spec.key_for(job),
        on_outcome=lambda o: seen.append(o.pair_id),
    )
    assert (report.total, report.skipped, report.processed, report.failed) == (9, 4, 4, 1)
    assert sorted(seen) == [4, 5, 6, 7, 8]


def test_pair_with_tuned_leak_settings_is_masked_with_them_not_the_defaults(
    serial_outcomes, spec, data_dir
):
    tuned = serial_outcomes[8]
    assert tuned.ok, tuned.error
    assert tuned.metrics["leak_params"]["source"] == "stored"
    assert {k: tuned.metrics["leak_params"]["params"][k] for k in TUNED_LEAK} == TUNED_LEAK
    # the same pair without stored settings: the defaults, and a much smaller leak area
    job = PairJob(8, ("captures/0000_day_b.png",), "captures/0000_night.png", _registration(*SHIFT))
    [default] = process_batch([job], spec, str(data_dir))
    assert default.metrics["leak_params"]["source"] == "default"
    assert tuned.metrics["leak_area_pct"] > default.metrics["leak_area_pct"] + 5
    assert (_decode(tuned.outputs["leak_mask"]) > 127).mean() > (
        _decode(default.outputs["leak_mask"]) > 127
    ).mean() + 0.05


def test_pair_key_changes_with_the_leak_settings_used_but_not_with_stored_defaults(spec, jobs):
    import dataclasses

    from engine.leakmask import LeakMaskParams

    tuned = jobs[8]
    plain = PairJob(8, tuned.day, tuned.night, tuned.registration)
    defaults = PairJob(
        8, tuned.day, tuned.night, tuned.registration, dataclasses.asdict(LeakMaskParams())
    )
    retuned = PairJob(8, tuned.day, tuned.night, tuned.registration, {**TUNED_LEAK, "hi": 0.7})
    assert spec.key_for(tuned) != spec.key_for(plain)  # tuned since the last run: a new run
    assert spec.key_for(retuned) != spec.key_for(tuned)
    # settings equal to the defaults make the run the defaults make: runs made before keep
    assert spec.key_for(defaults) == spec.key_for(plain)


def test_run_key_changes_with_model_hash_or_parameters(spec):
    assert RunSpec(spec.model_path, spec.model_sha256, dict(spec.params)).key == spec.key
    assert RunSpec(spec.model_path, "0" * 64, spec.params).key != spec.key
    assert (
        RunSpec(spec.model_path, spec.model_sha256, {**spec.params, "motion": "homography"}).key
        != spec.key
    )


def test_pair_key_changes_with_the_registration_used(spec, jobs):
    nudged = jobs[6]
    same = PairJob(6, nudged.day, nudged.night, _registration(*NUDGED))
    moved = PairJob(6, nudged.day, nudged.night, _registration(*SHIFT))
    never = PairJob(6, nudged.day, nudged.night)
    assert spec.key_for(same) == spec.key_for(nudged)
    assert spec.key_for(moved) != spec.key_for(nudged)  # fixed in the inspector: a new run
    assert spec.key_for(never) != spec.key_for(nudged)
    other_motion = RunSpec(spec.model_path, spec.model_sha256, {**spec.params, "motion": "x"})
    # alignment options do not touch a run made with the stored registration ...
    assert other_motion.key_for(nudged) == spec.key_for(nudged)
    # ... but do when the pair is aligned, and realigning ignores the stored one
    assert other_motion.key_for(never) != spec.key_for(never)
    realign = RunSpec(spec.model_path, spec.model_sha256, {**spec.params, "realign": True})
    assert realign.key_for(nudged) == spec.key_for(never)
    assert spec.key_for(PairJob(6, (*nudged.day, "b.png"), nudged.night)) != spec.key_for(never)


def test_a_registration_changed_and_changed_back_is_processed_again(tmp_path, spec):
    """A -> B -> A: the run made from A is not the pair's newest, so A is run again (an
    export hands over the newest run, which must match the pair's registration)."""
    from engine.reprocess import done_in_store
    from engine.store import Store

    day = np.zeros((8, 8, 3), np.uint8)
    with Store(tmp_path / "store") as store:
        s = store.create_session("s")
        pair = store.add_pair_with_captures(s.id, days=[day], night=day[..., 0])
        job_a = PairJob.from_pair(store, store.update_pair(pair.id, alignment=_registration(1, 0)))
        job_b = PairJob(job_a.pair_id, job_a.day, job_a.night, _registration(2, 0))
        assert job_a.registration["matrix"] == _translation(1, 0)  # read back from the store
        done = done_in_store(store, spec)
        assert not done(job_a, spec.key_for(job_a))
        for job in (job_a, job_b):
            store.add_run(
                pair.id,
                model_name="m",
                model_sha256=spec.model_sha256,
                params={"run_key": spec.key_for(job)},
            )
        assert done(job_b, spec.key_for(job_b))
        assert not done(job_a, spec.key_for(job_a))
        # another model's runs do not hide this model's newest
        store.add_run(pair.id, model_name="other", model_sha256="f" * 64, params={})
        assert done(job_b, spec.key_for(job_b))


def test_jobs_must_stay_inside_the_data_dir():
    with pytest.raises(ValueError, match="relative to the data dir"):
        PairJob(1, ("../etc/passwd",), "n.png")
    with pytest.raises(ValueError, match="relative to the data dir"):
        PairJob(1, ("d.png",), "/abs/n.png")


def test_a_stored_registration_without_a_3x3_matrix_is_refused_when_the_job_is_made():
    with pytest.raises(ValueError, match="pair 3: stored registration needs a finite 3x3"):
        PairJob(3, ("d.png",), "n.png", {"ok": True, "matrix": [[1.0, 0.0], [0.0, 1.0]]})
    job = PairJob(3, ("d.png",), "n.png", _registration(*SHIFT))
    assert job in {job}  # still hashable with its registration mapping


def test_local_cluster_of_two_worker_processes_matches_serial(
    jobs, spec, data_dir, serial_outcomes
):
    got = []
    report = reprocess(
        jobs, spec, data_dir=data_dir, n_workers=2, batch_size=2, on_outcome=got.append
    )
    assert report.where == "local cluster" and report.workers == 2
    assert (report.processed, report.failed) == (8, 1)
    workers = {o.worker for o in got}
    assert all(not w.endswith(f":{os.getpid()}") for w in workers), "ran in the client process"
    for pid, o in _by_id(got).items():
        ref = serial_outcomes[pid]
        assert o.ok == ref.ok
        if o.ok:
            assert o.metrics["registration"] == ref.metrics["registration"]
            np.testing.assert_allclose(
                o.metrics["alignment"]["matrix"], ref.metrics["alignment"]["matrix"], atol=1e-6
            )
            _same_image(o.outputs["aligned_reference"], ref.outputs["aligned_reference"])
            _same_image(o.outputs["colorized"], ref.outputs["colorized"])
            # the pair's own leak settings reach the workers, not only the serial loop
            assert o.metrics["leak_params"] == ref.metrics["leak_params"]
            _same_image(o.outputs["leak_mask"], ref.outputs["leak_mask"])
    # the nudged pair on the cluster: warped by the stored matrix, not searched again
    np.testing.assert_allclose(_by_id(got)[6].metrics["alignment"]["matrix"], _translation(*NUDGED))


def test_a_cluster_holds_only_the_batches_in_flight_not_every_result_of_the_night(
    jobs, spec, data_dir
):
    """A night is thousands of pairs: the cluster kept the result of every batch whose future
    the client held, and all were submitted and held at once (3,000 pairs at 640x480: each
    worker grew to ~2 GiB). Counted in the workers' own memory as each outcome arrives."""
    from distributed import default_client

    from engine.reprocess._runner import IN_FLIGHT_PER_WORKER

    night = [dataclasses.replace(j, pair_id=100 + k * 10 + j.pair_id)
             for k in range(5) for j in jobs[:5]]  # fmt: skip
    held = []

    def count(_outcome) -> None:
        workers = default_client().run(lambda dask_worker: len(dask_worker.data))
        held.append(sum(workers.values()))

    report = reprocess(night, spec, data_dir=data_dir, n_workers=2, batch_size=1,
                       on_outcome=count)  # fmt: skip
    assert (report.processed, report.failed) == (25, 0)
    # before: every result of the run (25 of 25 held at the end)
    assert max(held) <= IN_FLIGHT_PER_WORKER * 2, held


def test_a_local_cluster_starts_quietly_beside_another_on_the_dashboard_port(jobs, spec, data_dir):
    # with port 8787 taken (another cluster, a notebook), the scheduler's health routes went
    # there anyway and distributed warned "Port 8787 is already in use": a failure under the
    # suite's warnings-as-errors, and a noisy line in a lab user's reprocess
    import socket
    import warnings

    taken = socket.socket()
    try:
        taken.bind(("0.0.0.0", 8787))
    except OSError:
        taken.close()
        pytest.skip("port 8787 is in use on this machine already")
    taken.listen()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            report = reprocess(jobs[:2], spec, data_dir=data_dir, n_workers=1, batch_size=2)
    finally:
        taken.close()
    assert report.where == "local cluster" and report.processed == 2


@pytest.fixture
def cli_cluster(tmp_path):
    """A scheduler and two workers started with the ``dask`` command line, on 127.0.0.1."""
    dask = shutil.which("dask", path=os.path.dirname(sys.executable))
    if dask is None:
        pytest.skip("the dask command is not installed next to this Python")
    sched_file = tmp_path / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__LOGGING__DISTRIBUTED": "error"}
    procs = [
        subprocess.Popen(
            [
                dask,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(sched_file),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sched_file.exists(), "dask scheduler did not start"
        procs.append(
            subprocess.Popen(
                [
                    dask,
                    "worker",
                    "--scheduler-file",
                    str(sched_file),
                    "--nworkers",
                    "2",
                    "--nthreads",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        )
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_existing_cluster_from_dask_commands_runs_the_same_task_and_loads_model_once_per_worker(
    jobs, spec, data_dir, serial_outcomes, cli_cluster
):
    from distributed import Client

    got = []
    report = reprocess(
        jobs * 2,
        spec,
        data_dir=data_dir,
        scheduler=cli_cluster,
        batch_size=1,
        on_outcome=got.append,
    )
    assert report.where == cli_cluster and report.workers == 2
    assert (report.processed, report.failed) == (16, 2)
    for o in got:
        assert o.ok == serial_outcomes[o.pair_id].ok
        if o.ok:
            _same_image(o.outputs["colorized"], serial_outcomes[o.pair_id].outputs["colorized"])

    def loads():
        from engine.reprocess import _task

        return _task.load_count

    with Client(cli_cluster, timeout="30s") as client:
        counts = client.run(loads)
    # 18 single-pair tasks over 2 workers, 16 of them with a model to run: one load per worker
    assert len(counts) == 2 and set(counts.values()) <= {1}, counts


def test_batch_on_a_worker_without_the_data_dir_fails_with_one_line(jobs, spec, tmp_path):
    with pytest.raises(ValueError, match="data directory not found"):
        process_batch(jobs[:1], spec, str(tmp_path / "missing"))


def _cli(*args, data_dir):
    env = {**os.environ, "NIGHTLAB_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "main", "reprocess", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )


def test_reprocess_command_records_runs_and_resumes_by_skipping_done_pairs(tmp_path, data_dir):
    from engine.store import Store

    store_dir = tmp_path / "store"
    with Store(store_dir) as store:
        s = store.create_session("roof")
        for i in range(3):
            day = store.add_capture(
                s.id, read_image(data_dir / f"captures/{i:04d}_day.png"), kind="day"
            )
            night = store.add_capture(
                s.id,
                read_image(data_dir / f"captures/{i:04d}_night.png", mode="gray"),
                kind="night",
            )
            store.add_pair(s.id, night_id=night.id, day_ids=[day.id])
    first = _cli("--session", "roof", "--serial", data_dir=store_dir)
    assert first.returncode == 0, first.stderr
    assert "3 processed, 0 skipped" in first.stdout
    with Store(store_dir, read_only=True) as store:
        pairs = store.pairs(session_id=store.session("roof").id, limit=None)
        runs = [store.runs(p.id) for p in pairs]
        assert all(len(r) == 1 for r in runs)
        run = runs[0][0]
        assert set(run.outputs) == {"aligned_reference", "leak_mask", "colorized"}
        assert store.read_image(run.outputs["colorized"]).shape == (240, 320, 3)
        assert np.array(run.metrics["alignment"]["matrix"])[0, 2] == pytest.approx(
            SHIFT[0], abs=0.5
        )
    again = _cli("--session", "roof", "--serial", data_dir=store_dir)
    assert again.returncode == 0 and "0 processed, 3 skipped" in again.stdout, again.stdout
    other = _cli("--session", "roof", "--serial", "--motion", "affine", data_dir=store_dir)
    assert "3 processed, 0 skipped" in other.stdout, other.stdout


def test_reprocess_summary_counts_failed_pairs_once_not_as_processed(tmp_path, data_dir):
    from engine.pair_views import record_registration
    from engine.store import Store

    day = read_image(data_dir / "captures/0000_day.png")
    night = read_image(data_dir / "captures/0000_night.png", mode="gray")
    store_dir = tmp_path / "store"
    with Store(store_dir) as store:
        s = store.create_session("lab")
        pairs = [store.add_pair_with_captures(s.id, days=[day], night=night) for _ in range(3)]
        record_registration(store, pairs[0], _registration(*SHIFT))
        # refused registrations: reprocessing them without --realign fails
        for refused in pairs[1:]:
            record_registration(store, refused, _registration(0, 0, ok=False, reason="few matches"))
    proc = _cli("--session", "lab", "--serial", data_dir=store_dir)
    assert proc.returncode == 1, proc.stderr
    # one pair got a run, two failed: each counted once, beside how the processed one was made
    assert ": 1 processed, 0 skipped" in proc.stdout, proc.stdout
    assert "2 failed; 1 with the stored registration, 0 aligned" in proc.stdout, proc.stdout
    assert proc.stderr.count("nightlab reprocess: failed: pair") == 2, proc.stderr
    with Store(store_dir, read_only=True) as store:
        assert [len(store.runs(p.id)) for p in pairs] == [1, 0, 0]


def test_reprocess_command_unknown_session_is_one_line(tmp_path):
    from engine.store import Store

    Store(tmp_path).close()  # a record without that session
    proc = _cli("--session", "nope", "--serial", data_dir=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "nope" in lines[0], proc.stderr


def test_ctrl_c_stops_reprocess_keeps_finished_runs_and_a_rerun_resumes(tmp_path, data_dir):
    import signal

    from engine.store import Store

    store_dir = tmp_path / "store"
    with Store(store_dir) as store:
        s = store.create_session("night")
        day = store.add_capture(s.id, read_image(data_dir / "captures/0000_day.png"), kind="day")
        night_img = read_image(data_dir / "captures/0000_night.png", mode="gray")
        for _ in range(40):
            night = store.add_capture(s.id, night_img, kind="night")
            store.add_pair(s.id, night_id=night.id, day_ids=[day.id])
    env = {**os.environ, "NIGHTLAB_DATA_DIR": str(store_dir)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "main",
            "reprocess",
            "--session",
            "night",
            "--serial",
            "--batch",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    first = proc.stderr.readline()  # the first progress line: one pair is recorded
    assert first.startswith("reprocess: 1/40"), first
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("reprocess: ")]
    assert len(lines) == 1 and "interrupted" in lines[0] and "resume" in lines[0], err
    done = int(out.split(" processed")[0].rsplit(" ", 1)[-1])
    assert 1 <= done < 40
    again = _cli("--session", "night", "--serial", data_dir=store_dir)
    assert again.returncode == 0, again.stderr
    assert f"{40 - done} processed, {done} skipped" in again.stdout, again.stdout


def _latest_run(store, pair_id):
    return max(store.runs(pair_id), key=lambda r: r.id)


def test_reprocess_command_uses_stored_nudged_and_fused_references_and_redoes_a_changed_one(
    tmp_path, data_dir
):
    from engine.pair_views import record_registration
    from engine.store import Store

    day = read_image(data_dir / "captures/0000_day.png")
    day_b = read_image(data_dir / "captures/0000_day_b.png")
    night = read_image(data_dir / "captures/0000_night.png", mode="gray")
    store_dir = tmp_path / "store"
    with Store(store_dir) as store:
        s = store.create_session("lab")
        ids = {}
        for name, days in (("nudged", [day]), ("two days", [day, day_b]), ("never", [day])):
            pair = store.add_pair_with_captures(s.id, days=days, night=night)
            ids[name] = pair.id
        # what the inspector does when an operator accepts a nudge / a registration
        record_registration(store, store.pair(ids["nudged"]), _registration(*NUDGED))
        record_registration(store, store.pair(ids["two days"]), _registration(*SHIFT))

    first = _cli("--session", "lab", "--serial", data_dir=store_dir)
    assert first.returncode == 0, first.stderr
    assert "3 processed, 0 skipped" in first.stdout, first.stdout
    with Store(store_dir, read_only=True) as store:
        nudged = _latest_run(store, ids["nudged"])
        ref = store.read_image(nudged.outputs["aligned_reference"])
        assert np.array_equal(ref[INNER], _shifted_by(day, *NUDGED)[INNER])
        np.testing.assert_allclose(nudged.metrics["alignment"]["matrix"], _translation(*NUDGED))
        assert nudged.params["registration"] == "stored"
        both = _latest_run(store, ids["two days"])
        ref = store.read_image(both.outputs["aligned_reference"]).astype(int)
        expected = _shifted_by(fuse_day_captures([day, day_b]).image.astype(int), *SHIFT)
        assert np.abs(ref[INNER] - expected[INNER]).max() <= 1
        never = _latest_run(store, ids["never"])
        assert never.params["registration"] == "aligned"
        assert never.metrics["alignment"]["matrix"][0][2] == pytest.approx(SHIFT[0], abs=0.5)
        nudged_ssim = nudged.metrics["ssim_mean"]
    assert "2 with the stored registration, 1 aligned" in first.stdout, first.stdout

    # the operator fixes the nudged registration: only that pair is processed again
    with Store(store_dir) as store:
        record_registration(store, store.pair(ids["nudged"]), _registration(*SHIFT))
    again = _cli("--session", "lab", "--serial", data_dir=store_dir)
    assert again.returncode == 0, again.stderr
    assert "1 processed, 2 skipped" in again.stdout, again.stdout
    with Store(store_dir, read_only=True) as store:
        fixed = _latest_run(store, ids["nudged"])
        np.testing.assert_allclose(fixed.metrics["alignment"]["matrix"], _translation(*SHIFT))
        assert fixed.metrics["ssim_mean"] > nudged_ssim + 0.1
        assert len(store.runs(ids["never"])) == 1

    # --realign: the registered pairs are searched again; the never-registered one already was
    realigned = _cli("--session", "lab", "--serial", "--realign", data_dir=store_dir)
    assert realigned.returncode == 0, realigned.stderr
    assert "0 with the stored registration, 2 aligned" in realigned.stdout, realigned.stdout
    assert "2 processed, 1 skipped" in realigned.stdout, realigned.stdout
    with Store(store_dir, read_only=True) as store:
        redone = _latest_run(store, ids["two days"])
        assert redone.params["registration"] == "aligned" and redone.params["realign"] is True
        assert redone.metrics["registration"]["why"] == "realign asked for a new search"


def test_reprocess_command_uses_the_pairs_tuned_leak_settings_and_redoes_a_retuned_pair(
    tmp_path, data_dir
):
    from engine.pair_views import record_registration
    from engine.store import Store

    day_b = read_image(data_dir / "captures/0000_day_b.png")
    night = read_image(data_dir / "captures/0000_night.png", mode="gray")
    store_dir = tmp_path / "store"
    with Store(store_dir) as store:
        s = store.create_session("tuned")
        pair = store.add_pair_with_captures(s.id, days=[day_b], night=night)
        # the operator tunes the mask in the GUI; the pair's leak figures are made with it
        store.update_pair(pair.id, leak_params=TUNED_LEAK)
        pair = record_registration(store, store.pair(pair.id), _registration(*SHIFT))
        assert pair.leak_params["hi"] == TUNED_LEAK["hi"]
        pair_leak = pair.leak_area_pct

    first = _cli("--session", "tuned", "--serial", data_dir=store_dir)
    assert first.returncode == 0, first.stderr
    assert "1 with the pair's stored leak settings" in first.stdout, first.stdout
    with Store(store_dir, read_only=True) as store:
        run = _latest_run(store, pair.id)
        assert run.params["leak_source"] == "stored" and run.params["leak"]["hi"] == 0.6
        # the run's leak figure is the pair's, not the defaults' (3.5 % on these images)
        assert run.metrics["leak_area_pct"] == pytest.approx(pair_leak, abs=0.01)
        assert pair_leak > 10
    unchanged = _cli("--session", "tuned", "--serial", data_dir=store_dir)
    assert "0 processed, 1 skipped" in unchanged.stdout, unchanged.stdout

    with Store(store_dir) as store:  # tuned again: only then is the pair processed again
        store.update_pair(pair.id, leak_params={**TUNED_LEAK, "hi": 0.7})
    again = _cli("--session", "tuned", "--serial", data_dir=store_dir)
    assert "1 processed, 0 skipped" in again.stdout, again.stdout
    with Store(store_dir, read_only=True) as store:
        assert _latest_run(store, pair.id).params["leak"]["hi"] == 0.7
