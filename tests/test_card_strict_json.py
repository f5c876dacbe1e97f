"""A model card is strict JSON: a NaN or an infinity in it is refused, naming the card file and
the field, and nothing is written.

Before, `write_card`, the blob's card of ``to-blob`` and ``training/diagnose.py``'s variants
wrote Python's bare ``NaN`` / ``Infinity`` (not JSON: ``jq``, ``JSON.parse`` and a partner's
reader refuse the whole card), or, for the blob's card, a silent ``null`` in place of the
number. A card's values are a contract (scales, offsets, tolerances), so a wrong one is
refused, not turned into "not given"."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from engine.atomic import non_finite_field, write_json_atomic
from engine.models import ModelError, card_path_for, sha256_file, write_card, write_tiny_model


def _strict(path: Path) -> dict:
    """The file parsed by a strict reader (one that refuses NaN and Infinity)."""

    def refuse(word):
        raise ValueError(f"{path}: {word} is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture
def tiny(tmp_path) -> Path:
    return write_tiny_model(tmp_path / "tiny.onnx")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_write_card_refuses_a_non_finite_value_naming_the_card_and_the_field(tiny, value):
    card = json.loads(card_path_for(tiny).read_text())
    before = card_path_for(tiny).read_bytes()
    card["inputs"][1]["scale"] = value
    with pytest.raises(ModelError) as exc:
        write_card(tiny, card)
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(f"{card_path_for(tiny)}: refusing to write the card: ")
    assert f"inputs[1].scale is {value!r}, which JSON cannot hold" in msg
    assert card_path_for(tiny).read_bytes() == before  # the previous card stays, whole


def test_a_written_card_is_strict_json_with_the_same_bytes_as_before(tiny):
    card = json.loads(card_path_for(tiny).read_text())
    out = write_card(tiny, card)
    assert _strict(out) == card
    # json.dumps(indent=2) + newline, as cards were always written: a card's bytes do not move
    assert out.read_text() == json.dumps(card, indent=2) + "\n"


def test_a_card_with_a_bare_infinity_is_refused_when_read_and_to_blob_writes_nothing(
    tiny, tmp_path
):
    # Before: Python's json read it, and to-blob compiled and wrote the blob's card with null
    from engine.models import load_card, to_blob

    card = json.loads(card_path_for(tiny).read_text())
    card["fp16_tolerance"] = float("inf")
    card_path_for(tiny).write_text(json.dumps(card))  # Python's json: bare Infinity
    expected = (
        f"{card_path_for(tiny)}: card is not valid JSON (fp16_tolerance is inf: NaN and "
        "infinities are not JSON)"
    )
    with pytest.raises(ModelError) as exc:
        load_card(tiny)
    assert str(exc.value) == expected
    dst = tmp_path / "out" / "tiny.blob"
    with pytest.raises(ModelError) as exc:
        to_blob(tiny, dst=dst)
    assert str(exc.value) == expected
    assert not dst.parent.exists() or not any(dst.parent.iterdir())


def _gate_model(path: Path) -> Path:
    """The smallest ONNX ``export_shifted`` edits: one ``head_gate.bias`` initializer."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    bias = numpy_helper.from_array(np.zeros(1, np.float32), "head_gate.bias")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "head_gate.bias"], ["y"])],
        "gate",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        [bias],
    )
    onnx.save(helper.make_model(graph), str(path))
    return path


def test_a_diagnose_variant_with_a_nan_in_its_card_is_refused_and_nothing_is_written(tmp_path):
    from training.diagnose import export_shifted

    src = _gate_model(tmp_path / "net.onnx")
    card = {"name": "net", "file": "net.onnx", "metrics": {"delta_e": float("nan")}}
    Path(f"{src}.card.json").write_text(json.dumps(card))  # Python's json reads NaN back
    dst = tmp_path / "net_shifted.onnx"
    with pytest.raises(ValueError) as exc:
        export_shifted(src, dst, 0.5)
    msg = str(exc.value)
    assert msg.startswith(f"{dst}.card.json: refusing to write the card: ")
    assert "metrics.delta_e is nan" in msg
    assert not dst.exists() and not Path(f"{dst}.card.json").exists()  # not half-written

    card["metrics"]["delta_e"] = 1.25
    Path(f"{src}.card.json").write_text(json.dumps(card))
    export_shifted(src, dst, 0.5)
    written = _strict(Path(f"{dst}.card.json"))
    assert written["name"] == "net-gate+0.5" and written["sha256"] == sha256_file(dst)


def test_non_finite_field_names_the_first_nan_or_infinity_by_its_path():
    assert non_finite_field({"a": [1.0, {"b": 2}], "c": "NaN"}) is None  # a string is fine
    field, value = non_finite_field({"a": [1.0, {"b": float("nan")}], "c": math.inf})
    assert field == "a[1].b" and math.isnan(value)
    assert non_finite_field(float("-inf")) == ("(top level)", -math.inf)


def test_strict_json_writer_refuses_or_writes_null_as_asked(tmp_path):
    data = {"m": np.array([1.0, np.nan])}
    out = write_json_atomic(tmp_path / "a.json", data, default=lambda a: a.tolist())
    assert _strict(out) == {"m": [1.0, None]}  # the default: null
    with pytest.raises(ValueError, match=r"b\.json: m\[1\] is nan, which JSON cannot hold"):
        write_json_atomic(
            tmp_path / "b.json", data, default=lambda a: a.tolist(), non_finite="refuse"
        )
    assert not (tmp_path / "b.json").exists()
