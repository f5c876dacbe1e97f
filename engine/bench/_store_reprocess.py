"""Reprocess throughput: the same task function serially and on a 2-worker LocalCluster.

24 pairs of 640x480 images (bundled photos, the night frame shifted by a known amount) in a
temporary data folder; the serial run and the cluster run use one onnxruntime thread per
process, so the ratio shows what worker processes buy on this machine. Cluster start-up is
timed apart (it is paid once per command, not per pair).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from engine.bench import BenchRow

N_PAIRS = 24


def _make_pairs(root: Path):
    import cv2
    import numpy as np
    import skimage.data

    from engine import to_gray, write_image
    from engine.reprocess import PairJob

    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
    jobs = []
    for i in range(N_PAIRS):
        day = cv2.resize(photos[i % len(photos)], (640, 480), interpolation=cv2.INTER_AREA)
        m = np.float32([[1, 0, 3 + i % 5], [0, 1, -2]])
        night = cv2.warpAffine(to_gray(day), m, (640, 480), borderMode=cv2.BORDER_REFLECT)
        write_image(root / f"c/{i:03d}_day.png", day)
        write_image(root / f"c/{i:03d}_night.png", night)
        jobs.append(PairJob(i, (f"c/{i:03d}_day.png",), f"c/{i:03d}_night.png"))
    return jobs


def rows(*, repeats: int) -> list[BenchRow]:
    from engine.reprocess import RunSpec, reprocess

    spec = RunSpec.for_model()
    with tempfile.TemporaryDirectory(prefix="nightlab-bench-") as tmp:
        jobs = _make_pairs(Path(tmp))
        serial = reprocess(jobs, spec, data_dir=tmp, serial=True)
        workers = min(2, os.cpu_count() or 1)
        cluster = reprocess(jobs, spec, data_dir=tmp, n_workers=workers, batch_size=4)
    ms_serial = 1e3 / serial.pairs_per_s
    ms_cluster = 1e3 / cluster.pairs_per_s
    return [
        BenchRow(
            stage=f"reprocess {N_PAIRS} pairs, LocalCluster {cluster.workers} workers",
            size="640x480",
            ours_ms=ms_cluster,
            reference="serial, same task function",
            reference_ms=ms_serial,
            note=(
                f"{cluster.pairs_per_s:.2f} vs {serial.pairs_per_s:.2f} pairs/s; "
                f"cluster start {cluster.startup_s:.1f} s not included"
            ),
        )
    ]
