"""Model contract: cards, verification errors, inspection (ONNX, real blobs, NN archives), tools."""

from __future__ import annotations

import io
import json
import socket
import sys
import tarfile
import types
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest

from cli import main
from engine.evaluation import output_max_abs_diff
from engine.models import (
    ModelCard,
    ModelError,
    TensorSpec,
    card_path_for,
    card_schema,
    check_against_card,
    default_model_path,
    export_fp16,
    inspect_model,
    load_card,
    read_nn_archive,
    sha256_file,
    to_blob,
    validate_card_dict,
    verify_model,
    write_card,
    write_tiny_model,
)
from tests.conftest import shared_path

BLOBS = ("fixtures", "blobs")


@pytest.fixture
def tiny(tmp_path) -> Path:
    return write_tiny_model(tmp_path / "tiny.onnx")


def _card(model: Path) -> dict:
    return json.loads(card_path_for(model).read_text())


def _rewrite_card(model: Path, change) -> None:
    data = _card(model)
    change(data)
    card_path_for(model).write_text(json.dumps(data))


def _one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg and msg
    return msg


# --- cards -------------------------------------------------------------------------------


def test_schema_is_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(card_schema())


def test_write_card_fills_hash_and_verifies(tiny):
    card = load_card(tiny)
    assert card.sha256 == sha256_file(tiny)
    assert card.file == "tiny.onnx" and card.format == "onnx"
    assert card.input_size == (32, 24)
    assert [t.role for t in card.inputs] == ["night_l", "ref_l", "ref_ab"]
    verified = verify_model(tiny)
    assert [t.name for t in verified.io.inputs] == ["night_l", "ref_l", "ref_ab"]
    assert verified.io.outputs[0].shape == (1, 2, 24, 32)
    # the card path itself is accepted too
    assert verify_model(card_path_for(tiny)).card.name == "tiny"


def test_tensor_spec_axes():
    spec = TensorSpec("ab", "ab", "NHWC", (1, 24, 32, 2), "float32", 1 / 128, 0.0)
    assert (spec.channels, spec.height, spec.width) == (2, 24, 32)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["inputs"][0].update(scale="x"), "inputs[0].scale"),
        (lambda d: d.pop("sha256"), "'sha256' is a required property"),
        (lambda d: d.update(format="tflite"), "format"),
        (lambda d: d["inputs"][2].update(role="ref_rgb"), "inputs[2].role"),
        (lambda d: d["inputs"][0].update(layout="NCWH"), "inputs[0].layout"),
        (lambda d: d.update(file="../elsewhere/tiny.onnx"), "file"),
        (lambda d: d["inputs"][2].update(shape=[1, 3, 24, 32]), "needs 2 channel"),
        (lambda d: d["inputs"][0].update(shape=[1, 1, 48, 64]), "input_size is 32x24"),
        (lambda d: d["inputs"][1].update(role="night_l"), "appears twice"),
        (lambda d: d.update(inputs=d["inputs"][:2]), "role 'ref_ab'"),
        (lambda d: d["outputs"][0].update(shape=[2, 2, 24, 32]), "batch must be 1"),
        (lambda d: d["training"].update(pairs_used=["0001"]), "training.pairs_used[0]"),
    ],
)
def test_invalid_card_names_the_field(tiny, change, expected):
    _rewrite_card(tiny, change)
    with pytest.raises(ModelError) as exc:
        verify_model(tiny)
    msg = _one_line(exc)
    assert "invalid card" in msg and expected in msg


def test_validate_card_dict_lists_problems():
    problems = validate_card_dict({"schema_version": 1})
    assert problems and all("\n" not in p for p in problems)
    assert validate_card_dict([]) == ["(top level): expected a JSON object, got list"]


def test_write_card_refuses_invalid_card(tiny):
    bad = _card(tiny)
    bad["inputs"][0]["dtype"] = "int64"
    with pytest.raises(ModelError, match="refusing to write an invalid card"):
        write_card(tiny, bad)


# --- loading errors: one line naming what mismatched ------------------------------------


def _jpeg_as_onnx(tmp_path: Path) -> Path:
    p = tmp_path / "photo.onnx"
    ok, buf = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    assert ok
    p.write_bytes(buf.tobytes())
    return p


def _random_bytes_with_card(tmp_path: Path) -> Path:
    tiny = write_tiny_model(tmp_path / "noise.onnx")
    tiny.write_bytes(np.random.default_rng(0).bytes(4096))
    _rewrite_card(tiny, lambda d: d.update(sha256=sha256_file(tiny)))
    return tiny


def _stale_model(tmp_path: Path) -> Path:
    tiny = write_tiny_model(tmp_path / "tiny.onnx")
    write_tiny_model(tiny, gain=0.5, card=False)  # same I/O, other weights, old card
    return tiny


def _renamed_input(tmp_path: Path) -> Path:
    tiny = write_tiny_model(tmp_path / "tiny.onnx")
    _rewrite_card(tiny, lambda d: d["inputs"][2].update(name="ref_chroma"))
    return tiny


def _other_size(tmp_path: Path) -> Path:
    tiny = write_tiny_model(tmp_path / "tiny.onnx")  # 32x24 model
    card = json.loads(
        card_path_for(write_tiny_model(tmp_path / "big.onnx", width=64, height=48)).read_text()
    )
    card.update(file="tiny.onnx", sha256=sha256_file(tiny))
    card_path_for(tiny).write_text(json.dumps(card))
    return tiny


def _float16_in_card(tmp_path: Path) -> Path:
    tiny = write_tiny_model(tmp_path / "tiny.onnx")
    _rewrite_card(tiny, lambda d: d["outputs"][0].update(dtype="float16"))
    return tiny


def _no_card(tmp_path: Path) -> Path:
    return write_tiny_model(tmp_path / "lonely.onnx", card=False)


def _unsupported(tmp_path: Path) -> Path:
    p = tmp_path / "weights.pt"
    p.write_bytes(b"\x80\x02")
    return p


def _wrong_ref_l_missing(tmp_path: Path) -> Path:
    tiny = write_tiny_model(tmp_path / "tiny.onnx", with_ref_l=False)
    card = json.loads(card_path_for(write_tiny_model(tmp_path / "three.onnx")).read_text())
    card.update(file="tiny.onnx", sha256=sha256_file(tiny))
    card_path_for(tiny).write_text(json.dumps(card))
    return tiny


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (_jpeg_as_onnx, "not an ONNX model (the file is a JPEG image)"),
        (_random_bytes_with_card, "not an ONNX model"),
        (_no_card, "no model card"),
        (_stale_model, "sha256 mismatch"),
        (_renamed_input, "input 'ref_chroma' (ref_ab) missing from model"),
        (_other_size, "shape [1, 1, 24, 32] in model, [1, 1, 48, 64] in card"),
        (_float16_in_card, "output 'ab': dtype float32 in model, float16 in card"),
        (_wrong_ref_l_missing, "input 'ref_l' (ref_l) missing from model"),
        (_unsupported, "unsupported model format '.pt'"),
    ],
)
def test_loading_errors_are_one_line_naming_the_file_by_its_path(tmp_path, make, expected):
    # Every camera's folder holds a model.onnx: the base name alone does not say which one.
    path = make(tmp_path)
    with pytest.raises(ModelError) as exc:
        verify_model(path)
    line = _one_line(exc)
    assert expected in line
    assert str(tmp_path) in line, line


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        verify_model(tmp_path / "nope.onnx")
    with pytest.raises(ModelError, match="is a directory"):
        verify_model(tmp_path)


def test_card_that_is_not_json(tiny):
    card_path_for(tiny).write_text("{not json")
    with pytest.raises(ModelError) as exc:
        load_card(tiny)
    assert "not valid JSON (line 1" in _one_line(exc)
    assert str(card_path_for(tiny)) in _one_line(exc)


# --- inspection: real MyriadX blobs -------------------------------------------------------


def test_inspect_diff_blob():
    path = shared_path(*BLOBS, "diff_openvino_2021.4_6shave.blob")
    io_ = inspect_model(path)
    assert io_.format == "blob"
    assert [(t.name, t.shape, t.dtype) for t in io_.inputs] == [
        ("img1", (3, 720, 720), "uint8"),
        ("img2", (3, 720, 720), "uint8"),
    ]
    assert [t.dtype for t in io_.outputs] == ["float16"]
    assert io_.info["shaves"] == 6


@pytest.mark.parametrize(
    ("name", "n_inputs", "out_shape"),
    [
        ("concat_openvino_2021.4_6shave.blob", 3, (1, 3, 300, 900)),
        ("blur_simplified_openvino_2021.4_6shave.blob", 1, (1, 3, 300, 300)),
        ("edge_simplified_openvino_2021.4_6shave.blob", 1, (1, 3, 300, 300)),
    ],
)
def test_inspect_other_blobs(name, n_inputs, out_shape):
    io_ = inspect_model(shared_path(*BLOBS, name))
    assert len(io_.inputs) == n_inputs
    assert all(t.layout == "NCHW" and t.shape == (1, 3, 300, 300) for t in io_.inputs)
    assert io_.outputs[0].shape == out_shape


def _blob_card(path: Path, **overrides) -> ModelCard:
    def spec(name, dtype="uint8"):
        return TensorSpec(name, "ref_ab", "CHW", (3, 720, 720), dtype, 1.0, 0.0)

    fields = dict(
        path=card_path_for(path),
        name="diff",
        version="1",
        format="blob",
        file=path.name,
        sha256=sha256_file(path),
        input_size=(720, 720),
        inputs=(spec("img1"), spec("img2")),
        outputs=(TensorSpec("output", "ab", "NC", (720, 720), "float16", 1.0, 0.0),),
    )
    fields.update(overrides)
    return ModelCard(**fields)


def test_check_against_card_blob():
    path = shared_path(*BLOBS, "diff_openvino_2021.4_6shave.blob")
    real = inspect_model(path)
    assert check_against_card(real, _blob_card(path)) == []
    card = _blob_card(
        path,
        inputs=(
            TensorSpec("img1", "night_l", "CHW", (3, 720, 720), "float16", 1.0, 0.0),
            TensorSpec("img3", "ref_ab", "NCHW", (1, 3, 720, 720), "uint8", 1.0, 0.0),
        ),
        format="onnx",
    )
    problems = check_against_card(real, card)
    assert "format: model file is blob, card says onnx" in problems
    assert "input 'img1': dtype uint8 in model, float16 in card" in problems
    assert any(p.startswith("input 'img3' (ref_ab) missing from model") for p in problems)
    assert "input 'img2' in model but not in card" in problems


def test_not_a_blob(tmp_path):
    p = tmp_path / "x.blob"
    p.write_bytes(np.random.default_rng(1).bytes(2048))
    with pytest.raises(ModelError) as exc:
        inspect_model(p)
    assert "not a MyriadX blob" in _one_line(exc)


def test_cli_inspect_blob(capsys):
    path = shared_path(*BLOBS, "diff_openvino_2021.4_6shave.blob")
    assert main(["model", "inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "img1: 3x720x720 uint8 CHW" in out and "output: 720x720 float16 NC" in out
    assert "card: none" in out


def test_cli_inspect_onnx_with_card(tiny, capsys):
    assert main(["model", "inspect", str(tiny)]) == 0
    out = capsys.readouterr().out
    assert "ref_ab: 1x2x24x32 float32" in out and "matches (tiny 0.0.1)" in out
    _rewrite_card(tiny, lambda d: d["outputs"][0].update(dtype="float16"))
    assert main(["model", "inspect", str(tiny)]) == 1
    assert (
        "MISMATCH output 'ab': dtype float32 in model, float16 in card" in capsys.readouterr().out
    )


# --- NN archives --------------------------------------------------------------------------


def _add(tar: tarfile.TarFile, name: str, data: bytes, **attrs) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for k, v in attrs.items():
        setattr(info, k, v)
    tar.addfile(info, io.BytesIO(data))


def _archive(path: Path, exe_name: str, exe: bytes, io_names=("night_l",), extra=None) -> Path:
    config = {
        "config_version": "1.0",
        "model": {
            "metadata": {"name": "t", "path": exe_name, "precision": "float32"},
            "inputs": [{"name": n, "dtype": "float32", "shape": [1, 1, 24, 32]} for n in io_names],
            "outputs": [{"name": "ab", "dtype": "float32", "shape": [1, 2, 24, 32]}],
            "heads": [],
        },
    }
    with tarfile.open(path, "w:xz") as tar:
        _add(tar, "config.json", json.dumps(config).encode())
        _add(tar, exe_name, exe)
        if extra:
            extra(tar)
    return path


def test_nn_archive_with_onnx_inspects_and_loads(tmp_path):
    tiny = write_tiny_model(tmp_path / "m.onnx")
    arc = _archive(tmp_path / "m.tar.xz", "m.onnx", tiny.read_bytes(), ("night_l", "ref_x"))
    io_ = inspect_model(arc)
    assert io_.format == "nnarchive" and [t.name for t in io_.inputs][0] == "night_l"
    assert io_.info["executable"] == "m.onnx"
    card = _card(tiny)
    card["format"] = "nnarchive"
    write_card(arc, card)
    assert verify_model(arc).card.format == "nnarchive"
    from engine.colorize import load_colorizer

    col = load_colorizer(arc)
    res = col.colorize(np.full((48, 64), 90, np.uint8), np.full((48, 64, 3), 120, np.uint8))
    assert res.rgb.shape == (48, 64, 3)
    # the config names an input the executable lacks: inspect reports it
    assert main(["model", "inspect", str(arc)]) == 1


def test_nn_archive_with_real_blob(tmp_path):
    blob = shared_path(*BLOBS, "diff_openvino_2021.4_6shave.blob").read_bytes()
    arc = _archive(tmp_path / "d.tar.xz", "diff.blob", blob, ("img1", "img2"))
    io_ = inspect_model(arc)
    assert [t.name for t in io_.inputs] == ["img1", "img2"]
    assert io_.inputs[0].dtype == "uint8" and io_.info["executable"] == "diff.blob"


def _evil_absolute(tar):
    _add(tar, "/tmp/nightlab-evil", b"x")


def _evil_dotdot(tar):
    _add(tar, "../../nightlab-evil", b"x")


def _evil_symlink(tar):
    _add(tar, "link", b"", type=tarfile.SYMTYPE, linkname="/etc/passwd")


def _evil_hardlink(tar):
    _add(tar, "hard", b"", type=tarfile.LNKTYPE, linkname="config.json")


def _evil_device(tar):
    _add(tar, "dev", b"", type=tarfile.CHRTYPE)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (_evil_absolute, "absolute member path"),
        (_evil_dotdot, "leaves the archive"),
        (_evil_symlink, "is a link"),
        (_evil_hardlink, "is a link"),
        (_evil_device, "not a regular file"),
    ],
)
def test_malicious_archives_rejected(tmp_path, extra, expected):
    arc = _archive(tmp_path / "evil.tar.xz", "m.onnx", b"\x08\x07", extra=extra)
    with pytest.raises(ModelError) as exc:
        read_nn_archive(arc)
    assert expected in _one_line(exc)
    assert not (tmp_path.parent / "nightlab-evil").exists()


def test_oversized_member_rejected(tmp_path, monkeypatch):
    import engine.models._archive as archive

    monkeypatch.setattr(archive, "MAX_MEMBER_BYTES", 1000)
    arc = _archive(tmp_path / "big.tar", "m.onnx", bytes(5000))
    with pytest.raises(ModelError) as exc:
        inspect_model(arc)
    assert "is 5000 bytes (limit 1000)" in _one_line(exc)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (np.random.default_rng(2).bytes(3000), "not an NN archive"),
        (b"", "not an NN archive"),
    ],
)
def test_not_an_archive(tmp_path, content, expected):
    p = tmp_path / "x.tar.xz"
    p.write_bytes(content)
    with pytest.raises(ModelError) as exc:
        inspect_model(p)
    assert expected in _one_line(exc)


def test_archive_without_config_or_executable(tmp_path):
    p = tmp_path / "a.tar"
    with tarfile.open(p, "w") as tar:
        _add(tar, "model.onnx", b"x")
    with pytest.raises(ModelError, match="no config.json"):
        read_nn_archive(p)
    p2 = _archive(tmp_path / "b.tar.xz", "m.onnx", b"x")
    with tarfile.open(p2, "r:xz") as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar if m.name == "config.json"]
    with tarfile.open(p2, "w:xz") as tar:
        for m, data in members:
            tar.addfile(m, io.BytesIO(data))
    with pytest.raises(ModelError, match="names executable 'm.onnx', not in the archive"):
        read_nn_archive(p2)


# --- FP16 export --------------------------------------------------------------------------


def test_export_fp16_tiny(tiny, tmp_path):
    out = export_fp16(tiny, dst=tmp_path / "out" / "tiny16.onnx")
    verified = verify_model(out)
    assert all(t.dtype == "float16" for t in (*verified.io.inputs, *verified.io.outputs))
    card = verified.card
    assert card.raw["precision"] == "fp16" and card.raw["derived_from"]["file"] == "tiny.onnx"
    diff = output_max_abs_diff(tiny, out, count=2)
    assert diff <= card.fp16_tolerance


def test_model_conversions_take_the_output_path_by_keyword_only(tiny, tmp_path):
    """scikit-image style: only the source is positional, so ``f(src, "x.onnx", ...)`` cannot
    silently mean another option when the signature grows; nothing is written."""
    from engine.models import to_blob, with_gray_night_input

    for convert in (export_fp16, with_gray_night_input, to_blob):
        with pytest.raises(TypeError, match="positional"):
            convert(tiny, tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


def test_export_fp16_refuses_overwrite_and_bad_input(tiny, tmp_path):
    with pytest.raises(ModelError, match="overwrite"):
        export_fp16(tiny, dst=tiny)
    with pytest.raises(ModelError, match="not an ONNX model"):
        export_fp16(_jpeg_as_onnx(tmp_path), dst=tmp_path / "o.onnx")


def test_cli_export_fp16(tiny, tmp_path, capsys):
    out = tmp_path / "t16.onnx"
    assert main(["model", "export-fp16", str(tiny), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "FP16 vs FP32 max abs difference" in text and "within" in text
    assert card_path_for(out).is_file()


# --- to-blob --online: never touches the network in tests ----------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_to_blob_offline_fails_fast_with_one_line(tiny, monkeypatch):
    calls = []
    fake = types.ModuleType("blobconverter")
    fake.from_onnx = lambda **kw: calls.append(kw)
    monkeypatch.setitem(sys.modules, "blobconverter", fake)
    with pytest.raises(ModelError) as exc:
        to_blob(tiny, online=True, host="127.0.0.1", port=_closed_port(), timeout=5)
    msg = _one_line(exc)
    assert "cannot reach 127.0.0.1" in msg and "needs the network" in msg
    assert calls == []  # the converter was never asked


def test_to_blob_without_converter(tiny, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "blobconverter", None)  # import fails
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(ModelError) as exc:
        to_blob(tiny, online=True)
    assert "no Luxonis converter found" in _one_line(exc)
    assert main(["model", "to-blob", str(tiny), "--online"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "no Luxonis converter" in err


def test_to_blob_converter_that_hangs_times_out(tiny, monkeypatch):
    import threading

    release = threading.Event()
    fake = types.ModuleType("blobconverter")
    fake.from_onnx = lambda **kw: release.wait(10)
    monkeypatch.setitem(sys.modules, "blobconverter", fake)
    monkeypatch.setattr("engine.models._online._probe", lambda *a, **k: None)
    try:
        with pytest.raises(ModelError) as exc:
            to_blob(tiny, online=True, timeout=0.2)
        assert "did not answer within" in _one_line(exc)
    finally:
        release.set()


# --- the shipped default model (ships in the repo: this first test fails when it is missing,
# the others skip via the shipped_model fixture) ---------------------------------------------


def test_shipped_model_card_validates_and_hash_matches():
    path = default_model_path()
    assert path.is_file(), f"default model missing: {path}"
    card = load_card(path)
    assert card.input_size == (256, 192)
    assert {t.role for t in card.inputs} >= {"night_l", "ref_ab"}
    assert card.sha256 == sha256_file(path)
    assert verify_model(path).card.name == card.name
    assert all(p.startswith("country/") for p in card.pairs_used)


def test_shipped_model_fp16_within_tolerance(tmp_path, shipped_model):
    path = shipped_model
    card = load_card(path)
    assert card.fp16_tolerance is not None
    out = export_fp16(path, dst=tmp_path / "refcolor_s_fp16.onnx")
    verify_model(out)
    diff = output_max_abs_diff(path, out, count=3)
    assert diff <= card.fp16_tolerance, f"FP16 differs by {diff} > {card.fp16_tolerance}"


@pytest.mark.parametrize("mode", ["w:xz", "w:gz"])
def test_corrupt_compressed_archive_is_one_line(tmp_path, mode, capsys):
    buf = io.BytesIO()
    config = json.dumps({"model": {"metadata": {"path": "m.onnx"}, "inputs": [], "outputs": []}})
    data = (config * 200).encode()
    with tarfile.open(fileobj=buf, mode=mode) as t:
        info = tarfile.TarInfo("config.json")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    raw = bytearray(buf.getvalue())
    for i in range(len(raw) // 2, len(raw) - 16, 5):  # damage the compressed payload
        raw[i] ^= 0x5A
    bad = tmp_path / f"model.tar.{mode[2:]}"
    bad.write_bytes(bytes(raw))
    assert main(["model", "inspect", str(bad)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and bad.name in err[0]
    assert any(w in err[0] for w in ("archive", "config.json")), err[0]


@pytest.mark.parametrize("derive", ["export_fp16", "with_gray_night_input"])
def test_a_derived_model_is_never_left_without_its_card(tiny, tmp_path, monkeypatch, derive):
    # both derivations write through engine.models' one writer; before, an FP16 copy whose
    # card could not be written stayed behind without it
    import engine.models
    import engine.models._card as card_module

    def refuse(path, data):
        raise ModelError(f"{Path(path).name}: refusing to write an invalid card: (test)")

    monkeypatch.setattr(card_module, "write_card", refuse)
    dst = tmp_path / "derived.onnx"
    with pytest.raises(ModelError, match="refusing to write an invalid card"):
        getattr(engine.models, derive)(tiny, dst=dst)
    assert not dst.exists() and not card_path_for(dst).exists()
