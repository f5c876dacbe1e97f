"""Camera specs (``"sim"``, ``"oak:ID"``, ``"replay:PATH"``...) and discovery across backends.

Spec strings are what the CLI's ``--camera`` and the app accept:

=====================  ======================================================================
``sim``                simulated camera, day mode (the default everywhere)
``sim:night``          simulated camera starting in night mode (also ``sim:day``)
``sim:PATH``           simulated camera filming an image file or folder of yours
``oak``                the first OAK device found (depthai)
``oak:DEVICEID``       a given OAK (MX id / device id, or an IP address for PoE)
``webcam``             OpenCV device 0 (also ``webcam:1``...)
``webcam:URL``         a stream (``rtsp://``, ``http://``) or a video file played like one
``replay:PATH``        a video, an image folder or a saved session, played at its rate
=====================  ======================================================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from engine.camera._base import Camera, CameraError, CameraInfo, ControlSpec

__all__ = ["SPEC_HELP", "CameraListing", "list_cameras", "make_camera", "open_camera"]

SPEC_HELP = "sim, sim:night, sim:PATH, oak, oak:DEVICEID, webcam, webcam:INDEX|URL, replay:PATH"


def make_camera(spec: str, **options: Any) -> Camera:
    """Create the camera a spec names, without opening it.

    ``options`` go to the backend's constructor (e.g. ``seed=1`` for ``sim``, ``loop=True``
    or ``fps=5`` for ``replay``).

    Raises
    ------
    ValueError
        The spec names no backend, or lacks a required part (one line, lists valid specs).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"camera spec must be one of: {SPEC_HELP}; got {spec!r}")
    backend, _, arg = spec.strip().partition(":")
    backend = backend.lower()
    if backend == "sim":
        from engine.camera._simulated import SimulatedCamera

        if arg in ("day", "night"):
            options.setdefault("mode", arg)
        elif arg:
            options.setdefault("scene", arg)
        return SimulatedCamera(**options)
    if backend == "webcam":
        from engine.camera._webcam import WebcamCamera

        return WebcamCamera(arg or 0, **options)
    if backend == "replay":
        from engine.camera._replay import ReplayCamera

        if not arg:
            raise ValueError("replay needs a path: replay:PATH (video, image folder or session)")
        return ReplayCamera(arg, **options)
    if backend == "oak":
        from engine.camera._oak import OakCamera

        return OakCamera(arg, **options) if arg else OakCamera(**options)
    raise ValueError(f"unknown camera {spec!r}; expected one of: {SPEC_HELP}")


def open_camera(spec: str, **options: Any) -> Camera:
    """Create and open the camera a spec names (see the module docstring for specs).

    Raises
    ------
    ValueError
        Bad spec or option.
    CameraError
        The device or file is missing or cannot be opened (one line).

    Examples
    --------
    >>> cam = open_camera("sim:night", resolution=(160, 120))
    >>> cam.snap().image.shape
    (120, 160)
    >>> cam.close()
    """
    cam = make_camera(spec, **options)
    cam.open()
    return cam


@dataclass(frozen=True)
class CameraListing:
    """One line of ``nightlab camera list``: a device found, or why a backend has none."""

    backend: str
    spec: str
    """What to pass to `open_camera` (empty when nothing can be opened)."""
    name: str
    available: bool
    reason: str = ""
    """Why not available (library missing, no device found, device busy...)."""
    info: CameraInfo | None = None
    controls: dict[str, ControlSpec] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["controls"] = [asdict(c) for c in self.controls.values()]
        return d


def _from_camera(cam: Camera, spec: str) -> CameraListing:
    info = cam.info
    return CameraListing(
        backend=info.backend,
        spec=spec,
        name=info.name,
        available=True,
        info=info,
        controls=cam.capabilities(),
    )


def _list_sim() -> list[CameraListing]:
    from engine.camera._simulated import SimulatedCamera

    cam = SimulatedCamera()
    try:
        cam.open()
        return [_from_camera(cam, "sim")]
    except CameraError as exc:
        return [CameraListing("sim", "", "Simulated camera", False, str(exc))]
    finally:
        cam.close()


def _list_oak() -> list[CameraListing]:
    try:
        from engine.camera._oak import OakCamera, list_oak_devices
    except ImportError as exc:
        return [CameraListing("oak", "", "OAK (depthai)", False, f"backend not available: {exc}")]
    try:
        devices = list_oak_devices()
    except ImportError as exc:
        return [CameraListing("oak", "", "OAK (depthai)", False, f"depthai not installed: {exc}")]
    except Exception as exc:  # a driver failure must not break listing of the other backends
        return [CameraListing("oak", "", "OAK (depthai)", False, f"device search failed: {exc}")]
    if not devices:
        return [CameraListing("oak", "", "OAK (depthai)", False, "no OAK device found")]
    out = []
    for dev in devices:
        dev_id = str(dev.get("device_id") or dev.get("id") or dev.get("mxid") or "")
        name = str(dev.get("name") or f"OAK {dev_id}")
        controls: dict[str, ControlSpec] = {}
        reason = ""
        try:
            controls = OakCamera(dev_id).capabilities() if dev_id else {}
        except Exception as exc:  # capabilities may need an open device; listing still works
            reason = f"controls unknown until opened ({exc})"
        out.append(
            CameraListing(
                "oak",
                f"oak:{dev_id}" if dev_id else "oak",
                name,
                True,
                reason,
                controls=controls,
                details=dict(dev),
            )
        )
    return out


def _list_webcams() -> list[CameraListing]:
    from engine.camera._webcam import list_webcams

    out = []
    for item in list_webcams():
        if isinstance(item, CameraError):
            out.append(CameraListing("webcam", "", "Webcam", False, str(item)))
            continue
        try:
            out.append(_from_camera(item, f"webcam:{item.source}"))
        finally:
            item.close()
    if not out:
        out.append(CameraListing("webcam", "", "Webcam", False, "no webcam found"))
    return out


def _list_replay() -> list[CameraListing]:
    from engine.camera._replay import ReplayCamera

    return [
        CameraListing(
            "replay",
            "replay:PATH",
            "Replay of a video, image folder or saved session",
            True,
            "not a device: give a path",
            controls=ReplayCamera(".").capabilities(),
        )
    ]


def list_cameras(
    *, backends: tuple[str, ...] = ("sim", "oak", "webcam", "replay")
) -> list[CameraListing]:
    """Every backend's devices with their controls; never raises for a missing library/device.

    A backend with nothing to open is listed once with ``available=False`` and the reason.

    Examples
    --------
    >>> [c.backend for c in list_cameras(backends=("sim",))]
    ['sim']
    """
    listers = {"sim": _list_sim, "oak": _list_oak, "webcam": _list_webcams, "replay": _list_replay}
    out: list[CameraListing] = []
    for name in backends:
        if name not in listers:
            raise ValueError(f"unknown backend {name!r}; expected one of {', '.join(listers)}")
        try:
            out.extend(listers[name]())
        except Exception as exc:  # one broken backend must not hide the others
            out.append(CameraListing(name, "", name, False, f"listing failed: {exc}"))
    return out
