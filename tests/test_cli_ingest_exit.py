"""``nightlab ingest`` of a pair it cannot align: recorded (the inspector can align it by
hand), but the exit status says so -- 3, as ``nightlab process`` exits on such a pair.

Before: "pair 2 in session 1 (lab): NOT aligned: ..." and status 0, so a script ingesting a
night's archive could not tell the pairs that need the inspector from the good ones."""

from __future__ import annotations

import numpy as np

import cli
from engine._image import write_image
from engine.store import Store


def test_ingest_exits_3_for_a_pair_recorded_but_not_aligned_and_0_otherwise(
    tmp_path, monkeypatch, capsys
):
    import skimage.data

    data = tmp_path / "data"
    monkeypatch.setenv("NIGHTLAB_DATA_DIR", str(data))
    day = skimage.data.astronaut()[::4, ::4].copy()
    night = (day.mean(axis=2) * 0.5).astype(np.uint8)
    noise = np.random.default_rng(1).integers(0, 255, day.shape, np.uint8)  # nothing in common
    paths = {
        name: write_image(tmp_path / f"{name}.png", image)
        for name, image in (("day", day), ("night", night), ("noise", noise))
    }

    def ingest(day_name: str, *extra: str) -> int:
        argv = ["ingest", "--session", "lab", "--day", str(paths[day_name])]
        return cli.main([*argv, "--night", str(paths["night"]), *extra])

    assert ingest("noise") == 3
    assert "pair 1 in session 1 (lab): NOT aligned: " in capsys.readouterr().out
    assert ingest("day") == 0
    assert "pair 2 in session 1 (lab): aligned by" in capsys.readouterr().out
    assert ingest("noise", "--no-align") == 0  # not tried: nothing failed
    with Store(data, read_only=True) as store:
        p1, p2, p3 = store.pairs(session_id=1)
        assert p1.aligned_ok is False and p2.aligned_ok and p3.aligned_ok is None
