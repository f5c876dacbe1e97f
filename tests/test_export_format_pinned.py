"""The export's bytes are pinned: a session with everything a record holds (bursts, a spare
capture, a fused day reference, pairs with 0-3 runs, NaN metrics, run metrics that differ
between runs, verdict histories, verdicts given on stored runs and on the live model,
non-ASCII tags, more than nine pairs, runs and captures so that names sort as text, not as
numbers) exported as a folder, a zip, ``--only pass`` and ``--tag``.

Two pins:

- format 1.1 (``tests/data/export_pinned/1.1/``, recorded when 1.1 was made): the session whose
  verdicts name runs, byte for byte;
- format 1.0 (``tests/data/export_pinned/1.0/``, recorded from the in-memory exporter at commit
  "tests: pin the export's bytes"): the same session without runs on its verdicts, exported by
  this code, is byte for byte what 1.0 wrote once 1.1's two additions are taken out (the
  version field and each verdict's ``"run": null``): every field 1.1 did not change stays
  pinned to 1.0's bytes.

What may legitimately differ between two exports of the same record is replaced before
comparing, and checked for what it must be instead: ``exported_at`` (the time of export),
``provenance`` (this machine, this NightLab, who exported), the session's ``app_version`` (the
NightLab that recorded it: this one), the PNGs' sha256 (the store's PNG encoder made the
burst means; each digest is checked against the store and the file instead), and in the tag
files the date, the bag's size and the digests of those. Everything else is compared byte for
byte: ``metrics.csv`` whole, ``manifest.json`` as text (its key order, indentation and number
forms), the order of ``manifest-sha256.txt`` and of the zip's members.

Regenerate the pinned files only for a deliberate format change:
``NIGHTLAB_PIN_EXPORT=1 pytest tests/test_export_format_pinned.py`` rewrites 1.1's (a new
version gets a folder of its own, and the previous one's check beside it); 1.0's are never
rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from engine.exchange import export_session
from engine.store import Store

PINNED = Path(__file__).resolve().parent / "data" / "export_pinned" / "1.1"
PINNED_1_0 = PINNED.parent / "1.0"
REGENERATE = os.environ.get("NIGHTLAB_PIN_EXPORT") == "1"
T0 = 1_760_000_000.0  # every recorded time is fixed: only the export's own may vary
VARIES = "<varies>"


def png(width: int, height: int, channels: int, seed: int) -> bytes:
    """PNG bytes that do not depend on any encoder: stored (level 0) deflate of a pattern."""
    colour_type = 2 if channels == 3 else 0
    row = bytes((seed * 7 + i * 13) % 256 for i in range(width * channels))
    raw = b"".join(b"\x00" + row[k:] + row[:k] for k in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 0))
        + chunk(b"IEND", b"")
    )


#: Pairs whose verdicts were given on stored runs (``judged_runs``): pair index -> run index
#: (0 = its oldest run) of each of its verdicts in order; None = the live model's render.
JUDGED_RUNS = {
    1: (0,),  # its only run
    3: (0, 1),  # review on the oldest of 3, fail on the middle one: chosen is not the newest
    6: (0, None),  # a run judged, then the live model: the newest is chosen again
    7: (2,),  # the newest run judged: chosen as in 1.0
    10: (0,),  # pass on the older of 2 (also in the --only pass export)
}


def record(store: Store, *, judged_runs: bool = False) -> int:
    """The session; every id, time and byte fixed (a fresh store numbers rows from 1).
    ``judged_runs``: the verdicts of `JUDGED_RUNS` name runs (else every verdict is on the live
    model, as before format 1.1)."""
    s = store.create_session(
        "toit — nuit 🌙",
        operator="Zoë",
        scene_notes="east roof\nwet",
        camera_backend="sim",
        device_id="SIM-1",
        settings={"leak": {"sigma": 2.5}, "nan": float("nan")},
        uid="0123456789abcdef0123456789abcdef",
        created_at=T0,
    )
    t = iter(range(1, 10_000))

    def at() -> float:
        return T0 + next(t) * 1.5

    day1 = store.add_capture(
        s.id, png(12, 8, 3, 1), kind="day", meta={"exposure_us": 900, "extra": {"lux": 12.5}},
        controls={"mode": "day", "iso": 100}, taken_at=at(),
    )  # fmt: skip
    day2 = store.add_burst(  # a burst day reference: members kept as spare captures
        s.id, [png(12, 8, 3, k) for k in (2, 3, 4)], kind="day",
        metas=[{"exposure_us": 800 + k} for k in range(3)], taken_at=at(),
    )  # fmt: skip
    store.add_capture(s.id, png(12, 8, 1, 5), kind="night", taken_at=at())  # in no pair
    pairs, runs = [], {}
    for i in range(12):
        night = store.add_capture(
            s.id, png(12, 8, 3, 10 + i), kind="night", meta={"gain": i * 0.5},
            controls={"mode": "night"}, taken_at=at(),
        )  # fmt: skip
        days = [day1.id, day2.id] if i % 4 == 1 else [day2.id]  # some fused
        p = store.add_pair(
            s.id,
            night_id=night.id,
            day_ids=days,
            alignment={
                "ok": i != 5,
                "method": "fixed+ecc" if i % 2 else "ecc",
                "motion": "homography",
                "score": float("nan") if i == 7 else 0.8 + i / 100,
                "reason": "" if i != 5 else "too few matches",
                "matrix": None if i == 5 else [[1, 0, 0.5], [0, 1, -1.25 * i], [0, 0, 1]],
            },
            leak_params={"sigma": 2.0, "closing": 5},
            ssim_mean=None if i == 3 else 0.6 + i / 50,
            leak_area_pct=3.5 * i,
            created_at=at(),
        )
        runs[i] = []
        for k in range(i % 4):  # 0, 1, 2 or 3 runs
            metrics = {"ssim_color": 0.5 + k / 10, "nested": {"a": 1}}
            if k == 2:
                metrics["delta_e"] = float("inf")  # a metric only later runs have
            run = store.add_run(
                p.id,
                model_name=f"nightlab-{'tiny' if k < 2 else 'fp16'}",
                model_sha256=f"{k:02d}" * 32,
                params={"use_mask": True, "k": k},
                outputs={
                    "aligned_reference": png(12, 8, 3, 100 + 3 * i + k),
                    "leak_mask": png(12, 8, 1, 200 + 3 * i + k),
                    "colorized": png(12, 8, 3, 300 + 3 * i + k),
                },
                metrics=metrics,
                timings_ms={"align": 2.5 + k, "total": 9, **({"fuse": 1.25} if k else {})},
                created_at=at(),
            )
            runs[i].append(run.id)
        pairs.append(p)
    for i, p in enumerate(pairs):
        on = iter(JUDGED_RUNS.get(i, ()) if judged_runs else ())

        def judged(i=i, on=on):
            k = next(on, None)
            return None if k is None else runs[i][k]

        if i % 3 == 0:
            store.set_verdict(
                p.id, "review", note="à revoir", operator="Zoë", created_at=at(), run_id=judged()
            )
        if i % 3 != 2:
            verdict = "pass" if i % 2 == 0 else "fail"
            store.set_verdict(
                p.id, verdict, note="net ✓", operator="bo", created_at=at(), run_id=judged()
            )
        if i % 4 == 0:
            store.add_tags(p.id, "été", "roof")
        elif i % 4 == 2:
            store.add_tags(p.id, "roof")
    store.close_session(s.id, at=at())
    return s.id


EXPORTS = {
    "whole": {},
    "whole_zip": {"as_zip": True},
    "pass": {"verdict": "pass"},
    "tag_ete": {"tag": "été"},
}


def export_all(tmp: Path, *, judged_runs: bool):
    store = Store(tmp / "data")
    sid = record(store, judged_runs=judged_runs)
    out = {}
    for name, kwargs in EXPORTS.items():
        path = tmp / (name + (".zip" if kwargs.get("as_zip") else ""))
        export_session(store, sid, path, **kwargs)
        if kwargs.get("as_zip"):
            with zipfile.ZipFile(path) as zf:
                members = zf.namelist()
                zf.extractall(tmp / "unzipped")
            out[name] = (tmp / "unzipped" / name, members)
        else:
            out[name] = (path, None)
    return store, out


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The session with verdicts on runs, exported four ways (format 1.1)."""
    store, out = export_all(tmp_path_factory.mktemp("pinned"), judged_runs=True)
    yield store, out
    store.close()


@pytest.fixture(scope="module")
def exported_without_verdict_runs(tmp_path_factory):
    """The session as format 1.0 was pinned with: every verdict on the live model."""
    store, out = export_all(tmp_path_factory.mktemp("pinned-1.0"), judged_runs=False)
    yield store, out
    store.close()


def as_format_1_0(m: dict) -> dict:
    """A 1.1 manifest with what 1.1 added taken out (after checking it is what it must be
    for a session whose verdicts name no run)."""
    assert m["format_version"] == "1.1"
    m["format_version"] = "1.0"
    for p in m["pairs"]:
        for v in p["verdicts"]:
            assert v.pop("run") is None
    return m


def normalised_manifest(store: Store, bag: Path, *, edit=None) -> str:
    """manifest.json with what legitimately varies replaced (after checking it)."""
    text = (bag / "data" / "manifest.json").read_text("utf-8")
    m = json.loads(text)
    # the layout is the 2-space indented dump, non-ASCII as is, one newline at the end
    assert text == json.dumps(m, indent=2, ensure_ascii=False) + "\n"
    assert isinstance(m["exported_at"], float)
    m["exported_at"] = VARIES
    assert m["provenance"]["app"] == "NightLab"
    m["provenance"] = {k: v if k == "app" else VARIES for k, v in m["provenance"].items()}
    m["session"]["app_version"] = VARIES
    for c in m["captures"]:
        assert c["sha256"] == store.capture(c["id"]).sha256
        assert hashlib.sha256((bag / "data" / c["file"]).read_bytes()).hexdigest() == c["sha256"]
        c["sha256"] = VARIES
    if edit is not None:
        m = edit(m)
    return json.dumps(m, indent=2, ensure_ascii=False) + "\n"


def normalised_tag_files(bag: Path, members: list[str] | None, *, version: str = "1.1") -> str:
    """The tag files' lines in order, with the digests and values that vary replaced."""
    lines = []
    for name in ("bagit.txt", "bag-info.txt", "manifest-sha256.txt", "tagmanifest-sha256.txt"):
        lines.append(f"== {name}")
        for line in (bag / name).read_text("utf-8").splitlines():
            if name.endswith("-sha256.txt"):
                digest, path = line.split("  ", 1)
                data = (bag / path).read_bytes()
                assert hashlib.sha256(data).hexdigest() == digest, path
                # metrics.csv is pinned whole; the PNGs' and manifest's digests vary as said
                keep = name == "manifest-sha256.txt" and path == "data/metrics.csv"
                line = f"{digest if keep else VARIES}  {path}"
            elif name == "bag-info.txt":
                key, value = line.split(": ", 1)
                if key in ("Bagging-Date", "Bag-Software-Agent", "NightLab-App-Version",
                           "Bag-Size"):  # fmt: skip
                    value = VARIES
                elif key == "NightLab-Format-Version":
                    assert value == "1.1"
                    value = version
                elif key == "Payload-Oxum":
                    size, count = value.split(".")
                    payload = [p for p in (bag / "data").rglob("*") if p.is_file()]
                    assert int(size) == sum(p.stat().st_size for p in payload)
                    value = f"{VARIES}.{count}"
                line = f"{key}: {value}"
            lines.append(line)
    if members is not None:
        lines.append("== zip members, in order")
        lines.extend(members)
    return "\n".join(lines) + "\n"


def compare(name: str, got: str | bytes, *, pinned: Path = PINNED) -> None:
    path = pinned / name
    if REGENERATE and pinned == PINNED:  # 1.0's pins are history: never rewritten
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(got if isinstance(got, bytes) else got.encode("utf-8"))
        return
    want = path.read_bytes()
    assert (got if isinstance(got, bytes) else got.encode("utf-8")) == want, name


@pytest.mark.parametrize("which", list(EXPORTS))
def test_manifest_json_is_the_pinned_text_but_for_the_time_machine_and_encoder(exported, which):
    store, out = exported
    bag, _ = out[which]
    compare(f"{which}/manifest.json", normalised_manifest(store, bag))


@pytest.mark.parametrize("which", list(EXPORTS))
def test_metrics_csv_is_byte_identical_to_the_pinned_one(exported, which):
    _, out = exported
    bag, _ = out[which]
    compare(f"{which}/metrics.csv", (bag / "data" / "metrics.csv").read_bytes())


@pytest.mark.parametrize("which", list(EXPORTS))
def test_tag_files_and_zip_member_order_are_the_pinned_ones(exported, which):
    _, out = exported
    bag, members = out[which]
    compare(f"{which}/tag-files.txt", normalised_tag_files(bag, members))


@pytest.mark.parametrize("which", list(EXPORTS))
def test_what_format_1_1_did_not_change_is_format_1_0_byte_for_byte(
    exported_without_verdict_runs, which
):
    """Verdicts on the live model only: the manifest less 1.1's additions, the CSV and the tag
    files (less the version line) are the 1.0 pins, so 1.1 changed nothing else."""
    store, out = exported_without_verdict_runs
    bag, members = out[which]
    manifest = normalised_manifest(store, bag, edit=as_format_1_0)
    compare(f"{which}/manifest.json", manifest, pinned=PINNED_1_0)
    csv = (bag / "data" / "metrics.csv").read_bytes()
    compare(f"{which}/metrics.csv", csv, pinned=PINNED_1_0)
    tags = normalised_tag_files(bag, members, version="1.0")
    compare(f"{which}/tag-files.txt", tags, pinned=PINNED_1_0)


def test_the_pinned_session_has_what_the_pin_is_meant_to_cover(exported):
    """The fixture still holds what makes the pin worth having (guards an edit of `record`)."""
    _, out = exported
    m = json.loads((out["whole"][0] / "data" / "manifest.json").read_text("utf-8"))
    assert len(m["pairs"]) == 12 and m["counts"]["runs"] == 18
    assert {len(p["runs"]) for p in m["pairs"]} == {0, 1, 2, 3}
    assert any(len(p["days"]) == 2 for p in m["pairs"])
    assert any(c["burst_of"] is not None for c in m["captures"])
    assert any(f.startswith("captures/") for f in (c["file"] for c in m["captures"]))
    assert any(p["verdict"] is None for p in m["pairs"])
    assert any(len(p["verdicts"]) == 2 for p in m["pairs"])
    runs = [r["id"] for p in m["pairs"] for r in p["runs"]]
    assert max(runs) >= 10 and min(runs) < 10  # runs/<id> sorts as text
    assert len(m["captures"]) >= 10
    by_id = {p["id"]: p for p in m["pairs"]}
    newest = {p["id"]: p["runs"][-1]["id"] if p["runs"] else None for p in m["pairs"]}
    latest_run = {i: (p["verdicts"] or [{}])[-1].get("run") for i, p in by_id.items()}
    # a chosen run that is not the newest, and a pair whose earlier verdict named a run
    assert any(r and r["id"] != newest[i] for i, r in latest_run.items())
    assert any(
        latest_run[i] is None and any(v["run"] for v in p["verdicts"]) and len(p["runs"]) > 1
        for i, p in by_id.items()
    )
