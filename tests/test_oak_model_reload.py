"""A blob compiled again over the same path (``nightlab model to-blob ... --out
refcolor_s.blob`` rerun) is a model change on the camera path too, as it is on the host.

The device loads the blob from its path each time the pipeline is built (every open and
reconnect): before, `OakColorizer` kept the card it read first, so a rebuilt pipeline ran the
new blob under the old card (the old sha256, the old inputs). Now the card is read and checked
again when the files changed. Run on a real depthai host pipeline with a real blob (the
device's network played by `BlobStandIn`, shaped on the blob file at the colorizer's path);
the new blob is compiled by the local MyriadX compiler (skipped, with the reason, without it).
"""

from __future__ import annotations

import json

import pytest

from engine.camera import OakColorizer
from engine.models import (
    ModelError,
    card_path_for,
    compiler_status,
    default_model_path,
    sha256_file,
    to_blob,
)
from tests import test_camera_oak
from tests.model_files import copy_model
from tests.test_camera_oak import SHIPPED_BLOB, _run_host_pipeline, _scene

#: the FP16 camera variant the shipped blob is compiled from (the stand-in's network)
blob_source = test_camera_oak.blob_source


@pytest.fixture
def compiler():
    missing = compiler_status()
    if missing:
        pytest.skip("local MyriadX compiler not available: " + "; ".join(map(str, missing)))


@pytest.mark.slow
def test_a_blob_compiled_again_over_its_path_is_deployed_with_its_own_card(
    tmp_path, blob_source, compiler
):
    blob = copy_model(SHIPPED_BLOB, tmp_path / "models")
    frames, reference, leak = _scene(n=30)
    colorizer = OakColorizer.load(blob)
    old_sha = colorizer.card.sha256
    assert old_sha == sha256_file(SHIPPED_BLOB) and not colorizer.model_changed()
    network = _run_host_pipeline(tmp_path, colorizer, blob_source, frames, reference, leak, want=1)
    assert network.refused == [] and colorizer.results_received >= 1

    # the shipped command rerun over the same path, for 4 SHAVEs instead of 6: another blob
    to_blob(default_model_path(), dst=blob, camera_variant=True, shaves=4)
    new_sha = sha256_file(blob)
    assert new_sha != old_sha and colorizer.model_changed()

    before = colorizer.results_received
    network = _run_host_pipeline(  # the pipeline built again, as on a reconnect
        tmp_path, colorizer, blob_source, frames, reference, leak, want=before + 1
    )
    assert colorizer.card.sha256 == new_sha  # before: the old blob's sha256
    assert colorizer.io.info["shaves"] == 4 and not colorizer.model_changed()
    assert network.refused == [] and colorizer.results_received > before


def test_a_blob_written_over_by_one_that_cannot_run_on_the_camera_is_not_deployed(tmp_path):
    blob = copy_model(SHIPPED_BLOB, tmp_path / "models")
    colorizer = OakColorizer.load(blob)
    card = json.loads(card_path_for(blob).read_text())
    blob.write_bytes(blob.read_bytes() + b"\0")  # no longer the blob its card describes
    assert colorizer.model_changed()
    import depthai as dai

    pipeline = dai.Pipeline(createImplicitDevice=False)
    replay = pipeline.create(dai.node.ReplayVideo)
    with pytest.raises(ModelError, match="sha256 mismatch"):
        colorizer.build(pipeline, replay.out, manip_on_host=True)
    assert colorizer.card.sha256 == card["sha256"]  # the card of what was deployed before
