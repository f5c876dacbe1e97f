"""The export's bytes are pinned: a session with everything a record holds (bursts, a spare
capture, a fused day reference, pairs with 0-3 runs, NaN metrics, run metrics that differ
between runs, verdict histories, non-ASCII tags, more than nine pairs, runs and captures so
that names sort as text, not as numbers) exported as a folder, a zip, ``--only pass`` and
``--tag``, compared with what the exporter wrote before it streamed
(``tests/data/export_pinned/``, recorded from the in-memory exporter at commit
"tests: pin the export's bytes").

What may legitimately differ between two exports of the same record is replaced before
comparing, and checked for what it must be instead: ``exported_at`` (the time of export),
``provenance`` (this machine, this NightLab, who exported), the session's ``app_version`` (the
NightLab that recorded it: this one), the PNGs' sha256 (the store's PNG encoder made the
burst means; each digest is checked against the store and the file instead), and in the tag
files the date, the bag's size and the digests of those. Everything else is compared byte for
byte: ``metrics.csv`` whole, ``manifest.json`` as text (its key order, indentation and number
forms), the order of ``manifest-sha256.txt`` and of the zip's members.

Regenerate the pinned files only for a deliberate format change:
``NIGHTLAB_PIN_EXPORT=1 pytest tests/test_export_format_pinned.py``.
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

PINNED = Path(__file__).resolve().parent / "data" / "export_pinned"
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


def record(store: Store) -> int:
    """The session; every id, time and byte fixed (a fresh store numbers rows from 1)."""
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
    pairs = []
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
        for k in range(i % 4):  # 0, 1, 2 or 3 runs
            metrics = {"ssim_color": 0.5 + k / 10, "nested": {"a": 1}}
            if k == 2:
                metrics["delta_e"] = float("inf")  # a metric only later runs have
            store.add_run(
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
        pairs.append(p)
    for i, p in enumerate(pairs):
        if i % 3 == 0:
            store.set_verdict(p.id, "review", note="à revoir", operator="Zoë", created_at=at())
        if i % 3 != 2:
            verdict = "pass" if i % 2 == 0 else "fail"
            store.set_verdict(p.id, verdict, note="net ✓", operator="bo", created_at=at())
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


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pinned")
    store = Store(tmp / "data")
    sid = record(store)
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
    yield store, out
    store.close()


def normalised_manifest(store: Store, bag: Path) -> str:
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
    return json.dumps(m, indent=2, ensure_ascii=False) + "\n"


def normalised_tag_files(bag: Path, members: list[str] | None) -> str:
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


def compare(name: str, got: str | bytes) -> None:
    path = PINNED / name
    if REGENERATE:
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
