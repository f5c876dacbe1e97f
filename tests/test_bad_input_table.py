"""Every command and every option that takes a file or folder, fed bad input, run as a user runs
it (``python -m main`` in a subprocess): one stderr line that names the file and says what is
wrong, the exit status, and nothing new or changed in the folders it was given.

The cases are a table (``CASES``): command line, the file the line must name, what it must
say, the exit status. Each case runs in its own copy of a small world (``_world``): good and
bad images, models and cards, a data folder with one recorded pair, a FIFO (unreadable as a
file even for root: reading it blocks) and a plain file used as a path component.
"""

# ruff: noqa: E501  (the table of cases reads one case a line)
from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from tests.conftest import REPO

TIMEOUT = 30  # s; a case that waits forever (a FIFO read as a file) fails instead of hanging

#: store bookkeeping an open rewrites whatever the command then does (lock owner, the clean-
#: close stamp, SQLite's shared-memory index): not data, never a user's file
_BOOKKEEPING = {".writer.lock", ".closed-cleanly", "nightlab.sqlite3-shm"}


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` RGB pixels, with 100 bytes of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 100)
    return (
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )  # fmt: skip


def _build_world(root: Path) -> None:
    from engine._image import write_image
    from engine.models import card_path_for, default_model_path
    from engine.store import Store

    day = np.ascontiguousarray(cv2.resize(skimage.data.astronaut(), (256, 192)))
    m = cv2.getRotationMatrix2D((128, 96), 2.0, 1.0)
    m[:, 2] += (6, -4)
    night = cv2.cvtColor(
        cv2.warpAffine(day, m, (256, 192), borderMode=cv2.BORDER_REFLECT), cv2.COLOR_RGB2GRAY
    )
    write_image(root / "day.png", day)
    write_image(root / "night.png", night)
    png = (root / "day.png").read_bytes()
    (root / "trunc.png").write_bytes(png[: len(png) // 2])
    (root / "empty.png").write_bytes(b"")
    (root / "text.png").write_bytes(b"this is not an image\n")
    write_image(root / "one.png", np.zeros((1, 1, 3), np.uint8))
    (root / "huge.png").write_bytes(_png_header_only(60000, 60000))
    (root / "adir").mkdir()
    (root / "emptydir").mkdir()
    (root / "afile").write_bytes(b"a plain file, used as a folder\n")
    (root / "garbled.onnx").write_bytes(bytes(range(256)) * 2)
    (root / "garbled.json").write_text("{not json")
    (root / "text.zip").write_bytes(b"not a zip")
    model = default_model_path()
    for name, card in (("m", None), ("badcard", "{garbled"), ("listcard", "[]")):
        shutil.copyfile(model, root / f"{name}.onnx")
        if card is None:
            data = json.loads(card_path_for(model).read_text())
            card = json.dumps({**data, "file": f"{name}.onnx"})
        (root / f"{name}.onnx.card.json").write_text(card)
    write_image(root / "pairs" / "0000_rgb.png", day)
    write_image(root / "pairs" / "0000_nir.png", night)
    for stamp, frame in (("20120503_120000", day), ("20120503_235840", night)):
        write_image(root / "cam" / f"{stamp}.png", frame)  # a fixed webcam's day and night
    with Store(root / "data") as store:
        session = store.create_session("roof", operator="ana")
        store.capture_pair(session.id, day=day, night=night)
    (root / "baddata").mkdir()
    (root / "baddata" / "nightlab.sqlite3").write_bytes(b"not a database " * 100)
    (root / "dbdir" / "nightlab.sqlite3").mkdir(parents=True)


@pytest.fixture(scope="module")
def _pristine(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("world")
    _build_world(root)
    return root


@pytest.fixture
def world(_pristine, tmp_path) -> Path:
    """A fresh copy of the world (a case that wrongly writes cannot spoil the next), with its
    FIFOs: files that exist but block a reader forever."""
    root = tmp_path / "w"
    shutil.copytree(_pristine, root)
    for name in ("fifo.png", "fifo.onnx", "fifo.mp4", "piped/overlay.png", "cam/o.json"):
        (root / name).parent.mkdir(exist_ok=True)
        os.mkfifo(root / name)
    shutil.copyfile(root / "m.onnx.card.json", root / "fifo.onnx.card.json")
    return root


def _snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root``: its kind, and a file's content hash."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            rel = p.relative_to(root).as_posix()
            if name in _BOOKKEEPING:
                continue
            if p.is_symlink() or not (p.is_file() or p.is_dir()):
                out[rel] = "special"
            elif p.is_dir():
                out[rel] = "folder"
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def run_nightlab(argv: list[str], data_dir: Path) -> subprocess.CompletedProcess:
    """``python -m main ARGV`` as a user runs it, its default data folder ``data_dir``."""
    return subprocess.run(
        [sys.executable, "-m", "main", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "NIGHTLAB_DATA_DIR": str(data_dir)},
    )


# (command line, the file the line names, what it says, exit status); {w} is the world folder.
# Exit 2 is every command's status for a user mistake (README "Command line").
_GOOD = "--day {w}/day.png --night {w}/night.png"
CASES = [
    # -- process: the two images, the model, the output folder
    ("process --day {w}/missing.png --night {w}/night.png --out {w}/out", "missing.png", "file not found", 2),
    ("process --day {w}/adir --night {w}/night.png --out {w}/out", "adir", "is a directory", 2),
    ("process --day {w}/empty.png --night {w}/night.png --out {w}/out", "empty.png", "file is empty", 2),
    ("process --day {w}/trunc.png --night {w}/night.png --out {w}/out", "trunc.png", "cannot decode", 2),
    ("process --day {w}/text.png --night {w}/night.png --out {w}/out", "text.png", "cannot decode", 2),
    ("process --day {w}/one.png --night {w}/night.png --out {w}/out", "one.png", "1x1 pixels", 2),
    ("process --day {w}/day.png --night {w}/huge.png --out {w}/out", "huge.png", "60000x60000 pixels", 2),
    ("process --day {w}/day.png --night {w}/fifo.png --out {w}/out", "fifo.png", "not a regular file", 2),
    ("process --day {w}/afile/x.png --night {w}/night.png --out {w}/out", "afile/x.png", "file not found", 2),
    (f"process {_GOOD} --out {{w}}/afile", "afile", "not a folder", 2),
    (f"process {_GOOD} --out {{w}}/afile/x", "afile/x", "not a folder", 2),
    (f"process {_GOOD} --out /sys/x", "/sys/x", "cannot create", 2),
    (f"process {_GOOD} --out {{w}}/day.png", "day.png", "not a folder", 2),
    (f"process {_GOOD} --out {{w}}/piped", "piped/overlay.png", "not a regular file", 2),
    (f"process {_GOOD} --out {{w}}/out --model {{w}}/missing.onnx", "missing.onnx", "not found", 2),
    (f"process {_GOOD} --out {{w}}/out --model {{w}}/adir", "adir", "is a directory", 2),
    (f"process {_GOOD} --out {{w}}/out --model {{w}}/garbled.onnx", "garbled.onnx", "no model card", 2),
    (f"process {_GOOD} --out {{w}}/out --model {{w}}/badcard.onnx", "badcard.onnx.card.json", "not valid JSON", 2),
    (f"process {_GOOD} --out {{w}}/out --model {{w}}/listcard.onnx", "listcard.onnx.card.json", "expected a JSON object", 2),
    (f"process {_GOOD} --out {{w}}/out --model {{w}}/garbled.json", "garbled.json", "unsupported model format", 2),
    (f"process {_GOOD} --out {{w}}/out --model {{w}}/fifo.onnx", "fifo.onnx", "not a regular file", 2),
    # -- bench: its JSON output
    ("bench --only camera --repeats 1 --json {w}/adir", "adir", "is a folder", 2),
    ("bench --only camera --repeats 1 --json {w}/afile/x.json", "afile", "not a folder", 2),
    ("bench --only camera --repeats 1 --json /sys/x.json", "/sys", "cannot write", 2),
    ("bench --only camera --repeats 1 --json {w}/fifo.png", "fifo.png", "not a regular file", 2),
    # -- eval: the pairs / webcam folder, models, outputs
    ("eval --no-default --pairs {w}/missing", "missing", "not a folder", 2),
    ("eval --no-default --pairs {w}/afile", "afile", "not a folder", 2),
    ("eval --no-default --pairs {w}/emptydir", "emptydir", "no NNNN_rgb / NNNN_nir image pairs", 2),
    ("eval --no-default --pairs {w}/pairs --csv {w}/pairs/0000_rgb.png", "0000_rgb.png", "is an input", 2),
    ("eval --no-default --pairs {w}/pairs --csv {w}/afile/x.csv", "afile", "not a folder", 2),
    ("eval --no-default --pairs {w}/pairs --csv /sys/x.csv", "/sys", "cannot write", 2),
    ("eval --no-default --pairs {w}/pairs --csv {w}/fifo.png", "fifo.png", "not a regular file", 2),
    ("eval --no-default --pairs {w}/pairs --model {w}/m.onnx --csv {w}/m.onnx.card.json", "m.onnx.card.json", "is an input", 2),
    ("eval --no-default --pairs {w}/pairs --model {w}/garbled.onnx", "garbled.onnx", "no model card", 2),
    ("eval --no-default --pairs {w}/pairs --model {w}/badcard.onnx", "badcard.onnx.card.json", "not valid JSON", 2),
    ("eval --no-default --pairs {w}/pairs --model {w}/adir", "adir", "is a directory", 2),
    ("eval --webcam {w}/missing", "missing", "not a folder", 2),
    ("eval --webcam {w}/afile", "afile", "not a folder", 2),
    ("eval --webcam {w}/pairs", "pairs", "no webcam frames", 2),
    ("eval --webcam {w}/cam --json {w}/adir", "adir", "is a folder", 2),
    ("eval --webcam {w}/cam --json /sys/x.json", "/sys", "cannot write", 2),
    ("eval --webcam {w}/cam --json {w}/cam/20120503_235840.png", "20120503_235840.png", "is an input", 2),
    ("eval --webcam {w}/cam --montage {w}/afile", "afile", "not a folder", 2),
    ("eval --webcam {w}/cam --montage /sys/x", "/sys/x", "cannot create", 2),
    # -- model tools: the source model and its card, the output
    ("model inspect {w}/missing.onnx", "missing.onnx", "not found", 2),
    ("model inspect {w}/adir", "adir", "is a folder", 2),
    ("model inspect {w}/garbled.onnx", "garbled.onnx", "not an ONNX model", 2),
    ("model inspect {w}/badcard.onnx", "badcard.onnx.card.json", "not valid JSON", 2),
    ("model inspect {w}/listcard.onnx", "listcard.onnx.card.json", "expected a JSON object", 2),
    ("model inspect {w}/text.zip", "text.zip", "unsupported model format", 2),
    ("model inspect {w}/fifo.onnx", "fifo.onnx", "not a regular file", 2),
    ("model export-fp16 {w}/missing.onnx", "missing.onnx", "not found", 2),
    ("model export-fp16 {w}/garbled.onnx", "garbled.onnx", "not an ONNX model", 2),
    ("model export-fp16 {w}/badcard.onnx", "badcard.onnx.card.json", "not valid JSON", 2),
    ("model export-fp16 {w}/m.onnx --out {w}/m.onnx", "m.onnx", "is the source model", 2),
    ("model export-fp16 {w}/m.onnx --out {w}/adir", "adir", "is a folder", 2),
    ("model export-fp16 {w}/m.onnx --out {w}/fifo.onnx", "fifo.onnx", "not a regular file", 2),
    ("model export-fp16 {w}/m.onnx --out /sys/x.onnx", "/sys/x.onnx", "cannot write", 2),
    ("model export-fp16 {w}/m.onnx --out {w}/afile/x.onnx", "afile", "not a folder", 2),
    ("model camera-variant {w}/missing.onnx", "missing.onnx", "not found", 2),
    ("model camera-variant {w}/garbled.onnx", "garbled.onnx", "no model card", 2),
    ("model camera-variant {w}/badcard.onnx", "badcard.onnx.card.json", "not valid JSON", 2),
    ("model camera-variant {w}/m.onnx --out {w}/m.onnx", "m.onnx", "is the source model", 2),
    ("model camera-variant {w}/m.onnx --out {w}/adir", "adir", "is a folder", 2),
    ("model camera-variant {w}/m.onnx --out /sys/x.onnx", "/sys/x.onnx", "cannot write", 2),
    ("model to-blob {w}/missing.onnx", "missing.onnx", "not found", 2),
    ("model to-blob {w}/garbled.onnx", "garbled.onnx", "not an ONNX model", 2),
    ("model to-blob {w}/badcard.onnx", "badcard.onnx.card.json", "not valid JSON", 2),
    ("model to-blob {w}/m.onnx --out {w}/adir", "adir", "is a folder", 2),
    ("model to-blob {w}/m.onnx --out {w}/fifo.png", "fifo.png", "not a regular file", 2),
    ("model to-blob {w}/m.onnx --out /sys/x.blob", "/sys/x.blob", "cannot write", 2),
    ("model to-blob {w}/m.onnx --out {w}/afile/x.blob", "afile", "not a folder", 2),
    # -- camera snap: an image as the simulated scene or a replay, the output image
    ("camera snap sim:{w}/trunc.png --out {w}/o.png", "trunc.png", "cannot decode", 2),
    ("camera snap sim:{w}/empty.png --out {w}/o.png", "empty.png", "file is empty", 2),
    ("camera snap sim:{w}/fifo.png --out {w}/o.png", "fifo.png", "not a regular file", 2),
    ("camera snap sim:{w}/huge.png --out {w}/o.png", "huge.png", "60000x60000 pixels", 2),
    ("camera snap replay:{w}/missing --out {w}/o.png", "missing", "no such file or folder", 2),
    ("camera snap replay:{w}/emptydir --out {w}/o.png", "emptydir", "no images", 2),
    ("camera snap replay:{w}/text.png --out {w}/o.png", "text.png", "cannot decode", 2),
    ("camera snap replay:{w}/fifo.png --out {w}/o.png", "fifo.png", "not a regular file", 2),
    ("camera snap replay:{w}/fifo.mp4 --out {w}/o.png", "fifo.mp4", "not a regular file", 2),
    ("camera snap replay:{w}/huge.png --out {w}/o.png", "huge.png", "60000x60000 pixels", 2),
    ("camera snap replay:{w}/afile --out {w}/o.png", "afile", "not a video or image file", 2),
    ("camera snap replay:{w}/day.png --out {w}/day.png", "day.png", "is the camera's source", 2),
    ("camera snap replay:{w}/cam --out {w}/cam/20120503_120000.png", "20120503_120000.png", "is the camera's source", 2),
    ("camera snap sim --out {w}/adir", "adir", "is a folder", 2),
    ("camera snap sim --out {w}/afile/x.png", "afile", "not a folder", 2),
    ("camera snap sim --out /sys/x.png", "/sys", "cannot write", 2),
    ("camera snap sim --out {w}/fifo.png", "fifo.png", "not a regular file", 2),
    ("camera snap sim --out {w}/cam/o.png", "cam/o.json", "not a regular file", 2),
    # -- the record: --data-dir of every command that opens it
    ("sessions list --data-dir {w}/afile", "afile", "not a folder", 2),
    ("sessions list --data-dir {w}/fifo.png", "fifo.png", "not a folder", 2),
    ("sessions list --data-dir {w}/afile/x", "afile/x", "is a file", 2),
    ("sessions verify --data-dir {w}/afile/x", "afile/x", "is a file", 2),
    ("sessions list --data-dir {w}/baddata", "nightlab.sqlite3", "damaged", 2),
    ("sessions list --data-dir {w}/dbdir", "nightlab.sqlite3", "is a folder", 2),
    ("sessions show 1 --data-dir {w}/baddata", "nightlab.sqlite3", "damaged", 2),
    ("sessions verify --data-dir {w}/baddata", "nightlab.sqlite3", "damaged", 2),
    ("sessions delete 1 --yes --data-dir {w}/baddata", "nightlab.sqlite3", "damaged", 2),
    ("sessions export 1 --out {w}/adir", "adir", "already exists", 2),
    ("sessions export 1 --out {w}/afile/x", "afile", "does not exist", 2),
    ("sessions export 1 --out /sys/x", "/sys/x", "cannot create", 2),
    ("sessions export 1 --out {w}/x.zip --data-dir {w}/baddata", "nightlab.sqlite3", "damaged", 2),
    ("sessions import {w}/missing", "missing", "no such file or folder", 2),
    ("sessions import {w}/emptydir", "emptydir", "not a NightLab export", 2),
    ("sessions import {w}/text.zip", "text.zip", "neither a bag folder nor a zip", 2),
    ("sessions import {w}/fifo.png", "fifo.png", "not a regular file", 2),
    ("sessions import {w}/data", "data", "not a NightLab export", 2),
    (f"ingest --session s {_GOOD} --data-dir {{w}}/afile", "afile", "not a folder", 2),
    (f"ingest --session s {_GOOD} --data-dir {{w}}/afile/x", "afile/x", "is a file", 2),
    (f"ingest --session s {_GOOD} --data-dir {{w}}/baddata", "nightlab.sqlite3", "damaged", 2),
    (f"ingest --session s {_GOOD} --data-dir {{w}}/dbdir", "nightlab.sqlite3", "is a folder", 2),
    (f"ingest --session s {_GOOD} --data-dir /sys/x", "/sys/x", "cannot open for writing", 2),
    ("ingest --session s --day {w}/trunc.png --night {w}/night.png", "trunc.png", "cannot decode", 2),
    ("ingest --session s --day {w}/day.png --night {w}/fifo.png", "fifo.png", "not a regular file", 2),
    ("ingest --session s --day {w}/huge.png --night {w}/night.png", "huge.png", "60000x60000 pixels", 2),
    ("ingest --session s --day {w}/day.png --night {w}/one.png", "one.png", "1x1 pixels", 2),
    ("capture --session s --count 1 --camera sim:{w}/fifo.png", "fifo.png", "not a regular file", 2),
    ("capture --session s --count 1 --camera sim:{w}/huge.png", "huge.png", "60000x60000 pixels", 2),
    ("capture --session s --count 1 --camera replay:{w}/text.png", "text.png", "cannot decode", 2),
    ("capture --session s --count 1 --data-dir {w}/afile", "afile", "not a folder", 2),
    ("capture --session s --count 1 --data-dir {w}/baddata", "nightlab.sqlite3", "damaged", 2),
    ("capture --session s --count 1 --data-dir {w}/dbdir", "nightlab.sqlite3", "is a folder", 2),
    ("qa 1 pass --data-dir {w}/baddata", "nightlab.sqlite3", "damaged", 2),
    ("qa 1 pass --data-dir {w}/missing", "missing", "no NightLab record here", 2),
    ("reprocess --session 1 --serial --model {w}/garbled.onnx", "garbled.onnx", "no model card", 2),
    ("reprocess --session 1 --serial --model {w}/badcard.onnx", "badcard.onnx.card.json", "not valid JSON", 2),
    ("reprocess --session 1 --serial --model {w}/fifo.onnx", "fifo.onnx", "not a regular file", 2),
    ("reprocess --session 1 --serial --data-dir {w}/baddata", "nightlab.sqlite3", "damaged", 2),
    ("reprocess --session 1 --serial --data-dir {w}/dbdir", "dbdir", "no NightLab record here", 2),
    # -- the app: its camera's image, the screenshot and stats files
    ("--smoke 1 --camera sim:{w}/trunc.png", "trunc.png", "cannot decode", 2),
    ("--smoke 1 --camera sim:{w}/fifo.png", "fifo.png", "not a regular file", 2),
    ("--smoke 1 --camera sim:{w}/huge.png", "huge.png", "60000x60000 pixels", 2),
    ("--smoke 1 --camera replay:{w}/missing", "missing", "no such file or folder", 2),
    ("--smoke 1 --screenshot {w}/fifo.png", "fifo.png", "not a regular file", 2),
    ("--smoke 1 --stats {w}/fifo.png", "fifo.png", "not a regular file", 2),
    ("--smoke 1 --screenshot /sys/x.png", "/sys", "cannot write", 2),
    ("--smoke 1 --stats {w}/afile/x.json", "afile", "does not exist", 2),
    ("--smoke 1 --camera sim:{w}/day.png --screenshot {w}/day.png", "day.png", "is the camera's source", 2),
    ("--smoke 1 --camera replay:{w}/cam --stats {w}/cam/20120503_120000.png", "20120503_120000.png", "is the camera's source", 2),
]  # fmt: skip


def _case_id(case) -> str:
    words = case[0].replace("{w}/", "").split()
    return "-".join(w.lstrip("-").replace("/", "_") for w in words if w not in ("--serial",))[:70]


@pytest.mark.parametrize("line, names, says, code", CASES, ids=[_case_id(c) for c in CASES])
def test_bad_input_is_one_line_naming_the_file_and_nothing_is_written(
    world, line, names, says, code
):
    argv = shlex.split(line.replace("{w}", str(world)))
    before = _snapshot(world)
    try:
        proc = run_nightlab(argv, world / "data")
    except subprocess.TimeoutExpired:
        pytest.fail(f"no answer within {TIMEOUT} s")
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == code, (proc.returncode, err)
    assert len(err) == 1, err
    assert err[0].startswith("nightlab") and "Traceback" not in err[0], err[0]
    assert names in err[0] and says in err[0], err[0]
    assert ".partial" not in err[0], err[0]  # the file asked for, never our temporary
    assert _snapshot(world) == before  # nothing new, nothing changed, nothing half-written


@pytest.mark.parametrize(
    "data_dir, says",
    [
        ("afile", "data directory {w}/afile: not a folder"),
        ("fifo.png", "data directory {w}/fifo.png: not a folder"),
        ("baddata", "record {w}/baddata/nightlab.sqlite3: damaged"),
        ("dbdir", "record {w}/dbdir/nightlab.sqlite3: is a folder"),
    ],
)
def test_doctor_fails_a_bad_data_folder_naming_it(world, data_dir, says):
    proc = run_nightlab(["doctor", "--data-dir", str(world / data_dir)], world / "data")
    fails = [ln for ln in proc.stdout.splitlines() if ln.startswith("FAIL")]
    assert proc.returncode == 1, proc.stdout
    assert any(says.replace("{w}", str(world)) in ln for ln in fails), fails


def _save_in_mode(day: np.ndarray, mode: str, path: Path) -> None:
    """``day`` saved as a PNG of ``mode``, as a camera or an editor may produce it."""
    from PIL import Image

    gray = cv2.cvtColor(day, cv2.COLOR_RGB2GRAY)
    bgr16 = cv2.cvtColor(day, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257
    if mode == "gray16":
        cv2.imwrite(str(path), gray.astype(np.uint16) * 257)
    elif mode == "rgb16":
        cv2.imwrite(str(path), bgr16)
    elif mode == "rgba16":
        cv2.imwrite(str(path), np.dstack([bgr16, np.full(gray.shape, 65535, np.uint16)]))
    else:  # Pillow's modes: RGBA, LA (gray + alpha), P (palette), 1 (one bit a pixel)
        source = day if mode in ("RGBA", "P") else gray
        Image.fromarray(source).convert(mode).save(path)


@pytest.mark.parametrize("mode", ["gray16", "rgb16", "rgba16", "RGBA", "LA", "P", "1"])
def test_every_png_mode_is_read_as_an_image_not_refused(_pristine, tmp_path, mode):
    """16-bit, alpha, palette and one-bit PNGs are not bad input: process takes each as the
    night frame and as the day reference."""
    day = cv2.cvtColor(cv2.imread(str(_pristine / "day.png")), cv2.COLOR_BGR2RGB)
    odd = tmp_path / f"{mode}.png"
    _save_in_mode(day, mode, odd)
    for role, pair in (("night", ["--day", _pristine / "day.png", "--night", odd]),
                       ("day", ["--day", odd, "--night", _pristine / "night.png"])):  # fmt: skip
        out = tmp_path / role
        argv = ["process", *map(str, pair), "--out", str(out), "--no-colorize"]
        proc = run_nightlab(argv, tmp_path / "data")
        assert proc.returncode == 0, (role, proc.stderr)
        assert json.loads((out / "metrics.json").read_text())["night_size"] == [256, 192]
