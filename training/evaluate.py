"""Validation of a chroma predictor on held-out pairs, against the naive "copy ref_ab".

Errors are mean absolute a/b differences in Lab units (tensor error x 128), averaged over both
channels, split into unchanged pixels and changed pixels (where the reference shows a pasted
scene change), each with the reference chroma as it is ("raw") and zeroed under the soft leak
mask as the host does ("leak-zeroed").
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from training.data import Sample

__all__ = ["ab_errors", "evaluate", "false_alarm_errors", "format_table", "onnx_predictor"]

#: ``predict(night_l, ref_l, ref_ab) -> ab``, all float32 ``(C, H, W)`` in tensor units.
Predictor = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def ab_errors(pred: np.ndarray, truth: np.ndarray, changed: np.ndarray) -> tuple[float, float]:
    """Mean |ab error| in Lab units over unchanged and over changed pixels (NaN if none)."""
    err = np.abs(pred - truth).mean(axis=0) * 128.0
    unchanged = float(err[~changed].mean()) if (~changed).any() else float("nan")
    changed_err = float(err[changed].mean()) if changed.any() else float("nan")
    return unchanged, changed_err


def evaluate(
    predict: Predictor, samples: list[tuple[Sample, np.ndarray]]
) -> dict[str, dict[str, float]]:
    """Pixel-weighted mean errors of ``predict`` and of copy-ref_ab, raw and leak-zeroed.

    Returns ``{method: {"unchanged": e, "changed": e}}`` for methods ``copy_ref``,
    ``copy_ref_leak_zeroed``, ``model`` and ``model_leak_zeroed``.
    """
    sums: dict[str, np.ndarray] = {}
    counts = np.zeros(2)
    for s, leak in samples:
        zeroed = s.ref_ab * (1.0 - leak[None])
        preds = {
            "copy_ref": s.ref_ab,
            "copy_ref_leak_zeroed": zeroed,
            "model": predict(s.night_l, s.ref_l, s.ref_ab),
            "model_leak_zeroed": predict(s.night_l, s.ref_l, zeroed.astype(np.float32)),
        }
        n = np.array([(~s.change_mask).sum(), s.change_mask.sum()], float)
        counts += n
        for name, p in preds.items():
            e = np.nan_to_num(np.array(ab_errors(p, s.ab, s.change_mask)))
            sums[name] = sums.get(name, np.zeros(2)) + e * n
    return {
        k: {"unchanged": float(v[0] / counts[0]), "changed": float(v[1] / max(counts[1], 1))}
        for k, v in sums.items()
    }


def format_table(results: dict[str, dict[str, float]]) -> str:
    """The result of :func:`evaluate` as a small text table."""
    lines = [f"{'method':<22} {'unchanged':>10} {'changed':>10}   (mean |ab error|, Lab units)"]
    for k, v in results.items():
        lines.append(f"{k:<22} {v['unchanged']:>10.2f} {v['changed']:>10.2f}")
    return "\n".join(lines)


def false_alarm_errors(
    predict: Predictor, samples: list[tuple[Sample, np.ndarray]], *, seed: int = 0
) -> dict[str, float]:
    """Errors where a leak mask fires on *unchanged* scene (SSIM false alarms: NIR foliage,
    shadows): ``ref_ab`` is zeroed in two random ellipses away from the true changes, and the
    error is measured inside them. ``neutral`` is what zeroed chroma gives, ``model`` the
    network's own estimate, ``copy_ref`` the unzeroed reference (the best case)."""
    rng = np.random.default_rng(seed)
    sums, count = np.zeros(3), 0
    for s, _ in samples:
        h, w = s.change_mask.shape
        blob = np.zeros((h, w), np.uint8)
        for _ in range(2):
            axes = (int(rng.uniform(0.08, 0.18) * w), int(rng.uniform(0.08, 0.18) * h))
            center = (int(rng.integers(w // 6, 5 * w // 6)), int(rng.integers(h // 6, 5 * h // 6)))
            cv2.ellipse(blob, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        sel = blob.astype(bool) & ~s.change_mask
        zeroed = (s.ref_ab * (1.0 - blob[None])).astype(np.float32)
        pred = predict(s.night_l, s.ref_l, zeroed)
        for i, p in enumerate((zeroed, pred, s.ref_ab)):
            sums[i] += np.abs(p - s.ab).mean(axis=0)[sel].sum() * 128.0
        count += int(sel.sum())
    return dict(zip(("neutral", "model", "copy_ref"), (sums / max(count, 1)).tolist(), strict=True))


def onnx_predictor(path: Path, *, threads: int = 2) -> Predictor:
    """A :data:`Predictor` running an ONNX file that follows the default model's contract."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    def predict(night_l, ref_l, ref_ab):
        feed = {"night_l": night_l[None], "ref_l": ref_l[None], "ref_ab": ref_ab[None]}
        return sess.run(None, feed)[0][0]

    return predict


def webcam_day_pairs(root: Path | None = None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Held-out real reference pairs: ``(name, truth, reference)`` RGB uint8.

    Day frames of the held-out webcam (``chamonix``) and the held-out later dates of the
    training webcams; each frame is the truth with the previous day frame of the same camera
    (another date: real lighting change, real transients, a pixel or two of camera shift) as
    the reference. The night frame is the truth's gray level (a low-light visible camera).
    """
    from engine import read_image
    from engine.data import shared_dir
    from training.data import HELDOUT_WEBCAMS, TRAIN_WEBCAMS, WEBCAM_TRAIN_BEFORE, is_day_frame

    root = root or shared_dir() / "data" / "webcam"
    out = []
    for cam in (*TRAIN_WEBCAMS, *HELDOUT_WEBCAMS):
        cut = WEBCAM_TRAIN_BEFORE.get(cam, "")
        frames = [
            (f.stem, read_image(f, mode="rgb"))
            for f in sorted((root / cam).glob("*.png"))
            if f.stem >= cut
        ]
        frames = [(stem, rgb) for stem, rgb in frames if is_day_frame(rgb)]
        for (_, ref), (stem, truth) in zip(frames, frames[1:], strict=False):
            out.append((f"{cam}/{stem}", truth, ref))
    return out


def webcam_table(colorizers, pairs) -> dict[str, dict[str, float]]:
    """Mean Euclidean ab error (ΔE_ab) and chroma kept, per colorizer, over webcam pairs."""
    import cv2

    from engine.evaluation import ab_error, lab_ab

    sums: dict[str, np.ndarray] = {}
    for _, truth, ref in pairs:
        night = cv2.cvtColor(truth, cv2.COLOR_RGB2GRAY)
        truth_ab = lab_ab(truth)
        truth_chroma = float(np.hypot(truth_ab[..., 0], truth_ab[..., 1]).mean())
        for col in colorizers:
            ab = col.colorize(night, ref).ab
            chroma = float(np.hypot(ab[..., 0], ab[..., 1]).mean())
            e = np.array([ab_error(ab, truth_ab)[1], chroma / max(truth_chroma, 1e-6)])
            sums[col.name] = sums.get(col.name, np.zeros(2)) + e
    n = max(len(pairs), 1)
    return {k: {"ab_err": v[0] / n, "chroma_kept": v[1] / n} for k, v in sums.items()}


def main(argv: list[str] | None = None) -> int:
    """``python -m training.evaluate MODEL.onnx``: the held-out tables for an ONNX file."""
    from engine.colorize import PASSTHROUGH_MODES
    from engine.scene_change import donor_photos
    from training.data import shared_country_dir, validation_samples

    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=main.__doc__)
    p.add_argument("model", type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--webcam",
        action="store_true",
        help="also: held-out webcam day frames, each with another date's frame as reference",
    )
    p.add_argument(
        "--passthrough",
        choices=list(PASSTHROUGH_MODES),
        default=None,
        help="with --webcam: RecombineParams.passthrough for both colorizers (default: its "
        "default)",
    )
    args = p.parse_args(argv)
    val = validation_samples(shared_country_dir(), donor_photos(), seed=args.seed)
    predict = onnx_predictor(args.model)
    print(format_table(evaluate(predict, val)))
    fa = false_alarm_errors(predict, val, seed=args.seed)
    print(
        "leak-mask false alarms on unchanged scene (mean |ab error| inside them): "
        + ", ".join(f"{k} {v:.2f}" for k, v in fa.items())
    )
    if args.webcam:
        from engine.colorize import RecombineParams, ReferenceTransferColorizer, load_colorizer

        pairs = webcam_day_pairs()
        rp = RecombineParams(
            **({} if args.passthrough is None else {"passthrough": args.passthrough})
        )
        cols = [load_colorizer(args.model, params=rp), ReferenceTransferColorizer(params=rp)]
        print(
            f"held-out webcam day pairs ({len(pairs)}; reference = previous day frame; "
            f"passthrough {rp.passthrough}):"
        )
        for name, v in webcam_table(cols, pairs).items():
            print(f"  {name:<24} ΔE_ab {v['ab_err']:.2f}  chroma kept {v['chroma_kept']:.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
