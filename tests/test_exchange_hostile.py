"""Hostile and damaged bags: each is refused by `open_bag` with one line naming the file and the
problem, before anything is extracted (zips) or trusted, and no staging files are left."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import pytest

from engine.exchange import BagRejected, ImportLimits, describe_bag, open_bag, write_bag
from tests.exchange_fixtures import make_plan


@pytest.fixture(scope="module")
def clean_bag(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("clean")
    out = base / "bag"
    write_bag(make_plan(base / "src"), out)
    return out


@pytest.fixture
def bag(clean_bag, tmp_path) -> Path:
    """A fresh copy of one valid export for each test to damage."""
    return Path(shutil.copytree(clean_bag, tmp_path / "bag"))


@pytest.fixture
def stage(tmp_path) -> Path:
    d = tmp_path / "stage"
    d.mkdir()
    return d


def rehash(root: Path) -> None:
    """Re-seal a (tampered) folder bag so only the intended check can catch it: manifest,
    Payload-Oxum and tag manifest recomputed from what is on disk now."""
    files = sorted(p for p in (root / "data").rglob("*") if p.is_file() or p.is_symlink())
    lines, total = [], 0
    for p in files:
        data = p.read_bytes() if p.is_file() else b""
        total += len(data)
        lines.append(f"{hashlib.sha256(data).hexdigest()}  {p.relative_to(root).as_posix()}\n")
    (root / "manifest-sha256.txt").write_text("".join(lines))
    info = [
        ln
        for ln in (root / "bag-info.txt").read_text().splitlines()
        if not ln.startswith("Payload-Oxum")
    ]
    info.append(f"Payload-Oxum: {total}.{len(files)}")
    (root / "bag-info.txt").write_text("\n".join(info) + "\n")
    tags = [
        f"{hashlib.sha256((root / n).read_bytes()).hexdigest()}  {n}\n"
        for n in ("bagit.txt", "bag-info.txt", "manifest-sha256.txt")
    ]
    (root / "tagmanifest-sha256.txt").write_text("".join(tags))


def edit_manifest(root: Path, change) -> None:
    path = root / "data" / "manifest.json"
    m = json.loads(path.read_text())
    change(m)
    path.write_text(json.dumps(m))
    rehash(root)


def refused(path: Path, match: str, stage: Path, **kw) -> str:
    with pytest.raises(BagRejected, match=match) as err:
        open_bag(path, staging_dir=stage, **kw)
    msg = str(err.value)
    assert "\n" not in msg, msg
    assert list(stage.iterdir()) == [], "staging left behind"
    return msg


# -- folder bags: bag integrity ------------------------------------------------------------


def test_missing_payload_file_is_refused(bag, stage):
    (bag / "data/pairs/pair-0002/colorized.png").unlink()
    msg = refused(bag, "pair-0002/colorized.png", stage)
    assert str(bag) in msg


def test_extra_payload_file_is_refused(bag, stage):
    (bag / "data/pairs/pair-0001/extra.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    refused(bag, r"data/pairs/pair-0001/extra.png: (extra file|not in the manifest)", stage)


def test_changed_file_of_the_same_size_is_refused(bag, stage):
    p = bag / "data/pairs/pair-0001/leak_mask.png"
    data = bytearray(p.read_bytes())
    data[-20] ^= 0xFF  # same size: only the checksum can tell
    p.write_bytes(bytes(data))
    refused(bag, "leak_mask.png: changed since export", stage)


@pytest.mark.parametrize("name", ["pairs/pair-0003/night.png", "metrics.csv"])
def test_a_file_that_changed_size_is_refused_naming_that_file(bag, stage, name):
    # the Payload-Oxum mismatch used to be the whole message ("expected 41 files and 15494159
    # bytes, found ... 15494160"): true, but the partner who edited one file had to hunt for it
    p = bag / "data" / name
    p.write_bytes(p.read_bytes()[:-10])
    refused(bag, f"data/{name}: changed since export", stage)


def test_a_wrong_payload_oxum_alone_is_refused_naming_bag_info(bag, stage):
    info = bag / "bag-info.txt"
    lines = info.read_text().splitlines()
    oxum = next(i for i, ln in enumerate(lines) if ln.startswith("Payload-Oxum: "))
    size, files = lines[oxum].split(": ")[1].split(".")
    lines[oxum] = f"Payload-Oxum: {int(size) + 1}.{files}"
    info.write_text("\n".join(lines) + "\n")
    tags = bag / "tagmanifest-sha256.txt"  # re-seal the tag files: only the Oxum is wrong
    digest = hashlib.sha256(info.read_bytes()).hexdigest()
    tags.write_text(
        "".join(
            f"{digest}  bag-info.txt\n" if ln.endswith("  bag-info.txt") else ln + "\n"
            for ln in tags.read_text().splitlines()
        )
    )
    refused(bag, "bag-info.txt: Payload-Oxum", stage)


def test_edited_bag_info_is_refused_by_the_tag_manifest(bag, stage):
    info = bag / "bag-info.txt"
    info.write_text(info.read_text().replace("Contact-Name: ana", "Contact-Name: eve"))
    refused(bag, "bag-info.txt: changed since export", stage)


def test_stray_top_level_file_is_refused(bag, stage):
    (bag / "run-me.sh").write_text("rm -rf ~\n")
    refused(bag, "run-me.sh: unexpected file", stage)


def test_fetch_txt_is_refused(bag, stage):
    (bag / "fetch.txt").write_text("https://example.invalid/x 10 data/x.png\n")
    refused(bag, "fetch.txt", stage)


def test_manifest_path_escaping_the_bag_is_refused(bag, stage):
    with open(bag / "manifest-sha256.txt", "a") as f:
        f.write(f"{'0' * 64}  data/../../etc/passwd\n")
    refused(bag, "unsafe|passwd", stage)


def test_no_sha256_manifest_is_refused(bag, stage):
    (bag / "manifest-sha256.txt").rename(bag / "manifest-md5.txt")
    refused(bag, "manifest-sha256.txt missing|not a valid bag", stage)


# -- folder bags: what the file system can hide -----------------------------------------------


def test_symlink_inside_a_folder_bag_is_refused(bag, stage, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    (bag / "data/pairs/pair-0001/peek.png").symlink_to(secret)
    rehash(bag)  # even sealed into the manifest
    refused(bag, "peek.png: symbolic link", stage)


def test_symlinked_folder_inside_a_bag_is_refused(bag, stage, tmp_path):
    (bag / "data/elsewhere").symlink_to(tmp_path)
    refused(bag, "elsewhere: symbolic link", stage)


def test_fifo_inside_a_folder_bag_is_refused_without_opening_it(bag, stage):
    os.mkfifo(bag / "data/pipe")  # opening it would block forever
    refused(bag, "pipe: not a regular file", stage)


def test_names_differing_only_in_case_are_refused(bag, stage):
    src = bag / "data/pairs/pair-0001/night.png"
    shutil.copy(src, bag / "data/pairs/pair-0001/NIGHT.png")
    rehash(bag)
    refused(bag, "differ only in case", stage)


def test_absurd_counts_and_sizes_are_refused_from_lstat(bag, stage):
    refused(bag, "more than 5 files", stage, limits=ImportLimits(max_files=5))
    refused(
        bag, "bytes, more than the 1000 allowed", stage, limits=ImportLimits(max_file_bytes=1000)
    )
    refused(bag, "bytes in all", stage, limits=ImportLimits(max_total_bytes=10_000))


def test_absurd_nesting_is_refused(bag, stage):
    deep = bag / "data" / "/".join(["d"] * 14)
    deep.mkdir(parents=True)
    refused(bag, "nested deeper", stage)


# -- the manifest: version, schema, references ----------------------------------------------


def test_format_2_bag_is_refused_in_one_line_naming_the_version(bag, stage):
    edit_manifest(bag, lambda m: m.update(format_version="2.0"))
    msg = refused(bag, "format 2.0 is newer than what this NightLab reads", stage)
    assert "data/manifest.json" in msg


def test_a_format_2_zip_is_refused_before_a_byte_is_unpacked(bag, tmp_path, stage):
    """The doc promises the version is checked before hashing. A zip used to be unpacked (and
    hashed) whole first, so the GUI's import of a 2.x night sat through minutes of unpacking
    for the one line it could have said at once."""
    edit_manifest(bag, lambda m: m.update(format_version="2.0"))
    out = zip_of(bag, tmp_path / "v2.zip")
    phases = []
    refused(out, r"v2\.zip: data/manifest.json: format 2.0 is newer", stage, progress=phases.append)
    assert "unpacking" not in {p.phase for p in phases}


def test_schema_violation_is_refused_naming_the_field(bag, stage):
    edit_manifest(bag, lambda m: m["pairs"][1].update(verdict="maybe"))
    refused(bag, r"pairs\[1\]\.verdict", stage)


def test_manifest_file_with_dotdot_is_refused(bag, stage):
    edit_manifest(bag, lambda m: m["captures"][0].update(file="../../outside.png"))
    refused(bag, r"captures\[0\]\.file", stage)


def test_manifest_absolute_file_is_refused(bag, stage):
    edit_manifest(bag, lambda m: m["captures"][0].update(file="/etc/passwd"))
    refused(bag, r"captures\[0\]\.file", stage)


def test_manifest_naming_a_file_not_in_the_bag_is_refused(bag, stage):
    def change(m):
        m["pairs"][0]["files"]["colorized"] = "pairs/pair-0001/nowhere.png"

    edit_manifest(bag, change)
    refused(bag, "nowhere.png, which is not in the bag", stage)


def test_payload_file_the_manifest_does_not_describe_is_refused(bag, stage):
    (bag / "data/notes.txt").write_text("hello")
    rehash(bag)
    refused(bag, "data/notes.txt: not described", stage)


def test_capture_bytes_swapped_for_other_valid_bytes_are_refused(bag, stage):
    a, b = bag / "data/captures/capture-10.png", bag / "data/captures/capture-11.png"
    a_bytes = a.read_bytes()
    a.write_bytes(b.read_bytes())
    b.write_bytes(a_bytes)
    rehash(bag)  # the bag is consistent; the record is not
    refused(bag, "do not match the capture's recorded sha256", stage)


def test_duplicate_ids_are_refused(bag, stage):
    edit_manifest(bag, lambda m: m["pairs"][1].update(id=m["pairs"][0]["id"]))
    refused(bag, "duplicate pair id", stage)


def test_png_claiming_absurd_dimensions_is_refused(bag, stage):
    p = bag / "data/pairs/pair-0001/colorized.png"
    data = bytearray(p.read_bytes())
    data[16:24] = struct.pack(">II", 100_000, 100_000)
    p.write_bytes(bytes(data))
    rehash(bag)
    refused(bag, "100000x100000 pixels is absurd", stage)


@pytest.mark.parametrize(
    "text, match",
    [
        ("{not json", "not valid JSON"),
        ('{"format": NaN}', "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
        ('"a string"', "expected a JSON object"),
    ],
    ids=["garbage", "nan", "nesting-bomb", "not-an-object"],
)
def test_broken_manifest_json_is_refused(bag, stage, text, match):
    (bag / "data/manifest.json").write_text(text)
    rehash(bag)
    refused(bag, match, stage)


def test_oversized_manifest_is_refused_before_parsing(bag, stage):
    refused(bag, "larger than 100 bytes", stage, limits=ImportLimits(max_manifest_bytes=100))


# -- zips ------------------------------------------------------------------------------------


def zip_of(bag: Path, out: Path, *, extra=(), rename=None) -> Path:
    """The folder bag as a zip (one top folder), plus hand-made ``extra`` members."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicates we add on purpose
        with zipfile.ZipFile(out, "w") as zf:
            for p in sorted(bag.rglob("*")):
                if p.is_file():
                    name = f"bag/{p.relative_to(bag).as_posix()}"
                    zf.write(p, rename(name) if rename else name)
            for info, data in extra:
                zf.writestr(info, data)
    return out


@pytest.fixture
def zbag(bag, tmp_path) -> Path:
    return zip_of(bag, tmp_path / "ok.zip")


def test_a_clean_zip_opens(zbag, stage):
    with open_bag(zbag, staging_dir=stage) as b:
        assert b.manifest["session"]["name"] == "roof night"


@pytest.mark.parametrize(
    "name, match",
    [
        ("bag/../../evil.txt", "path traversal"),
        ("../evil.txt", "path traversal"),
        ("/tmp/evil.txt", "absolute path"),
        ("C:/evil.txt", "absolute path"),
        ("bag\\..\\..\\evil.txt", "backslash"),
        ("bag/data/./x.png", "path traversal"),
        ("bag/data/x\x01.png", "control character"),
    ],
)
def test_zip_member_names_that_could_escape_are_refused(bag, tmp_path, stage, name, match):
    z = zip_of(bag, tmp_path / "evil.zip", extra=[(zipfile.ZipInfo(name), b"x")])
    refused(z, match, stage)
    assert not (tmp_path / "evil.txt").exists()


def test_zip_symlink_member_is_refused(bag, tmp_path, stage):
    link = zipfile.ZipInfo("bag/data/link.png")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    z = zip_of(bag, tmp_path / "link.zip", extra=[(link, "/etc/passwd")])
    refused(z, "link.png: symbolic link", stage)


def test_zip_duplicate_member_is_refused(bag, tmp_path, stage):
    dup = zipfile.ZipInfo("bag/data/manifest.json")
    z = zip_of(bag, tmp_path / "dup.zip", extra=[(dup, b"{}")])
    refused(z, "appears twice", stage)


def test_zip_members_colliding_by_case_are_refused(bag, tmp_path, stage):
    z = zip_of(
        bag, tmp_path / "case.zip", extra=[(zipfile.ZipInfo("bag/data/Manifest.JSON"), b"{}")]
    )
    refused(z, "appears twice|collides", stage)


def test_zip_bomb_is_refused_from_the_central_directory(bag, tmp_path, stage):
    bomb = zipfile.ZipInfo("bag/data/bomb.png")
    bomb.compress_type = zipfile.ZIP_DEFLATED
    z = zip_of(bag, tmp_path / "bomb.zip", extra=[(bomb, b"\0" * (64 << 20))])
    assert z.stat().st_size < (1 << 20)  # 64 MB of zeros in well under 1 MB
    refused(z, r"compression ratio \d+:1 is absurd", stage)


def test_zip_too_many_members_or_too_big_is_refused(zbag, stage):
    refused(zbag, "entries, more than 5", stage, limits=ImportLimits(max_files=5))
    refused(zbag, "more than the 1000 allowed", stage, limits=ImportLimits(max_file_bytes=1000))


def test_zip_claiming_more_than_the_free_space_is_refused_before_extracting(
    zbag, stage, monkeypatch
):
    free = shutil.disk_usage(stage)._replace(free=1000)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: free)
    refused(zbag, "GB to unpack", stage)


def test_encrypted_zip_member_is_refused(bag, tmp_path, stage):
    enc = zipfile.ZipInfo("bag/data/secret.png")
    enc.flag_bits |= 0x1
    z = zip_of(bag, tmp_path / "enc.zip", extra=[(enc, b"x")])
    refused(z, "encrypted", stage)


def test_damaged_zip_is_refused(zbag, stage):
    data = bytearray(zbag.read_bytes())
    i = data.find(b"IHDR")  # inside the first stored PNG: its CRC will not match
    data[i + 10] ^= 0xFF
    zbag.write_bytes(bytes(data))
    refused(zbag, "damaged|changed since export", stage)


def test_not_a_zip_and_not_a_folder_is_refused(tmp_path, stage):
    p = tmp_path / "session.zip"
    p.write_bytes(b"PK\x03\x04 this is not really a zip" + zlib.compress(b"x"))
    refused(p, "neither a bag folder nor a zip|damaged zip", stage)


def test_truncated_zip_says_truncated_not_not_a_zip(zbag, stage):
    # an interrupted download keeps the zip signature but loses the directory at the end;
    # before, this read "neither a bag folder nor a zip file", which misleads the partner
    data = zbag.read_bytes()
    cut = zbag.with_name("cut.zip")
    cut.write_bytes(data[: len(data) // 2])
    msg = refused(cut, "damaged zip file, truncated", stage)
    assert str(cut) in msg and "neither" not in msg
    with pytest.raises(BagRejected, match="damaged zip file, truncated"):
        describe_bag(cut)


def test_zip_with_a_file_missing_is_refused(bag, tmp_path, stage):
    z = zip_of(
        bag,
        tmp_path / "short.zip",
        rename=lambda n: n.replace("pair-0002/night.png", "pair-0002/nite.png"),
    )
    refused(z, "nite.png|night.png", stage)


def test_zip_with_a_file_where_a_folder_must_be_is_refused(bag, tmp_path, stage):
    z = zip_of(
        bag,
        tmp_path / "clash.zip",
        rename=lambda n: n.replace("bag/data/pairs/pair-0001/night.png", "bag/data/captures"),
    )
    refused(z, "bag/data/captures: clashes with another entry", stage)


def test_zip_with_two_top_folders_is_refused_naming_them(bag, tmp_path, stage):
    # a partner zipped two bags together; the line named a hidden staging path before
    out = zip_of(bag, tmp_path / "two.zip", rename=lambda n: n)
    with zipfile.ZipFile(out, "a") as zf:
        zf.writestr("other/bagit.txt", "BagIt-Version: 1.0\n")
    msg = refused(
        out, r"two\.zip: 2 top-level folders \(bag/, other/\); a bag's zip holds one", stage
    )
    assert ".partial" not in msg and str(stage) not in msg
    # the summary printed before the checks refuses it too: it described one of the two bags
    with pytest.raises(BagRejected, match="2 top-level folders"):
        describe_bag(out)


def test_import_of_a_zip_with_two_bags_prints_one_line(bag, tmp_path, monkeypatch, capsys):
    """`sessions import` printed the first bag's summary line, then the refusal."""
    import cli

    monkeypatch.setenv("NIGHTLAB_DATA_DIR", str(tmp_path / "data"))
    out = zip_of(bag, tmp_path / "two.zip", rename=lambda n: n)
    with zipfile.ZipFile(out, "a") as zf:
        zf.writestr("other/bagit.txt", "BagIt-Version: 1.0\n")
    capsys.readouterr()
    assert cli.main(["sessions", "import", str(out)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "2 top-level folders (bag/, other/)" in err[0], err
    assert not (tmp_path / "data").exists()


def test_zip_of_a_folder_that_is_no_bag_says_bagit_txt_is_missing(bag, tmp_path, stage):
    out = zip_of(bag, tmp_path / "data-only.zip", rename=lambda n: n.replace("bag/", "x/"))
    with zipfile.ZipFile(out) as zf, zipfile.ZipFile(tmp_path / "nobag.zip", "w") as z2:
        for info in zf.infolist():
            if info.filename != "x/bagit.txt":
                z2.writestr(info, zf.read(info))
    msg = refused(tmp_path / "nobag.zip", r"nobag\.zip: bagit\.txt missing: not a BagIt bag", stage)
    assert str(stage) not in msg


def _set(path, value):
    def change(m):
        *parents, last = path
        node = m
        for key in parents:
            node = node[key]
        node[last] = value

    return change


@pytest.mark.parametrize(
    "path, value, field",
    [
        (("pairs", 0, "tags"), ["a,b"], r"pairs\[0\]\.tags\[0\]"),
        (("pairs", 0, "tags"), ["x" * 65], r"pairs\[0\]\.tags\[0\]"),
        (("pairs", 0, "tags"), ["two\nlines"], r"pairs\[0\]\.tags\[0\]"),
        (("pairs", 0, "tags"), [" halo"], r"pairs\[0\]\.tags\[0\]"),
        (("pairs", 0, "tags"), ["   "], r"pairs\[0\]\.tags\[0\]"),
        (("pairs", 0, "tags"), ["halo\n"], r"pairs\[0\]\.tags\[0\]"),
        (
            ("pairs", 0, "alignment", "matrix"),
            [[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]],
            r"pairs\[0\]\.alignment\.matrix",
        ),
        (("session", "name"), "   ", r"session\.name"),
    ],
    ids=[
        "tag-with-comma",
        "tag-of-65",
        "tag-with-newline",
        "tag-padded",
        "tag-blank",
        "tag-ending-in-newline",
        "matrix-2x3",
        "blank-session-name",
    ],
)
def test_what_the_record_cannot_hold_is_refused_by_the_schema(bag, stage, path, value, field):
    """The 1.0 schema admitted tags of 200 characters with commas or newlines and a 2x3 matrix;
    NightLab never wrote them (the record refuses them) yet imported them raw: a tag 'a,b' read
    back as two tags, and the 2x3 pair stopped `nightlab reprocess` ('stored registration needs
    a finite 3x3 matrix'). The schema now says what NightLab writes; jsonschema agrees."""
    import jsonschema

    from engine.exchange import manifest_schema

    edit_manifest(bag, _set(path, value))
    refused(bag, f"data/manifest.json: {field}", stage)
    m = json.loads((bag / "data" / "manifest.json").read_text())
    assert not jsonschema.Draft202012Validator(manifest_schema()).is_valid(m)


def _reencode(path: Path, convert) -> str:
    import cv2

    ok, buf = cv2.imencode(".png", convert(cv2.imread(str(path), cv2.IMREAD_UNCHANGED)))
    assert ok
    path.write_bytes(buf.tobytes())
    return hashlib.sha256(buf.tobytes()).hexdigest()


def test_a_capture_re_encoded_as_16_bit_is_refused_naming_it(bag, stage):
    """A partner's image tool saved a night frame as 16-bit and re-sealed the bag with the new
    sha256: the import took it (only the size was checked), and the record then held a
    capture the doc promises is 8-bit."""
    import numpy as np

    m = json.loads((bag / "data" / "manifest.json").read_text())
    night = next(c for c in m["captures"] if c["kind"] == "night")
    pair = next(p for p in m["pairs"] if p["night"] == night["id"])
    for name in (night["file"], pair["files"]["night"]):
        sha = _reencode(bag / "data" / name, lambda a: a.astype(np.uint16) * 257)
    index = m["captures"].index(night)
    edit_manifest(bag, _set(("captures", index, "sha256"), sha))
    refused(bag, f"data/{night['file']}: a 16-bit gray PNG, the manifest says 8-bit gray", stage)


def test_a_run_output_with_an_alpha_channel_is_refused_naming_it(bag, stage):
    import cv2

    m = json.loads((bag / "data" / "manifest.json").read_text())
    name = m["pairs"][1]["files"]["colorized"]
    _reencode(bag / "data" / name, lambda a: cv2.cvtColor(a, cv2.COLOR_BGR2BGRA))
    rehash(bag)
    refused(bag, f"data/{name}: a 8-bit RGBA PNG, not 8-bit gray or RGB", stage)
