"""Model cards: the JSON sidecar that states a model's contract, validated and hash-checked.

A card sits next to its model as ``<model file>.card.json`` (``refcolor_s.onnx.card.json``) and
is validated against ``resources/model_card.schema.json``; the rules the schema cannot express
(one tensor per role, channel counts, inputs at ``input_size``) are checked here. Every failure
is a :class:`ModelError` with a one-line message naming the file and the field.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.atomic import non_finite_field, write_bytes_atomic, write_json_atomic

if TYPE_CHECKING:
    import onnx

__all__ = [
    "CARD_SUFFIX",
    "ModelCard",
    "ModelError",
    "TensorSpec",
    "card_path_for",
    "model_files_stamp",
    "card_schema",
    "load_card",
    "model_format",
    "sha256_file",
    "validate_card_dict",
    "verify_sha256",
    "refuse_non_finite_card",
    "write_card",
]

CARD_SUFFIX = ".card.json"

#: channels each role carries (night/reference L: 1; a,b: 2)
ROLE_CHANNELS: dict[str, int] = {"night_l": 1, "ref_l": 1, "ref_ab": 2, "ab": 2}

_FORMAT_BY_SUFFIX = {
    ".onnx": "onnx",
    ".blob": "blob",
    ".tar.xz": "nnarchive",
    ".tar.gz": "nnarchive",
    ".tgz": "nnarchive",
    ".tar": "nnarchive",
}


class ModelError(ValueError):
    """A model or its card is unusable; the one-line message names the file and what mismatched."""


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor as the card declares it.

    ``tensor = physical * scale + offset``; for outputs ``physical = (tensor - offset) / scale``.
    ``encoding`` says what the physical value is: ``"linear"`` (the role's quantity, CIE L for
    ``night_l``) or ``"gray8"`` (``night_l`` only: the night frame's gray level 0..255, which
    the model itself converts to L).
    """

    name: str
    role: str
    layout: str
    shape: tuple[int, ...]
    dtype: str
    scale: float
    offset: float
    range: tuple[float, float] | None = None
    description: str = ""
    encoding: str = "linear"

    def _axis(self, letter: str) -> int:
        return self.shape[self.layout.index(letter)]

    @property
    def channels(self) -> int:
        return self._axis("C")

    @property
    def height(self) -> int:
        return self._axis("H")

    @property
    def width(self) -> int:
        return self._axis("W")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TensorSpec:
        rng = d.get("range")
        return cls(
            name=d["name"],
            role=d["role"],
            layout=d["layout"],
            shape=tuple(int(s) for s in d["shape"]),
            dtype=d["dtype"],
            scale=float(d["scale"]),
            offset=float(d["offset"]),
            range=None if rng is None else (float(rng[0]), float(rng[1])),
            description=d.get("description", ""),
            encoding=d.get("encoding", "linear"),
        )


@dataclass(frozen=True)
class ModelCard:
    """A validated model card. ``path`` is the card file; ``raw`` the JSON as read."""

    path: Path
    name: str
    version: str
    format: str
    file: str
    sha256: str
    input_size: tuple[int, int]
    """(width, height) the model runs at."""
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    fp16_tolerance: float | None = None
    pairs_used: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def model_path(self) -> Path:
        """The model file the card describes."""
        return self.path.parent / self.file

    def input(self, role: str) -> TensorSpec | None:
        """The input tensor playing ``role`` (``night_l``, ``ref_l``, ``ref_ab``), or None."""
        return next((t for t in self.inputs if t.role == role), None)

    @property
    def output(self) -> TensorSpec:
        """The ``ab`` output tensor."""
        return self.outputs[0]


def model_format(path: str | Path) -> str:
    """Model format from the file name: ``"onnx"``, ``"blob"`` or ``"nnarchive"``.

    Examples
    --------
    >>> model_format("refcolor_s.onnx"), model_format("net.tar.xz")
    ('onnx', 'nnarchive')
    """
    name = Path(path).name.lower()
    for suffix, fmt in sorted(_FORMAT_BY_SUFFIX.items(), key=lambda kv: -len(kv[0])):
        if name.endswith(suffix):
            return fmt
    raise ModelError(
        f"{path}: unsupported model format {Path(path).suffix or '(no suffix)'!r} "
        "(expected .onnx, .blob or an NN archive .tar.xz/.tar)"
    )


def card_path_for(model_path: str | Path) -> Path:
    """Where the card of ``model_path`` lives: ``<model file>.card.json`` beside it."""
    p = Path(model_path)
    return p.with_name(p.name + CARD_SUFFIX)


def model_files_stamp(path: str | Path) -> tuple:
    """What identifies the content of a model and its card without reading them: each file's
    (size, mtime_ns, inode), None for one missing. ``path`` is the model or its card.

    A model retrained and written over the same path (its card rewritten with the new sha256)
    gets another stamp, so a sha256 cached under the stamp is read again; under the path alone
    it was kept, and every run was refused as "model changed since the run was planned".
    """
    p = Path(path)
    if p.name.endswith(CARD_SUFFIX):
        files = (p.with_name(p.name[: -len(CARD_SUFFIX)]), p)
    else:
        files = (p, card_path_for(p))
    stamp = []
    for f in files:
        try:
            st = f.stat()
        except OSError:
            stamp.append(None)
        else:
            stamp.append((st.st_size, st.st_mtime_ns, st.st_ino))
    return (str(p), *stamp)


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@functools.cache
def card_schema() -> dict[str, Any]:
    """The JSON Schema of model cards (``resources/model_card.schema.json``)."""
    from importlib.resources import files

    return json.loads((files("resources") / "model_card.schema.json").read_text("utf-8"))


def _field_path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def validate_card_dict(card: dict[str, Any]) -> list[str]:
    """Problems with a card's content (schema + contract rules); empty when it is valid.

    Each problem is one line naming the field, e.g. ``"inputs[0].scale: 'x' is not of type
    'number'"``.

    Examples
    --------
    >>> validate_card_dict({"schema_version": 1})[0]
    "(top level): 'color_space' is a required property"
    """
    import jsonschema

    if not isinstance(card, dict):
        return [f"(top level): expected a JSON object, got {type(card).__name__}"]
    validator = jsonschema.Draft202012Validator(card_schema())
    errors = sorted(validator.iter_errors(card), key=lambda e: (list(e.absolute_path), e.message))
    problems = []
    for err in errors:
        best = jsonschema.exceptions.best_match([err])
        problems.append(f"{_field_path(best.absolute_path)}: {best.message}")
    if problems:
        return problems
    return _contract_problems(card)


def _contract_problems(card: dict[str, Any]) -> list[str]:
    problems = []
    width, height = card["input_size"]["width"], card["input_size"]["height"]
    for kind in ("inputs", "outputs"):
        seen_names, seen_roles = set(), set()
        for i, t in enumerate(card[kind]):
            where = f"{kind}[{i}]"
            if t["name"] in seen_names:
                problems.append(f"{where}.name: duplicate tensor name {t['name']!r}")
            if t["role"] in seen_roles:
                problems.append(f"{where}.role: role {t['role']!r} appears twice")
            seen_names.add(t["name"])
            seen_roles.add(t["role"])
            encoding = t.get("encoding", "linear")
            if encoding != "linear" and t["role"] != "night_l":
                problems.append(
                    f"{where}.encoding: {encoding!r} is only allowed on the night_l input, "
                    f"not on role {t['role']!r}"
                )
            if len(t["layout"]) != len(t["shape"]):
                problems.append(
                    f"{where}.shape: {t['shape']} has {len(t['shape'])} dims but layout "
                    f"{t['layout']} has {len(t['layout'])}"
                )
                continue
            spec = TensorSpec.from_dict(t)
            if "N" in spec.layout and spec.shape[spec.layout.index("N")] != 1:
                problems.append(f"{where}.shape: batch must be 1, got {spec.shape}")
            if spec.channels != ROLE_CHANNELS[spec.role]:
                problems.append(
                    f"{where}.shape: role {spec.role} needs {ROLE_CHANNELS[spec.role]} "
                    f"channel(s), shape {list(spec.shape)} has {spec.channels}"
                )
            if kind == "inputs" and (spec.width, spec.height) != (width, height):
                problems.append(
                    f"{where}.shape: {list(spec.shape)} is {spec.width}x{spec.height} but "
                    f"input_size is {width}x{height}"
                )
        if kind == "inputs":
            for role in ("night_l", "ref_ab"):
                if role not in seen_roles:
                    problems.append(f"inputs: no input with role {role!r} (required)")
    return problems


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError:
        raise ModelError(f"{path}: card is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: card is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    found = non_finite_field(data)  # Python's json reads the bare NaN no strict reader takes
    if found is not None:
        field, value = found
        raise ModelError(
            f"{path}: card is not valid JSON ({field} is {value!r}: NaN and infinities are "
            "not JSON)"
        )
    return data


def load_card(path: str | Path) -> ModelCard:
    """Read and validate the card of a model (pass the model file or the card itself).

    Parameters
    ----------
    path : str or Path
        ``model.onnx`` (its card ``model.onnx.card.json`` is read) or the card path.

    Returns
    -------
    ModelCard

    Raises
    ------
    ModelError
        Card missing, not JSON, not valid (the message names the field), or describing
        another file than ``path``.

    Examples
    --------
    >>> card = load_card("resources/models/refcolor_s.onnx")  # doctest: +SKIP
    >>> card.input_size  # doctest: +SKIP
    (256, 192)
    """
    p = Path(path)
    is_card = p.name.endswith(CARD_SUFFIX)
    card_path = p if is_card else card_path_for(p)
    if not card_path.is_file():
        raise ModelError(
            f"{p}: no model card (expected {card_path.name} beside it; "
            "see resources/models/README.md)"
        )
    data = _read_json(card_path)
    problems = validate_card_dict(data)
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ModelError(f"{card_path}: invalid card: {problems[0]}{more}")
    if not is_card and Path(data["file"]).name != p.name:
        raise ModelError(f"{card_path}: card describes {data['file']!r}, not {p.name!r}")
    expected_format = model_format(data["file"])
    if expected_format != data["format"]:
        raise ModelError(
            f"{card_path}: format: card says {data['format']!r} but {data['file']!r} "
            f"is a {expected_format} file name"
        )
    return ModelCard(
        path=card_path,
        name=data["name"],
        version=data["version"],
        format=data["format"],
        file=data["file"],
        sha256=data["sha256"],
        input_size=(data["input_size"]["width"], data["input_size"]["height"]),
        inputs=tuple(TensorSpec.from_dict(t) for t in data["inputs"]),
        outputs=tuple(TensorSpec.from_dict(t) for t in data["outputs"]),
        fp16_tolerance=data.get("fp16_tolerance"),
        pairs_used=tuple(data.get("training", {}).get("pairs_used", ())),
        raw=data,
    )


def verify_sha256(card: ModelCard) -> None:
    """Raise :class:`ModelError` unless the model file exists and its sha256 matches the card."""
    model = card.model_path
    if not model.is_file():
        raise ModelError(f"{card.path.name}: model file {card.file!r} not found beside the card")
    actual = sha256_file(model)
    if actual != card.sha256:
        raise ModelError(
            f"{model}: sha256 mismatch: card says {card.sha256[:12]}..., file is "
            f"{actual[:12]}... (model changed or wrong card)"
        )


def write_card(model_path: str | Path, card: dict[str, Any]) -> Path:
    """Write ``<model>.card.json`` for ``model_path``, filling in ``file``, ``format``, ``sha256``.

    The card is validated before it is written; an invalid card raises :class:`ModelError`
    and writes nothing.

    Examples
    --------
    >>> write_card("tiny.onnx", {"schema_version": 1, "name": "tiny", ...})  # doctest: +SKIP
    PosixPath('tiny.onnx.card.json')
    """
    p = Path(model_path)
    if not p.is_file():
        raise ModelError(f"{p}: model file not found")
    data = copy.deepcopy(card)
    data["file"] = p.name
    data.setdefault("format", model_format(p))
    data["sha256"] = sha256_file(p)
    out = card_path_for(p)
    refuse_non_finite_card(out, data)
    problems = validate_card_dict(data)
    if problems:
        raise ModelError(f"{p}: refusing to write an invalid card: {problems[0]}")
    write_json_atomic(out, data, non_finite="refuse")
    return out


def refuse_non_finite_card(card_path: str | Path, data: dict[str, Any]) -> None:
    """Raise :class:`ModelError` naming ``card_path`` and the field when a value of the card
    is NaN or infinite.

    A card is strict JSON (any reader, ``jq``, a partner's parser, can read it) and every
    value in it is a contract: a scale, an offset, a range, a metric. Python's `json` wrote
    the bare word ``NaN``, which no strict reader accepts; writing ``null`` instead would turn
    a wrong number into "not given" (the schema then refuses the card, or a reader takes a
    default), far from the step that produced it. So the card is refused, nothing written."""
    found = non_finite_field(data)
    if found is not None:
        field, value = found
        raise ModelError(
            f"{card_path}: refusing to write the card: {field} is {value!r}, which JSON cannot "
            "hold (NaN and infinities are not JSON)"
        )


def write_derived_model(
    model: onnx.ModelProto,
    dst: Path,
    *,
    src: Path,
    card: ModelCard | None,
    invalid: str,
    tool: str,
    note: str,
    edit_card: Callable[[dict], None],
) -> None:
    """Check an ONNX model derived from ``src`` (FP16 copy, camera variant) and write it to
    ``dst`` with, when the source has a ``card``, its own card: the source's as ``edit_card``
    changes it, ``derived_from`` naming the source and ``tool``, ``note`` added to its
    description. A model is never left without its card (it goes if the card cannot be
    written).

    ``invalid`` begins the error when ONNX's checker refuses the model (e.g. ``"export-fp16:
    converted model"``).
    """
    import onnx

    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ModelError(f"{invalid} is invalid ({str(exc).splitlines()[0]})") from None
    write_bytes_atomic(dst, model.SerializeToString())
    if card is None:
        return
    data = copy.deepcopy(card.raw)
    edit_card(data)
    data["derived_from"] = {"file": src.name, "sha256": card.sha256, "tool": tool}
    data["description"] = (data.get("description", "") + " " + note).strip()
    try:
        write_card(dst, data)
    except ModelError:
        dst.unlink(missing_ok=True)  # no model without its card
        raise


def check_derived_output(src: Path, dst: Path, what: str) -> None:
    """Refuse to derive a model (FP16 copy, camera variant) onto itself or as a non-ONNX file."""
    if not src.is_file():
        raise ModelError(f"{src}: model file not found")
    fmt = model_format(src)
    if fmt != "onnx":
        kind = "an NN archive" if fmt == "nnarchive" else "a MyriadX blob"
        raise ModelError(f"{src}: {what} needs an ONNX model (.onnx); this is {kind}")
    if dst.resolve() == src.resolve():
        raise ModelError(f"{dst}: output would overwrite the source model")
    if not dst.name.lower().endswith(".onnx"):
        raise ModelError(f"{dst}: {what} writes ONNX; the output name must end in .onnx")
