"""Leak measurement without labels on a fixed webcam: do two disjoint day references agree?

For each night frame of a fixed camera, the day frames of other dates are split into the
*earlier* ones (before the night) and the *later* ones (after it): what an operator would have
had as reference the days before, and what they would have had the days after. The night
frame is colorized from each side and the two results are compared: on a static scene they
should agree; where a transient (people, a tent, a cloud, a fountain's colour) sits in one
reference, colour leaks and they disagree. The measure is the
mean ΔE_ab between the two results over pixels valid in both, and the chroma the results keep.

Configurations, each from both halves:

``single``                the day frame of the set nearest in time to the night, no leak mask;
``single+structure mask`` the same with the structure-only leak mask (before the cues);
``single+mask``           the same with the leak mask and every cue a single frame allows;
``fused``                 up to ``max_refs`` frames of the half fused (`engine.reference`), no mask;
``fused+mask``            the fused reference with the leak mask and its stability map.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np

from engine._image import IMAGE_SUFFIXES, read_image, to_gray

__all__ = [
    "CONFIGS",
    "WebcamFrame",
    "WebcamReport",
    "WebcamRow",
    "evaluate_webcam",
    "find_webcam_frames",
    "webcam_cameras",
    "webcam_montage",
]

CONFIGS = ("single", "single+structure mask", "single+mask", "fused", "fused+mask")
_STAMP = re.compile(r"^(\d{8})_(\d{6})$")


@dataclass(frozen=True)
class WebcamFrame:
    """One frame of a fixed camera, named by its capture time ``YYYYMMDD_HHMMSS``."""

    path: Path
    time: datetime

    @property
    def name(self) -> str:
        return self.path.stem


def find_webcam_frames(folder: str | Path) -> list[WebcamFrame]:
    """Frames of one fixed camera, sorted by capture time (from the file names).

    Raises ``ValueError`` when ``folder`` is not a folder or holds no ``YYYYMMDD_HHMMSS``
    images.

    Examples
    --------
    >>> find_webcam_frames("/nonexistent")
    Traceback (most recent call last):
    ...
    ValueError: /nonexistent: not a folder
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    frames = []
    for p in folder.iterdir():
        m = _STAMP.match(p.stem)
        if p.suffix.lower() in IMAGE_SUFFIXES and m:
            try:
                t = datetime.strptime(p.stem, "%Y%m%d_%H%M%S")
            except ValueError:
                continue  # 20121399_... is not a time
            frames.append(WebcamFrame(p, t))
    if not frames:
        raise ValueError(f"{folder}: no images named by capture time (YYYYMMDD_HHMMSS.png)")
    return sorted(frames, key=lambda f: f.time)


def webcam_cameras(folder: str | Path) -> list[Path]:
    """``folder`` itself if it holds timestamped frames, else its subfolders that do."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    try:
        find_webcam_frames(folder)
        return [folder]
    except ValueError:
        pass
    cams = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        try:
            find_webcam_frames(sub)
        except ValueError:
            continue
        cams.append(sub)
    if not cams:
        raise ValueError(
            f"{folder}: no webcam frames (YYYYMMDD_HHMMSS images) in it or its subfolders"
        )
    return cams


@dataclass(frozen=True)
class WebcamRow:
    """One configuration on one night frame (or the mean over frames, ``night == "mean"``)."""

    camera: str
    night: str
    config: str
    disagreement: float
    """mean ΔE_ab between the results from the earlier and the later day frames."""
    chroma: float
    """mean chroma sqrt(a² + b²) of the two results (same pixels)."""
    masked_pct: float
    """mean of the two leak masks over the compared pixels, in % (0 without a mask)."""
    refs_a: tuple[str, ...] = ()
    refs_b: tuple[str, ...] = ()


@dataclass(frozen=True)
class WebcamReport:
    rows: tuple[WebcamRow, ...]
    """Per night frame and configuration."""
    summary: tuple[WebcamRow, ...]
    """Means per camera and configuration, then over every night frame (camera ``"all"``)."""
    skipped: tuple[tuple[str, str], ...]
    """``(night frame, reason)`` for night frames not evaluated."""
    registration: str
    day_frames_refused: int = 0
    """Day frames (summed over night frames and sides) that did not align and were left out."""
    day_frames_tried: int = 0
    """Day frames registered onto night frames in all (summed the same way)."""

    def ratio(self, camera: str, config: str, key: str) -> float:
        """``key`` of ``config`` over that of the single unmasked reference (summary means)."""
        by = {(r.camera, r.config): r for r in self.summary}
        base = getattr(by[(camera, "single")], key)
        return getattr(by[(camera, config)], key) / base if base else math.nan


def _nearest(frames: Sequence[WebcamFrame], t: datetime, k: int) -> list[WebcamFrame]:
    return sorted(frames, key=lambda f: abs((f.time - t).total_seconds()))[:k]


def _is_night(t: datetime, night_hours: tuple[int, int]) -> bool:
    start, end = night_hours
    return t.hour >= start or t.hour < end if start > end else start <= t.hour < end


def evaluate_webcam(
    folder: str | Path,
    colorizer,
    *,
    night_hours: tuple[int, int] = (20, 6),
    max_refs: int = 8,
    min_refs: int = 3,
    registration: str = "fixed",
    limit: int | None = None,
    leak_params=None,
    progress: Callable[[str], None] | None = None,
    keep: Callable[[dict], None] | None = None,
) -> WebcamReport:
    """Two-reference disagreement and chroma kept for every night frame of fixed webcams.

    Parameters
    ----------
    folder : str or Path
        One camera's folder of ``YYYYMMDD_HHMMSS`` frames, or a folder of such folders.
    colorizer : engine.colorize.Colorizer
        What colorizes (the shipped model, or ``ReferenceTransferColorizer``).
    night_hours : (int, int)
        Capture hours counted as night: ``(20, 6)`` = 20:00 to 05:59. Night frames are used
        as the night camera would see them: luminance only. The other frames are day frames.
    max_refs : int
        Day frames fused per side (the ones nearest in time to the night frame).
    min_refs : int
        Night frames with fewer day frames than this before or after them are skipped.
    registration : str
        How day frames are put onto the night frame (`engine.reference.register_day_frame`).
    limit : int, optional
        Evaluate at most this many night frames per camera.
    leak_params : engine.leakmask.LeakMaskParams, optional
        Leak-mask parameters for the masked configurations.
    progress : callable, optional
        Called with one line per night frame.
    keep : callable, optional
        Called per night frame with a dict of every image made (``night``, ``sides``,
        ``results``, ``masks``, ``scores``, ``camera``, ``night_name``), e.g. for
        `webcam_montage`.

    Returns
    -------
    WebcamReport

    Examples
    --------
    >>> from engine.colorize import ReferenceTransferColorizer
    >>> evaluate_webcam("/nonexistent", ReferenceTransferColorizer())
    Traceback (most recent call last):
    ...
    ValueError: /nonexistent: not a folder
    """
    from engine.leakmask import LeakMaskParams

    if isinstance(max_refs, bool) or not isinstance(max_refs, int) or max_refs < 1:
        raise ValueError(f"max_refs must be an integer >= 1, got {max_refs!r}")
    if isinstance(min_refs, bool) or not isinstance(min_refs, int) or not 1 <= min_refs:
        raise ValueError(f"min_refs must be an integer >= 1, got {min_refs!r}")
    if len(night_hours) != 2 or not all(0 <= int(h) <= 24 for h in night_hours):
        raise ValueError(f"night_hours must be two hours in 0..24, got {night_hours!r}")
    params = leak_params or LeakMaskParams()
    rows: list[WebcamRow] = []
    skipped: list[tuple[str, str]] = []
    cams = webcam_cameras(folder)
    refused = tried = 0
    for cam in cams:
        frames = find_webcam_frames(cam)
        nights = [f for f in frames if _is_night(f.time, night_hours)]
        days = [f for f in frames if not _is_night(f.time, night_hours)]
        cache: dict[Path, np.ndarray] = {}

        def load(f: WebcamFrame, cache=cache) -> np.ndarray:
            if f.path not in cache:
                cache[f.path] = read_image(f.path, mode="rgb")
            return cache[f.path]

        evaluated = 0
        for night_frame in nights:
            if limit is not None and evaluated >= limit:
                break
            earlier = [d for d in days if d.time.date() < night_frame.time.date()]
            later = [d for d in days if d.time.date() > night_frame.time.date()]
            if min(len(earlier), len(later)) < min_refs:
                skipped.append(
                    (
                        f"{cam.name}/{night_frame.name}",
                        f"{len(earlier)} day frames before it and {len(later)} after "
                        f"(need {min_refs} on each side)",
                    )
                )
                continue
            try:
                out = _evaluate_night(
                    load(night_frame),
                    earlier,
                    later,
                    load,
                    colorizer,
                    params,
                    max_refs=max_refs,
                    registration=registration,
                )
            except ValueError as exc:  # nothing aligned in one half
                skipped.append((f"{cam.name}/{night_frame.name}", str(exc).splitlines()[0]))
                continue
            evaluated += 1
            refused += out["refused"]
            tried += out["tried"]
            for config, (dis, chroma, masked, ra, rb) in out["scores"].items():
                rows.append(
                    WebcamRow(cam.name, night_frame.name, config, dis, chroma, masked, ra, rb)
                )
            if keep is not None:
                keep({**out, "camera": cam.name, "night_name": night_frame.name})
            if progress is not None:
                s = out["scores"]
                progress(
                    f"{cam.name}/{night_frame.name}: disagreement single "
                    f"{s['single'][0]:.2f}, fused+mask {s['fused+mask'][0]:.2f}"
                )
    return WebcamReport(tuple(rows), _summary(rows), tuple(skipped), registration, refused, tried)


def _evaluate_night(night_rgb, earlier, later, load, colorizer, params, *, max_refs, registration):
    from engine.leakmask import leak_mask
    from engine.reference import fuse_references

    night = to_gray(night_rgb)
    sides = {}
    for side, frames in (("a", earlier), ("b", later)):
        chosen = _nearest(frames, frames[-1].time if side == "a" else frames[0].time, max_refs)
        fused = fuse_references([load(f) for f in chosen], night, registration=registration)
        single_i = fused.used[0]  # chosen[0] is the nearest in time; first that aligned
        al = fused.alignments[single_i]
        day = load(chosen[single_i])
        single = al.warp(day, output_shape=night.shape)
        single_valid = (
            al.warp(np.full(day.shape[:2], 255, np.uint8), output_shape=night.shape) > 127
        )
        sides[side] = {
            "single": single,
            "single_valid": single_valid,
            "single_name": (chosen[single_i].name,),
            "fused": fused,
            "fused_names": tuple(chosen[i].name for i in fused.used),
        }
    valid = (
        sides["a"]["single_valid"]
        & sides["b"]["single_valid"]
        & sides["a"]["fused"].valid
        & sides["b"]["fused"].valid
    )
    outside = (~valid).astype(np.float32)
    structure_only = replace(params, luminance=False)  # the mask before the cues
    results: dict[str, dict[str, object]] = {c: {} for c in CONFIGS}
    masks: dict[str, dict[str, np.ndarray]] = {c: {} for c in CONFIGS}
    for side, s in sides.items():
        single, fused = s["single"], s["fused"]
        gray_single, gray_fused = to_gray(single), to_gray(fused.image)
        masks["single"][side] = outside
        masks["single+structure mask"][side] = np.maximum(
            leak_mask(night, gray_single, params=structure_only, reference_color=single),
            outside,
        )
        masks["single+mask"][side] = np.maximum(
            leak_mask(night, gray_single, params=params, reference_color=single), outside
        )
        masks["fused"][side] = outside
        masks["fused+mask"][side] = np.maximum(
            leak_mask(
                night,
                gray_fused,
                params=params,
                stability=fused.stability,
                reference_color=fused.image,
            ),
            outside,
        )
        for config in CONFIGS:
            ref = fused.image if config.startswith("fused") else single
            res = colorizer.colorize(night, ref, leak_mask=masks[config][side])
            results[config][side] = (res.rgb.copy(), np.array(res.ab, np.float32, copy=True))
    scores = {}
    for config in CONFIGS:
        (_, ab_a), (_, ab_b) = results[config]["a"], results[config]["b"]
        d = np.sqrt(np.sum((ab_a - ab_b) ** 2, axis=-1))[valid]
        ca = np.sqrt(np.sum(ab_a**2, axis=-1))[valid]
        cb = np.sqrt(np.sum(ab_b**2, axis=-1))[valid]
        masked = 0.5 * (masks[config]["a"][valid].mean() + masks[config]["b"][valid].mean())
        key = "single_name" if config.startswith("single") else "fused_names"
        scores[config] = (
            float(d.mean()),
            float(0.5 * (ca.mean() + cb.mean())),
            float(masked * 100.0),
            sides["a"][key],
            sides["b"][key],
        )
    return {
        "night_rgb": night_rgb,
        "night": night,
        "valid": valid,
        "sides": sides,
        "results": results,
        "masks": masks,
        "scores": scores,
        "refused": sum(len(sd["fused"].refused) for sd in sides.values()),
        "tried": sum(len(sd["fused"].alignments) for sd in sides.values()),
    }


def _summary(rows: list[WebcamRow]) -> tuple[WebcamRow, ...]:
    out = []
    cameras = list(dict.fromkeys(r.camera for r in rows))
    for cam in [*cameras, "all"]:
        for config in CONFIGS:
            sel = [r for r in rows if r.config == config and (cam == "all" or r.camera == cam)]
            if not sel:
                continue
            out.append(
                WebcamRow(
                    cam,
                    "mean",
                    config,
                    float(np.mean([r.disagreement for r in sel])),
                    float(np.mean([r.chroma for r in sel])),
                    float(np.mean([r.masked_pct for r in sel])),
                )
            )
    return tuple(out)


def webcam_montage(kept: dict, *, tile_width: int = 320) -> np.ndarray:
    """One picture of a night frame's evaluation, RGB uint8, labelled.

    Row 1: the night frame (luminance, as the night camera sees it), the single day frames
    from before and after, the fused references from before and after. Row 2: the results of
    the single unmasked references (before, after), of the fused masked ones (before, after),
    and the fused reference's leak mask (before; white = no reference colour). ``kept`` is
    what `evaluate_webcam` passes to its ``keep`` callback.
    """
    import cv2

    night = kept["night"]
    h, w = night.shape
    th = max(1, round(h * tile_width / w))
    a, b = kept["sides"]["a"], kept["sides"]["b"]
    res = kept["results"]

    def tile(img: np.ndarray, label: str) -> np.ndarray:
        if img.dtype != np.uint8:
            img = (np.clip(img, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        t = cv2.resize(img, (tile_width, th), interpolation=cv2.INTER_AREA)
        cv2.rectangle(t, (0, 0), (tile_width, 18), (0, 0, 0), -1)
        cv2.putText(
            t, label, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA
        )
        return t

    scores = kept["scores"]
    top = [
        tile(night, f"night {kept['night_name']} (luminance)"),
        tile(a["single"], f"single ref before: {a['single_name'][0]}"),
        tile(b["single"], f"single ref after: {b['single_name'][0]}"),
        tile(a["fused"].image, f"fused before ({len(a['fused_names'])} days)"),
        tile(b["fused"].image, f"fused after ({len(b['fused_names'])} days)"),
    ]
    bottom = [
        tile(res["single"]["a"][0], "result: single before, no mask"),
        tile(res["single"]["b"][0], f"single after (dE {scores['single'][0]:.1f})"),
        tile(res["fused+mask"]["a"][0], "result: fused+mask before"),
        tile(res["fused+mask"]["b"][0], f"fused+mask after (dE {scores['fused+mask'][0]:.1f})"),
        tile(kept["masks"]["fused+mask"]["a"], "leak mask, fused before"),
    ]
    return np.vstack([np.hstack(top), np.hstack(bottom)])
