"""RefColorNet's optional global white-balance branch (``wb_deadzone``, ``gate_offset``).

Small random networks on small synthetic tensors; skips cleanly without torch (CI installs
the ``test`` extra only).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from training.model import WB_BUFFERS, RefColorNet, global_shift  # noqa: E402

SHAPE = (1, 1, 32, 48)


def _inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    night = torch.rand(SHAPE, generator=g)
    ref_l = torch.rand(SHAPE, generator=g)
    ref_ab = (torch.rand((1, 2, 32, 48), generator=g) * 2 - 1) * 0.3
    return night, ref_l, ref_ab


def _net(seed: int = 0, **kw) -> RefColorNet:
    """A random network whose estimate differs clearly from the reference (a real correction)
    and whose gate sits mid-way, so its frame-wide mean correction is far from 0."""
    torch.manual_seed(seed)
    net = RefColorNet(ch0=8, ch1=8, ch2=8, gate_bias=0.0, **kw).eval()
    with torch.no_grad():
        net.head_est.bias[0::2] = 0.4  # est ~ tanh(0.4) in a (even channels after DepthToSpace)
        net.head_est.bias[1::2] = -0.2
    return net


def test_default_network_has_no_branch_and_its_state_is_unchanged():
    net = RefColorNet()
    assert not net.has_wb_branch
    assert not any(k in net.state_dict() for k in WB_BUFFERS)
    assert "wb_deadzone" not in net.config


def test_reference_inside_the_dead_zone_is_passed_through_untouched():
    x = _inputs()
    # gate_offset 30: the output gate is 1 everywhere, so the output is reference + shift
    wide = _net(wb_deadzone=1.0, gate_offset=30.0)  # |mean correction| < 1 (= 128 Lab units)
    none = _net(wb_deadzone=0.0, gate_offset=30.0)
    with torch.no_grad():
        passed = wide(*x)
        shifted = none(*x)
    torch.testing.assert_close(passed, x[2], atol=1e-6, rtol=0)
    # without a dead zone the same network does move this reference
    assert float((shifted - x[2]).abs().mean()) > 0.01


def test_outside_the_dead_zone_the_reference_moves_uniformly_by_the_shift_minus_t():
    x = _inputs(1)
    with torch.no_grad():
        s0 = _net(wb_deadzone=0.0, gate_offset=30.0)(*x) - x[2]
    s0 = s0.mean(dim=(2, 3))  # one (a, b) shift per frame
    t = float(s0.abs().min()) / 2  # inside both channels' shift
    with torch.no_grad():
        out = _net(wb_deadzone=t, gate_offset=30.0)(*x)
    moved = out - x[2]
    # one shift for the whole frame (a global correction, not a per-pixel one) ...
    torch.testing.assert_close(moved, moved[..., :1, :1].expand_as(moved), atol=1e-6, rtol=0)
    # ... shrunk towards 0 by exactly the dead zone (soft threshold)
    torch.testing.assert_close(moved[..., 0, 0], s0 - torch.sign(s0) * t, atol=1e-6, rtol=0)


def test_shift_is_estimated_where_the_gate_trusts_the_reference():
    """A zeroed (leak-masked) area, where the gate is closed, must not drag the shift."""
    ref = torch.zeros(1, 2, 8, 8)
    ab = torch.zeros(1, 2, 8, 8)
    gate = torch.full((1, 2, 8, 8), 0.5)
    ab[:, 0] = 0.1  # the model moves a up by 0.1 where it half-trusts the reference
    s = global_shift(gate, ab, ref, 0.0)
    torch.testing.assert_close(s[0, :, 0, 0], torch.tensor([0.05, 0.0]))
    # the left half becomes a leak-zeroed area: the gate closes and the estimate there is far
    # from the (zeroed) reference; the shift must stay as it was for the half that counts
    gate[..., :4] = 0.0
    ab[..., :4] = 0.9
    s2 = global_shift(gate, ab, ref, 0.0)
    torch.testing.assert_close(s2[0, :, 0, 0], torch.tensor([0.025, 0.0]))  # half the pixels
    # dead zone: a shift inside it is exactly 0, outside it is moved towards 0 by it
    assert float(global_shift(gate, ab, ref, 0.03).abs().max()) == 0.0
    torch.testing.assert_close(
        global_shift(gate, -ab, ref, 0.02)[0, :, 0, 0], torch.tensor([-0.005, 0.0])
    )


def test_export_carries_the_branch_and_model_from_onnx_rebuilds_it(tmp_path):
    pytest.importorskip("onnxruntime")
    from training.export import export_onnx, onnx_ops, onnx_vs_torch
    from training.train_refcolor import load_onnx_weights, model_from_onnx

    net = _net(wb_deadzone=0.01, gate_offset=2.0)
    path = tmp_path / "wb.onnx"
    export_onnx(net, path, width=48, height=32)
    ops = set(onnx_ops(path))
    # what `nightlab model to-blob` compiles for MyriadX (checked on the real model)
    assert ops <= {
        "Conv", "Relu", "Add", "Sub", "Mul", "Concat", "SpaceToDepth", "DepthToSpace",
        "Sigmoid", "Tanh", "ReduceMean",
    }, ops  # fmt: skip
    assert "ReduceMean" in ops and "Neg" not in ops
    x = _inputs(3)
    feed = dict(zip(("night_l", "ref_l", "ref_ab"), (t.numpy() for t in x), strict=True))
    assert onnx_vs_torch(net, path, [feed]) < 1e-5
    back = model_from_onnx(path)
    assert back.has_wb_branch
    assert back.config["wb_deadzone"] == pytest.approx(0.01)
    assert back.config["gate_offset"] == pytest.approx(2.0)
    with torch.no_grad():
        torch.testing.assert_close(back(*x), net(*x))
    # a plain network would silently drop the branch: refused instead
    with pytest.raises(ValueError, match="white-balance branch"):
        load_onnx_weights(RefColorNet(ch0=8, ch1=8, ch2=8), path)


def test_branch_can_start_from_weights_without_it(tmp_path):
    pytest.importorskip("onnxruntime")
    from training.export import export_onnx
    from training.train_refcolor import branch_config, load_onnx_weights

    plain = _net()
    path = tmp_path / "plain.onnx"
    export_onnx(plain, path, width=48, height=32)
    kw = branch_config(3.0, 1.5)  # Lab units -> tensor units
    assert kw == {"wb_deadzone": 3.0 / 128.0, "gate_offset": 1.5}
    net = RefColorNet(ch0=8, ch1=8, ch2=8, gate_bias=0.0, **kw)
    load_onnx_weights(net, path)  # fine-tune 2.0.0 with the branch added
    assert float(net.wb_deadzone) == pytest.approx(3.0 / 128.0)
    assert float(net.gate_offset) == 1.5
    torch.testing.assert_close(net.head_est.bias, plain.head_est.bias)
    # fine-tuning a branch model with another dead zone: the new configuration wins
    wb = tmp_path / "wb.onnx"
    export_onnx(_net(wb_deadzone=0.01, gate_offset=2.0), wb, width=48, height=32)
    other = RefColorNet(ch0=8, ch1=8, ch2=8, **branch_config(4.5, 2.0))
    load_onnx_weights(other, wb)
    assert float(other.wb_deadzone) * 128 == pytest.approx(4.5)


def test_export_deadzone_sets_the_dead_zone_and_refuses_a_model_without_branch(tmp_path):
    pytest.importorskip("onnxruntime")
    import json

    from training.diagnose import export_deadzone
    from training.export import export_onnx
    from training.train_refcolor import model_from_onnx

    for name, net in (("wb", _net(wb_deadzone=0.01, gate_offset=2.0)), ("plain", _net())):
        path = tmp_path / f"{name}.onnx"
        export_onnx(net, path, width=48, height=32)
        (tmp_path / f"{name}.onnx.card.json").write_text(json.dumps({"name": "tiny"}))
    out = export_deadzone(tmp_path / "wb.onnx", tmp_path / "wb4.onnx", 4.0)
    back = model_from_onnx(out)
    assert float(back.wb_deadzone) * 128 == pytest.approx(4.0)
    assert float(back.gate_offset) == 2.0  # the rest is untouched
    card = json.loads((tmp_path / "wb4.onnx.card.json").read_text())
    assert card["name"] == "tiny-wb4" and card["file"] == "wb4.onnx"
    both = export_deadzone(tmp_path / "wb.onnx", tmp_path / "wb4g5.onnx", 4.0, gate_offset=5.0)
    assert float(model_from_onnx(both).gate_offset) == 5.0
    assert json.loads((tmp_path / "wb4g5.onnx.card.json").read_text())["name"] == "tiny-wb4-g5"
    with pytest.raises(ValueError, match="no wb_deadzone"):
        export_deadzone(tmp_path / "plain.onnx", tmp_path / "x.onnx", 4.0)
    assert not (tmp_path / "x.onnx").exists()
