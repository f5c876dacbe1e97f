"""Where a RefColor-S model's error against plain reference transfer comes from.

``python -m training.diagnose MODEL.onnx`` prints, on the held-out validation pairs at model
resolution (references as in :func:`training.data.validation_samples`, seed 0):

* the **gate trade-off**: errors with a degraded and with a perfect reference (the truth
  itself) when the gate's logit is raised by 0, 0.2, ... (``--shifts``); raising it moves the
  model towards copying the reference (the perfect-reference error goes to 0, the degraded
  one towards copy-``ref_ab``'s);
* the **global colour shift** the model applies (mean of output - ``ref_ab`` over unchanged
  pixels, per frame) next to the shift a degraded reference needs (mean of truth - ``ref_ab``):
  their correlation says whether the model corrects the reference's white balance, and the
  shift it applies to a perfect reference is what that correction costs there;
* where the error sits: chroma edges vs smooth areas, and the error of the estimate branch.

``--export-shift D OUT.onnx`` writes the model with its gate logit raised by ``D`` (and a card
named ``<name>-gate+D``) so ``nightlab eval --model OUT.onnx`` measures that point of the
trade-off at full resolution.

For a model with the global white-balance branch (``RefColorNet(wb_deadzone=...)``):
``--calibrate-deadzone`` prints the frame-wide shift the branch estimates (before its dead
zone) on **perfect references that no evaluation uses**: the training pairs (country
0000-0035, prepared as the validation pairs are) and the training-date day frames of the
training webcams, each its own reference. The dead zone that leaves all of them untouched is
the largest of those shifts (per channel, Lab units). ``--export-deadzone T OUT.onnx`` writes
the model with its dead zone set to ``T`` Lab units (``--gate-offset D``: and its output
gate's logit offset to ``D``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np

__all__ = ["calibration_shifts", "export_deadzone", "export_shifted", "main"]


def export_shifted(src: Path, dst: Path, shift: float) -> Path:
    """Copy the RefColor-S ONNX ``src`` to ``dst`` with ``head_gate.bias`` raised by ``shift``,
    with a card (same contract, name suffixed ``-gate+shift``, new sha256). Returns ``dst``."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    found = False
    for init in model.graph.initializer:
        if init.name == "head_gate.bias":
            value = numpy_helper.to_array(init) + np.float32(shift)
            init.CopyFrom(numpy_helper.from_array(value.astype(np.float32), init.name))
            found = True
    if not found:
        raise ValueError(f"{src}: no head_gate.bias initializer (not a RefColor-S export)")
    return _write_variant(model, src, dst, f"-gate+{shift:g}")


def export_deadzone(
    src: Path, dst: Path, deadzone_lab: float, *, gate_offset: float | None = None
) -> Path:
    """Copy a RefColor-S ONNX with the white-balance branch to ``dst`` with its dead zone set to
    ``deadzone_lab`` Lab units per channel (and its output gate offset to ``gate_offset`` if
    given), with a card (name suffixed ``-wb<T>``, ``-g<D>``). Returns ``dst``."""
    import onnx
    from onnx import numpy_helper

    if deadzone_lab < 0:
        raise ValueError(f"dead zone must be >= 0 Lab units, got {deadzone_lab}")
    model = onnx.load(str(src))
    inits = [i for i in model.graph.initializer if i.name == "wb_deadzone"]
    if not inits:
        raise ValueError(f"{src}: no wb_deadzone initializer (no global white-balance branch)")
    value = np.array(deadzone_lab / 128.0, np.float32)
    inits[0].CopyFrom(numpy_helper.from_array(value, "wb_deadzone"))
    suffix = f"-wb{deadzone_lab:g}"
    if gate_offset is not None:
        for init in model.graph.initializer:
            if init.name == "gate_offset":
                offset = np.array(gate_offset, np.float32)
                init.CopyFrom(numpy_helper.from_array(offset, "gate_offset"))
        suffix += f"-g{gate_offset:g}"
    return _write_variant(model, src, dst, suffix)


def _write_variant(model, src: Path, dst: Path, suffix: str) -> Path:
    """Write an edited copy of ``src``'s model to ``dst`` with ``src``'s card, its name
    suffixed and its file and sha256 made the copy's (both files atomically)."""
    from engine.atomic import write_bytes_atomic, write_json_atomic
    from engine.models import refuse_non_finite_card

    data = model.SerializeToString()
    card = json.loads(Path(f"{src}.card.json").read_text())
    card["name"] = f"{card['name']}{suffix}"
    card["file"] = dst.name
    card["sha256"] = hashlib.sha256(data).hexdigest()
    card_path = Path(f"{dst}.card.json")
    refuse_non_finite_card(card_path, card)  # strict JSON, before the model is written
    write_bytes_atomic(dst, data)
    write_json_atomic(card_path, card, non_finite="refuse")
    return dst


def calibration_shifts(model) -> dict[str, np.ndarray]:
    """The branch's frame-wide shift before its dead zone, Lab units ``(n, 2)``, on perfect
    references of data no evaluation uses: ``{"country-train": ..., "<webcam>": ...}``."""
    import torch

    from engine.scene_change import donor_photos
    from training.data import (
        MODEL_SIZE,
        TRAIN_PAIRS,
        load_webcam_scenes,
        shared_country_dir,
        to_sample,
        validation_samples,
    )
    from training.model import global_shift

    def shift(s) -> np.ndarray:
        ab, gate, _ = _run_unraised(model, s)
        t = [torch.from_numpy(a[None]) for a in (gate, ab, s.ref_ab)]
        return global_shift(*t, 0.0)[0, :, 0, 0].numpy() * 128.0

    out = {}
    country = validation_samples(
        shared_country_dir(), donor_photos(), stems=TRAIN_PAIRS, seed=0, perfect=True
    )
    out["country-train"] = np.array([shift(s) for s, _ in country])
    for scene in load_webcam_scenes():  # training dates only (WEBCAM_TRAIN_BEFORE)
        shifts = []
        for frame in scene.frames:
            small = cv2.resize(frame, MODEL_SIZE, interpolation=cv2.INTER_AREA)
            gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
            shifts.append(shift(to_sample(gray, small, small, np.zeros(gray.shape, bool))))
        out[scene.name] = np.array(shifts)
    return out


def _run_unraised(model, sample):
    """``(ab, gate, est)`` of the per-pixel path with the *estimating* gate (no offset, no
    shift): what the white-balance branch averages."""
    import torch

    with torch.no_grad():
        offset = model.gate_offset.clone()
        deadzone = model.wb_deadzone.clone()
        model.gate_offset.fill_(0.0)
        model.wb_deadzone.fill_(1e3)  # a dead zone no shift reaches: the unshifted mix
        try:
            return _run(model, sample)
        finally:
            model.gate_offset.copy_(offset)
            model.wb_deadzone.copy_(deadzone)


def _run(model, sample):
    import torch

    with torch.no_grad():
        x = [torch.from_numpy(a[None]) for a in (sample.night_l, sample.ref_l, sample.ref_ab)]
        return [t[0].numpy() for t in model.parts(*x)]


def _shift_stats(model, samples) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: needed and applied mean shifts (a, b); mean errors over unchanged pixels of
    the model, of copy-``ref_ab`` and of ``ref_ab`` moved by the model's mean shift alone."""
    need, got, errs = [], [], []
    for s, _ in samples:
        ab, _, _ = _run(model, s)
        u = ~s.change_mask
        need.append([(s.ab - s.ref_ab)[c][u].mean() * 128 for c in (0, 1)])
        got.append([(ab - s.ref_ab)[c][u].mean() * 128 for c in (0, 1)])
        shifted = s.ref_ab + (ab - s.ref_ab).mean(axis=(1, 2), keepdims=True)
        errs.append([np.abs(x - s.ab).mean(0)[u].mean() * 128 for x in (ab, s.ref_ab, shifted)])
    return np.array(need), np.array(got), np.mean(errs, axis=0)


def _where(model, samples) -> dict[str, np.ndarray]:
    acc: dict[str, np.ndarray] = {}
    for s, _ in samples:
        ab, gate, est = _run(model, s)
        t = s.ab
        gx = np.abs(np.diff(t, axis=2, append=t[:, :, -1:])).sum(0)
        gy = np.abs(np.diff(t, axis=1, append=t[:, -1:, :])).sum(0)
        edge = cv2.dilate(((gx + gy) * 128 > 3).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        unch = ~s.change_mask
        errs = [np.abs(p - t).mean(0) * 128 for p in (ab, s.ref_ab, est)]
        for name, sel in (("edges", edge & unch), ("smooth", ~edge & unch)):
            a = acc.setdefault(name, np.zeros(5))
            a += [*(e[sel].sum() for e in errs), gate.mean(0)[sel].sum(), sel.sum()]
    return acc


def _print_calibration(path: Path) -> int:
    import torch

    from training.train_refcolor import model_from_onnx

    torch.set_num_threads(1)
    model = model_from_onnx(path)
    if not model.has_wb_branch:
        print(f"error: {path}: no global white-balance branch to calibrate")
        return 2
    print("branch shift before the dead zone on perfect references no evaluation uses (Lab):")
    everything = []
    for name, sh in calibration_shifts(model).items():
        a = np.abs(sh)
        everything.append(a)
        print(
            f"  {name} ({len(sh)}): |a| median {np.median(a[:, 0]):.2f} max {a[:, 0].max():.2f}, "
            f"|b| median {np.median(a[:, 1]):.2f} max {a[:, 1].max():.2f}"
        )
    top = float(np.concatenate(everything).max())
    print(
        f"dead zone that leaves every one untouched: {top:.2f} (set now: "
        f"{float(model.wb_deadzone) * 128:.2f}); --export-deadzone T OUT.onnx to set it"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m training.diagnose MODEL.onnx``: see the module docstring."""
    p = argparse.ArgumentParser(prog="python -m training.diagnose", description=__doc__)
    p.add_argument("model", type=Path)
    p.add_argument("--shifts", type=float, nargs="*", default=[0.0, 0.2, 0.4, 0.6, 1.0])
    p.add_argument("--export-shift", nargs=2, metavar=("D", "OUT"), default=None)
    p.add_argument("--calibrate-deadzone", action="store_true")
    p.add_argument("--export-deadzone", nargs=2, metavar=("T", "OUT"), default=None)
    p.add_argument(
        "--gate-offset", type=float, default=None, help="with --export-deadzone: also set D"
    )
    args = p.parse_args(argv)
    if args.export_deadzone:
        out = export_deadzone(
            args.model,
            Path(args.export_deadzone[1]),
            float(args.export_deadzone[0]),
            gate_offset=args.gate_offset,
        )
        print(f"wrote {out} and its card")
        return 0
    if args.calibrate_deadzone:
        return _print_calibration(args.model)
    if args.export_shift:
        out = export_shifted(args.model, Path(args.export_shift[1]), float(args.export_shift[0]))
        print(f"wrote {out} and its card")
        return 0
    import torch

    from engine.scene_change import donor_photos
    from training.data import shared_country_dir, validation_samples
    from training.evaluate import evaluate
    from training.train_refcolor import _predictor, model_from_onnx

    torch.set_num_threads(1)
    model = model_from_onnx(args.model)  # with the white-balance branch if it has one
    root = shared_country_dir()
    val = validation_samples(root, donor_photos(), seed=0)
    val_perfect = validation_samples(root, donor_photos(), seed=0, perfect=True)
    bias = model.head_gate.bias.data.clone()
    print("gate trade-off (mean |ab error|, Lab units, unchanged pixels, model resolution):")
    for d in args.shifts:
        model.head_gate.bias.data = bias + d
        deg = evaluate(_predictor(model), val)
        perf = evaluate(_predictor(model), val_perfect)["model"]["unchanged"]
        print(
            f"  gate logit {d:+.1f}: degraded {deg['model']['unchanged']:.3f} "
            f"(copy {deg['copy_ref']['unchanged']:.3f}), perfect {perf:.3f} (copy 0)"
        )
    model.head_gate.bias.data = bias
    print("global colour shift (mean over unchanged pixels, Lab a/b units):")
    for label, samples in (("degraded", val), ("perfect", val_perfect)):
        need, got, (err, err_copy, err_shift) = _shift_stats(model, samples)
        corr = [
            float(np.corrcoef(need[:, c], got[:, c])[0, 1]) if need[:, c].std() > 1e-6 else None
            for c in (0, 1)
        ]
        corr_s = ", ".join("n/a" if c is None else f"{c:.2f}" for c in corr)
        print(
            f"  {label}: needed |shift| a {np.abs(need[:, 0]).mean():.2f} b "
            f"{np.abs(need[:, 1]).mean():.2f}; applied a {np.abs(got[:, 0]).mean():.2f} b "
            f"{np.abs(got[:, 1]).mean():.2f}; correlation a, b: {corr_s}; error: model "
            f"{err:.2f}, copy {err_copy:.2f}, reference + the model's mean shift {err_shift:.2f}"
        )
    print("where the error sits (unchanged pixels):")
    for label, samples in (("degraded", val), ("perfect", val_perfect)):
        for name, a in _where(model, samples).items():
            n = a[4]
            print(
                f"  {label} {name}: model {a[0] / n:.2f}, copy {a[1] / n:.2f}, "
                f"estimate branch {a[2] / n:.2f}, mean gate {a[3] / n:.3f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
