"""Training and validation samples for the reference colorization model.

A sample is what the model sees at its input resolution (256x192 by default), in the model
contract's tensor units (``night_l``/``ref_l`` = L / 100, ``ref_ab``/``ab`` = a,b / 128):

* the colour truth is a real photo: a registered ``visnir/country`` RGB image (its NIR twin
  plays the night frame) or a scikit-image photo (the night frame is synthesised from it);
* the night frame gets a night camera's degradations (:mod:`training.degrade`);
* the day reference is the truth seen at another time and aligned imperfectly, with pasted
  patches of other photos as scene changes (:func:`engine.scene_change.degrade_reference`);
* sometimes an object appears only at night (pasted into truth and night, not the reference);
* sometimes the reference chroma is zeroed under an imperfect leak mask, as the host does.

Only pairs ``country/0000``-``0035`` are ever loaded for training; ``0036``-``0051`` are the
held-out evaluation pairs (:data:`HELDOUT_PAIRS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.color import rgb_to_lab
from engine.colorize import model_res_planes
from engine.data import load_visnir_pair, shared_dir, skimage_photos
from engine.scene_change import ReferenceDegradation, degrade_reference, paste_patches
from training.degrade import NightDegradation, degrade_night, leak_mask_like, synthesize_nir

__all__ = [
    "HELDOUT_PAIRS",
    "HELDOUT_WEBCAMS",
    "TRAIN_WEBCAMS",
    "WebcamScene",
    "load_webcam_scenes",
    "random_footprint",
    "MODEL_SIZE",
    "SKIMAGE_TRAIN_PHOTOS",
    "TRAIN_PAIRS",
    "Sample",
    "SampleConfig",
    "Source",
    "load_country_pairs",
    "load_skimage_photos",
    "make_sample",
    "shared_country_dir",
    "to_sample",
    "validation_samples",
]

#: (width, height) of the shipped model's input.
MODEL_SIZE = (256, 192)
TRAIN_PAIRS = tuple(f"{i:04d}" for i in range(36))
#: Held-out evaluation pairs: every ``country`` stem that is not a training pair (the folder
#: has 0036-0048, 0050, 0051 and 0070; 0049 is missing upstream).
HELDOUT_PAIRS = (*(f"{i:04d}" for i in range(36, 52) if i != 49), "0070")
#: Natural colour photos bundled in the scikit-image wheel (no download).
SKIMAGE_TRAIN_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "stereo_motorcycle",  # both views
)


@dataclass(frozen=True)
class Source:
    """A colour truth (RGB uint8) and, when one was photographed, its registered NIR frame."""

    name: str
    rgb: np.ndarray
    nir: np.ndarray | None


#: Fixed webcams (``<shared>/data/webcam/<name>``) whose day frames train the model; only dates
#: before :data:`WEBCAM_TRAIN_BEFORE` are used. ``chamonix`` is held out entirely.
TRAIN_WEBCAMS = ("stlouis", "mexico")
HELDOUT_WEBCAMS = ("chamonix",)
#: Per camera, day frames from this date on are held out (evaluation only).
WEBCAM_TRAIN_BEFORE = {"stlouis": "20120801", "mexico": "20130601"}


@dataclass(frozen=True)
class WebcamScene:
    """Day frames (RGB uint8, one size) of one fixed webcam on different dates."""

    name: str
    stems: tuple[str, ...]
    frames: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class Sample:
    """One model input/target, float32 ``(C, H, W)`` tensors in the contract's units."""

    night_l: np.ndarray
    ref_l: np.ndarray
    ref_ab: np.ndarray
    ab: np.ndarray
    change_mask: np.ndarray  # bool (H, W): the reference shows something not in the scene


@dataclass(frozen=True)
class SampleConfig:
    """Probabilities and ranges of the training-sample generator."""

    size: tuple[int, int] = MODEL_SIZE
    min_crop: float = 0.45
    p_skimage: float = 0.25
    p_night_object: float = 0.3
    p_zero_leak: float = 0.5
    max_shift_px: float = 2.0
    max_rotation_deg: float = 0.5
    max_patches: int = 3
    #: webcam pairs: a day frame is the truth, a day frame of another date the reference
    p_webcam: float = 0.3
    #: the reference is the colour truth itself (the gate must pass it through untouched)
    p_perfect: float = 0.15
    #: the reference only covers part of the frame (a warped day image's black border)
    p_border: float = 0.3
    night: NightDegradation = NightDegradation()


def shared_country_dir() -> Path:
    """``<shared>/data/visnir/country`` (:func:`engine.data.shared_dir`; may not exist)."""
    return shared_dir() / "data" / "visnir" / "country"


def load_country_pairs(root: Path, stems: tuple[str, ...] = TRAIN_PAIRS) -> list[Source]:
    """Decode the registered RGB/NIR pairs ``root/<stem>_{rgb,nir}.jpg`` into memory."""
    out = []
    for stem in stems:
        rgb, nir, _ = load_visnir_pair(root, stem)
        if nir.shape != rgb.shape[:2]:
            raise ValueError(f"{root / stem}: NIR {nir.shape} and RGB {rgb.shape} differ in size")
        out.append(Source(f"country/{stem}", rgb, nir))
    return out


def load_skimage_photos(names: tuple[str, ...] = SKIMAGE_TRAIN_PHOTOS) -> list[Source]:
    """The bundled scikit-image colour photos as sources without NIR (stereo: both views)."""
    photos = skimage_photos(names, both_views=True)
    return [Source(f"skimage/{tag}", rgb, None) for tag, rgb in photos.items()]


def is_day_frame(rgb: np.ndarray) -> bool:
    """A webcam frame lit by daylight: bright enough and with colour (not night or dusk)."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    return float(hsv[..., 2].mean()) >= 90.0 and float(hsv[..., 1].mean()) >= 20.0


def load_webcam_scenes(
    root: Path | None = None,
    cameras: tuple[str, ...] = TRAIN_WEBCAMS,
    *,
    before: dict[str, str] | None = WEBCAM_TRAIN_BEFORE,
) -> list[WebcamScene]:
    """Day frames of fixed webcams, per camera, only dates before ``before[camera]``.

    Frames are named ``YYYYMMDD_HHMMSS.png``; night and dusk frames are skipped (no colour
    truth). Cameras with fewer than two day frames are left out.
    """
    from engine import read_image

    root = root or shared_dir() / "data" / "webcam"
    out = []
    for cam in cameras:
        cut = (before or {}).get(cam)
        stems, frames = [], []
        for f in sorted((root / cam).glob("*.png")):
            if cut is not None and f.stem >= cut:
                continue
            rgb = read_image(f, mode="rgb")
            if is_day_frame(rgb):
                stems.append(f.stem)
                frames.append(rgb)
        if len(frames) >= 2:
            out.append(WebcamScene(f"webcam/{cam}", tuple(stems), tuple(frames)))
    return out


def random_footprint(shape: tuple[int, int], *, rng: np.random.Generator) -> np.ndarray:
    """float32 ``(H, W)``: 1 inside a day image's footprint after a random warp, 0 outside.

    What an aligned reference covers: the frame under a small rotation, scale and shift,
    so one to three sides of the night frame fall outside it (with slanted edges).
    """
    h, w = shape
    angle = rng.uniform(-4.0, 4.0)
    scale = rng.uniform(0.8, 1.02)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    m[:, 2] += rng.uniform(-0.15, 0.15, size=2) * (w, h)
    ones = np.ones((h, w), np.float32)
    return cv2.warpAffine(ones, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)


def _random_cut(
    shape: tuple[int, ...], size: tuple[int, int], rng: np.random.Generator, min_crop: float
):
    """A random crop (any aspect 1.2-1.6, like a full frame squeezed to 4:3), flip and resize
    to ``size``, as a function applied the same way to every image of one scene."""
    h, w = shape[:2]
    aspect = rng.uniform(1.2, 1.6)
    scale = rng.uniform(min_crop, 1.0)
    ch = int(min(h, w / aspect) * scale)
    cw = min(w, int(ch * aspect))
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    flip = rng.random() < 0.5

    def view(img: np.ndarray) -> np.ndarray:
        v = cv2.resize(img[y0 : y0 + ch, x0 : x0 + cw], size, interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(v[:, ::-1]) if flip else v

    return view


def _random_view(
    src: Source, size: tuple[int, int], rng: np.random.Generator, min_crop: float
) -> tuple[np.ndarray, np.ndarray | None]:
    view = _random_cut(src.rgb.shape, size, rng, min_crop)
    return view(src.rgb), (view(src.nir) if src.nir is not None else None)


def to_sample(
    night_gray: np.ndarray,
    reference: np.ndarray,
    truth: np.ndarray,
    change_mask: np.ndarray,
    leak_mask: np.ndarray | None = None,
) -> Sample:
    """Convert uint8 images (all at the model size) to the contract's tensors.

    The planes come from :func:`engine.colorize.model_res_planes`, exactly as the host makes
    them: ``leak_mask`` (float32 in [0, 1]) zeroes the reference chroma, and a black part of
    the reference (outside a warped footprint) is filled from its surroundings.
    """
    h, w = night_gray.shape
    night_l, ref_l, ref_ab = model_res_planes(night_gray, reference, leak_mask, (w, h))
    ref_ab = ref_ab * (1.0 / 128.0)
    truth_ab = rgb_to_lab(truth)[..., 1:] * (1.0 / 128.0)
    return Sample(
        night_l=(night_l * 0.01)[None].astype(np.float32),
        ref_l=(ref_l * 0.01)[None].astype(np.float32),
        ref_ab=np.ascontiguousarray(ref_ab.transpose(2, 0, 1), dtype=np.float32),
        ab=np.ascontiguousarray(truth_ab.transpose(2, 0, 1), dtype=np.float32),
        change_mask=change_mask.astype(bool),
    )


def _webcam_view(scene: WebcamScene, size, rng, min_crop):
    """Two day frames of different dates, the same random view of both: (truth, reference)."""
    i, j = rng.choice(len(scene.frames), size=2, replace=False)
    truth, reference = scene.frames[int(i)], scene.frames[int(j)]
    view = _random_cut(truth.shape, size, rng, min_crop)
    return view(truth), view(reference)


def make_sample(
    sources: list[Source],
    donors: list[np.ndarray],
    *,
    rng: np.random.Generator,
    config: SampleConfig = SampleConfig(),
    webcams: list[WebcamScene] | None = None,
) -> Sample:
    """Draw one training sample (see the module docstring for what goes into it)."""
    day_reference = None
    if webcams and rng.random() < config.p_webcam:
        # real lighting change and real transients between two dates of a fixed camera
        scene = webcams[int(rng.integers(len(webcams)))]
        truth, day_reference = _webcam_view(scene, config.size, rng, config.min_crop)
        if rng.random() < 0.5:
            nir = cv2.cvtColor(truth, cv2.COLOR_RGB2GRAY)  # a low-light visible camera
        else:
            nir = synthesize_nir(truth, rng=rng)
    else:
        with_nir = [s for s in sources if s.nir is not None]
        without = [s for s in sources if s.nir is None]
        use_without = without and (not with_nir or rng.random() < config.p_skimage)
        pool = without if use_without else with_nir
        src = pool[int(rng.integers(len(pool)))]
        truth, nir = _random_view(src, config.size, rng, config.min_crop)
        if nir is None:
            nir = synthesize_nir(truth, rng=rng)
    scene_truth, night_mask = truth, np.zeros(truth.shape[:2], bool)
    if rng.random() < config.p_night_object:
        # something only there at night: the truth has its colour, the reference does not
        scene_truth, night_mask = paste_patches(truth, donors, rng=rng, n_patches=1)
        nir = np.where(night_mask, synthesize_nir(scene_truth, rng=rng), nir)
    if day_reference is None and rng.random() < config.p_perfect:
        reference, ref_mask = truth.copy(), np.zeros(truth.shape[:2], bool)
    else:
        params = ReferenceDegradation(
            max_shift_px=rng.uniform(0.0, config.max_shift_px if day_reference is None else 1.0),
            max_rotation_deg=config.max_rotation_deg,
            n_patches=int(rng.integers(0, config.max_patches + 1)),
        )
        base = truth if day_reference is None else day_reference
        reference, ref_mask = degrade_reference(base, donors, rng=rng, params=params)
    if rng.random() < config.p_border:
        inside = random_footprint(truth.shape[:2], rng=rng)
        reference = (reference * inside[..., None] + 0.5).astype(np.uint8)
    change = ref_mask | night_mask
    night = degrade_night(nir, rng=rng, params=config.night)
    leak = leak_mask_like(change, rng=rng) if rng.random() < config.p_zero_leak else None
    return to_sample(night, reference, scene_truth, change, leak)


def validation_samples(
    root: Path,
    donors: list[np.ndarray],
    *,
    stems: tuple[str, ...] = HELDOUT_PAIRS,
    seed: int = 0,
    size: tuple[int, int] = MODEL_SIZE,
    perfect: bool = False,
) -> list[tuple[Sample, np.ndarray]]:
    """Held-out pairs as ``nightlab eval`` sees them; returns ``(sample, soft_leak_mask)``.

    The clean NIR frame is the night input; the reference is
    ``degrade_reference(truth, donors, rng=default_rng(seed + i))`` with default parameters at
    the pair's full resolution (``perfect``: the truth itself, nothing changed), then
    everything is resized to ``size`` (INTER_AREA). The leak mask is the true change mask
    dilated by 2 px and blurred (sigma 2): what a good SSIM mask gives; the sample's ``ref_ab``
    is *not* zeroed (apply the mask to compare both ways).
    """
    out = []
    for i, src in enumerate(load_country_pairs(root, stems)):
        rng = np.random.default_rng(seed + i)
        if perfect:
            reference, mask = src.rgb, np.zeros(src.rgb.shape[:2], bool)
        else:
            reference, mask = degrade_reference(src.rgb, donors, rng=rng)

        def rs(img: np.ndarray) -> np.ndarray:
            return cv2.resize(img, size, interpolation=cv2.INTER_AREA)

        small_mask = rs(mask.astype(np.float32)) > 0.5
        grown = cv2.dilate(small_mask.astype(np.uint8), np.ones((5, 5), np.uint8))
        leak = np.clip(cv2.GaussianBlur(grown.astype(np.float32), (0, 0), 2.0) * 1.5, 0, 1)
        out.append((to_sample(rs(src.nir), rs(reference), rs(src.rgb), small_mask), leak))
    return out
