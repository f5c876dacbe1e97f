"""Colour-leak mask: where the aligned day reference shows a different scene than the night.

Images are numpy uint8 gray arrays ``(H, W)``; the reference must already be aligned onto
the night frame (see `alignment`).

- `ssim_map`: per-pixel SSIM, equal to scikit-image's ``structural_similarity(...,
  full=True)[1]`` within 1e-4 (float32 inputs to its float32 rounding) and several times
  faster for every dtype and window (`ssim_threads`: how many threads it would use).
- `leak_mask`: float32 mask in [0, 1], 1 = "the scene differs: take no reference colour
  here". Evidence: structure (gradient orientation, its thresholds following how well the
  two images agree over the frame), the night/reference luminance relation
  (flat changes such as clouds and canopies), and when given, a fused reference's stability
  map (`engine.reference`) and the night frame's own colour. `leak_mask_stages` also returns
  the intermediate maps and each cue; `LeakMaskParams` holds the parameters.
- `warm_kernels` / `warm_in_background`: load (or compile) the compiled kernels of the live
  path now / on a background thread (until then OpenCV serves the same maps).
"""

from engine.leakmask._mask import (
    LeakMaskParams,
    LeakMaskStages,
    leak_mask,
    leak_mask_stages,
    stages_from_similarity,
)
from engine.leakmask._similarity import NORMALIZATIONS, similarity_map
from engine.leakmask._ssim import SSIM_PARALLEL_PIXELS, ssim_map, ssim_threads
from engine.leakmask._warm import kernels_ready, warm_in_background, warm_kernels

__all__ = [
    "SSIM_PARALLEL_PIXELS",
    "NORMALIZATIONS",
    "LeakMaskParams",
    "LeakMaskStages",
    "leak_mask",
    "leak_mask_stages",
    "similarity_map",
    "ssim_map",
    "ssim_threads",
    "stages_from_similarity",
    "kernels_ready",
    "warm_in_background",
    "warm_kernels",
]
