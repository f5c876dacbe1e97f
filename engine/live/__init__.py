"""Live capture state shared by the GUI and ``nightlab capture`` (Qt-free, evented).

Public API
----------
- `PairTracker(method=, motion=, leak_params=)`: the day `Reference` (one day image, or
  several fused in the first one's grid by `engine.reference.fuse_day_captures`, with the
  stability map the leak mask takes) and the last good matrix, reused as ``initial=`` for
  `engine.pipeline.process_pair` and reset on failure. ``set_reference``,
  ``clear_reference``, ``process(night, colorizer=None) -> PairResult``, ``reset``;
  events ``reference_changed``, ``processed``, ``lost``, ``reset``.
- `CapturePlan`: a capture run as data (every N s, a count or a ``start``/``end`` window, or
  listed ``times``; burst K; a day reference first, taken at once; controls);
  `parse_interval` ("10m"), `parse_clock` ("21:00").
- `CaptureRunner(camera, plan)`: runs a plan on its own thread (``start``, ``run``, ``pause``,
  ``resume``, ``cancel``, ``wait``); events ``started``, ``awaiting(remaining_s)``,
  ``frame_captured(Shot)``, ``missed(Missed)``, ``camera_lost``, ``camera_back(msg, gap_s)``,
  ``paused_changed``, ``error``, ``finished(reason)``.
- `DiskGuard(folder, bytes_per_capture=, floor_bytes=, disk_usage=)` (or
  ``DiskGuard.estimate(store, session_id, burst=, frame_shape=)``): free space against a
  plan (``check_plan`` -> `DiskStatus` ``ok``/``thin``/``short``/``full``), checked by the
  runner before each capture (``CaptureRunner(..., disk=guard)``); `captures_in_plan`,
  `parse_size`, `format_bytes`.
- `SessionRecorder(store, session_id, runner, tracker=None)`: the handler that records a run
  into the store (captures, pairs with alignment results, the session log).
"""

from engine.live._disk import (
    DEFAULT_FLOOR_BYTES,
    DiskGuard,
    DiskStatus,
    DiskUsage,
    captures_in_plan,
    format_bytes,
    parse_size,
)
from engine.live._plan import CapturePlan, parse_clock, parse_interval
from engine.live._recorder import RecorderEvents, SessionRecorder
from engine.live._runner import CaptureRunner, Missed, RunnerEvents, Shot
from engine.live._tracker import PairTracker, Reference, TrackerEvents

__all__ = [
    "DEFAULT_FLOOR_BYTES",
    "CapturePlan",
    "CaptureRunner",
    "DiskGuard",
    "DiskStatus",
    "DiskUsage",
    "Missed",
    "PairTracker",
    "RecorderEvents",
    "Reference",
    "RunnerEvents",
    "SessionRecorder",
    "Shot",
    "TrackerEvents",
    "captures_in_plan",
    "format_bytes",
    "parse_size",
    "parse_clock",
    "parse_interval",
]
