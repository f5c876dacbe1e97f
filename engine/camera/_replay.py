"""ReplayCamera: plays recorded frames again at a set rate, so an experiment repeats exactly.

Sources
-------
- a **video file** (whatever OpenCV's FFMPEG backend reads: ``.avi``, ``.mp4``, ``.mkv``...);
  if its first frame is gray (equal channels) every frame is delivered gray;
- a **folder of images** (``.png``, ``.jpg``, ``.tif``, ``.bmp``...), in natural name order
  (``f2`` before ``f10``); gray files stay gray, colour files are RGB;
- a single **image file** (a one-frame stream);
- a **saved session**: a folder with ``session.json`` and/or a ``captures/`` subfolder::

      SESSION/
        session.json          optional: {"fps": 10.0, "device_id": "...", "name": "...", ...}
        captures/
          0000_night.png      camera frame of capture 0: NNNN, optionally _day or _night
          0000.json           optional: FrameMeta.to_dict() of that frame
          0000_colorized.png  anything else (products: _colorized, _reference, _mask...)
          0001_day.png        is not a camera frame and is skipped
          0001.json

  The reader is tolerant: every JSON is optional and may hold any subset of the
  `FrameMeta` fields (``timestamp``, ``sequence``, ``device_id``, ``exposure_us``, ``iso``,
  ``white_balance_k``, ``lens_position``, ``ir_intensity``, ``mode``); other keys go to
  ``meta.extra``. A sidecar is found as ``<image stem>.json`` or ``NNNN.json``. If no file in
  the session follows the ``NNNN[_mode]`` naming, every image is played.
- a **session of a data folder** (``DATA/sessions/<uid>``): its ``captures/``, named in the
  window by the session's name (read from that data folder's store), not by its uid.

Replayed metadata: the recorded fields when present (the timestamp is the recorded capture
time); ``sequence`` counts delivered frames (it keeps increasing across loops, so
``wait_frame`` works); ``extra`` adds ``source`` (file name), ``index`` (position in the
recording), ``loop`` (how many times it wrapped) and ``recorded_sequence``.

Without ``loop`` the stream stops cleanly after the last frame (`StreamEnded`:
``is_streaming`` becomes False, ``streaming_changed(False)``, no disconnect events); starting
again replays from the first frame.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine._image import IMAGE_SUFFIXES, ImageError, read_image
from engine.atomic import special_file_kind
from engine.camera._base import (
    Camera,
    CameraError,
    CameraInfo,
    ControlSpec,
    Frame,
    FrameMeta,
    StreamEnded,
)
from engine.camera._pacing import FramePacer

__all__ = ["ReplayCamera"]

_CAPTURE_STEM = re.compile(r"^(?P<num>\d+)(?:_(?P<mode>day|night))?$")
#: a capture of a data folder's session: ``<UTC time>-<kind>[-mNN]-<random>`` (engine.store)
_STORE_STEM = re.compile(r"^\d{8}-\d{6}-\d{3}-(?P<mode>day|night)(?:-m\d+)?-[0-9a-f]+$")
_META_FIELDS = {
    "timestamp": float,
    "device_id": str,
    "exposure_us": int,
    "iso": int,
    "white_balance_k": int,
    "lens_position": int,
    "ir_intensity": float,
    "mode": str,
}


def _natural_key(path: Path) -> list:
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", path.name)]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _recorded_session_name(folder: Path) -> str | None:
    """The name of the session a data folder recorded in ``folder`` (``DATA/sessions/<uid>``),
    read from that data folder's record (no lock, no migration: a schema v2 record of an older
    NightLab is named too, where opening it as a read-only `Store` was refused and the folder's
    uid was shown); None for any other folder, or when the record cannot say."""
    from engine.store import recorded_session_name

    if folder.absolute().parent.name != "sessions":
        return None
    return recorded_session_name(folder.absolute().parent.parent, folder.name)


class ReplayCamera(Camera):
    """Replay a video file, an image folder or a saved session at a set rate.

    Parameters
    ----------
    source : str or Path
        Video file, image file, image folder or session folder (see the module docstring).
    fps : float, optional
        Playback rate. Default: the session's ``fps``, the video's rate, else 10.
    loop : bool
        Start over after the last frame (``False``: stop cleanly).

    Examples
    --------
    >>> cam = ReplayCamera("session_2024-05-01")  # doctest: +SKIP
    >>> [f.meta.extra["index"] for f in cam.frames()][:3]  # doctest: +SKIP
    [0, 1, 2]
    """

    def __init__(self, source: str | Path, *, fps: float | None = None, loop: bool = False):
        super().__init__()
        self.source = Path(source)
        self._fps_arg = fps
        self._specs = {
            "fps": ControlSpec("fps", "float", 10.0, 0.1, 240.0, unit="fps"),
            "loop": ControlSpec("loop", "bool", bool(loop)),
        }
        if fps is not None:
            self._specs["fps"].validate(fps)
        self._loop = bool(loop)
        self._kind = "unopened"
        self._files: list[Path] = []
        self._session: dict[str, Any] = {}
        self._cap: cv2.VideoCapture | None = None
        self._video_gray = False
        self._n_video = 0
        self._resolution = (0, 0)
        self._pacer = FramePacer(fps or 10.0)
        self._index = 0
        self._loops = 0
        self._seq = 0
        self._ended = False
        self._title = ""
        """The recorded session's name (empty for a video or a plain folder)."""

    # -- opening ---------------------------------------------------------------------------
    def _open(self) -> None:
        src = self.source
        if not src.exists():
            raise CameraError(f"replay: {src}: no such file or folder")
        if kind := special_file_kind(src):  # a FIFO without a writer: OpenCV would wait forever
            raise CameraError(f"replay: {src}: not a regular file ({kind}), not a video or image")
        if src.is_dir():
            self._open_folder(src)
        elif src.suffix.lower() in IMAGE_SUFFIXES:
            self._kind, self._files = "image", [src]
        else:
            self._open_video(src)
        if self._kind != "video":
            first = self._read_file(self._files[0])
            self._resolution = (first.shape[1], first.shape[0])
        fps = self._fps_arg or self._session.get("fps") or self._default_fps()
        try:
            fps = self._specs["fps"].validate(fps)
        except ValueError:
            fps = 10.0  # a recorded rate outside the range is not worth failing over
        self._specs["fps"] = ControlSpec("fps", "float", fps, 0.1, 240.0, unit="fps")
        self._pacer.fps = fps

    def _open_folder(self, folder: Path) -> None:
        session_file = folder / "session.json"
        captures = folder / "captures"
        is_session = session_file.is_file() or captures.is_dir()
        image_dir = captures if captures.is_dir() else folder
        files = sorted(
            (p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
            key=_natural_key,
        )
        if is_session:
            self._session = _read_json(session_file) if session_file.is_file() else {}
            frames = [p for p in files if _CAPTURE_STEM.match(p.stem)]
            files = frames or files
        if not files:
            raise CameraError(f"replay: no images ({', '.join(IMAGE_SUFFIXES)}) in {image_dir}")
        self._kind = "session" if is_session else "folder"
        self._files = files
        self._title = _recorded_session_name(folder) or self._session.get("name") or ""

    def _open_video(self, path: Path) -> None:
        cap = cv2.VideoCapture(str(path))
        ok, bgr = cap.read() if cap.isOpened() else (False, None)
        if not ok:
            cap.release()
            raise CameraError(f"replay: {path}: not a video or image file OpenCV can read")
        self._video_gray = bool(np.ptp(bgr.astype(np.int16), axis=2).max() <= 2)
        self._n_video = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        self._resolution = (bgr.shape[1], bgr.shape[0])
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        self._kind, self._cap = "video", cap

    def _default_fps(self) -> float:
        if self._cap is not None:
            rate = self._cap.get(cv2.CAP_PROP_FPS)
            if rate and np.isfinite(rate) and rate > 0:
                return float(rate)
        return 10.0

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    # -- Camera hooks ----------------------------------------------------------------------
    def _start_stream(self) -> None:
        if self._ended:  # starting again after the end replays from the top
            self.seek(0)
        self._pacer.reset()

    def _grab(self, timeout: float) -> Frame | None:
        if not self._pacer.wait(timeout):
            return None
        if self._kind == "video":
            return self._next_video_frame()
        if self._index >= len(self._files):
            if not self._loop:
                self._ended = True
                raise StreamEnded(f"replay: end of {self.source.name} ({len(self._files)} frames)")
            self._index, self._loops = 0, self._loops + 1
        i = self._index
        self._index += 1  # advance first: a corrupt file is reported once, then skipped
        return self._file_frame(i, self._next_seq())

    def _next_video_frame(self) -> Frame:
        ok, bgr = self._cap.read()
        if not ok:
            if not self._loop:
                self._ended = True
                raise StreamEnded(f"replay: end of {self.source.name} ({self._index} frames)")
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self._cap.read()
            if not ok:
                raise StreamEnded(f"replay: {self.source.name} cannot be read again")
            self._index, self._loops = 0, self._loops + 1
        i = self._index
        self._index += 1
        return self._video_frame(bgr, i, self._next_seq(), self._cap)

    def _next_seq(self) -> int:
        seq = self._seq
        self._seq += 1
        return seq

    def _capabilities(self) -> dict[str, ControlSpec]:
        return dict(self._specs)

    def _apply_control(self, name: str, value: Any) -> None:
        if name == "fps":
            self._pacer.fps = value
        elif name == "loop":
            self._loop = value

    @property
    def info(self) -> CameraInfo:
        return CameraInfo(
            backend="replay",
            device_id=str(self.source),
            name=f"Replay of {self._shown_name()} ({self._kind}, {len(self)} frames)",
            resolution=self._resolution,
            fps=self._pacer.fps,
            details={"kind": self._kind, "loop": self._loop, "folder": self.source.name},
        )

    def _shown_name(self) -> str:
        """What the operator calls the recording: a session by its name (a data folder's
        session folder is named by its uid, which told nobody which night it was); the uid
        stays in ``device_id`` (the path) and ``details["folder"]``."""
        if not isinstance(self._title, str) or not self._title.strip():
            return self.source.name
        return f"session {' '.join(self._title.split())!r}"

    # -- random access ---------------------------------------------------------------------
    def __len__(self) -> int:
        """Frames in the recording (for videos, the container's count, which may be 0)."""
        return self._n_video if self._kind == "video" else len(self._files)

    def seek(self, index: int) -> None:
        """Make frame ``index`` of the recording the next one streamed."""
        if self._kind == "video" and self._cap is not None:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, int(index))
        self._index, self._ended = int(index), False

    def frames(self) -> Iterator[Frame]:
        """Every frame of the recording once, in order, as fast as it can be read (no pacing,
        independent of streaming). Sequences count from 0."""
        self.open()
        if self._kind != "video":
            for i in range(len(self._files)):
                yield self._file_frame(i, i)
            return
        cap = cv2.VideoCapture(str(self.source))
        try:
            i = 0
            while True:
                ok, bgr = cap.read()
                if not ok:
                    return
                yield self._video_frame(bgr, i, i, cap)
                i += 1
        finally:
            cap.release()

    # -- frame construction ----------------------------------------------------------------
    def _read_file(self, path: Path) -> np.ndarray:
        try:
            return read_image(path, mode="any")
        except ImageError as exc:
            raise CameraError(f"replay: {exc}") from None

    def _file_frame(self, index: int, sequence: int) -> Frame:
        path = self._files[index]
        image = self._read_file(path)
        recorded = self._sidecar(path)
        mode = recorded.get("mode")
        if mode is None and (m := _CAPTURE_STEM.match(path.stem)) and m.group("mode"):
            mode = m.group("mode")
        if mode is None and (m := _STORE_STEM.match(path.stem)):
            mode = m.group("mode")  # a night capture of it then takes no day capture
        extra = {"source": path.name, "index": index, "loop": self._loops}
        return Frame(image, self._meta(recorded, sequence, extra, mode))

    def _video_frame(self, bgr: np.ndarray, index: int, sequence: int, cap) -> Frame:
        if self._video_gray:
            image = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        else:
            image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        extra = {
            "source": self.source.name,
            "index": index,
            "loop": self._loops,
            "video_time_s": cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0,
        }
        return Frame(image, self._meta({}, sequence, extra, None))

    def _sidecar(self, path: Path) -> dict[str, Any]:
        candidates = [path.with_suffix(".json")]
        if m := _CAPTURE_STEM.match(path.stem):
            candidates.append(path.with_name(f"{m.group('num')}.json"))
        for c in candidates:
            if c.is_file():
                return _read_json(c)
        return {}

    def _meta(self, recorded: dict, sequence: int, extra: dict, mode: str | None) -> FrameMeta:
        fields: dict[str, Any] = {}
        rest = dict(recorded)
        nested = rest.pop("extra", None)  # FrameMeta.to_dict keeps backend keys apart
        if nested is not None and not isinstance(nested, dict):
            rest["extra"], nested = nested, None
        for name, kind in _META_FIELDS.items():
            value = rest.pop(name, None)
            if value is None:
                continue
            try:
                fields[name] = kind(value)
            except (TypeError, ValueError):
                rest[name] = value  # keep what we could not read, untouched, in extra
        if "sequence" in rest:
            rest["recorded_sequence"] = rest.pop("sequence")
        for key, value in (nested or {}).items():  # never over a named field's leftover
            rest.setdefault(key, value)
        fields.setdefault("timestamp", time.time())
        fields.setdefault(
            "device_id", str(self._session.get("device_id") or f"replay:{self.source.name}")
        )
        if mode is not None:
            fields.setdefault("mode", mode)
        rest.update(extra)
        return FrameMeta(sequence=sequence, extra=rest, **fields)
