"""Export bags (engine.exchange.write_bag) and the version policy, without a store: the layout, the
BagIt tag files as the `bagit` package reads them, zip storage, atomicity and cancellation."""

from __future__ import annotations

import hashlib
import json
import threading
import zipfile
from pathlib import Path

import bagit
import pytest

from engine.exchange import (
    BagRejected,
    Cancelled,
    ExportResult,
    check_version,
    open_bag,
    validate_manifest,
    write_bag,
)
from tests.exchange_fixtures import make_plan


@pytest.fixture
def plan(tmp_path):
    return make_plan(tmp_path / "src")


def _tags(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text("utf-8").splitlines():
        k, v = line.split(": ", 1)
        out[k] = v
    return out


def test_folder_bag_is_a_valid_bagit_1_0_bag_with_sha256_manifests_and_payload_oxum(plan, tmp_path):
    out = tmp_path / "night-42"
    result = write_bag(plan, out)
    assert isinstance(result, ExportResult) and result.path == out

    bag = bagit.Bag(str(out))
    bag.validate()  # the reference implementation: structure, Oxum, every checksum
    assert bag.version_info == (1, 0)
    assert (out / "bagit.txt").read_bytes() == (
        b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "bag-info.txt",
        "bagit.txt",
        "data",
        "manifest-sha256.txt",
        "tagmanifest-sha256.txt",
    ]
    # sha256 only: no md5/sha512 manifests
    assert bag.algorithms == ["sha256"]
    payload = sorted(p for p in (out / "data").rglob("*") if p.is_file())
    info = _tags(out / "bag-info.txt")
    assert info["Payload-Oxum"] == f"{sum(p.stat().st_size for p in payload)}.{len(payload)}"
    assert info["External-Identifier"] == plan.manifest["session"]["uid"]
    assert info["Contact-Name"] == "ana" and info["NightLab-Format-Version"] == "1.1"
    # every payload file is in manifest-sha256.txt with its real digest
    listed = dict(
        reversed(line.split("  ", 1))
        for line in (out / "manifest-sha256.txt").read_text().splitlines()
    )
    assert set(listed) == {p.relative_to(out).as_posix() for p in payload}
    for p in payload:
        assert listed[p.relative_to(out).as_posix()] == hashlib.sha256(p.read_bytes()).hexdigest()
    # the tag manifest covers the other tag files
    tagged = {line.split()[1] for line in (out / "tagmanifest-sha256.txt").read_text().splitlines()}
    assert tagged == {"bagit.txt", "bag-info.txt", "manifest-sha256.txt"}
    # the layout the partner app reads
    pair = out / "data" / "pairs" / "pair-0001"
    for name in ("night.png", "day.png", "aligned_reference.png", "leak_mask.png", "colorized.png"):
        assert (pair / name).is_file(), name
    assert json.loads((out / "data" / "manifest.json").read_text()) == plan.manifest
    header = (out / "data" / "metrics.csv").read_text().splitlines()
    assert header[0].startswith("pair,folder,verdict,tags,aligned_ok,method,score,ssim_mean")
    assert len(header) == 1 + len(plan.manifest["pairs"])
    assert result.payload_files == len(payload)


def test_zip_bag_stores_pngs_deflates_text_under_one_top_folder(plan, tmp_path):
    out = tmp_path / "night-42.zip"
    write_bag(plan, out, as_zip=True)
    with zipfile.ZipFile(out) as zf:
        infos = zf.infolist()
        assert zf.testzip() is None
    assert {i.filename.split("/")[0] for i in infos} == {"night-42"}
    for i in infos:
        if i.filename.endswith(".png"):
            assert i.compress_type == zipfile.ZIP_STORED, i.filename
        else:
            assert i.compress_type == zipfile.ZIP_DEFLATED, i.filename
    # unzipped, it is a valid bag for the reference implementation too
    with zipfile.ZipFile(out) as zf:
        zf.extractall(tmp_path / "x")
    bagit.Bag(str(tmp_path / "x" / "night-42")).validate()


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_open_bag_returns_the_exported_manifest_and_identical_bytes(plan, tmp_path, as_zip):
    out = tmp_path / ("bag.zip" if as_zip else "bag")
    write_bag(plan, out, as_zip=as_zip)
    stage = tmp_path / "stage"
    stage.mkdir()
    with open_bag(out, staging_dir=stage) as bag:
        assert bag.manifest == plan.manifest
        for name, src in plan.sources.items():
            assert bag.path(name).read_bytes() == Path(src).read_bytes(), name
        assert bag.info["Payload-Oxum"].endswith(f".{len(plan.sources) + 2}")
    assert list(stage.iterdir()) == []  # the zip's staging folder is gone after close


@pytest.mark.parametrize("when", ["first file", "last report"])
@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_cancelling_an_export_leaves_nothing_at_the_target_or_beside_it(
    plan, tmp_path, as_zip, when, monkeypatch
):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / ("bag.zip" if as_zip else "bag")
    seen = []

    def progress(p):
        seen.append(p)
        if (when == "first file" and p.item) or (when == "last report" and p.done == p.total):
            raise Cancelled("user pressed cancel")

    import engine.exchange._progress as prog

    # report every chunk (no throttling) so "first file" cancels inside the first copy
    orig = prog.Reporter.__init__
    monkeypatch.setattr(
        prog.Reporter, "__init__", lambda self, cb, interval=0.0: orig(self, cb, interval=0.0)
    )
    with pytest.raises(Cancelled):
        write_bag(plan, out, as_zip=as_zip, progress=progress)
    last = seen[-1]
    if when == "first file":
        assert 0 < last.done < last.total  # it stopped midway
    else:
        assert last.done == last.total  # everything was written, then the user cancelled
    assert list(out_dir.iterdir()) == []  # no bag, no hidden partial folder or temp file


def test_progress_reports_come_on_the_calling_thread_and_reach_the_total(plan, tmp_path):
    reports = []
    worker = threading.Thread(
        target=lambda: write_bag(
            plan,
            tmp_path / "bag",
            progress=lambda p: reports.append((threading.current_thread(), p)),
        )
    )
    worker.start()
    worker.join()
    assert reports and all(t is worker for t, _ in reports)
    last = reports[-1][1]
    assert last.phase == "writing" and last.done == last.total > 0


def test_export_never_overwrites_and_refuses_a_source_that_changed(plan, tmp_path):
    out = tmp_path / "bag"
    out.mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        write_bag(plan, out)
    name = next(n for n in plan.expected_sha256)
    Path(plan.sources[name]).write_bytes(b"\x89PNG tampered")
    with pytest.raises(ValueError, match="contents changed"):
        write_bag(plan, tmp_path / "bag2")
    assert not (tmp_path / "bag2").exists()


@pytest.mark.skipif(
    not Path("/proc").is_dir(), reason="needs /proc (a folder that refuses new files)"
)
@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_a_folder_that_refuses_files_is_named_by_the_bag_not_its_temporary(plan, as_zip):
    out = Path("/proc/nightlab-bag.zip" if as_zip else "/proc/nightlab-bag")
    with pytest.raises(OSError) as info:
        write_bag(plan, out, as_zip=as_zip)
    assert str(info.value).startswith(f"{out}: cannot be created here (")
    assert ".partial" not in str(info.value)


def test_export_refuses_an_invalid_manifest_before_writing(plan, tmp_path):
    plan.manifest["pairs"][0]["verdict"] = "maybe"
    with pytest.raises(BagRejected, match=r"pairs\[0\]\.verdict"):
        write_bag(plan, tmp_path / "bag")
    assert not (tmp_path / "bag").exists()


def test_a_1x_reader_reads_a_newer_minor_version_with_unknown_fields(plan):
    m = json.loads(json.dumps(plan.manifest))
    m["format_version"] = "1.7"
    m["new_in_1_7"] = {"anything": [1, 2]}
    m["pairs"][0]["depth_map"] = "pairs/pair-0001/night.png"
    m["session"]["weather"] = "rain"
    validate_manifest(m)  # no error
    assert check_version(m) == (1, 7)


@pytest.mark.parametrize("version", ["2.0", "0.9", "10.1"])
def test_a_1x_reader_refuses_other_major_versions_in_one_line(plan, version):
    m = dict(plan.manifest, format_version=version)
    with pytest.raises(BagRejected) as err:
        validate_manifest(m)
    msg = str(err.value)
    assert "\n" not in msg and f"format {version}" in msg and "1.x" in msg


def test_the_example_manifest_in_the_partner_docs_is_valid():
    from tests.conftest import REPO

    text = (REPO / "docs" / "export-format.md").read_text("utf-8")
    block = text.split("```json", 1)[1].split("```", 1)[0]
    example = json.loads(block)
    validate_manifest(example)  # schema, references, counts
    assert example["format_version"] == "1.1"


MUTATIONS = {
    "verdict not in the enum": lambda m: m["pairs"][1].update(verdict="maybe"),
    "file with ..": lambda m: m["captures"][0].update(file="../../x.png"),
    "absolute file": lambda m: m["captures"][0].update(file="/etc/passwd"),
    "hidden file": lambda m: m["captures"][0].update(file="pairs/.x.png"),
    "version not MAJOR.MINOR": lambda m: m.update(format_version="1.x"),
    "matrix of the wrong shape": lambda m: m["pairs"][0]["alignment"].update(matrix=[[1, 2]]),
    "uid not hex": lambda m: m["session"].update(uid="XYZ"),
    "duplicate tags": lambda m: m["pairs"][0].update(tags=["a", "a"]),
    "output path escaping": lambda m: m["pairs"][0]["runs"][0]["outputs"].update(x="../a.png"),
    "missing files": lambda m: m["pairs"][0].pop("files"),
    "negative time": lambda m: m["session"].update(created_at=-1),
    "closed_at a string": lambda m: m["session"].update(closed_at="yesterday"),
    "burst_of zero": lambda m: m["captures"][0].update(burst_of=0),
    "channels 2": lambda m: m["captures"][0].update(channels=2),
    "timing not a number": lambda m: m["pairs"][0]["runs"][0]["timings_ms"].update(x="fast"),
    "verdict run without its model": lambda m: m["pairs"][0]["verdicts"][0].update(
        run={"id": m["pairs"][0]["runs"][0]["id"], "model_name": "x"}
    ),
    "verdict run id a string": lambda m: m["pairs"][0]["verdicts"][0].update(
        run={"id": "7", "model_name": "x", "model_sha256": "00" * 32}
    ),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_the_fast_validator_agrees_with_jsonschema_2020_12(plan, name):
    """validate_manifest runs the schema compiled by fastjsonschema (speed); the reference
    Draft 2020-12 implementation must judge the same manifests the same way."""
    import copy

    import jsonschema

    from engine.exchange import manifest_schema

    schema = manifest_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    reference = jsonschema.Draft202012Validator(schema)
    assert reference.is_valid(plan.manifest)
    validate_manifest(plan.manifest)
    bad = copy.deepcopy(plan.manifest)
    MUTATIONS[name](bad)
    assert not reference.is_valid(bad)
    with pytest.raises(BagRejected) as err:
        validate_manifest(bad)
    assert "\n" not in str(err.value) and str(err.value).startswith("data/manifest.json: ")


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_describe_bag_reads_the_summary_without_extracting(plan, tmp_path, as_zip):
    from engine.exchange import describe_bag

    out = tmp_path / ("bag.zip" if as_zip else "bag")
    result = write_bag(plan, out, as_zip=as_zip)
    s = describe_bag(out)
    assert (s.session_name, s.operator, s.pairs, s.captures, s.runs) == (
        "roof night",
        "ana",
        3,
        4,
        4,
    )
    assert s.payload_bytes == result.payload_bytes and s.payload_files == result.payload_files
    assert s.format_version == "1.1" and s.selection == "whole session"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["src", out.name])


def test_describe_bag_refuses_a_2x_bag_in_one_line(plan, tmp_path):
    from engine.exchange import describe_bag

    out = tmp_path / "bag"
    write_bag(plan, out)
    m = json.loads((out / "data" / "manifest.json").read_text())
    m["format_version"] = "2.0"
    (out / "data" / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BagRejected, match="format 2.0 is newer"):
        describe_bag(out)
