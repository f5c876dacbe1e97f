"""Open a model with its card and prove they agree, before anything runs it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.atomic import special_file_kind
from engine.models._card import (
    CARD_SUFFIX,
    ModelCard,
    ModelError,
    load_card,
    model_format,
    verify_sha256,
)
from engine.models._inspect import ModelIO, _what_is, check_against_card, inspect_model

__all__ = ["VerifiedModel", "verify_model"]


@dataclass(frozen=True)
class VerifiedModel:
    """A model file whose card validates, whose sha256 matches and whose I/O matches the card."""

    card: ModelCard
    io: ModelIO

    @property
    def path(self) -> Path:
        return self.card.model_path


def verify_model(path: str | Path) -> VerifiedModel:
    """Check a model file against its card: content, card schema, sha256, inputs/outputs.

    Parameters
    ----------
    path : str or Path
        The model file (``.onnx``, ``.blob``, NN archive) or its ``.card.json``.

    Returns
    -------
    VerifiedModel

    Raises
    ------
    ModelError
        One line naming what is wrong: missing file, unsupported format, not a model, missing
        or invalid card (with the field), sha256 mismatch, or the first I/O mismatch.

    Examples
    --------
    >>> verify_model("resources/models/refcolor_s.onnx").card.name  # doctest: +SKIP
    'nightlab-refcolor-s'
    """
    p = Path(path)
    if p.name.endswith(CARD_SUFFIX):
        card = load_card(p)
        p = card.model_path
        if not p.is_file():
            raise ModelError(
                f"{card.path.name}: model file {card.file!r} not found beside the card"
            )
    else:
        if not p.exists():
            raise ModelError(f"{p}: model file not found")
        if p.is_dir():
            raise ModelError(f"{p}: is a directory, not a model file")
        if kind := special_file_kind(p):  # reading a FIFO without a writer never ends
            raise ModelError(f"{p}: not a regular file ({kind}), not a model file")
        fmt = model_format(p)
        if fmt in ("onnx", "blob"):
            with open(p, "rb") as f:
                what = _what_is(f.read(8))
            if what:
                kind = "an ONNX model" if fmt == "onnx" else "a MyriadX blob"
                raise ModelError(f"{p}: not {kind} (the file is {what})")
        card = load_card(p)
    verify_sha256(card)
    io = inspect_model(p)
    problems = check_against_card(io, card)
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ModelError(f"{p} does not match its card: {problems[0]}{more}")
    return VerifiedModel(card=card, io=io)
