"""Export fixtures: a synthetic store-free plan (real PNGs, a manifest that follows the schema)
and `fill`, a real store session with everything a record can hold."""

from __future__ import annotations

import uuid
from pathlib import Path

import cv2
import numpy as np

from engine.exchange import FORMAT, FORMAT_VERSION, BagPlan
from engine.store import Store


def _png(path: Path, img: np.ndarray) -> str:
    import hashlib

    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", img)
    assert ok
    path.write_bytes(buf.tobytes())
    return hashlib.sha256(buf.tobytes()).hexdigest()


def make_plan(
    src: Path, *, n_pairs: int = 3, size: tuple[int, int] = (64, 48), seed: int = 0
) -> BagPlan:
    """A session of ``n_pairs`` night frames sharing one day reference, one run per pair
    (two on the first pair), verdicts and tags; images written under ``src``."""
    rng = np.random.default_rng(seed)
    w, h = size
    sources, expected = {}, {}
    day_sha = _png(src / "day.png", rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    captures = [
        {
            "id": 1,
            "kind": "day",
            "file": "captures/capture-1.png",
            "sha256": day_sha,
            "width": w,
            "height": h,
            "channels": 3,
            "taken_at": 1_700_000_000.25,
            "meta": {"exposure_us": 1000, "extra": {"lux": 3.5}},
            "controls": {"mode": "day"},
            "burst_of": None,
            "burst_index": None,
            "burst_size": 1,
        }
    ]
    sources["captures/capture-1.png"] = src / "day.png"
    pairs = []
    run_id = 100
    verdict_cycle = ["pass", "fail", "review", None]
    for i in range(n_pairs):
        cid = 10 + i
        night = src / f"night-{i}.png"
        sha = _png(night, rng.integers(0, 255, (h, w), dtype=np.uint8))
        captures.append(
            {
                "id": cid,
                "kind": "night",
                "file": f"captures/capture-{cid}.png",
                "sha256": sha,
                "width": w,
                "height": h,
                "channels": 1,
                "taken_at": 1_700_000_100.5 + i,
                "meta": {"exposure_us": 33000},
                "controls": {"mode": "night"},
                "burst_of": None,
                "burst_index": None,
                "burst_size": 1,
            }
        )
        sources[f"captures/capture-{cid}.png"] = night
        folder = f"pairs/pair-{i + 1:04d}"
        files = {"night": f"{folder}/night.png", "day": [f"{folder}/day.png"]}
        sources[files["night"]] = night
        sources[files["day"][0]] = src / "day.png"
        expected[files["night"]], expected[files["day"][0]] = sha, day_sha
        runs = []
        for k in range(2 if i == 0 else 1):
            run_id += 1
            outs = {}
            for role, ch in (("aligned_reference", 3), ("leak_mask", 1), ("colorized", 3)):
                f = src / f"run-{run_id}-{role}.png"
                shape = (h, w, 3) if ch == 3 else (h, w)
                _png(f, rng.integers(0, 255, shape, dtype=np.uint8))
                name = f"{folder}/runs/{run_id}/{role}.png"
                sources[name] = f
                outs[role] = name
            runs.append(
                {
                    "id": run_id,
                    "model_name": "nightlab-tiny",
                    "model_sha256": "ab" * 32,
                    "params": {"leak": True, "k": k},
                    "outputs": outs,
                    "metrics": {"ssim_mean": 0.5 + i / 10},
                    "timings_ms": {"align": 3.5, "total": 9.0},
                    "created_at": 1_700_000_200.0 + run_id,
                }
            )
        chosen = runs[-1]
        for role, name in chosen["outputs"].items():
            files[role] = f"{folder}/{role}.png"
            sources[files[role]] = sources[name]
        v = verdict_cycle[i % 4]
        verdicts = (
            []
            if v is None
            else [
                {
                    "verdict": "review",
                    "note": "first look",
                    "operator": "ana",
                    "created_at": 1.7e9 + 1,
                },
                {"verdict": v, "note": "", "operator": "ana", "created_at": 1.7e9 + 2},
            ]
        )
        pairs.append(
            {
                "id": 500 + i,
                "folder": folder,
                "night": cid,
                "days": [1],
                "created_at": 1_700_000_150.0 + i,
                "alignment": {
                    "ok": True,
                    "method": "ecc",
                    "motion": "homography",
                    "score": 0.9,
                    "reason": "",
                    "matrix": [[1.0, 0.0, 0.5], [0.0, 1.0, -0.25], [0.0, 0.0, 1.0]],
                },
                "leak_params": {"sigma": 2.0},
                "metrics": {"ssim_mean": 0.61 + i / 100, "leak_area_pct": 3.25},
                "verdict": v,
                "verdicts": verdicts,
                "tags": ["roof"] if i % 2 == 0 else [],
                "chosen_run": chosen["id"],
                "runs": runs,
                "files": files,
            }
        )
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "exported_at": 1_700_001_000.0,
        "provenance": {"app": "NightLab", "app_version": "0.1.0", "python": "3.11"},
        "selection": {"whole_session": True, "verdict": None, "tag": None},
        "session": {
            "uid": uuid.UUID(int=seed + 1).hex,
            "name": "roof night",
            "operator": "ana",
            "scene_notes": "east roof\nwet",
            "camera_backend": "sim",
            "device_id": "",
            "app_version": "0.1.0",
            "created_at": 1_700_000_000.0,
            "closed_at": None,
            "settings": {},
        },
        "captures": captures,
        "pairs": pairs,
        "counts": {
            "pairs": len(pairs),
            "captures": len(captures),
            "runs": sum(len(p["runs"]) for p in pairs),
            "files": len(sources) + 2,
        },
    }
    return BagPlan(
        manifest=manifest,
        sources=sources,
        expected_sha256=expected,
        info={"Contact-Name": "ana", "External-Identifier": manifest["session"]["uid"]},
    )


def _img(rng, h=36, w=48, ch=3):
    shape = (h, w, ch) if ch == 3 else (h, w)
    return rng.integers(0, 255, shape, dtype=np.uint8)


def fill(store: Store, seed: int = 0):
    """A session with everything a record can hold: two day captures as one reference, a
    burst night (members kept), a spare capture, alignment, runs (two on one pair), verdict
    histories, tags, settings, metadata with backend extras, and a closed session."""
    rng = np.random.default_rng(seed)
    s = store.create_session(
        "roof night",
        operator="ana",
        scene_notes="east roof\nwet",
        camera_backend="sim",
        device_id="SIM-1",
        settings={"leak": {"sigma": 2.5}},
    )
    d1 = store.add_capture(
        s.id,
        _img(rng),
        kind="day",
        meta={"exposure_us": 900, "extra": {"lux": 12.5}},
        controls={"mode": "day", "iso": 100},
    )
    d2 = store.add_capture(s.id, _img(rng), kind="day", taken_at=1_700_000_001.5)
    nights = [
        store.add_burst(
            s.id,
            [_img(rng, ch=1) for _ in range(3)],
            kind="night",
            metas=[{"exposure_us": 33000 + i} for i in range(3)],
            controls={"mode": "night"},
        ),
        store.add_capture(s.id, _img(rng, ch=1), kind="night"),
        store.add_capture(s.id, _img(rng, ch=1), kind="night"),
    ]
    store.add_capture(s.id, _img(rng, ch=1), kind="night")  # spare: in no pair
    pairs = []
    for i, night in enumerate(nights):
        p = store.add_pair(
            s.id,
            night_id=night.id,
            day_ids=[d1.id, d2.id] if i == 0 else [d1.id],
            alignment={
                "ok": True,
                "method": "ecc",
                "motion": "homography",
                "score": 0.75 + i,
                "reason": "",
                "matrix": [[1, 0, 0.5], [0, 1, -1.25], [0, 0, 1]],
            },
            leak_params={"sigma": 2.0, "closing": 5},
            ssim_mean=0.6 + i / 10,
            leak_area_pct=3.5 * i,
        )
        for k in range(2 if i == 0 else 1):
            store.add_run(
                p.id,
                model_name="nightlab-tiny",
                model_sha256=f"{k:02d}" * 32,
                params={"use_mask": True, "k": k},
                outputs={
                    "aligned_reference": _img(rng),
                    "leak_mask": _img(rng, ch=1),
                    "colorized": _img(rng),
                },
                metrics={"ssim_color": 0.5 + k},
                timings_ms={"align": 2.5, "total": 9},
            )
        pairs.append(p)
    store.set_verdict(pairs[0].id, "review", note="check roof", operator="ana")
    store.set_verdict(pairs[0].id, "pass", note="sharp", operator="bo")
    store.set_verdict(pairs[1].id, "fail", note="leak on car", operator="ana")
    store.add_tags(pairs[0].id, "roof", "best")
    store.add_tags(pairs[2].id, "roof")
    store.close_session(s.id)
    return store.session(s.id)
