"""Gray8 night inputs: card encoding, host feeding, the camera variant and the camera check."""

from __future__ import annotations

import copy
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from cli import main
from engine.camera._oak_colorize import on_camera_problems
from engine.color import GRAY_TO_L, gray_to_l
from engine.colorize import load_colorizer, prepare_inputs
from engine.evaluation import output_max_abs_diff
from engine.models import (
    ModelCard,
    ModelError,
    TensorSpec,
    card_path_for,
    fit_gray_to_l,
    load_card,
    tiny_card,
    validate_card_dict,
    verify_model,
    with_gray_night_input,
    write_tiny_model,
)

# ops the MyriadX (OpenVINO 2021.4 VPU plugin) runs natively
MYRIADX_OPS = {
    "Add",
    "Cast",
    "Concat",
    "Conv",
    "DepthToSpace",
    "Mul",
    "Relu",
    "Sigmoid",
    "SpaceToDepth",
    "Sub",
    "Tanh",
}
# variant vs source, output tensor units (ab / 128): 0.002 = 0.26 a/b units, far below what
# shows; measured 3e-4 (the residual of the 0.27 L polynomial fit through the network)
VARIANT_TOLERANCE = 2e-3
_BLOB_IO = type("IO", (), {"format": "blob", "info": {}})()


def _valid(card: dict) -> dict:
    return {**card, "file": "m.onnx", "sha256": "0" * 64}


def _model_card(d: dict) -> ModelCard:
    """A ModelCard from a validated dict, without a file on disk."""
    assert validate_card_dict(_valid(d)) == []
    return ModelCard(
        path=Path("m.onnx.card.json"),
        name=d["name"],
        version=d["version"],
        format=d["format"],
        file="m.onnx",
        sha256="0" * 64,
        input_size=(d["input_size"]["width"], d["input_size"]["height"]),
        inputs=tuple(TensorSpec.from_dict(t) for t in d["inputs"]),
        outputs=tuple(TensorSpec.from_dict(t) for t in d["outputs"]),
        raw=d,
    )


def _as_blob_card(d: dict) -> dict:
    """What a compiled blob of card ``d`` declares: U8 night input, FP16 everything else."""
    d = copy.deepcopy(d)
    d["format"] = "blob"
    for t in d["inputs"] + d["outputs"]:
        t["dtype"] = "uint8" if t["role"] == "night_l" else "float16"
    return d


@pytest.fixture(scope="module")
def shipped(shipped_model) -> Path:
    return shipped_model


@pytest.fixture(scope="module")
def variant(shipped, tmp_path_factory) -> Path:
    return with_gray_night_input(shipped, dst=tmp_path_factory.mktemp("variant") / "camera.onnx")


# --- card schema ------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["linear", "gray8"])
def test_night_input_may_declare_an_encoding(encoding):
    d = tiny_card(32, 24)
    d["inputs"][0]["encoding"] = encoding
    assert validate_card_dict(_valid(d)) == []
    assert _model_card(d).input("night_l").encoding == encoding


def test_encoding_defaults_to_linear():
    assert _model_card(tiny_card(32, 24)).input("night_l").encoding == "linear"


@pytest.mark.parametrize(
    ("kind", "index", "encoding", "expected"),
    [
        (
            "inputs",
            1,
            "gray8",
            "inputs[1].encoding: 'gray8' is only allowed on the night_l input, not on role 'ref_l'",
        ),
        (
            "inputs",
            2,
            "gray8",
            "inputs[2].encoding: 'gray8' is only allowed on the night_l input, not on role "
            "'ref_ab'",
        ),
        (
            "outputs",
            0,
            "gray8",
            "outputs[0].encoding: 'gray8' is only allowed on the night_l input, not on role 'ab'",
        ),
        ("inputs", 0, "srgb", "inputs[0].encoding: 'srgb' is not one of ['linear', 'gray8']"),
        ("inputs", 0, 8, "inputs[0].encoding: 8 is not one of ['linear', 'gray8']"),
    ],
)
def test_bad_encoding_is_one_precise_line(kind, index, encoding, expected):
    d = tiny_card(32, 24)
    d[kind][index]["encoding"] = encoding
    assert validate_card_dict(_valid(d)) == [expected]


# --- host feeding -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("dtype", "scale", "offset"), [("float32", 1.0, 0.0), ("uint8", 1.0, 0.0), ("float32", 2.0, -1)]
)
def test_prepare_inputs_feeds_gray_levels_for_gray8(rng, dtype, scale, offset):
    night = rng.integers(0, 256, (48, 64), dtype=np.uint8)
    reference = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    mask = rng.random((48, 64), dtype=np.float32)
    linear = _model_card(tiny_card(32, 24))
    d = tiny_card(32, 24)
    d["inputs"][0].update(encoding="gray8", dtype=dtype, scale=scale, offset=offset)
    gray8 = _model_card(d)

    got = prepare_inputs(night, reference, leak_mask=mask, card=gray8)
    old = prepare_inputs(night, reference, leak_mask=mask, card=linear)
    small = cv2.resize(night, (32, 24), interpolation=cv2.INTER_AREA)
    expected = small.astype(np.float32) * np.float32(scale) + np.float32(offset)
    assert got["night_l"].dtype == np.dtype(dtype) and got["night_l"].shape == (1, 1, 24, 32)
    np.testing.assert_array_equal(got["night_l"][0, 0], expected.astype(dtype))
    # the linear card still gets L / 100 of the same resized frame; references are unchanged
    np.testing.assert_array_equal(old["night_l"][0, 0], gray_to_l(small) * np.float32(0.01))
    for name in ("ref_l", "ref_ab"):
        np.testing.assert_array_equal(got[name], old[name])


# --- the gray -> L polynomial -----------------------------------------------------------------
def test_gray_to_l_polynomial_within_half_an_l_unit():
    fit = fit_gray_to_l()
    levels = np.arange(256)
    err = np.abs(fit(levels) - GRAY_TO_L)
    assert fit.max_error == pytest.approx(float(err.max()))
    assert fit.max_error < 0.5
    assert abs(float(fit(np.array([128]))[0]) - 53.59) < 0.5  # a linear map would say 50.2


def test_gray_to_l_polynomial_holds_in_fp16():
    # the MyriadX evaluates the Horner chain in FP16: emulate it step by step
    coefs = [np.float16(c / 100) for c in fit_gray_to_l().coefficients]
    t = (np.arange(256, dtype=np.float16) * np.float16(2 / 255) + np.float16(-1)).astype(np.float16)
    p = (t * coefs[-1] + coefs[-2]).astype(np.float16)
    for c in reversed(coefs[:-2]):
        p = (p * t + c).astype(np.float16)
    assert np.abs(p.astype(np.float32) * 100 - GRAY_TO_L).max() < 0.5


def test_fit_degree_is_checked():
    with pytest.raises(ValueError, match="degree must be in 2..10, got 1"):
        fit_gray_to_l(1)


# --- the camera variant of the shipped model --------------------------------------------------
def test_variant_card_and_model_verify(variant, shipped):
    verified = verify_model(variant)  # schema, sha256, real I/O vs card
    night = verified.card.input("night_l")
    assert (night.name, night.encoding, night.dtype) == ("night_gray", "gray8", "float32")
    assert (night.scale, night.offset, night.range) == (1.0, 0.0, (0.0, 255.0))
    source = load_card(shipped)
    assert verified.card.raw["derived_from"] == {
        "file": shipped.name,
        "sha256": source.sha256,
        "tool": "nightlab model camera-variant",
    }
    assert verified.card.inputs[1:] == source.inputs[1:]
    assert verified.card.outputs == source.outputs


def test_variant_uses_only_myriadx_ops(variant, shipped):
    ops = [n.op_type for n in onnx.load(str(variant)).graph.node]
    assert set(ops) <= MYRIADX_OPS
    source_ops = [n.op_type for n in onnx.load(str(shipped)).graph.node]
    added = ops[: len(ops) - len(source_ops)]
    assert ops[len(added) :] == source_ops  # the source graph follows, untouched
    assert set(added) == {"Mul", "Add"} and len(added) == 14  # degree-6 Horner + v -> t


def test_variant_fed_gray_matches_source_fed_l(variant, shipped):
    diff = output_max_abs_diff(shipped, variant, count=4)
    assert 0 < diff <= VARIANT_TOLERANCE


def _photo_pairs():
    """(night, reference) pairs of an unchanged scene: the night is the photo's own gray."""
    from engine._image import to_gray
    from engine.scene_change import donor_photos

    photos = [cv2.resize(p, (160, 120), interpolation=cv2.INTER_AREA) for p in donor_photos()]
    return [(to_gray(p), p) for p in photos[:3]]


def test_variant_matches_source_on_unchanged_scenes(variant, shipped):
    import onnxruntime as ort

    runs = []
    for path in (shipped, variant):
        card = load_card(path)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        runs.append(
            [session.run(None, prepare_inputs(n, r, card=card))[0] for n, r in _photo_pairs()]
        )
    worst = max(float(np.abs(a - b).max()) for a, b in zip(*runs, strict=True))
    assert worst <= VARIANT_TOLERANCE


def test_variant_colorizes_like_the_source_on_the_host(variant, shipped):
    source = load_colorizer(shipped, threads=1)
    camera = load_colorizer(variant, threads=1)
    for night, reference in _photo_pairs():
        a, b = source.colorize(night, reference), camera.colorize(night, reference)
        assert np.abs(a.ab_lowres - b.ab_lowres).max() <= VARIANT_TOLERANCE * 128
        assert np.abs(a.rgb.astype(int) - b.rgb.astype(int)).max() <= 1


def test_variant_refuses_bad_sources(variant, tmp_path):
    with pytest.raises(ModelError, match="already has encoding 'gray8'"):
        with_gray_night_input(variant, dst=tmp_path / "again.onnx")
    with pytest.raises(ModelError, match="overwrite"):
        with_gray_night_input(variant, dst=variant)
    with pytest.raises(ModelError, match=r"must end in \.onnx"):
        with_gray_night_input(variant, dst=tmp_path / "v.blob")
    bare = write_tiny_model(tmp_path / "bare.onnx", card=False)
    with pytest.raises(ModelError, match="no model card"):
        with_gray_night_input(bare)
    assert not (tmp_path / "bare_camera.onnx").exists()


def test_tiny_variant_default_path_and_scale_folding(tmp_path):
    tiny = write_tiny_model(tmp_path / "tiny.onnx")
    out = with_gray_night_input(tiny)
    assert out == tmp_path / "tiny_camera.onnx" and card_path_for(out).is_file()
    # the tiny model ignores night_l, so the variant must give exactly its output
    assert output_max_abs_diff(tiny, out, count=2) == 0.0


def test_cli_camera_variant(shipped, tmp_path, capsys):
    out = tmp_path / "cam.onnx"
    assert main(["model", "camera-variant", str(shipped), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"wrote {out}" in text
    assert f"max error {fit_gray_to_l().max_error:.3f} L" in text
    assert "variant vs source max abs output difference" in text
    assert main(["model", "camera-variant", str(out), "--out", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "already has encoding 'gray8'" in err


# --- the camera check -------------------------------------------------------------------------
def test_camera_check_accepts_the_variant_card(variant):
    d = _as_blob_card(load_card(variant).raw)
    assert on_camera_problems(_model_card(d), _BLOB_IO) == []


def test_camera_check_rejects_a_uint8_linear_night_input(shipped):
    d = _as_blob_card(load_card(shipped).raw)
    d["inputs"][0].update(scale=2.55, range=[0.0, 255.0])  # L * 2.55: linear, not gray
    problems = on_camera_problems(_model_card(d), _BLOB_IO)
    assert problems == [
        "input 'night_l' (night_l): uint8 with encoding 'linear' expects CIE L, but the night "
        "input carries gray levels on the camera: use `nightlab model camera-variant` (card "
        "encoding: gray8)"
    ]


def test_camera_check_rejects_a_scaled_gray8_night_input(variant):
    d = _as_blob_card(load_card(variant).raw)
    d["inputs"][0]["scale"] = 1 / 255
    (problem,) = on_camera_problems(_model_card(d), _BLOB_IO)
    assert "gray8 with scale 0.00392157 / offset 0" in problem
    assert "raw gray levels (scale 1, offset 0)" in problem


def test_blob_compile_params_keep_floats_fp16_and_gray_u8(variant, shipped):
    from engine.models._convert import compile_params

    assert compile_params(shipped) == ["-ip FP16"]
    params = compile_params(variant)
    assert params[0] == "-ip FP16"
    assert params[1] == "-iop night_gray:U8"
