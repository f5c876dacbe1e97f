"""The application's shared state, Qt-free and evented (psygnal), like napari's models.

The GUI's widgets each take an `AppState` in their constructor, read their initial values
from it, write user edits back to it, and follow its events; a CLI or a test drives the same
object without Qt. Events are emitted on the thread that changed the value: a Qt consumer
hops to its own thread (``gui.bridge``).

Examples
--------
>>> state = AppState()
>>> seen = []
>>> _ = state.events.live.connect(seen.append)
>>> state.live = True
>>> seen
[True]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from psygnal import evented

if TYPE_CHECKING:
    from engine.camera import Camera, FrameMeta
    from engine.leakmask import LeakMaskParams
    from engine.store import Session

__all__ = ["BASE_VIEWS", "MASK_STYLES", "AppState", "LiveViewSpec"]

#: what the live result view shows under the mask layer
BASE_VIEWS = ("colorized", "masked_colorized", "night", "reference_blend", "aligned_reference")
#: how the leak mask is drawn on top
MASK_STYLES = ("off", "heatmap", "contour")


@dataclass(frozen=True)
class LiveViewSpec:
    """What the live result view composes (see `engine.overlay.compose_live_view`)."""

    base: str = "colorized"
    """One of `BASE_VIEWS`."""
    mask_style: str = "heatmap"
    """One of `MASK_STYLES`."""
    blend_alpha: float = 0.5
    """Weight of the aligned day reference in ``"reference_blend"`` (0 = night only)."""

    def __post_init__(self) -> None:
        if self.base not in BASE_VIEWS:
            raise ValueError(f"base must be one of {BASE_VIEWS}, got {self.base!r}")
        if self.mask_style not in MASK_STYLES:
            raise ValueError(f"mask_style must be one of {MASK_STYLES}, got {self.mask_style!r}")
        if not 0.0 <= float(self.blend_alpha) <= 1.0:
            raise ValueError(f"blend_alpha must be in [0, 1], got {self.blend_alpha}")


def _default_leak_params() -> LeakMaskParams:
    from engine.leakmask import LeakMaskParams

    return LeakMaskParams()


@evented
@dataclass(eq=False)
class AppState:
    """Everything the operator has chosen, in one evented object.

    Each field has an event of the same name on ``state.events`` carrying the new value.
    """

    camera: Camera | None = None
    """The camera in use (any `engine.camera.Camera` backend)."""
    camera_spec: str = "sim"
    """How the camera was opened (``sim``, ``oak:ID``, ``webcam:0``, ``replay:PATH``)."""
    session: Session | None = None
    """The open experiment session (`engine.store` session) or None."""
    reference: np.ndarray | None = None
    """The day reference, RGB uint8 ``(H, W, 3)``, or None."""
    reference_source: str = ""
    """Where the reference came from, for the user (``frame #12``, ``burst of 8``, a path)."""
    reference_fixed_camera: bool = False
    """The reference was taken by the live camera itself (same device, not moved), so live
    registration uses the fixed-camera prior; False for a file from elsewhere."""
    reference_meta: FrameMeta | None = None
    """What the camera said about the reference's frame (None for a file or a fusion)."""
    reference_controls: dict[str, Any] | None = None
    """The camera controls in force when the reference's frame was taken (None for a file or
    a fusion): recorded with its capture, as ``nightlab capture`` records its own."""
    live: bool = False
    """Live colorization on."""
    view: LiveViewSpec = field(default_factory=LiveViewSpec)
    """What the live result view shows."""
    model_path: str = ""
    """The selected colorization model ("" = the shipped default)."""
    colorize_on: str = "host"
    """Where colorization runs: ``"host"`` (ONNX Runtime) or ``"camera"`` (an OAK's MyriadX)."""
    leak_params: LeakMaskParams = field(default_factory=_default_leak_params)
    """Leak-mask parameters used by live processing and captures."""
    recording: Session | None = None
    """The session a capture run is recording into while it runs (None otherwise): its
    captures go there whatever `session` says, so another session is not opened meanwhile."""

    def set_reference(
        self,
        image: np.ndarray | None,
        source: str = "",
        *,
        fixed_camera: bool = False,
        meta: FrameMeta | None = None,
        controls: dict[str, Any] | None = None,
    ) -> None:
        """Set the day reference and where it came from (one call, both events).

        ``fixed_camera``: taken by the live camera itself (see `reference_fixed_camera`);
        ``meta``: the camera's metadata of its frame (see `reference_meta`); ``controls``: the
        camera's controls in force when it was taken (see `reference_controls`)."""
        if image is not None:
            image = np.asarray(image)
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(
                    f"the day reference must be RGB uint8 (H, W, 3), got {image.dtype} "
                    f"{image.shape}"
                )
        self.reference_source = source if image is not None else ""
        self.reference_fixed_camera = bool(fixed_camera) and image is not None
        self.reference_meta = meta if image is not None else None
        self.reference_controls = dict(controls) if image is not None and controls else None
        self.reference = image
