"""Train NightLab's default reference colorization model and ship it as ONNX + model card.

Reproduce the shipped model (from the repository root, ``../shared`` present)::

    python -m training.train_refcolor --out resources/models --epochs 8 --seed 0 --change-weight 4.0

Every random draw comes from seeded generators (``numpy`` per epoch, ``torch`` for the
initial weights) and the data is generated in the main process in a fixed order, so a rerun
with the same arguments replays the same samples. Bit-identical weights also need the same
torch build and thread count (``--threads``), as float sums are ordered by the thread split.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from engine.atomic import write_bytes_atomic
from engine.models import write_card
from engine.scene_change import donor_photos
from training.data import (
    HELDOUT_PAIRS,
    TRAIN_PAIRS,
    SampleConfig,
    load_country_pairs,
    load_skimage_photos,
    load_webcam_scenes,
    make_sample,
    shared_country_dir,
    validation_samples,
)
from training.evaluate import evaluate, false_alarm_errors, format_table
from training.export import (
    export_onnx,
    fp16_max_abs_diff,
    onnx_median_ms,
    onnx_ops,
    onnx_vs_torch,
    refcolor_card,
)
from training.model import INPUT_NAMES, WB_BUFFERS, RefColorNet

MODEL_FILE = "refcolor_s.onnx"
LICENSE = (
    "Research use only: trained on data distributed for research use, so these weights are "
    "research-use too (NightLab's MIT licence covers the code, not these weights); retrain on "
    "data you may use for anything else. Data: EPFL RGB-NIR Scene dataset (Brown & Susstrunk, "
    "CVPR 2011; ../shared/data/visnir/country 0000-0035, no licence file); TILDE webcam "
    "dataset (Verdie et al., CVPR 2015; ../shared/data/webcam/stlouis and mexico); "
    "scikit-image's photos: astronaut, rocket (public domain), chelsea, coffee (CC0), "
    "stereo_motorcycle (Middlebury 2014, research dataset)."
)
DESCRIPTION = (
    "RefColor-S: small reference-guided chroma network for night frames (MyriadX-friendly: "
    "SpaceToDepth input, DepthToSpace output, Conv/Relu/Add/Sub/Mul/Concat/Sigmoid/Tanh only, "
    "no normalisation layers, 290k parameters, 175 M multiply-adds at 256x192). Output = "
    "est + gate * (ref_ab - est): a per-pixel gate between the reference chroma and the "
    "network's own estimate, so it copies the reference where the scene is unchanged and "
    "falls back to its own estimate where structure differs or ref_ab is zeroed under the "
    "leak mask."
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.train_refcolor", description=__doc__)
    p.add_argument("--out", type=Path, required=True, help="directory for the .onnx and card")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps-per-epoch", type=int, default=125)
    p.add_argument("--batch", type=int, default=8, help="generated frames per step")
    p.add_argument("--windows", type=int, default=2, help="128x96 windows cut from each frame")
    p.add_argument("--full-epochs", type=int, default=2, help="last epochs on whole frames")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--change-weight", type=float, default=4.0, help="extra loss weight on changes")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--val-seed",
        type=int,
        default=0,
        help="seed of the held-out validation references (default 0, whatever --seed is)",
    )
    p.add_argument("--country", type=Path, default=None, help="visnir/country folder")
    p.add_argument("--checkpoint", type=Path, default=None, help="also save the torch weights")
    p.add_argument("--no-webcam", action="store_true", help="train without the webcam frames")
    p.add_argument(
        "--p-perfect",
        type=float,
        default=SampleConfig.p_perfect,
        help="share of samples whose reference is the colour truth itself",
    )
    p.add_argument(
        "--gate-weight",
        type=float,
        default=0.0,
        help="weight of the open-gate term on pixels where the reference is the truth",
    )
    p.add_argument(
        "--agree-tol",
        type=float,
        default=2.0,
        help="Lab units within which the reference counts as the truth (open-gate term)",
    )
    p.add_argument(
        "--chroma-weight",
        type=float,
        default=0.0,
        help="weight of the chroma-shortfall term (charges for desaturated output)",
    )
    p.add_argument(
        "--wb-deadzone",
        type=float,
        default=None,
        help="add the global white-balance branch with this dead zone (Lab units per channel)",
    )
    p.add_argument(
        "--gate-offset",
        type=float,
        default=0.0,
        help="with --wb-deadzone: raise the output gate's logit by this much",
    )
    p.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from the weights of this RefColor-S ONNX file (fine-tune) instead of random",
    )
    return p.parse_args(argv)


def _command(args: argparse.Namespace) -> str:
    defaults = vars(parse_args(["--out", str(args.out)]))
    extra = [
        f"--{k.replace('_', '-')} {v}"
        for k, v in vars(args).items()
        if k not in ("out", "epochs", "seed", "country", "checkpoint", "init") and v != defaults[k]
    ]
    extra = [e.removesuffix(" True") for e in extra]  # store_true flags
    if args.init is not None:
        extra.append(f"--init {args.init} (sha256 {_sha256(args.init)})")
    base = f"python -m training.train_refcolor --out {args.out} --epochs {args.epochs}"
    return " ".join([base, f"--seed {args.seed}", *extra])


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _onnx_initializers(path: Path) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    return {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}


def load_onnx_weights(model: RefColorNet, path: Path) -> None:
    """Copy the initializers of a RefColor-S ONNX export (named like the torch parameters).

    A model with the global white-balance branch keeps its own ``wb_deadzone`` and
    ``gate_offset`` (configuration, not learnt: ``--wb-deadzone`` wins over the ``--init``
    file's, which may have none, as 2.0.0); an export *with* the branch cannot be loaded into
    a model without it (its output would differ): build that one with
    :func:`model_from_onnx`, which configures the model with the file's values.
    """
    weights = _onnx_initializers(path)
    state = model.state_dict()
    if not model.has_wb_branch and any(k in weights for k in WB_BUFFERS):
        raise ValueError(f"{path}: has the global white-balance branch; use model_from_onnx")
    keep = [k for k in WB_BUFFERS if k in state]
    missing = [
        k
        for k in state
        if k not in keep and (k not in weights or weights[k].shape != tuple(state[k].shape))
    ]
    if missing:
        raise ValueError(f"{path}: not a RefColor-S export of this shape (missing {missing[:3]})")
    model.load_state_dict(
        {k: state[k] if k in keep else torch.from_numpy(weights[k].copy()) for k in state}
    )


def branch_config(wb_deadzone: float | None, gate_offset: float = 0.0) -> dict:
    """``RefColorNet`` keywords for the global white-balance branch; ``wb_deadzone`` in Lab
    units (None: no branch, the 2.0.0 network)."""
    if wb_deadzone is None:
        return {}
    return {"wb_deadzone": wb_deadzone / 128.0, "gate_offset": gate_offset}


def model_from_onnx(path: Path) -> RefColorNet:
    """The RefColor-S network of an ONNX export, with the global white-balance branch if the
    export has one (its ``wb_deadzone`` / ``gate_offset`` initializers), in eval mode."""
    weights = _onnx_initializers(path)
    try:  # channel widths from the first conv of each level
        kw = {f"ch{i}": int(weights[f"enc{i}.0.weight"].shape[0]) for i in range(3)}
    except KeyError:
        raise ValueError(f"{path}: not a RefColor-S export (no enc0/1/2 weights)") from None
    if all(k in weights for k in WB_BUFFERS):
        kw.update({k: float(weights[k]) for k in WB_BUFFERS})
    model = RefColorNet(**kw)
    load_onnx_weights(model, path)
    return model.eval()


def _windows(arr: np.ndarray, boxes: list[tuple[int, int]], h: int, w: int) -> np.ndarray:
    return np.stack([arr[..., y : y + h, x : x + w] for y, x in boxes])


def make_batch(
    sources, donors, rng, *, frames: int, windows: int, config: SampleConfig, webcams=None
):
    """Generate ``frames`` samples; cut ``windows`` random 96x128 windows from each (0 = whole)."""
    samples = [
        make_sample(sources, donors, rng=rng, config=config, webcams=webcams) for _ in range(frames)
    ]
    keys = ("night_l", "ref_l", "ref_ab", "ab")
    if windows == 0:
        out = {k: np.stack([getattr(s, k) for s in samples]) for k in keys}
        out["changed"] = np.stack([s.change_mask[None] for s in samples])
    else:
        fh, fw = config.size[1], config.size[0]
        h, w = fh // 2, fw // 2
        out = {k: [] for k in (*keys, "changed")}
        for s in samples:
            boxes = [
                (
                    int(rng.integers(0, fh - h + 1)) // 16 * 16,
                    int(rng.integers(0, fw - w + 1)) // 16 * 16,
                )
                for _ in range(windows)
            ]
            for k in keys:
                out[k].append(_windows(getattr(s, k), boxes, h, w))
            out["changed"].append(_windows(s.change_mask[None], boxes, h, w))
        out = {k: np.concatenate(v) for k, v in out.items()}
    return {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in out.items()}


def weighted_l1(
    pred: torch.Tensor, truth: torch.Tensor, changed: torch.Tensor, change_weight: float = 1.0
) -> torch.Tensor:
    """L1 on ab, weighted up on chroma edges (where copying a misaligned reference hurts most)
    and on changed regions (rare, but where copying is plainly wrong)."""
    gx = torch.nn.functional.pad((truth[..., :, 1:] - truth[..., :, :-1]).abs(), (0, 1, 0, 0))
    gy = torch.nn.functional.pad((truth[..., 1:, :] - truth[..., :-1, :]).abs(), (0, 0, 0, 1))
    edge = ((gx + gy).sum(1, keepdim=True) * 10.0).clamp(max=1.0)
    weight = 1.0 + 2.0 * edge + change_weight * changed
    return ((pred - truth).abs() * weight).sum() / (weight.sum() * pred.shape[1])


def gate_pass_loss(
    gate: torch.Tensor, ref_ab: torch.Tensor, truth: torch.Tensor, tol: float
) -> torch.Tensor:
    """Mean ``1 - gate`` over pixels whose reference chroma already is the truth (within
    ``tol`` Lab units, Euclidean): there copying the reference is exactly right, so the gate
    should be fully open. The L1 term alone pushes it there only in proportion to how far the
    estimate is from the reference, which fades as they agree; this term does not fade."""
    agree = (((ref_ab - truth) * 128.0).square().sum(1, keepdim=True) < tol * tol).float()
    agree = agree.expand_as(gate)
    return ((1.0 - gate) * agree).sum() / agree.sum().clamp(min=1.0)


def chroma_shortfall(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Mean shortfall of the output's chroma magnitude below the truth's (one-sided, tensor
    units): L1 on ab rewards shrinking towards grey where the answer is uncertain; this
    charges for the colour that shrinking loses, and nothing for matching or exceeding it."""
    c_pred = (pred.square().sum(1) + 1e-8).sqrt()
    c_true = (truth.square().sum(1) + 1e-8).sqrt()
    return torch.relu(c_true - c_pred).mean()


def _predictor(model: RefColorNet):
    def predict(night_l, ref_l, ref_ab):
        with torch.no_grad():
            x = [torch.from_numpy(a[None]) for a in (night_l, ref_l, ref_ab)]
            return model(*x)[0].numpy()

    return predict


def train(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    country = args.country or shared_country_dir()
    if not country.is_dir():
        print(f"error: {country} not found (needs ../shared/data/visnir/country)", file=sys.stderr)
        return 2
    t_start = time.perf_counter()
    train_pairs = load_country_pairs(country, TRAIN_PAIRS)
    sources = train_pairs + load_skimage_photos()
    donors = donor_photos() + [s.rgb for s in train_pairs]
    # one validation set for every run (not tied to the training seed), so runs compare
    val = validation_samples(country, donor_photos(), seed=args.val_seed)
    val_perfect = validation_samples(country, donor_photos(), seed=args.val_seed, perfect=True)
    webcams = [] if args.no_webcam else load_webcam_scenes()
    print(
        "webcam day frames: "
        + ", ".join(f"{w.name} {len(w.frames)} ({w.stems[0]}..{w.stems[-1]})" for w in webcams),
        flush=True,
    )
    config = SampleConfig(p_perfect=args.p_perfect)
    model = RefColorNet(**branch_config(args.wb_deadzone, args.gate_offset))
    if args.init is not None:
        load_onnx_weights(model, args.init)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"RefColorNet: {n_params} parameters; {len(sources)} sources", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    total = args.epochs * args.steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=total, pct_start=0.05, final_div_factor=100.0
    )
    t_train = time.perf_counter()
    epoch_seconds = []
    for epoch in range(args.epochs):
        rng = np.random.default_rng([args.seed, epoch])
        full = epoch >= args.epochs - args.full_epochs
        frames = max(1, args.batch * args.windows // 4) if full else args.batch
        windows = 0 if full else args.windows
        model.train()
        t0, losses = time.perf_counter(), []
        for step in range(args.steps_per_epoch):
            if step and step % 20 == 0:
                print(f"  step {step}: {time.perf_counter() - t0:.0f} s", flush=True)
            b = make_batch(
                sources,
                donors,
                rng,
                frames=frames,
                windows=windows,
                config=config,
                webcams=webcams,
            )
            pred, gate, _ = model.parts(b["night_l"], b["ref_l"], b["ref_ab"])
            loss = weighted_l1(pred, b["ab"], b["changed"], args.change_weight)
            if args.gate_weight > 0:
                loss = loss + args.gate_weight * gate_pass_loss(
                    gate, b["ref_ab"], b["ab"], args.agree_tol
                )
            if args.chroma_weight > 0:
                loss = loss + args.chroma_weight * chroma_shortfall(pred, b["ab"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        epoch_seconds.append(time.perf_counter() - t0)
        model.eval()
        if args.checkpoint:  # every epoch: a run cut short still leaves its weights
            _save_state(model, args.checkpoint)
        res = evaluate(_predictor(model), val)
        ours, copy = res["model"], res["copy_ref"]
        perf = evaluate(_predictor(model), val_perfect)["model"]["unchanged"]
        print(
            f"epoch {epoch + 1}/{args.epochs} {'full' if full else 'windows'} "
            f"loss {np.mean(losses) * 128:.2f} ab-units  {epoch_seconds[-1]:.0f} s  "
            f"val unchanged {ours['unchanged']:.2f} (copy {copy['unchanged']:.2f}) "
            f"changed {ours['changed']:.2f} (copy {copy['changed']:.2f}) "
            f"perfect-ref {perf:.2f} (copy 0)",
            flush=True,
        )
    train_seconds = time.perf_counter() - t_train
    model.eval()
    if args.checkpoint:
        _save_state(model, args.checkpoint)
    return ship(
        model,
        args,
        val,
        train_seconds,
        epoch_seconds,
        time.perf_counter() - t_start,
        webcams=webcams,
        val_perfect=val_perfect,
    )


def _save_state(model: RefColorNet, path: Path) -> None:
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    write_bytes_atomic(path, buf.getvalue())


def training_record(args: argparse.Namespace, seconds: float, webcams=()) -> dict:
    """The card's ``training`` entry for a run with ``args`` that trained for ``seconds``."""
    webcam_data = [
        f"../shared/data/webcam/{w.name.split('/')[-1]}: {len(w.frames)} day frames dated "
        f"{w.stems[0][:8]}-{w.stems[-1][:8]} (one date's frame is the colour truth and its "
        "night input is synthesised from it, another date's frame is the reference)"
        for w in webcams
    ]
    return {
        "command": _command(args),
        "data": [
            "../shared/data/visnir/country: registered RGB + NIR pairs 0000-0035 (NIR = night "
            "input, RGB = colour truth)",
            "scikit-image bundled photos (night frame synthesised): astronaut, chelsea, coffee, "
            "rocket, stereo_motorcycle (left and right views)",
            "scene-change patches from engine.scene_change.donor_photos() and the training RGBs",
            *webcam_data,
        ],
        "pairs_used": [f"country/{s}" for s in TRAIN_PAIRS],
        "epochs": args.epochs,
        "seconds": round(seconds, 1),
        "seed": args.seed,
    }


def ship(
    model, args, val, train_seconds, epoch_seconds, total_seconds, *, webcams=(), val_perfect=()
) -> int:
    """Export, verify (onnxruntime, FP16, speed), validate and write the card."""
    path = args.out / MODEL_FILE
    export_onnx(model, path)
    feeds = [{n: getattr(s, n)[None] for n in INPUT_NAMES} for s, _ in val]
    ort_diff = onnx_vs_torch(model, path, feeds)
    fp16_diff = fp16_max_abs_diff(model, feeds)
    med = onnx_median_ms(path, feeds[0], threads=2, runs=50)
    results = evaluate(_predictor(model), val)
    false_alarms = false_alarm_errors(_predictor(model), val, seed=args.val_seed)
    # tolerance: the measured worst case rounded up to the next 0.005, with a 0.01 floor
    tolerance = max(0.01, float(np.ceil(fp16_diff * 1.5 / 0.005) * 0.005))
    training = training_record(args, train_seconds, webcams)
    card = write_card(
        path,
        refcolor_card(
            description=DESCRIPTION,
            fp16_tolerance=tolerance,
            training=training,
            license_note=LICENSE,
        ),
    )
    report = {
        "onnx": str(path),
        "card": str(card),
        "bytes": path.stat().st_size,
        "params": sum(p.numel() for p in model.parameters()),
        "ops": onnx_ops(path),
        "onnx_vs_torch_max_abs": ort_diff,
        "fp16_max_abs": fp16_diff,
        "fp16_tolerance": tolerance,
        "onnx_ms_median_2threads": med,
        "train_seconds": train_seconds,
        "epoch_seconds": epoch_seconds,
        "total_seconds": total_seconds,
        "validation_pairs": [f"country/{s}" for s in HELDOUT_PAIRS],
        "validation": results,
        "validation_perfect_reference": evaluate(_predictor(model), list(val_perfect))
        if val_perfect
        else None,
        "validation_false_alarms": false_alarms,
    }
    print(format_table(results))
    print(json.dumps(report, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    return train(parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
