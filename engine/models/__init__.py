"""Colorization models: the card contract, verification, inspection and conversion.

A model is any ONNX file, MyriadX ``.blob`` or depthai NN archive with a card
(``<model file>.card.json``, schema ``resources/model_card.schema.json``) beside it; the
contract is documented in ``resources/models/README.md``. Nothing here imports onnxruntime or
depthai at module import time.

Examples
--------
>>> from engine.models import inspect_model, check_against_card, load_card
>>> io = inspect_model("model.blob")  # doctest: +SKIP
>>> check_against_card(io, load_card("model.blob"))  # doctest: +SKIP
[]
"""

from engine.models._archive import NNArchive, read_nn_archive
from engine.models._camera_variant import (
    GrayToLPolynomial,
    default_camera_variant_path,
    fit_gray_to_l,
    with_gray_night_input,
)
from engine.models._card import (
    CARD_SUFFIX,
    ModelCard,
    ModelError,
    TensorSpec,
    card_path_for,
    card_schema,
    load_card,
    model_files_stamp,
    model_format,
    refuse_non_finite_card,
    sha256_file,
    validate_card_dict,
    verify_sha256,
    write_card,
)
from engine.models._convert import blob_precisions, to_blob
from engine.models._fp16 import (
    default_fp16_path,
    export_fp16,
)
from engine.models._inspect import (
    ModelIO,
    TensorIO,
    check_against_card,
    inspect_model,
    load_onnx_model,
)
from engine.models._myriad import (
    MyriadCompiler,
    ToolchainError,
    compiler_status,
    install_compiler,
    toolchain_dir,
)
from engine.models._tiny import tiny_card, write_tiny_model
from engine.models._verify import VerifiedModel, verify_model

__all__ = [
    "CARD_SUFFIX",
    "DEFAULT_BLOB_COMMAND",
    "DEFAULT_MODEL",
    "GrayToLPolynomial",
    "ModelCard",
    "ModelError",
    "ModelIO",
    "MyriadCompiler",
    "NNArchive",
    "TensorIO",
    "TensorSpec",
    "ToolchainError",
    "blob_precisions",
    "VerifiedModel",
    "card_path_for",
    "card_schema",
    "check_against_card",
    "compiler_status",
    "default_camera_variant_path",
    "default_fp16_path",
    "default_model_path",
    "export_fp16",
    "fit_gray_to_l",
    "inspect_model",
    "install_compiler",
    "load_card",
    "load_onnx_model",
    "model_files_stamp",
    "model_format",
    "read_nn_archive",
    "sha256_file",
    "tiny_card",
    "write_tiny_model",
    "to_blob",
    "toolchain_dir",
    "validate_card_dict",
    "verify_model",
    "verify_sha256",
    "with_gray_night_input",
    "refuse_non_finite_card",
    "write_card",
]

#: file name of the shipped default model inside the ``resources/models`` package folder
DEFAULT_MODEL = "refcolor_s.onnx"
#: the one command that builds the shipped on-camera blob from the shipped ONNX (run from the
#: repository root; rerun whenever refcolor_s.onnx changes)
DEFAULT_BLOB_COMMAND = (
    "nightlab model to-blob resources/models/refcolor_s.onnx --camera-variant "
    "--out resources/models/refcolor_s.blob"
)


def default_model_path():
    """Path of the shipped default model ``resources/models/refcolor_s.onnx`` (may not exist)."""
    from importlib.resources import files
    from pathlib import Path

    return Path(str(files("resources") / "models" / DEFAULT_MODEL))
