"""The simulated camera's renderer: a real photo as a fixed scene, seen by day or by night.

Everything with a known answer lives here, free of threads: the scene (a real photo,
pre-rendered once per mode with a margin), the smooth drift path (so the true warp of every
frame is known), the scene-change objects (patches from other real photos that appear, move
and vanish on a seeded timetable, so the change mask is known), the day-to-day variation of
day frames (`engine.camera._day_variation`: visitors and the light's residual, by slot), and
the sensor model.

Per frame the cost is one ``cv2.warpAffine`` (of an RGBA copy by day: OpenCV's 4-channel
path is several times faster than its 3-channel one), one LUT (exposure, ISO, white
balance, gamma), one multiplication by a precomputed vignetting / IR fall-off map, an
optional blur (focus) and noise added from a precomputed bank at a random offset; that keeps
640x480 well above 60 FPS on one core.

Sensor model (8-bit, gamma-encoded domain, gamma 2.2):

- brightness gain ``light * exposure_us / 10000 * iso / 100`` (1.0 = the photo as shot);
  day light is 1.0, night light is ``0.004 + 0.25 * ir_intensity`` at the image centre;
- night spectral response: linear ``0.55 R + 0.35 G + 0.10 B`` plus a boost where green
  dominates (foliage is bright in near infrared), shown as gray;
- noise sigma ``0.6 + 0.004 * iso`` grey levels (grows with gain);
- vignetting, and by night the IR flood's fall-off from the centre;
- blur from defocus (manual ``lens_position`` away from best focus; IR focuses elsewhere).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from engine.camera._day_variation import DayVariation

GAMMA = 2.2
DAYLIGHT_K = 5500
REF_EXPOSURE_US = 10_000
REF_ISO = 100
ISO_RANGE = (100, 3200)
EXPOSURE_RANGE_US = (10, 100_000)
NIGHT_AMBIENT = 0.004
IR_POWER = 0.25
MAX_DRIFT_PX = 20.0
PERIOD_S = 30.0
"""The scene-change timetable repeats with this period (seconds)."""
BEST_FOCUS = {"day": 120, "night": 135}
NOISE_PAD = 64


@dataclass(frozen=True)
class SensorSettings:
    """The simulated camera's control values (the camera swaps in a new one on each change)."""

    mode: str = "day"
    exposure_us: int = REF_EXPOSURE_US
    iso: int = REF_ISO
    auto_exposure: bool = True
    white_balance_k: int = DAYLIGHT_K
    auto_white_balance: bool = True
    auto_focus: bool = True
    lens_position: int = BEST_FOCUS["day"]
    ir_intensity: float = 0.6
    gamma: float = 1.0
    fps: float = 30.0
    drift_px: float = 2.0
    scene_changes: bool = True
    light_changes: bool = True


@dataclass(frozen=True)
class SensorState:
    """What the sensor actually did for a frame (auto modes resolved)."""

    exposure_us: int
    iso: int
    white_balance_k: int
    lens_position: int
    gain: float
    """Linear brightness gain relative to the photo as shot."""
    noise_sigma: float
    blur_sigma: float


def resolve_sensor(s: SensorSettings) -> SensorState:
    """Resolve auto exposure / white balance / focus into the values a frame is taken with.

    Auto exposure is analytic (no feedback loop, so it is deterministic): exposure first, up
    to one frame period, then ISO, clipped to the sensor's range.
    """
    light = 1.0 if s.mode == "day" else NIGHT_AMBIENT + IR_POWER * s.ir_intensity
    if s.auto_exposure:
        product = REF_EXPOSURE_US * REF_ISO / light
        max_exposure = min(33_333.0, 1e6 / s.fps)
        exposure = min(max(product / REF_ISO, EXPOSURE_RANGE_US[0]), max_exposure)
        iso = min(max(product / exposure, ISO_RANGE[0]), ISO_RANGE[1])
        exposure_us, iso_i = int(round(exposure)), int(round(iso))
    else:
        exposure_us, iso_i = int(s.exposure_us), int(s.iso)
    gain = light * exposure_us / REF_EXPOSURE_US * iso_i / REF_ISO
    best = BEST_FOCUS[s.mode]
    lens = best if s.auto_focus else int(s.lens_position)
    defocus = abs(lens - best) / 25.0
    base_blur = 0.0 if s.mode == "day" else 0.8  # IR through a visible-light lens is softer
    return SensorState(
        exposure_us=exposure_us,
        iso=iso_i,
        white_balance_k=DAYLIGHT_K if s.auto_white_balance else int(s.white_balance_k),
        lens_position=lens,
        gain=gain,
        noise_sigma=0.6 + 0.004 * iso_i,
        blur_sigma=math.hypot(base_blur, defocus),
    )


def night_response(rgb: np.ndarray) -> np.ndarray:
    """Gray image a NIR-sensitive mono sensor would see of an RGB uint8 scene.

    Examples
    --------
    >>> night_response(np.full((2, 2, 3), 128, np.uint8)).shape
    (2, 2)
    """
    lin = (rgb.astype(np.float32) / 255.0) ** GAMMA
    r, g, b = lin[..., 0], lin[..., 1], lin[..., 2]
    nir = 0.55 * r + 0.35 * g + 0.10 * b + 0.6 * np.clip(g - np.maximum(r, b), 0.0, None)
    return np.rint(np.clip(nir, 0.0, 1.0) ** (1.0 / GAMMA) * 255.0).astype(np.uint8)


def _cover(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize ``image`` to cover ``size`` (w, h) keeping its aspect, then centre-crop."""
    w, h = size
    ih, iw = image.shape[:2]
    scale = max(w / iw, h / ih)
    nw, nh = max(w, int(math.ceil(iw * scale))), max(h, int(math.ceil(ih * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    big = cv2.resize(image, (nw, nh), interpolation=interp)
    y0, x0 = (nh - h) // 2, (nw - w) // 2
    return np.ascontiguousarray(big[y0 : y0 + h, x0 : x0 + w])


@dataclass(frozen=True)
class SceneObject:
    """A scene change: a patch from another photo that appears, moves linearly, vanishes."""

    ident: int
    day: np.ndarray
    night: np.ndarray
    shape: np.ndarray
    """uint8 ``(h, w)``, 1 where a pixel of the patch belongs to the object."""
    t_on: float
    t_off: float
    x0: float
    y0: float
    vx: float
    vy: float

    def box_at(self, t: float) -> tuple[int, int, int, int] | None:
        """``(x, y, w, h)`` in scene pixels at time ``t``, or None when not in the scene."""
        tm = t % PERIOD_S
        if not self.t_on <= tm < self.t_off:
            return None
        dt = tm - self.t_on
        h, w = self.shape.shape
        return int(round(self.x0 + self.vx * dt)), int(round(self.y0 + self.vy * dt)), w, h


def _make_objects(
    donors: list[np.ndarray],
    rng: np.random.Generator,
    frame_rect: tuple[int, int, int, int],
    n_objects: int = 6,
) -> list[SceneObject]:
    fx, fy, fw, fh = frame_rect
    side = min(fw, fh)
    objects = []
    for i in range(n_objects):
        ph = int(side * rng.uniform(0.12, 0.28))
        pw = int(ph * rng.uniform(0.7, 1.5))
        donor = donors[int(rng.integers(len(donors)))]
        dh, dw = donor.shape[:2]
        ch = max(2, min(dh, int(min(dh, dw * ph / pw) * rng.uniform(0.4, 0.9))))
        cw = max(2, min(dw, int(ch * pw / ph)))
        y0, x0 = int(rng.integers(0, dh - ch + 1)), int(rng.integers(0, dw - cw + 1))
        day = cv2.resize(donor[y0 : y0 + ch, x0 : x0 + cw], (pw, ph), interpolation=cv2.INTER_AREA)
        shape = np.zeros((ph, pw), np.uint8)
        if rng.random() < 0.5:
            shape[:] = 1  # a parked car, a box
        else:
            cv2.ellipse(shape, (pw // 2, ph // 2), (pw // 2 - 1, ph // 2 - 1), 0, 0, 360, 1, -1)
        if i == 0:  # a known early arrival, so short runs and tests always see a change
            t_on, t_off, moving = 1.0, 9.0, False
        else:
            t_on = float(rng.uniform(0.0, PERIOD_S - 12.0))
            t_off, moving = t_on + float(rng.uniform(4.0, 12.0)), rng.random() < 0.6
        speed, angle = float(rng.uniform(10.0, 40.0)), float(rng.uniform(0.0, 2 * math.pi))
        objects.append(
            SceneObject(
                ident=i,
                day=np.ascontiguousarray(day),
                night=night_response(day),
                shape=shape,
                t_on=t_on,
                t_off=t_off,
                x0=float(fx + rng.uniform(0, fw - pw)),
                y0=float(fy + rng.uniform(0, fh - ph)),
                vx=speed * math.cos(angle) if moving else 0.0,
                vy=speed * math.sin(angle) if moving else 0.0,
            )
        )
    return objects


def _defocus(img: np.ndarray, sigma: float) -> np.ndarray:
    """Blur of about ``sigma`` px: Gaussian when small; when large (a smooth, low-frequency
    blur), a stack blur at half resolution, about 8x cheaper than the full Gaussian."""
    if sigma < 0.3:
        return img
    if sigma < 2.0:
        return cv2.GaussianBlur(img, (0, 0), sigma)
    h, w = img.shape[:2]
    small = cv2.resize(img, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
    # stack blur's tent kernel of radius r has variance r (r + 2) / 6
    half = sigma / 2
    r = max(1, int(round(math.sqrt(6 * half * half + 1) - 1)))
    small = cv2.stackBlur(small, (2 * r + 1, 2 * r + 1))
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _paste(buf: np.ndarray, patch: np.ndarray, shape: np.ndarray, x: int, y: int) -> None:
    """Copy ``patch`` into ``buf`` at (x, y) where ``shape`` (uint8 0/1) is set, clipped."""
    h, w = shape.shape
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, buf.shape[1]), min(y + h, buf.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    sub = (slice(y0 - y, y1 - y), slice(x0 - x, x1 - x))
    cv2.copyTo(patch[sub], shape[sub], buf[y0:y1, x0:x1])  # writes into the view, in place


class SceneRenderer:
    """Renders frames of one scene; the result depends only on ``(t, settings, sequence)``.

    Parameters
    ----------
    scene : ndarray
        RGB uint8 photo of the fixed scene (resized to cover the frame plus a margin).
    donors : list of ndarray
        RGB uint8 photos that scene-change patches are cut from.
    size : (int, int)
        Frame (width, height).
    seed : int
        Fixes the drift path, the objects' timetable and the noise.
    """

    def __init__(
        self, scene: np.ndarray, donors: list[np.ndarray], *, size: tuple[int, int], seed: int
    ) -> None:
        w, h = size
        self.size = (int(w), int(h))
        self.margin = (int(round(0.1 * w)), int(round(0.1 * h)))
        mx, my = self.margin
        self.scene_size = (w + 2 * mx, h + 2 * my)
        day = _cover(scene, self.scene_size)
        self.scene = {"day": day, "night": night_response(day)}
        rng = np.random.default_rng(seed)
        self.seed = int(seed)
        self.objects = _make_objects(donors, rng, (mx, my, w, h))
        self.day_variation = DayVariation(donors, (mx, my, w, h), seed=seed)
        # what is composed and warped per frame: colour as RGBA, because OpenCV's warpAffine
        # is about 6x faster on 4-channel images than on 3-channel ones (same RGB result)
        self._source = {"day": cv2.cvtColor(day, cv2.COLOR_RGB2RGBA), "night": self.scene["night"]}
        self._patches = {
            "day": [cv2.cvtColor(o.day, cv2.COLOR_RGB2RGBA) for o in self.objects],
            "night": [o.night for o in self.objects],
        }
        self._phases = rng.uniform(0.0, 2 * math.pi, 6)
        self._slow_hz = rng.uniform(1 / 60, 1 / 20, 4)
        self._vibration_hz = rng.uniform(3.0, 7.0, 2)
        # unit-normal noise bank wide enough for RGB viewed as (H, W*3)
        self._noise_unit = rng.standard_normal((h + NOISE_PAD, (w + NOISE_PAD) * 3), np.float32)
        # one entry per kind (lut, illumination, noise bank): a control sweep must not grow it
        self._cache: dict[str, tuple[tuple, np.ndarray]] = {}

    def warp_source(self, mode: str) -> np.ndarray:
        """The image warped per frame (before objects): gray by night, RGBA by day."""
        return self._source[mode]

    def _cached(self, kind: str, key: tuple, make) -> np.ndarray:
        hit = self._cache.get(kind)
        if hit is not None and hit[0] == key:
            return hit[1]
        value = make()
        self._cache[kind] = (key, value)
        return value

    # -- ground truth ----------------------------------------------------------------------
    def warp_at(self, t: float, drift_px: float) -> np.ndarray:
        """3x3 matrix mapping scene pixel coordinates to frame pixel coordinates at ``t``."""
        a = float(drift_px)
        w, h = self.size
        p, f, v = self._phases, self._slow_hz, self._vibration_hz
        two_pi_t = 2 * math.pi * t
        dx = a * (0.8 * math.sin(f[0] * two_pi_t + p[0]) + 0.1 * math.sin(v[0] * two_pi_t + p[4]))
        dy = a * (0.8 * math.sin(f[1] * two_pi_t + p[1]) + 0.1 * math.sin(v[1] * two_pi_t + p[5]))
        theta = 0.5 * a / (w / 2) * math.sin(f[2] * two_pi_t + p[2])
        scale = 1.0 + 0.3 * a / (w / 2) * math.sin(f[3] * two_pi_t + p[3])
        c, s = scale * math.cos(theta), scale * math.sin(theta)
        cx, cy = (w - 1) / 2, (h - 1) / 2
        sx, sy = cx + self.margin[0], cy + self.margin[1]
        # frame = centre + s R (scene - scene centre) + d
        return np.array(
            [
                [c, -s, cx + dx - (c * sx - s * sy)],
                [s, c, cy + dy - (s * sx + c * sy)],
                [0.0, 0.0, 1.0],
            ]
        )

    def visible_objects(self, t: float) -> list[tuple[SceneObject, tuple[int, int, int, int]]]:
        out = []
        for obj in self.objects:
            box = obj.box_at(t)
            if box is not None:
                out.append((obj, box))
        return out

    def day_visitors(self, t: float) -> list:
        """The day visitors standing at ``t`` (`DayVariation.visitors_at`)."""
        return self.day_variation.visitors_at(t)

    def change_mask(
        self, t: float, warp: np.ndarray, *, blur_sigma: float = 0.0, day: bool = False
    ) -> np.ndarray:
        """bool ``(H, W)``: frame pixels that any scene-change object influences at ``t``
        (with ``day``, the day visitors too: they are in day frames only).

        ``blur_sigma`` is the frame's focus blur, which spreads an object a little further.
        """
        w, h = self.size
        shapes = [(obj.shape, x, y) for obj, (x, y, _, _) in self.visible_objects(t)]
        if day:
            shapes += [(v.shape, x, y) for v, (x, y) in self.day_visitors(t)]
        if not shapes:
            return np.zeros((h, w), bool)
        canvas = np.zeros(self.scene_size[::-1], np.uint8)
        for shape, x, y in shapes:
            _paste(canvas, shape * np.uint8(255), shape, x, y)
        # bilinear + "> 0": every pixel the object touches, as the image warp mixes borders;
        # the blur in float so no faint tail rounds away where the image still changed
        warped = cv2.warpAffine(canvas, warp[:2], (w, h), flags=cv2.INTER_LINEAR)
        return _defocus(warped.astype(np.float32), blur_sigma) > 0

    # -- rendering -------------------------------------------------------------------------
    def render(
        self, t: float, settings: SensorSettings, *, sequence: int = 0
    ) -> tuple[np.ndarray, np.ndarray, SensorState, dict]:
        """Render one frame: ``(image, warp 3x3, sensor state, what changed)``.

        The image is RGB uint8 ``(H, W, 3)`` by day and gray ``(H, W)`` by night. What
        changed: ``{"objects": ids}``, by day also ``"visitors"`` (ids) and ``"light"``
        (``[gain, cast]``, `DayVariation.light_at`).
        """
        mode = settings.mode
        day = mode == "day"
        state = resolve_sensor(settings)
        warp = self.warp_at(t, settings.drift_px)
        visible = self.visible_objects(t) if settings.scene_changes else []
        visitors = self.day_visitors(t) if settings.scene_changes and day else []
        light = self.day_variation.light_at(t) if settings.light_changes and day else (1.0, 0.0)
        base = self._source[mode]
        if visible or visitors:
            base = base.copy()
            for obj, (x, y, _, _) in visible:
                _paste(base, self._patches[mode][obj.ident], obj.shape, x, y)
            for v, (x, y) in visitors:
                _paste(base, v.patch, v.shape, x, y)
        w, h = self.size
        img = cv2.warpAffine(
            base, warp[:2], (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101
        )
        if img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_RGBA2RGB)
        img = cv2.LUT(img, self._lut(mode, state, settings.gamma, light))
        img = cv2.multiply(img, self._illumination(mode, settings.ir_intensity), scale=1 / 255)
        img = _defocus(img, state.blur_sigma)
        img = self._add_noise(img, state.noise_sigma, sequence)
        changed: dict = {"objects": [obj.ident for obj, _ in visible]}
        if day:
            changed["visitors"] = [v.ident for v, _ in visitors]
            changed["light"] = list(light)
        return img, warp, state, changed

    def _lut(
        self, mode: str, state: SensorState, gamma: float, light: tuple[float, float]
    ) -> np.ndarray:
        key = (mode, round(state.gain, 6), state.white_balance_k, round(gamma, 4), light)

        def make() -> np.ndarray:
            if mode == "day":
                # camera set to a lower kelvin than the light boosts blue, and vice versa;
                # the light's residual gain and red/blue cast (DayVariation) on top
                ratio = state.white_balance_k / DAYLIGHT_K
                gain, cast = light
                channel_gains = (
                    gain * ratio**0.6 * (1.0 + cast),
                    gain,
                    gain * ratio**-0.6 * (1.0 - cast),
                )
            else:
                channel_gains = (1.0,)
            if len(set(channel_gains)) == 1:
                channel_gains = channel_gains[:1]  # one table for all channels: 2x faster
            v = np.arange(256, dtype=np.float64) / 255.0
            cols = [
                np.clip(v * (state.gain * cg) ** (1 / GAMMA), 0, 1) ** (1 / gamma)
                for cg in channel_gains
            ]
            return np.rint(np.stack(cols, axis=-1) * 255).astype(np.uint8).reshape(256, 1, -1)

        return self._cached(f"lut-{mode}", key, make)

    def _illumination(self, mode: str, ir_intensity: float) -> np.ndarray:
        key = (mode, round(ir_intensity, 3) if mode == "night" else 0.0)

        def make() -> np.ndarray:
            w, h = self.size
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            r = np.hypot((xx - (w - 1) / 2) / (w / 2), (yy - (h - 1) / 2) / (h / 2))
            r /= math.sqrt(2.0)  # 0 at the centre, 1 in the corners
            lin = 1.0 - (0.25 if mode == "day" else 0.4) * r**2
            if mode == "night":
                ir = IR_POWER * ir_intensity
                lin *= (NIGHT_AMBIENT + ir / (1.0 + (r / 0.55) ** 2)) / (NIGHT_AMBIENT + ir)
            illum = np.rint(lin ** (1 / GAMMA) * 255).astype(np.uint8)
            if mode == "day":
                illum = np.ascontiguousarray(np.repeat(illum[..., None], 3, axis=2))
            return illum

        return self._cached(f"illumination-{mode}", key, make)

    def _add_noise(self, img: np.ndarray, sigma: float, sequence: int) -> np.ndarray:
        channels = 1 if img.ndim == 2 else img.shape[2]
        sigma_q = round(sigma, 1)
        bank = self._cached(
            "noise", (sigma_q,), lambda: np.rint(self._noise_unit * sigma_q).astype(np.int16)
        )
        h, w = img.shape[:2]
        oy, ox = np.random.default_rng((self.seed, sequence)).integers(
            0, (NOISE_PAD, NOISE_PAD * channels), endpoint=True
        )
        flat = img.reshape(h, w * channels)
        noisy = cv2.add(flat, bank[oy : oy + h, ox : ox + w * channels], dtype=cv2.CV_8U)
        return noisy.reshape(img.shape)
