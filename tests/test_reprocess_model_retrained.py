"""A worker that reprocesses with a model retrained over the same path keeps one session."""

from __future__ import annotations

import gc
import weakref

import cv2
import onnxruntime as ort
import skimage.data

from engine import to_gray, write_image
from engine.models import write_tiny_model
from engine.reprocess import PairJob, RunSpec, process_batch


def _live_sessions() -> list[ort.InferenceSession]:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, ort.InferenceSession)]


def test_a_model_retrained_over_the_same_path_releases_the_old_onnx_session(tmp_path):
    # Before: the worker's cache was keyed by (path, sha256, threads): every retrain over the
    # same path kept one more ONNX Runtime session (its weights and arena) for the
    # process's life
    data = tmp_path / "data"
    day = cv2.resize(skimage.data.astronaut(), (160, 120), interpolation=cv2.INTER_AREA)
    write_image(data / "captures/0001_day.png", day)
    write_image(data / "captures/0001_night.png", to_gray(day))
    job = PairJob(1, ("captures/0001_day.png",), "captures/0001_night.png")
    model = write_tiny_model(tmp_path / "models" / "tiny.onnx", gain=1.0)

    before = {id(s) for s in _live_sessions()}
    first = RunSpec.for_model(model, method="auto", motion="affine")
    [out] = process_batch([job], first, str(data))
    assert out.ok, out.error
    old = [weakref.ref(s) for s in _live_sessions() if id(s) not in before]
    assert len(old) == 1  # the worker keeps the model it loaded for the next batch

    write_tiny_model(model, gain=0.5)  # retrained: same path, other weights
    second = RunSpec.for_model(model, method="auto", motion="affine")
    assert second.model_sha256 != first.model_sha256
    [out] = process_batch([job], second, str(data))
    assert out.ok, out.error
    gc.collect()
    assert old[0]() is None, "the retrained model's old session is still held"
    # the new one is kept (the next batch with it loads nothing)
    assert [s for s in _live_sessions() if id(s) not in before]
