"""The partner app's side of an export: real bags, read only as docs/export-format.md and the
shipped schema describe them.

The session is recorded the way an operator does it (``nightlab capture`` on the simulated
camera: a burst day reference, a second day reference, nights paired with one reference and
with the two fused, ``nightlab reprocess`` twice so pairs carry an earlier and a chosen run, a
night never processed, verdicts and tags, non-ASCII name, notes and tags), then exported with
``nightlab sessions export``. Everything below reads the bags with independent tools only:
the ``bagit`` package and its command line, ``jsonschema`` with the schema *file*, ``zipfile``,
Pillow, the PNG header bytes and ``csv``; never NightLab's own reader.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import bagit
import jsonschema
import numpy as np
import pytest
from PIL import Image

import cli
from engine.store import Store

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "resources" / "export_manifest.schema.json"
NAME = "Nuit du toit é 🌙"
NOTES = "toit est, mouillé — «pluie»"
FORMAT_DOC = SCHEMA_FILE.parents[1] / "docs" / "export-format.md"


def documented_csv_columns() -> list[str]:
    """The fixed columns as the format doc lists them: the plain names in backticks in its
    metrics.csv section, before the first ``metric:<name>``."""
    section = FORMAT_DOC.read_text("utf-8").split("### data/metrics.csv", 1)[1]
    section = section.split("`metric:", 1)[0]
    return [t for t in re.findall(r"`([^`]+)`", section) if re.fullmatch(r"[a-z0-9_]+", t)]


def run(*argv: str) -> None:
    assert cli.main(list(argv)) == 0, argv


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """{"whole": folder, "zip": the zip's unpacked folder, "pass": --only pass, "again": the
    whole session re-exported, "zip_file": the .zip} plus the pair ids judged pass."""
    tmp = tmp_path_factory.mktemp("partner")
    d = ["--data-dir", str(tmp / "data")]
    cap = ["capture", "--session", NAME, *d]
    run(*cap, "--notes", NOTES, "--operator", "Zoë", "--day-reference", "--count", "0")
    run(*cap, "--day-reference", "--count", "0", "--burst", "3")  # capture 2, members 3-5
    run(*cap, "--count", "2")  # pairs 1, 2: the latest day capture
    run(*cap, "--count", "1", "--reference", "1,2")  # pair 3: the two fused
    run("reprocess", "--session", NAME, "--serial", *d)
    run("reprocess", "--session", NAME, "--serial", "--realign", *d)  # a second run each
    run(*cap, "--count", "1")  # pair 4: never processed
    run("qa", "1", "review", "--note", "à revoir", *d)
    run("qa", "1", "pass", "--note", "net ✓", "--tag", "été", "--tag", "roof", *d)
    with Store(tmp / "data", read_only=True) as store:
        judged = store.runs(2)[0].id  # pair 2 judged on its earlier run: the one handed over
    run("qa", "2", "fail", "--tag", "roof", "--run", str(judged), *d)
    run("qa", "3", "pass", "--tag", "été", *d)
    ex = tmp / "ex"
    ex.mkdir()
    run("sessions", "export", NAME, "--out", str(ex / "whole"), *d)
    run("sessions", "export", NAME, "--out", str(ex / "whole.zip"), *d)
    run("sessions", "export", NAME, "--out", str(ex / "pass"), "--only", "pass", *d)
    run("sessions", "export", NAME, "--out", str(ex / "again"), *d)
    with zipfile.ZipFile(ex / "whole.zip") as zf:
        zf.extractall(ex / "unzipped")
    return {
        "whole": ex / "whole",
        "zip": ex / "unzipped" / "whole",
        "pass": ex / "pass",
        "again": ex / "again",
        "zip_file": ex / "whole.zip",
    }


def manifest(bag: Path) -> dict:
    return json.loads((bag / "data" / "manifest.json").read_text("utf-8"))


def bag_info(bag: Path) -> dict[str, str]:
    lines = (bag / "bag-info.txt").read_text("utf-8").splitlines()
    return dict(line.split(": ", 1) for line in lines)


def listed_in(manifest_file: Path) -> list[str]:
    """The paths of a BagIt manifest (``<sha256>  <path>`` lines)."""
    return [ln.split("  ", 1)[1] for ln in manifest_file.read_text("utf-8").splitlines()]


def png_header(path: Path) -> tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) from the IHDR chunk."""
    head = path.read_bytes()[:26]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", path
    return struct.unpack(">IIBB", head[16:26])


BAGS = ["whole", "zip", "pass"]


@pytest.mark.parametrize("which", BAGS)
def test_every_bag_is_valid_for_the_bagit_library_and_its_command_line(exports, which):
    bag = bagit.Bag(str(exports[which]))
    bag.validate()  # structure, Payload-Oxum, every checksum
    assert bag.version_info == (1, 0) and set(bag.algorithms) == {"sha256"}
    cmd = [sys.executable, "-m", "bagit", "--validate", str(exports[which])]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("which", BAGS)
def test_tag_files_say_what_the_doc_says(exports, which):
    root = exports[which]
    assert (root / "bagit.txt").read_bytes() == (
        b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    )
    listed = sorted(listed_in(root / "tagmanifest-sha256.txt"))
    assert listed == ["bag-info.txt", "bagit.txt", "manifest-sha256.txt"]
    payload = sorted(p for p in (root / "data").rglob("*") if p.is_file())
    in_manifest = sorted(listed_in(root / "manifest-sha256.txt"))
    assert in_manifest == [p.relative_to(root).as_posix() for p in payload]
    m, info = manifest(root), bag_info(root)
    s = m["session"]
    assert info["External-Identifier"] == info["NightLab-Session-UID"] == s["uid"]
    assert re.fullmatch("[0-9a-f]{32}", s["uid"])
    assert info["NightLab-Session-Name"] == s["name"] == NAME
    assert info["NightLab-Operator"] == info["Contact-Name"] == s["operator"] == "Zoë"
    assert info["Source-Organization"] == "NightLab"
    assert info["Bag-Software-Agent"] == f"NightLab {m['provenance']['app_version']}"
    assert info["NightLab-Format-Version"] == m["format_version"] == "1.1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", info["Bagging-Date"])
    n_bytes = sum(p.stat().st_size for p in payload)
    assert info["Payload-Oxum"] == f"{n_bytes}.{len(payload)}"
    assert re.fullmatch(r"\d+(\.\d)? (bytes|KB|MB|GB|TB)", info["Bag-Size"])  # for people
    runs = sum(len(p["runs"]) for p in m["pairs"])
    counts = (info["NightLab-Pairs"], info["NightLab-Captures"], info["NightLab-Runs"])
    assert counts == (str(len(m["pairs"])), str(len(m["captures"])), str(runs))
    selection = {"whole": "whole session", "zip": "whole session", "pass": "verdict pass"}
    assert info["NightLab-Selection"] == selection[which]


@pytest.mark.parametrize("which", BAGS)
def test_manifest_is_valid_against_the_shipped_schema_file(exports, which):
    schema = json.loads(SCHEMA_FILE.read_text("utf-8"))
    raw = (exports[which] / "data" / "manifest.json").read_text("utf-8")
    m = json.loads(raw, parse_constant=lambda c: pytest.fail(f"{c} in manifest.json"))
    jsonschema.Draft202012Validator(schema).validate(m)
    assert m["format"] == "nightlab-session-export"
    assert m["session"]["scene_notes"] == NOTES
    assert m["selection"]["whole_session"] is (which != "pass")
    runs = sum(len(p["runs"]) for p in m["pairs"])
    payload = [p for p in (exports[which] / "data").rglob("*") if p.is_file()]
    assert m["counts"] == {
        "pairs": len(m["pairs"]),
        "captures": len(m["captures"]),
        "runs": runs,
        "files": len(payload),
    }
    ids = [c["id"] for c in m["captures"]] + [p["id"] for p in m["pairs"]]
    ids += [r["id"] for p in m["pairs"] for r in p["runs"]]
    n_c, n_p = len(m["captures"]), len(m["pairs"])
    assert len(set(ids[:n_c])) == n_c and len(set(ids[n_c : n_c + n_p])) == n_p
    assert len(set(ids[n_c + n_p :])) == runs


def named_files(m: dict) -> set[str]:
    names = {c["file"] for c in m["captures"]}
    for p in m["pairs"]:
        names |= {p["files"]["night"], *p["files"]["day"]}
        names |= {v for k, v in p["files"].items() if k not in ("night", "day")}
        names |= {f for r in p["runs"] for f in r["outputs"].values()}
    return names


@pytest.mark.parametrize("which", BAGS)
def test_every_file_named_is_a_safe_relative_path_and_every_payload_file_is_named(exports, which):
    data = exports[which] / "data"
    names = named_files(manifest(exports[which]))
    safe = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*")
    assert all(safe.fullmatch(n) for n in names), sorted(names)
    on_disk = {p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file()}
    assert on_disk == names | {"manifest.json", "metrics.csv"}


@pytest.mark.parametrize("which", BAGS)
def test_images_are_8_bit_pngs_of_the_recorded_size_channels_and_bytes(exports, which):
    data = exports[which] / "data"
    m = manifest(exports[which])
    caps = {c["id"]: c for c in m["captures"]}
    for c in m["captures"]:
        path = data / c["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == c["sha256"]
        w, h, depth, colour = png_header(path)
        assert (w, h, depth) == (c["width"], c["height"], 8)
        assert colour == {1: 0, 3: 2}[c["channels"]]  # gray or RGB, no alpha, no palette
        with Image.open(path) as im:
            assert im.mode == {1: "L", 3: "RGB"}[c["channels"]] and im.size == (w, h)
    for p in m["pairs"]:
        night = caps[p["night"]]
        # a copy in each pair folder: the same bytes as the capture's file
        copies = [
            (p["files"]["night"], night),
            *((f, caps[d]) for f, d in zip(p["files"]["day"], p["days"], strict=True)),
        ]
        for name, c in copies:
            assert (data / name).read_bytes() == (data / c["file"]).read_bytes()
        for r in p["runs"]:
            for role, name in r["outputs"].items():
                w, h, depth, colour = png_header(data / name)
                assert (w, h, depth) == (night["width"], night["height"], 8), name
                assert colour == (0 if role == "leak_mask" else 2), name


def test_pair_folders_hold_the_judged_or_latest_run_and_the_other_under_runs(exports):
    """The doc's rule: the run of the latest verdict when it names one, else the latest."""
    data = exports["whole"] / "data"
    m = manifest(exports["whole"])
    assert [p["folder"] for p in m["pairs"]] == [f"pairs/pair-{n:04d}" for n in range(1, 5)]
    assert [p["id"] for p in m["pairs"]] == sorted(p["id"] for p in m["pairs"])
    with_runs = [p for p in m["pairs"] if p["runs"]]
    assert len(with_runs) == 3 and all(len(p["runs"]) == 2 for p in with_runs)
    judged_earlier = 0
    for p in with_runs:
        latest = max(p["runs"], key=lambda r: r["created_at"])
        on = p["verdicts"][-1]["run"] if p["verdicts"] else None
        chosen = next(r for r in p["runs"] if r["id"] == on["id"]) if on else latest
        judged_earlier += chosen is not latest
        if on:
            assert (on["model_name"], on["model_sha256"]) == (
                chosen["model_name"],
                chosen["model_sha256"],
            )
        assert p["chosen_run"] == chosen["id"]
        roles = {k: v for k, v in p["files"].items() if k not in ("night", "day")}
        assert roles == {r: f"{p['folder']}/{r}.png" for r in chosen["outputs"]}
        assert set(roles) == {"aligned_reference", "leak_mask", "colorized"}
        for role, name in chosen["outputs"].items():
            assert (data / name).read_bytes() == (data / roles[role]).read_bytes()
        (other,) = [r for r in p["runs"] if r is not chosen]
        for role, name in other["outputs"].items():
            assert name == f"{p['folder']}/runs/{other['id']}/{role}.png"
    assert judged_earlier == 1  # pair 2, judged with `nightlab qa --run` on its earlier run
    (raw,) = [p for p in m["pairs"] if not p["runs"]]
    assert raw["chosen_run"] is None and set(raw["files"]) == {"night", "day"}
    assert sorted(f.name for f in (data / raw["folder"]).iterdir()) == ["day.png", "night.png"]
    assert len(raw["alignment"]["matrix"]) == 3 and raw["metrics"]["ssim_mean"] is not None


def test_leak_masks_are_soft_8_bit_gray_not_binary(exports):
    """The doc once read as if the mask were 0/255; a partner thresholding at 255 would take
    reference colour where NightLab blends it away partly."""
    data = exports["whole"] / "data"
    values: set[int] = set()
    for p in manifest(exports["whole"])["pairs"]:
        for r in p["runs"]:
            with Image.open(data / r["outputs"]["leak_mask"]) as im:
                assert im.mode == "L"
                values |= set(np.unique(np.asarray(im)).tolist())
    assert 0 in values and values - {0, 255}, sorted(values)


def test_burst_members_and_fused_day_references_are_where_the_doc_says(exports):
    m = manifest(exports["whole"])
    caps = {c["id"]: c for c in m["captures"]}
    members = [c for c in m["captures"] if c["burst_of"] is not None]
    assert len(members) == 3 and {c["burst_of"] for c in members} == {2}
    assert caps[2]["burst_size"] == 3
    assert all(c["file"] == f"captures/capture-{c['id']}.png" for c in members)
    (fused,) = [p for p in m["pairs"] if len(p["days"]) == 2]
    assert fused["files"]["day"] == [f"{fused['folder']}/day.png", f"{fused['folder']}/day-2.png"]
    assert fused["days"] == [1, 2]


def warp(day: Image.Image, matrix, size) -> np.ndarray:
    inverse = np.linalg.inv(np.asarray(matrix, float))  # PIL maps output pixels back
    inverse /= inverse[2, 2]
    out = day.transform(
        size, Image.Transform.PERSPECTIVE, tuple(inverse.flat[:8]), Image.Resampling.BILINEAR
    )
    return np.asarray(out, np.float64)[16:-16, 16:-16]


def test_the_matrix_maps_day_png_onto_the_night_frame_as_aligned_reference_shows(exports):
    """The pair's ``alignment.matrix``, for a run that used the pair's stored registration, and
    the run's own ``metrics.alignment.matrix`` for every NightLab run, warp ``day.png`` onto
    the night frame's grid as ``aligned_reference.png`` shows it (one gray level of rounding
    apart; one pixel off is seven levels on this scene)."""
    data = exports["whole"] / "data"
    m = manifest(exports["whole"])
    for p in (p for p in m["pairs"] if p["runs"] and len(p["days"]) == 1):
        size = png_header(data / p["files"]["night"])[:2]
        with Image.open(data / p["files"]["day"][0]) as im:
            day = im.convert("RGB")
        for r in p["runs"]:
            with Image.open(data / r["outputs"]["aligned_reference"]) as im:
                shown = np.asarray(im, np.float64)[16:-16, 16:-16]
            matrices = [r["metrics"]["alignment"]["matrix"]]
            if r["params"]["registration"] == "stored":
                matrices.append(p["alignment"]["matrix"])
            for mat in matrices:
                assert np.abs(warp(day, mat, size) - shown).mean() < 1.0
            off = np.asarray(matrices[0], float) + [[0, 0, 1], [0, 0, 0], [0, 0, 0]]
            assert np.abs(warp(day, off, size) - shown).mean() > 3.0


def test_zip_holds_one_top_folder_named_like_it_pngs_stored_text_deflated(exports):
    with zipfile.ZipFile(exports["zip_file"]) as zf:
        assert zf.testzip() is None
        infos = zf.infolist()
    assert {i.filename.split("/")[0] for i in infos} == {"whole"}
    for i in infos:
        png = i.filename.endswith(".png")
        assert i.compress_type == (zipfile.ZIP_STORED if png else zipfile.ZIP_DEFLATED), i.filename
        assert not i.flag_bits & 0x1 and (i.external_attr >> 16) & 0o170000 == 0o100000
    whole = {
        p.relative_to(exports["whole"]).as_posix()
        for p in exports["whole"].rglob("*")
        if p.is_file()
    }
    assert {i.filename.split("/", 1)[1] for i in infos} == whole


@pytest.mark.parametrize("which", BAGS)
def test_metrics_csv_is_utf8_one_row_per_pair_in_manifest_order(exports, which):
    raw = (exports[which] / "data" / "metrics.csv").read_bytes()
    assert b"\r" not in raw and not raw.startswith(b"\xef\xbb\xbf") and raw.endswith(b"\n")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))
    header = raw.decode("utf-8").split("\n", 1)[0].split(",")
    fixed = documented_csv_columns()
    assert len(fixed) == 11 and header[: len(fixed)] == fixed
    extra = header[len(fixed) :]
    metric = [c for c in extra if c.startswith("metric:")]
    stage = [c for c in extra if c.startswith("ms:")]
    assert extra == sorted(metric) + sorted(stage) and metric and stage
    m = manifest(exports[which])
    assert len(rows) == len(m["pairs"])
    for row, p in zip(rows, m["pairs"], strict=True):
        assert (row["pair"], row["folder"]) == (str(p["id"]), p["folder"])
        assert row["verdict"] == (p["verdict"] or "")
        assert row["tags"] == ";".join(p["tags"])
        assert row["aligned_ok"] == {True: "1", False: "0", None: ""}[p["alignment"]["ok"]]
        assert float(row["score"]) == p["alignment"]["score"]
        assert float(row["ssim_mean"]) == p["metrics"]["ssim_mean"]
        run = next((r for r in p["runs"] if r["id"] == p["chosen_run"]), None)
        if run is None:
            assert row["model"] == row["model_sha256"] == "" and not any(row[c] for c in extra)
            continue
        assert (row["model"], row["model_sha256"]) == (run["model_name"], run["model_sha256"])
        for col in metric:
            value = run["metrics"].get(col[len("metric:") :])
            assert (row[col] == "") == (value is None or isinstance(value, (dict, list)))
            if row[col]:
                assert float(row[col]) == value
        for col in stage:
            assert float(row[col]) == run["timings_ms"][col[len("ms:") :]]


def test_non_ascii_name_notes_and_tags_arrive_as_utf8_text(exports):
    m = manifest(exports["whole"])
    assert m["session"]["name"] == NAME and m["session"]["scene_notes"] == NOTES
    first = m["pairs"][0]
    assert sorted(first["tags"]) == ["roof", "été"]
    assert [(v["verdict"], v["note"]) for v in first["verdicts"]] == [
        ("review", "à revoir"),
        ("pass", "net ✓"),
    ]
    assert "été" in (exports["whole"] / "data" / "metrics.csv").read_text("utf-8")
    assert bag_info(exports["whole"])["External-Description"].find(NAME) >= 0


def test_ids_folders_and_bytes_are_stable_across_re_exports_and_selections(exports):
    whole, again, passed = (manifest(exports[k]) for k in ("whole", "again", "pass"))
    assert again["exported_at"] >= whole["exported_at"]
    for key in ("session", "captures", "pairs", "counts"):
        assert again[key] == whole[key]
    for f in named_files(whole):
        a, b = exports["whole"] / "data" / f, exports["again"] / "data" / f
        assert a.read_bytes() == b.read_bytes()
    # a selection renumbers the folders but keeps the ids: the same pair, the same id
    by_id = {p["id"]: p for p in whole["pairs"]}
    assert [p["id"] for p in passed["pairs"]] == [1, 3]
    assert [p["folder"] for p in passed["pairs"]] == ["pairs/pair-0001", "pairs/pair-0002"]
    for p in passed["pairs"]:
        same = by_id[p["id"]]
        assert (p["night"], p["days"], p["verdicts"], p["runs"][0]["id"]) == (
            same["night"],
            same["days"],
            same["verdicts"],
            same["runs"][0]["id"],
        )
    assert passed["session"]["uid"] == whole["session"]["uid"]
