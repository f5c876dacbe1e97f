"""RefColor-S: a small reference-guided chroma network shaped for the OAK camera's MyriadX.

The network sees the night luminance, the aligned day reference's luminance and its chroma,
all at 256x192, and predicts the night frame's chroma. Design rules (MyriadX, FP16):

* no strided first conv: the 4 input planes go through ``SpaceToDepth(4)`` (64 channels at
  64x48), and two more ``SpaceToDepth(2)`` steps give context at 32x24 and 16x12;
* no transposed convs: upsampling is ``DepthToSpace`` (pixel shuffle), down to the output's
  ``DepthToSpace(4)``;
* only Conv, Relu, Add, Sub, Mul, Concat, SpaceToDepth, DepthToSpace, Sigmoid, Tanh; no
  normalisation layers (nothing to fold), static shapes;
* bounded output: ``ab = est + gate * (ref_ab - est)`` with ``est = tanh(.)`` and
  ``gate = clip(1.1 * sigmoid(.) - 0.05, 0, 1)`` (the clip as two Relus), a convex mix of
  two values in [-1, 1]. The gate starts open
  ("copy the reference chroma"), so training starts from the classical baseline and only has
  to learn where not to copy (changed structure, zeroed leak regions, misaligned edges).

Optional **global white-balance branch** (``RefColorNet(wb_deadzone=T, gate_offset=D)``, off
by default, so 2.0.0 and its reproduction commands are unchanged): the convs see only local
evidence, so their per-pixel correction of the reference mixes a white-balance guess into
every frame, a perfect reference included. With the branch, that correction is averaged over
the whole frame (``ReduceMean``, weighted by the gate so leak-zeroed areas, where the gate
is low, count little) into one ``(a, b)`` shift, passed through a dead zone of ``T`` tensor
units per channel (``s - clip(s, -T, T)``, the clip as two Relus: a reference whose mean
correction is small gets exactly none), added to the whole reference, and the gate (its
logit raised by ``D``) mixes that corrected reference with the estimate. Same inputs and
outputs, MyriadX ops only.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "RefColorNet",
    "SpaceToDepth",
    "INPUT_NAMES",
    "OUTPUT_NAMES",
    "WB_BUFFERS",
    "global_shift",
]

INPUT_NAMES = ("night_l", "ref_l", "ref_ab")
GATE_STRETCH = 1.1
GATE_SHIFT = 0.05
OUTPUT_NAMES = ("ab",)


def _space_to_depth(x: torch.Tensor, block: int) -> torch.Tensor:
    n, c, h, w = x.shape
    y = x.reshape(n, c, h // block, block, w // block, block)
    # ONNX order (DCR): output channel = (by * block + bx) * C + c
    return y.permute(0, 3, 5, 1, 2, 4).reshape(n, c * block * block, h // block, w // block)


class _SpaceToDepthExport(torch.autograd.Function):
    """Carries the ONNX ``SpaceToDepth`` symbolic: without it the exporter would emit the
    Reshape/Transpose chain above, which the MyriadX compiler handles far less well."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, block: int) -> torch.Tensor:  # noqa: ARG004
        return _space_to_depth(x, block)

    @staticmethod
    def symbolic(g, x, block: int):
        return g.op("SpaceToDepth", x, blocksize_i=block)


class SpaceToDepth(nn.Module):
    """``(N, C, H, W) -> (N, C*b*b, H/b, W/b)`` in ONNX ``SpaceToDepth`` channel order."""

    def __init__(self, block: int) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export():
            return _SpaceToDepthExport.apply(x, self.block)
        return _space_to_depth(x, self.block)


def _conv(cin: int, cout: int, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2)


class _ResBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.c1 = _conv(ch, ch)
        self.c2 = _conv(ch, ch)
        self.act = nn.ReLU()
        # start near identity: keeps early activations (and FP16 ranges) small
        nn.init.zeros_(self.c2.weight)
        nn.init.zeros_(self.c2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.c2(self.act(self.c1(x))))


class RefColorNet(nn.Module):
    """Reference-guided chroma network; inputs and output in the contract's tensor units.

    Parameters
    ----------
    ch0, ch1, ch2 : int
        Channels at 1/4 (64x48), 1/8 (32x24) and 1/16 (16x12) of the input resolution.
    gate_bias : float
        Initial logit of the copy-the-reference gate (3 -> 95 % reference at the start).
    wb_deadzone : float, optional
        Turns the global white-balance branch on (module docstring): dead zone of the
        frame-wide shift, in tensor units (ab / 128) per channel. None: off (2.0.0).
    gate_offset : float
        With the branch: added to the gate's logit for the output mix (the shift estimate
        itself uses the unraised gate). Stored as a buffer, so an export carries it.

    Input sides must be multiples of 16.
    """

    def __init__(
        self,
        ch0: int = 32,
        ch1: int = 48,
        ch2: int = 64,
        gate_bias: float = 3.0,
        wb_deadzone: float | None = None,
        gate_offset: float = 0.0,
    ):
        super().__init__()
        #: constructor arguments, to rebuild the same network (e.g. for an FP16 copy)
        self.config = {"ch0": ch0, "ch1": ch1, "ch2": ch2, "gate_bias": gate_bias}
        if wb_deadzone is not None:
            if wb_deadzone < 0:
                raise ValueError(f"wb_deadzone must be >= 0, got {wb_deadzone}")
            self.config.update(wb_deadzone=wb_deadzone, gate_offset=gate_offset)
            # buffers, not parameters: exported as named initializers (WB_BUFFERS), which is
            # how training.train_refcolor.model_from_onnx recognises a model with the branch
            self.register_buffer("wb_deadzone", torch.tensor(float(wb_deadzone)))
            self.register_buffer("gate_offset", torch.tensor(float(gate_offset)))
        self.has_wb_branch = wb_deadzone is not None
        act = nn.ReLU
        self.s2d4 = SpaceToDepth(4)
        self.s2d2 = SpaceToDepth(2)
        self.d2s2 = nn.PixelShuffle(2)
        self.d2s4 = nn.PixelShuffle(4)
        self.enc0 = nn.Sequential(_conv(64, ch0, 1), act(), _conv(ch0, ch0), act())
        self.enc1 = nn.Sequential(_conv(4 * ch0, ch1, 1), act(), _ResBlock(ch1))
        self.enc2 = nn.Sequential(_conv(4 * ch1, ch2, 1), act(), _ResBlock(ch2), _ResBlock(ch2))
        self.up2 = nn.Sequential(_conv(ch2, 4 * ch1, 1), act())
        self.dec1 = _ResBlock(ch1)
        self.up1 = nn.Sequential(_conv(ch1, 4 * ch0, 1), act())
        self.dec0 = nn.Sequential(_conv(ch0, ch0), act())
        self.head_est = _conv(ch0, 2 * 16, 1)
        self.head_gate = _conv(ch0, 2 * 16, 1)
        nn.init.normal_(self.head_est.weight, std=1e-3)
        nn.init.zeros_(self.head_est.bias)
        nn.init.normal_(self.head_gate.weight, std=1e-3)
        nn.init.constant_(self.head_gate.bias, gate_bias)

    def forward(self, night_l: torch.Tensor, ref_l: torch.Tensor, ref_ab: torch.Tensor):
        return self.parts(night_l, ref_l, ref_ab)[0]

    def parts(self, night_l: torch.Tensor, ref_l: torch.Tensor, ref_ab: torch.Tensor):
        """``(ab, gate, est)``: the output and the two things it mixes (training losses look
        at the gate and the estimate on their own; the export keeps only ``ab``)."""
        x = torch.cat([night_l, ref_l, ref_ab], dim=1)
        e0 = self.enc0(self.s2d4(x))  # 1/4
        e1 = self.enc1(self.s2d2(e0))  # 1/8
        e2 = self.enc2(self.s2d2(e1))  # 1/16: context
        d1 = self.dec1(e1 + self.d2s2(self.up2(e2)))
        d0 = self.dec0(e0 + self.d2s2(self.up1(d1)))
        est = torch.tanh(self.d2s4(self.head_est(d0)))
        logit = self.d2s4(self.head_gate(d0))
        gate = _clipped_gate(logit)
        ab = est + gate * (ref_ab - est)
        if not self.has_wb_branch:
            return ab, gate, est
        shift = global_shift(gate, ab, ref_ab, self.wb_deadzone)
        gate = _clipped_gate(logit + self.gate_offset)
        return est + gate * (ref_ab + shift - est), gate, est


def global_shift(
    gate: torch.Tensor, ab: torch.Tensor, ref_ab: torch.Tensor, deadzone: torch.Tensor | float
) -> torch.Tensor:
    """The white-balance branch's ``(N, 2, 1, 1)`` shift: the frame-wide mean of the model's
    own correction ``ab - ref_ab``, weighted by the gate (the correction is large where the
    reference is zeroed under a leak mask, but the gate is low there), then dead-zoned:
    ``s - clip(s, -deadzone, deadzone)``, the clip as two Relus (no Neg, no Clip op)."""
    s = (gate * (ab - ref_ab)).mean(dim=(2, 3), keepdim=True)
    return s - (torch.relu(s + deadzone) - torch.relu(s - deadzone) - deadzone)


def _clipped_gate(logit: torch.Tensor) -> torch.Tensor:
    # A sigmoid never reaches 1, so a plain sigmoid gate always mixes some of the (shrunk)
    # estimate into a perfect reference: stretch it by 10 % and clip to [0, 1] with two
    # Relus (MyriadX-safe), so "copy the reference exactly" is reachable.
    g = torch.sigmoid(logit) * GATE_STRETCH - GATE_SHIFT
    return torch.relu(g) - torch.relu(g - 1.0)


#: named initializers of an export with the global white-balance branch
WB_BUFFERS = ("wb_deadzone", "gate_offset")
