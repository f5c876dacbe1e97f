"""Reference colorization: keep the night L, predict ab, recombine at full resolution.

Host path: :func:`load_colorizer` -> :meth:`Colorizer.colorize`. The camera path runs the model
on the OAK and shares the rest: :func:`prepare_inputs` builds the tensors the card declares,
:func:`decode_output` turns the returned ab tensor into physical a, b, and :func:`recombine`
upsamples it guided by the night luminance and recombines (or, with
``RecombineParams(passthrough=...)``, passes the reference's own full-resolution chroma through
where it is not masked, corrected by the model). :class:`ReferenceTransferColorizer` is the
classical baseline every model is compared with.

Examples
--------
>>> import numpy as np
>>> from engine.colorize import ReferenceTransferColorizer
>>> night = np.full((48, 64), 90, np.uint8)
>>> reference = np.full((48, 64, 3), (40, 160, 60), np.uint8)
>>> ReferenceTransferColorizer().colorize(night, reference).rgb.shape
(48, 64, 3)
"""

from engine.colorize._colorizer import (
    Colorizer,
    OnnxColorizer,
    ReferenceTransferColorizer,
    load_colorizer,
)
from engine.colorize._coverage import fill_uncovered, reference_coverage
from engine.colorize._guided import (
    Workspace,
    box_mean,
    fast_guided_lab,
    fast_guided_upsample,
    guided_filter,
    guided_filter_ab,
)
from engine.colorize._recombine import (
    FALLBACKS,
    PASSTHROUGH_MODES,
    ColorizeResult,
    RecombineParams,
    ReferencePlanes,
    check_inputs,
    decode_output,
    encode_tensor,
    fed_reference_ab,
    model_res_planes,
    prepare_inputs,
    recombine,
    reference_planes,
    surround_tone,
)

__all__ = [
    "FALLBACKS",
    "PASSTHROUGH_MODES",
    "ColorizeResult",
    "Colorizer",
    "OnnxColorizer",
    "RecombineParams",
    "ReferencePlanes",
    "ReferenceTransferColorizer",
    "Workspace",
    "box_mean",
    "check_inputs",
    "decode_output",
    "encode_tensor",
    "fast_guided_lab",
    "fast_guided_upsample",
    "fed_reference_ab",
    "fill_uncovered",
    "guided_filter",
    "guided_filter_ab",
    "load_colorizer",
    "model_res_planes",
    "prepare_inputs",
    "recombine",
    "reference_coverage",
    "reference_planes",
    "surround_tone",
]
