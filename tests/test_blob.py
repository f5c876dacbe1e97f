"""Compiling MyriadX blobs locally (``nightlab model to-blob``) and the shipped blob.

Tests that compile need the local compiler (``nightlab model compiler --install``; CI prepares
it when the package index answers in time) and skip with the missing pieces otherwise. Nothing
here touches the network: missing pieces and pip failures are simulated.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import engine.models._myriad as myriad
from cli import main
from engine.models import (
    DEFAULT_BLOB_COMMAND,
    ModelError,
    ToolchainError,
    blob_precisions,
    card_path_for,
    compiler_status,
    default_model_path,
    inspect_model,
    load_card,
    sha256_file,
    to_blob,
    verify_model,
    with_gray_night_input,
    write_tiny_model,
)

REPO = Path(__file__).resolve().parents[1]
SHIPPED_BLOB = REPO / "resources" / "models" / "refcolor_s.blob"
#: the one command that builds the shipped blob (README, resources/models/README.md)
SHIPPED_BLOB_COMMAND = DEFAULT_BLOB_COMMAND


@pytest.fixture(scope="module")
def compiler():
    missing = compiler_status()
    if missing:
        pytest.skip("local MyriadX compiler not available: " + "; ".join(map(str, missing)))
    return myriad.MyriadCompiler.find()


@pytest.fixture
def no_toolchain(tmp_path, monkeypatch):
    """An empty cache and a machine without libusb and g++."""
    monkeypatch.setenv("NIGHTLAB_MYRIAD_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(myriad.ctypes.util, "find_library", lambda name: None)
    monkeypatch.setattr(myriad.shutil, "which", lambda name: None)


def _one_line(exc) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


# -- what is missing, and how to get it -----------------------------------------------------
def test_each_missing_piece_is_named_with_the_command_that_installs_it(no_toolchain):
    lines = [str(m) for m in compiler_status()]
    assert lines == [
        "system library libusb-1.0 (the MYRIAD plugin links it) "
        "(install: sudo apt-get install libusb-1.0-0)",
        "C++ compiler g++ (builds the compile tool once) (install: sudo apt-get install g++)",
        "OpenVINO 2021.4.2 MYRIAD plugin (pinned wheel, 29 MB, fetched once with pip) "
        "(install: nightlab model compiler --install)",
        "compile tool (built once from myriad_compile.cpp) "
        "(install: nightlab model compiler --install)",
    ]


def test_to_blob_without_system_pieces_says_what_to_install_in_one_line(
    no_toolchain, tmp_path, capsys
):
    tiny = write_tiny_model(tmp_path / "tiny.onnx")
    with pytest.raises(ModelError) as exc:
        to_blob(tiny)
    msg = _one_line(exc)
    assert "sudo apt-get install libusb-1.0-0" in msg and "sudo apt-get install g++" in msg
    assert msg.endswith("or compile online with --online")
    assert main(["model", "to-blob", str(tiny)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "libusb-1.0" in err
    assert not (tmp_path / "tiny.blob").exists()  # nothing half-written


def test_doctor_reports_local_compilation(no_toolchain, capsys):
    from cli._doctor import check_blob_compiler

    (status, head), *pieces = check_blob_compiler()
    assert status == "WARN" and "local compilation not available" in head
    assert any("libusb-1.0-0" in text for _, text in pieces)


def test_cache_dir_is_the_same_with_and_without_platformdirs(monkeypatch):
    # CI prepares the compiler with a bare python3 (no platformdirs): both must agree
    monkeypatch.delenv("NIGHTLAB_MYRIAD_DIR", raising=False)
    with_pd = myriad.toolchain_dir()
    monkeypatch.setitem(sys.modules, "platformdirs", None)
    assert myriad.toolchain_dir() == with_pd


def _fake_pip(monkeypatch, *, content: bytes | None, returncode=0, stderr=""):
    calls = []

    def run(cmd, **kw):
        calls.append(cmd)
        if content is not None:
            dest = Path(cmd[cmd.index("-d") + 1]) / myriad.WHEEL_NAME
            with zipfile.ZipFile(dest, "w") as z:
                z.writestr("openvino/libs/plugins.xml", content)
        return subprocess.CompletedProcess(cmd, returncode, "", stderr)

    monkeypatch.setattr(myriad.subprocess, "run", run)
    return calls


def test_fetched_wheel_with_another_sha256_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("NIGHTLAB_MYRIAD_DIR", str(tmp_path / "cache"))
    calls = _fake_pip(monkeypatch, content=b"<not the pinned wheel/>")
    with pytest.raises(ToolchainError) as exc:
        myriad._fetch_libs(timeout=5)
    assert "is not the pinned 2260ac472b2834d5" in _one_line(exc)
    assert calls[0][1:4] == ["-m", "pip", "download"] and "openvino==2021.4.2" in calls[0]
    assert not myriad._libs_ready()  # nothing unpacked from an unverified wheel
    assert list((tmp_path / "cache").iterdir()) == []  # no partial download left behind


def test_pip_failure_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("NIGHTLAB_MYRIAD_DIR", str(tmp_path / "cache"))
    error = "ERROR: Could not find a version that satisfies the requirement"
    _fake_pip(monkeypatch, content=None, returncode=1, stderr=error + "\n")
    with pytest.raises(ToolchainError) as exc:
        myriad._fetch_libs(timeout=5)
    assert _one_line(exc) == (
        "pip could not fetch openvino==2021.4.2: "
        "ERROR: Could not find a version that satisfies the requirement"
    )


# -- precisions -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def variant(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("variant") / "refcolor_s_camera.onnx"
    return with_gray_night_input(default_model_path(), dst=out)


def test_camera_fed_input_is_u8_and_host_fed_inputs_fp16(variant):
    assert blob_precisions(load_card(variant)) == {
        "night_gray": "U8", "ref_l": "FP16", "ref_ab": "FP16"
    }  # fmt: skip
    assert set(blob_precisions(load_card(default_model_path())).values()) == {"FP16"}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"ref_l": "U8"}, "input 'ref_l': U8 would truncate its values (0.0..1.0)"),
        ({"nope": "FP16"}, "--input-precision names no input 'nope'"),
        ({"ref_ab": "INT8"}, "precision must be U8, FP16 or FP32, got 'INT8'"),
    ],
)
def test_bad_precision_override_is_refused(variant, override, message):
    with pytest.raises(ModelError, match=message.replace("(", r"\(").replace(")", r"\)")):
        blob_precisions(load_card(variant), override)


# -- compiling (needs the local compiler) --------------------------------------------------
@pytest.mark.slow
def test_same_model_and_options_give_the_same_bytes(compiler, tmp_path):
    tiny = write_tiny_model(tmp_path / "tiny.onnx")
    a = to_blob(tiny, dst=tmp_path / "a" / "tiny.blob", shaves=4, cmx_slices=4)
    b = to_blob(tiny, dst=tmp_path / "b" / "tiny.blob", shaves=4, cmx_slices=4)
    assert a.read_bytes() == b.read_bytes()
    assert card_path_for(a).read_text() == card_path_for(b).read_text()
    io = inspect_model(a)
    assert (io.info["shaves"], io.info["slices"]) == (4, 4)
    card = verify_model(a).card  # sha256 and every input/output match
    compiled = card.raw["compiled"]
    assert compiled["compiler_version"] == compiler.version
    assert compiled["compiler_version"].startswith("2021.4.2")
    assert (compiled["shaves"], compiled["cmx_slices"], compiled["output_precision"]) == (
        4, 4, "FP16"
    )  # fmt: skip
    assert compiled["steps"] == ["export-fp16", "compile"]  # the FP16 model is compiled
    assert {t.dtype for t in (*card.inputs, *card.outputs)} == {"float16"}
    assert card.raw["derived_from"]["sha256"] == sha256_file(tiny)


# -- the shipped blob -----------------------------------------------------------------------
def test_shipped_blob_matches_its_card_and_the_shipped_onnx():
    """Always runs: the blob is intact, fits its card, and was built from today's ONNX."""
    assert SHIPPED_BLOB.is_file(), f"missing; build it with: {SHIPPED_BLOB_COMMAND}"
    card = verify_model(SHIPPED_BLOB).card  # sha256 + inputs/outputs parsed from the blob
    onnx_sha = sha256_file(default_model_path())
    assert card.raw["derived_from"]["sha256"] == onnx_sha, (
        f"{SHIPPED_BLOB.name} was built from another refcolor_s.onnx; rebuild it with: "
        f"{SHIPPED_BLOB_COMMAND}"
    )
    compiled = card.raw["compiled"]
    assert compiled["steps"] == ["camera-variant", "export-fp16", "compile"]
    assert (compiled["shaves"], compiled["cmx_slices"]) == (6, 6)
    assert compiled["input_precisions"] == {"night_gray": "U8", "ref_ab": "FP16", "ref_l": "FP16"}
    night = card.input("night_l")
    assert (night.name, night.dtype, night.encoding) == ("night_gray", "uint8", "gray8")
    assert inspect_model(SHIPPED_BLOB).info["shaves"] == 6


def test_the_regenerate_command_is_documented():
    for doc in (REPO / "README.md", REPO / "resources" / "models" / "README.md"):
        assert SHIPPED_BLOB_COMMAND in " ".join(doc.read_text().split()), doc


@pytest.mark.slow
def test_shipped_blob_is_the_output_of_its_command(compiler, tmp_path, monkeypatch, capsys):
    # the documented command, run from a copy of the shipped model folder
    models = tmp_path / "resources" / "models"
    models.mkdir(parents=True)
    for name in ("refcolor_s.onnx", "refcolor_s.onnx.card.json"):
        (models / name).write_bytes((default_model_path().parent / name).read_bytes())
    monkeypatch.chdir(tmp_path)
    assert main(SHIPPED_BLOB_COMMAND.split()[1:]) == 0
    out = capsys.readouterr().out
    assert "compiled in" in out and "wrote resources/models/refcolor_s.blob" in out
    rebuilt = models / "refcolor_s.blob"
    assert hashlib.sha256(rebuilt.read_bytes()).hexdigest() == sha256_file(SHIPPED_BLOB), (
        f"the shipped blob is not what its command builds; rebuild: {SHIPPED_BLOB_COMMAND}"
    )
    assert json.loads(card_path_for(rebuilt).read_text()) == json.loads(
        card_path_for(SHIPPED_BLOB).read_text()
    )


def test_doctor_flags_a_blob_built_from_another_onnx(tmp_path, monkeypatch):
    from cli._doctor import check_on_camera_model

    ((status, text),) = check_on_camera_model()
    assert status == "OK" and "built from refcolor_s.onnx (6 shaves)" in text
    write_tiny_model(tmp_path / "refcolor_s.onnx")  # a retrained model, blob not rebuilt
    for name in ("refcolor_s.blob", "refcolor_s.blob.card.json"):
        (tmp_path / name).write_bytes((SHIPPED_BLOB.parent / name).read_bytes())
    monkeypatch.setattr("engine.models.default_model_path", lambda: tmp_path / "refcolor_s.onnx")
    ((status, text),) = check_on_camera_model()
    assert status == "WARN" and "was built from another refcolor_s.onnx" in text
    assert text.endswith(DEFAULT_BLOB_COMMAND)


# -- bad input: one line, nothing written ---------------------------------------------------
def test_to_blob_bad_input_is_one_line(tmp_path, capsys):
    png = tmp_path / "photo.onnx"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    with pytest.raises(ModelError, match="not an ONNX model \\(the file is a PNG image\\)"):
        to_blob(png)
    tiny = write_tiny_model(tmp_path / "tiny.onnx")
    with pytest.raises(ModelError, match="output name must end in .blob"):
        to_blob(tiny, dst=tmp_path / "tiny.bin")
    with pytest.raises(ModelError, match="output precision must be FP16 or FP32"):
        to_blob(tiny, output_precision="U8")
    assert main(["model", "to-blob", str(tiny), "--input-precision", "night_l"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "expected NAME=U8|FP16|FP32" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "photo.onnx", "tiny.onnx", "tiny.onnx.card.json"
    ]  # fmt: skip


def test_stale_source_card_is_refused_before_compiling(tmp_path):
    tiny = write_tiny_model(tmp_path / "tiny.onnx")
    card = json.loads(card_path_for(tiny).read_text())
    card["sha256"] = "0" * 64  # the model changed after its card was written
    card_path_for(tiny).write_text(json.dumps(card))
    with pytest.raises(ModelError, match="sha256"):
        to_blob(tiny)
    assert not (tmp_path / "tiny.blob").exists()


def test_model_the_myriad_cannot_compile_is_one_line(compiler, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [64])
    graph = helper.make_graph([helper.make_node("Unique", ["x"], ["y"])], "g", [x], [y])
    model = tmp_path / "unique.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), model)
    with pytest.raises(ModelError) as exc:
        to_blob(model)
    assert _one_line(exc) == (
        "to-blob: MYRIAD compile of unique_fp16.onnx failed: nGraph does not support the "
        "following ONNX operations: Unique"
    )
    assert not (tmp_path / "unique.blob").exists()
