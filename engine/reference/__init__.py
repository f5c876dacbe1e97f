"""A clean day reference from several day frames of a fixed scene.

One day frame carries whatever was there that day: people, vehicles, a market's tents, clouds.
`fuse_references` aligns every day frame onto the night frame and takes a robust per-pixel
median after matching each frame's exposure and colour cast, so transients that appear in few
frames disappear; it also returns a **stability map** (where the day frames disagree), which
`engine.leakmask.leak_mask` takes as a cue.

- `fuse_references`: align + fuse -> `FusedReference` (image, stability, valid, count, every
  frame's alignment, the frames used).
- `fuse_day_captures`: the day captures of a stored pair, registered onto one of them (the
  anchor) and fused in its grid -> `FusedReference` (what the live tracker, ``ingest``, the
  inspector and ``reprocess`` use, so one stored registration fits every rebuild).
- `fuse_aligned`: fuse frames already on one grid -> `FusedStack`.
- `DayCaptureList`: the day captures an operator keeps for a fusion (evented; add, remove,
  clear), each a `KeptCapture` with the camera's metadata.
- `FuseParams`: coverage, photometric matching and the stability scale.

Examples
--------
>>> import numpy as np, skimage.data
>>> from engine.reference import fuse_references
>>> scene = skimage.data.astronaut()[::2, ::2]
>>> days = [np.roll(scene, s, axis=1) for s in (0, 2, -3)]   # a camera that shifts a little
>>> night = scene.mean(axis=2).astype(np.uint8)
>>> ref = fuse_references(days, night, registration="translation")
>>> ref.used, ref.stability.shape
((0, 1, 2), (256, 256))
"""

from engine.reference._days import COMBINE, fuse_day_captures
from engine.reference._fuse import FusedStack, FuseParams, fuse_aligned
from engine.reference._kept import KEPT_LIMIT, DayCaptureEvents, DayCaptureList, KeptCapture
from engine.reference._reference import (
    NO_COLOUR,
    REGISTRATIONS,
    FusedReference,
    colour_frames,
    describe_fusion,
    fuse_references,
    register_day_frame,
)

__all__ = [
    "COMBINE",
    "KEPT_LIMIT",
    "DayCaptureEvents",
    "DayCaptureList",
    "KeptCapture",
    "NO_COLOUR",
    "REGISTRATIONS",
    "colour_frames",
    "describe_fusion",
    "FuseParams",
    "FusedReference",
    "FusedStack",
    "fuse_aligned",
    "fuse_day_captures",
    "fuse_references",
    "register_day_frame",
]
