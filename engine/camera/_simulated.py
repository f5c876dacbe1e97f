"""SimulatedCamera: the default camera everywhere (app, tests, demos), with a known answer.

It films a fixed scene made from a real photo (by default the Middlebury motorcycle workshop
photo bundled in scikit-image, or your own image / folder) by day (RGB) or by night (gray,
NIR-like response, IR flood fall-off, vignetting, noise that grows with ISO, softer focus),
with a slow drift and a little vibration, and with scene changes: patches from other real
photos that appear, move and vanish on a seeded timetable. By day it also varies as a fixed
camera's day captures do from one moment to the next: visitors (a tent, a parked vehicle) come
and go every few seconds and the light's residual exposure and colour cast change
(`engine.camera._day_variation`), so fused day references and their stability map have
something to remove and to show. The sensor model is documented in `engine.camera._scene`.

Ground truth travels with every frame in ``FrameMeta.extra`` (JSON-safe, small):

- ``"warp"``: 3x3 matrix (nested lists) mapping scene pixel coordinates to this frame's
  pixel coordinates; `SimulatedCamera.true_warp` gives the warp between two frames;
- ``"t"``: scene time in seconds; ``"objects"``: ids of the scene-change objects in view;
  by day ``"visitors"`` (ids of the day visitors in view) and ``"light"`` (``[gain, cast]``);
- ``"scene_changes"``, ``"gain"``, ``"noise_sigma"``, ``"blur_sigma"``, ``"seed"``.

The change mask (where objects are) is recomputed from that on demand with
`SimulatedCamera.change_mask`, so metadata written to a session stays small.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from engine._image import IMAGE_SUFFIXES, ImageError, check_rgb, read_image
from engine.camera._base import (
    Camera,
    CameraError,
    CameraInfo,
    ControlSpec,
    Frame,
    FrameMeta,
)
from engine.camera._pacing import FramePacer
from engine.camera._scene import (
    DAYLIGHT_K,
    EXPOSURE_RANGE_US,
    ISO_RANGE,
    MAX_DRIFT_PX,
    REF_EXPOSURE_US,
    REF_ISO,
    SceneRenderer,
    SensorSettings,
)

__all__ = ["SimulatedCamera"]


@functools.lru_cache(maxsize=1)
def _default_photos() -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """The bundled motorcycle photo as the scene, scikit-image's colour photos as donors.

    The motorcycle (Middlebury stereo, left view) is a real, richly textured, colourful indoor
    scene: alignment and colorization have something to work with. Arrays are read-only.
    """
    from engine.data import skimage_photos
    from engine.scene_change import donor_photos

    scene = skimage_photos(("stereo_motorcycle",))["stereo_motorcycle"]  # left view
    donors = donor_photos()
    for arr in (scene, *donors):
        arr.setflags(write=False)
    return scene, tuple(donors)


def _describe_scene(scene: np.ndarray | str | Path | None) -> str:
    if scene is None:
        return "motorcycle"
    if isinstance(scene, np.ndarray):
        return f"array {scene.shape[1]}x{scene.shape[0]}" if scene.ndim >= 2 else "array"
    return str(scene)


def _load_scene(scene: np.ndarray | str | Path | None) -> tuple[np.ndarray, list]:
    """``(scene RGB, donor photos)`` from the ``scene`` argument."""
    default_scene, default_donors = _default_photos()
    if scene is None:
        return default_scene, list(default_donors)
    if isinstance(scene, np.ndarray):
        check_rgb(scene, "scene")
        return scene, list(default_donors)
    path = Path(scene)
    try:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise CameraError(f"sim: no images ({', '.join(IMAGE_SUFFIXES)}) in {path}")
            photos = [read_image(p, mode="rgb") for p in files]
            return photos[0], photos[1:] or list(default_donors)
        return read_image(path, mode="rgb"), list(default_donors)
    except ImageError as exc:
        raise CameraError(f"sim: {exc}") from None


#: the largest frame the simulated camera renders, in pixels (as many as `nightlab process`
#: works at): more is memory, not realism
MAX_SIM_PIXELS = 16_000_000


class SimulatedCamera(Camera):
    """A day/night camera rendered from real photos, with its ground truth.

    Parameters
    ----------
    mode : {"day", "night"}
        Day frames are RGB uint8 ``(H, W, 3)``; night frames are gray uint8 ``(H, W)``.
    resolution : (int, int)
        Frame (width, height).
    fps : float
        Streaming rate (frames are paced to it).
    seed : int
        Fixes the drift path, the scene changes' timetable and the noise: two cameras with the
        same seed and controls render identical frames for the same ``(t, sequence)``.
    scene : ndarray, str, Path or None
        The fixed scene: an RGB uint8 photo, an image file, or a folder (first image sorted by
        name is the scene, the others donate the scene-change patches). ``None``: the
        motorcycle photo bundled in scikit-image, its other photos as donors.
    drift_px, scene_changes, light_changes, ir_intensity :
        Initial values of the controls of the same names. ``scene_changes``: the objects
        and, by day, the visitors; ``light_changes``: the day light's residual exposure and
        cast from one moment to the next (both off: every day frame is the photo as shot,
        drift and noise aside).
    device_id : str, optional
        Recorded in frame metadata (default ``"sim-<seed>"``).

    Examples
    --------
    >>> cam = SimulatedCamera(mode="night", resolution=(160, 120))
    >>> frame = cam.render_frame(0)
    >>> frame.image.shape, frame.meta.mode
    ((120, 160), 'night')
    """

    def __init__(
        self,
        *,
        mode: str = "day",
        resolution: tuple[int, int] = (640, 480),
        fps: float = 30.0,
        seed: int = 0,
        scene: np.ndarray | str | Path | None = None,
        drift_px: float = 2.0,
        scene_changes: bool = True,
        light_changes: bool = True,
        ir_intensity: float = 0.6,
        device_id: str | None = None,
    ) -> None:
        super().__init__()
        try:
            w, h = (int(v) for v in resolution)
        except (TypeError, ValueError):
            raise ValueError(f"resolution must be (width, height), got {resolution!r}") from None
        if w < 32 or h < 32 or (w, h) != tuple(resolution):
            raise ValueError(f"resolution must be two integers >= 32, got {resolution!r}")
        if w * h > MAX_SIM_PIXELS:  # (100000x100000 ended in a traceback from OpenCV's alloc)
            raise ValueError(
                f"resolution {w}x{h} is {w * h / 1e6:.0f} MP; the simulated camera renders at "
                f"most {MAX_SIM_PIXELS / 1e6:.0f} MP (an OAK's 12 MP sensor, 4K video fit)"
            )
        self._resolution = (w, h)
        self._seed = int(seed)
        self._device_id = device_id or f"sim-{self._seed}"
        self._specs = self._control_specs()
        initial = {
            "mode": mode,
            "fps": fps,
            "drift_px": drift_px,
            "scene_changes": scene_changes,
            "light_changes": light_changes,
            "ir_intensity": ir_intensity,
        }
        values = {k: self._specs[k].validate(v) for k, v in initial.items()}
        self._settings = SensorSettings(**values)
        self._specs.update(
            {k: dataclasses.replace(self._specs[k], default=v) for k, v in values.items()}
        )
        self._scene_source = scene
        self._scene_name = _describe_scene(scene)
        self._renderer: SceneRenderer | None = None
        self._build_lock = threading.Lock()
        self._pacer = FramePacer(self._settings.fps)
        self._t = 0.0
        self._seq = 0

    @staticmethod
    def _control_specs() -> dict[str, ControlSpec]:
        d = SensorSettings()
        specs = [
            ControlSpec("mode", "choice", d.mode, choices=("day", "night")),
            ControlSpec("exposure_us", "int", REF_EXPOSURE_US, *EXPOSURE_RANGE_US, unit="us"),
            ControlSpec("iso", "int", REF_ISO, *ISO_RANGE),
            ControlSpec("auto_exposure", "bool", True),
            ControlSpec("white_balance_k", "int", DAYLIGHT_K, 1000, 12000, unit="K"),
            ControlSpec("auto_white_balance", "bool", True),
            ControlSpec("auto_focus", "bool", True),
            ControlSpec(
                "lens_position",
                "int",
                d.lens_position,
                0,
                255,
                description="manual focus position, used with auto focus off (off focus blurs)",
            ),
            ControlSpec(
                "ir_intensity",
                "float",
                d.ir_intensity,
                0.0,
                1.0,
                description="the IR illuminator's power at night, 0 (off) to 1 (full)",
            ),
            ControlSpec(
                "gamma",
                "float",
                1.0,
                0.4,
                2.5,
                description="tone curve of the output, 1 = none; above 1 brightens the mid-tones",
            ),
            ControlSpec("fps", "float", d.fps, 1.0, 240.0, unit="fps"),
            ControlSpec(
                "drift_px",
                "float",
                d.drift_px,
                0.0,
                MAX_DRIFT_PX,
                unit="px",
                description="simulated: how far the camera wanders (mount sway), in px",
            ),
            ControlSpec(
                "scene_changes",
                "bool",
                True,
                description="simulated: objects come and go, and visitors by day",
            ),
            ControlSpec(
                "light_changes",
                "bool",
                True,
                description="simulated: the day light's exposure and colour cast vary",
            ),
        ]
        return {s.name: s for s in specs}

    # -- Camera hooks ----------------------------------------------------------------------
    def _open(self) -> None:
        _ = self.renderer  # load the scene now so a bad scene fails at open, not mid-stream

    def _close(self) -> None:
        pass

    def _start_stream(self) -> None:
        self._pacer.reset()

    def _grab(self, timeout: float) -> Frame | None:
        if not self._pacer.wait(timeout):
            return None
        frame = self.render(self._t, sequence=self._seq)
        self._seq += 1
        self._t += 1.0 / self._settings.fps
        return frame

    def _capabilities(self) -> dict[str, ControlSpec]:
        return dict(self._specs)

    def _apply_control(self, name: str, value: Any) -> None:
        # swap in a new frozen settings object: the render thread reads one consistent set
        self._settings = dataclasses.replace(self._settings, **{name: value})
        if name == "fps":
            self._pacer.fps = value

    @property
    def info(self) -> CameraInfo:
        return CameraInfo(
            backend="sim",
            device_id=self._device_id,
            name=f"Simulated camera ({self._scene_name})",
            resolution=self._resolution,
            fps=self._settings.fps,
            details={"seed": self._seed, "mode": self._settings.mode},
        )

    # -- rendering and ground truth --------------------------------------------------------
    @property
    def renderer(self) -> SceneRenderer:
        """The thread-free renderer behind this camera (built on first use)."""
        with self._build_lock:
            if self._renderer is None:
                scene, donors = _load_scene(self._scene_source)
                self._renderer = SceneRenderer(
                    scene, donors, size=self._resolution, seed=self._seed
                )
            return self._renderer

    @property
    def settings(self) -> SensorSettings:
        """Current control values (a frozen snapshot)."""
        return self._settings

    def render(self, t: float, *, sequence: int = 0) -> Frame:
        """Render the frame at scene time ``t`` seconds with the current controls (no thread).

        ``sequence`` selects the noise pattern (and is recorded in the metadata).
        """
        s = self._settings
        img, warp, state, changed = self.renderer.render(t, s, sequence=sequence)
        meta = FrameMeta(
            timestamp=time.time(),
            sequence=int(sequence),
            device_id=self._device_id,
            exposure_us=state.exposure_us,
            iso=state.iso,
            white_balance_k=state.white_balance_k if s.mode == "day" else None,
            lens_position=state.lens_position,
            ir_intensity=s.ir_intensity,
            mode=s.mode,
            extra={
                "t": float(t),
                "warp": warp.tolist(),
                **changed,
                "scene_changes": s.scene_changes,
                "gain": state.gain,
                "noise_sigma": state.noise_sigma,
                "blur_sigma": state.blur_sigma,
                "seed": self._seed,
            },
        )
        return Frame(img, meta)

    def render_frame(self, index: int) -> Frame:
        """Frame number ``index`` of a stream at the current fps: ``render(index / fps)``."""
        return self.render(index / self._settings.fps, sequence=index)

    def warp_at(self, t: float) -> np.ndarray:
        """3x3 matrix mapping scene pixel coordinates to frame coordinates at time ``t``."""
        return self.renderer.warp_at(t, self._settings.drift_px)

    @staticmethod
    def true_warp(a: Frame | FrameMeta, b: Frame | FrameMeta) -> np.ndarray:
        """3x3 matrix mapping pixel coordinates of frame ``a`` to those of frame ``b``.

        ``cv2.warpPerspective(a_image, M, (w, h))`` (or ``warpAffine`` with ``M[:2]``) lines
        frame ``a`` up with frame ``b``.

        Examples
        --------
        >>> cam = SimulatedCamera(resolution=(64, 48))
        >>> m = SimulatedCamera.true_warp(cam.render_frame(0), cam.render_frame(0))
        >>> bool(np.allclose(m, np.eye(3)))
        True
        """
        return _warp_of(b) @ np.linalg.inv(_warp_of(a))

    def change_mask(self, frame: Frame | FrameMeta) -> np.ndarray:
        """bool ``(H, W)``: pixels of ``frame`` where a scene-change object is (or touches);
        in a day frame, its day visitors too (a tent, a vehicle: `engine.camera._day_variation`).
        """
        meta = frame.meta if isinstance(frame, Frame) else frame
        if meta.extra.get("seed") != self._seed:
            raise ValueError(
                f"frame {meta.sequence} was not rendered by this camera (seed "
                f"{meta.extra.get('seed')!r}, this camera's is {self._seed}): its objects differ"
            )
        if not meta.extra.get("scene_changes", False):
            return np.zeros(self._resolution[::-1], bool)
        return self.renderer.change_mask(
            float(meta.extra["t"]),
            _warp_of(meta),
            blur_sigma=meta.extra.get("blur_sigma", 0.0),
            day=meta.mode == "day",
        )

    def change_between(self, a: Frame | FrameMeta, b: Frame | FrameMeta) -> np.ndarray:
        """bool ``(H, W)`` in ``b``'s pixels: where ``a`` or ``b`` shows a scene change.

        This is the leak-mask ground truth when ``a`` is the day reference aligned onto ``b``.
        """
        import cv2

        w, h = self._resolution
        mask_a = self.change_mask(a).astype(np.uint8) * 255
        warped = cv2.warpAffine(mask_a, self.true_warp(a, b)[:2], (w, h), flags=cv2.INTER_LINEAR)
        return self.change_mask(b) | (warped > 0)


def _warp_of(x: Frame | FrameMeta) -> np.ndarray:
    meta = x.meta if isinstance(x, Frame) else x
    try:
        return np.asarray(meta.extra["warp"], dtype=np.float64).reshape(3, 3)
    except (KeyError, ValueError):
        raise ValueError(
            f"frame {meta.sequence} from {meta.device_id!r} has no ground-truth warp "
            "(only simulated frames carry one)"
        ) from None
