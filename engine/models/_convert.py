"""ONNX -> MyriadX ``.blob``: compiled locally (OpenVINO 2021.4's MYRIAD plugin), or online.

Local by default (:mod:`engine.models._myriad`: the pinned wheel's libraries and a small C++
tool, fetched and built once); ``online=True`` uses Luxonis' converters instead
(``blobconverter`` sends the model to Luxonis' compile service, ``modelconverter`` runs Docker
images; both need the network, probed with a short timeout first, and run under a deadline).

Either way :func:`to_blob` compiles the **FP16** model (an FP32 source is exported to FP16
first; ``camera_variant=True`` first makes the camera variant whose night input takes gray
levels), checks that every input and output its card declares comes back in the blob with the
expected shape and type, and writes the blob and its card atomically. The card records the
blob's sha256, the source model's sha256, the compiler and its version, and the options.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

from engine.models._card import (
    ModelCard,
    ModelError,
    card_path_for,
    load_card,
    refuse_non_finite_card,
    sha256_file,
    validate_card_dict,
)
from engine.models._inspect import inspect_model, load_onnx_model
from engine.models._online import (
    BLOBCONVERTER_HOST,
    blobconverter_blob,
    find_tool,
    modelconverter_blob,
)

__all__ = ["BLOBCONVERTER_HOST", "blob_precisions", "to_blob"]

_DTYPE_OF = {"U8": "uint8", "FP16": "float16", "FP32": "float32"}
_TOOL = "nightlab model to-blob"


def blob_precisions(card: ModelCard, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The compile precision of every input: U8 where the camera feeds gray levels, else FP16.

    A night input with ``encoding: "gray8"`` (a camera variant) is U8: the camera's resize
    stage feeds it GRAY8 frames directly. Every other input carries scaled floats (L/100,
    ab/128) that U8 would truncate, so it stays FP16 (host-fed through ``NNData``).
    ``overrides`` (name -> ``U8``/``FP16``/``FP32``) win, but U8 is refused for an input whose
    card says it carries anything other than 0..255 levels.

    Examples
    --------
    >>> blob_precisions(load_card("refcolor_s_camera.onnx"))  # doctest: +SKIP
    {'night_gray': 'U8', 'ref_l': 'FP16', 'ref_ab': 'FP16'}
    """
    out = {t.name: ("U8" if t.encoding == "gray8" else "FP16") for t in card.inputs}
    for name, prec in (overrides or {}).items():
        prec = prec.upper()
        if name not in out:
            raise ModelError(
                f"{card.file}: --input-precision names no input {name!r} (has: {', '.join(out)})"
            )
        if prec not in _DTYPE_OF:
            raise ModelError(f"input {name!r}: precision must be U8, FP16 or FP32, got {prec!r}")
        spec = next(t for t in card.inputs if t.name == name)
        levels = spec.encoding == "gray8" or (spec.scale == 1.0 and spec.range == (0.0, 255.0))
        if prec == "U8" and not levels:
            lo, hi = spec.range or ("?", "?")
            raise ModelError(
                f"input {name!r}: U8 would truncate its values ({lo}..{hi}); U8 suits inputs "
                "fed 0..255 levels from the camera (encoding gray8)"
            )
        out[name] = prec
    return out


def compile_params(src: Path) -> list[str]:
    """Online compile-tool flags for ``src``: ``-ip FP16`` plus ``-iop`` for U8 inputs."""
    params = ["-ip FP16"]
    if card_path_for(src).is_file():
        u8 = [n for n, p in blob_precisions(load_card(src)).items() if p == "U8"]
        if u8:
            params.append("-iop " + ",".join(f"{name}:U8" for name in u8))
    return params


def _local_compiler(log):
    from engine.models._myriad import ToolchainError, compiler_status, install_compiler

    system = [m for m in compiler_status() if not m.command.startswith("nightlab")]
    if system:
        raise ModelError(
            "to-blob: the local MyriadX compiler needs "
            + "; ".join(str(m) for m in system)
            + " -- or compile online with --online"
        )
    try:
        return install_compiler(log=log)
    except ToolchainError as exc:
        raise ModelError(f"to-blob: local MyriadX compiler: {exc} -- or use --online") from None


def _prepare_source(src: Path, work: Path, camera_variant: bool, log) -> tuple[Path, list[str]]:
    """The FP16 model to compile (camera variant first if asked), made in ``work``."""
    from engine.models._camera_variant import with_gray_night_input
    from engine.models._fp16 import export_fp16

    steps = []
    model = src
    if camera_variant:
        model = with_gray_night_input(model, dst=work / f"{src.stem}_camera.onnx")
        steps.append("camera-variant")
        log("camera variant: the night input takes the camera's gray levels (U8)")
    has_card = card_path_for(model).is_file()
    fp32_io = has_card and any(
        t.dtype == "float32" for t in (*load_card(model).inputs, *load_card(model).outputs)
    )
    if fp32_io or (not has_card and _onnx_has_fp32_io(model)):
        model = export_fp16(model, dst=work / f"{model.stem}_fp16.onnx")
        steps.append("export-fp16")
        log("FP16 export: weights and graph I/O in float16")
    return model, steps


def _onnx_has_fp32_io(path: Path) -> bool:
    io = inspect_model(path)
    return any(t.dtype == "float32" for t in (*io.inputs, *io.outputs))


def _check_blob(
    blob: Path, card: ModelCard, precisions: dict[str, str], out_prec: str
) -> list[str]:
    """Every input/output the card declares, in the blob with the card's shape and the type
    it was compiled for."""
    io = inspect_model(blob)
    real = {t.name: t for t in (*io.inputs, *io.outputs)}
    problems = []
    expected = [(t, "input", _DTYPE_OF[precisions[t.name]]) for t in card.inputs]
    expected += [(t, "output", _DTYPE_OF[out_prec]) for t in card.outputs]
    for spec, kind, dtype in expected:
        got = real.pop(spec.name, None)
        if got is None:
            problems.append(f"{kind} {spec.name!r} missing from the blob")
            continue
        if tuple(got.shape) != tuple(spec.shape):
            shapes = f"shape {list(got.shape)}, card {list(spec.shape)}"
            problems.append(f"{kind} {spec.name!r}: {shapes}")
        if got.dtype != dtype:
            problems.append(f"{kind} {spec.name!r}: {got.dtype} in the blob, expected {dtype}")
        if got.layout and got.layout != spec.layout:
            problems.append(f"{kind} {spec.name!r}: layout {got.layout}, card {spec.layout}")
    problems += [f"{name!r} in the blob but not in the card" for name in real]
    return problems


def to_blob(
    src: str | Path,
    *,
    dst: str | Path | None = None,
    shaves: int = 6,
    cmx_slices: int | None = None,
    input_precision: dict[str, str] | None = None,
    output_precision: str = "FP16",
    camera_variant: bool = False,
    online: bool = False,
    tool: str = "auto",
    timeout: float = 300.0,
    host: str = BLOBCONVERTER_HOST,
    port: int = 443,
    log=None,
) -> Path:
    """Compile an ONNX model to a MyriadX blob and write the blob's card beside it.

    Parameters
    ----------
    src : str or Path
        ONNX model (FP32 or FP16) with its card (checked first). Without a card the blob is
        compiled but not checked and no card is written.
    dst : str or Path, optional
        Output ``.blob`` (keyword-only, like every option); default ``<stem>.blob`` beside
        ``src``.
    shaves, cmx_slices : int
        SHAVE cores and CMX slices to compile for (1..16; default 6 and as many slices as
        shaves: leaves room for the camera's other nodes).
    input_precision : dict, optional
        Input name -> ``"U8"``/``"FP16"``/``"FP32"``; default from the card
        (:func:`blob_precisions`: U8 for the camera-fed gray night input, FP16 otherwise).
    output_precision : {"FP16", "FP32"}
    camera_variant : bool
        First make the camera variant (``nightlab model camera-variant``): the night input
        takes the camera's gray levels. This is how the shipped blob is built.
    online : bool
        Use Luxonis' converter (``tool``) instead of the local compiler.
    timeout : float
        Deadline in seconds for the compile.
    host, port : str, int
        The online service ``blobconverter`` talks to, probed before converting.
    log : callable, optional
        Receives one line per step.

    Returns
    -------
    Path
        The written blob.

    Raises
    ------
    ModelError
        Source not a model or its card stale, local compiler missing a piece (each named with
        the command that installs it), compile failed, blob not matching the card: one line.

    Examples
    --------
    >>> to_blob("refcolor_s.onnx", dst="refcolor_s.blob", camera_variant=True)  # doctest: +SKIP
    PosixPath('refcolor_s.blob')
    """
    from engine.atomic import StagedOutputs, write_bytes_atomic, write_json_atomic
    from engine.models._verify import verify_model

    say = log or (lambda _msg: None)
    src = Path(src)
    if not src.is_file():
        raise ModelError(f"{src}: model file not found")
    cmx_slices = shaves if cmx_slices is None else cmx_slices
    for what, n in (("shaves", shaves), ("cmx_slices", cmx_slices)):
        if not 1 <= n <= 16:
            raise ValueError(f"{what} must be in 1..16, got {n}")
    output_precision = output_precision.upper()
    if output_precision not in ("FP16", "FP32"):
        raise ModelError(f"output precision must be FP16 or FP32, got {output_precision!r}")
    load_onnx_model(src)  # not an ONNX model -> clear error before any tool or network
    dst = src.with_suffix(".blob") if dst is None else Path(dst)
    if dst.suffix.lower() != ".blob":
        raise ModelError(f"{dst}: output name must end in .blob")
    has_card = card_path_for(src).is_file()
    if has_card:
        # a stale or wrong card is refused before compiling; so is a value the blob's card
        # could not hold (NaN, infinity: not JSON), before minutes of compiling
        refuse_non_finite_card(card_path_for(dst), verify_model(src).card.raw)
    elif camera_variant:
        raise ModelError(f"{src}: no model card; the camera variant needs it")
    if online:
        name, exe = find_tool(tool)
        if cmx_slices != shaves:
            raise ModelError("to-blob --online: CMX slices follow the shaves; drop --cmx-slices")
    else:
        compiler = _local_compiler(say)

    with tempfile.TemporaryDirectory(prefix="nightlab-to-blob-") as tmp:
        work = Path(tmp)
        model, steps = _prepare_source(src, work, camera_variant, say)
        card = load_card(model) if has_card else None
        if card is not None:
            precisions = blob_precisions(card, input_precision)
        else:
            names = [t.name for t in inspect_model(model).inputs]
            precisions = {n: "FP16" for n in names}
            for n, p in (input_precision or {}).items():
                if n not in precisions:
                    raise ModelError(f"{src}: --input-precision names no input {n!r}")
                precisions[n] = p.upper()
        produced = work / "compiled.blob"
        options = dict(shaves=shaves, precisions=precisions, output_precision=output_precision,
                       timeout=timeout)  # fmt: skip
        if online:
            compiled = _compile_online(name, exe, model, produced, host=host, port=port, **options)
        else:
            say(f"compiling with {compiler.description}, {shaves} shaves, {cmx_slices} slices")
            compiled = _compile_local(compiler, model, produced, cmx_slices=cmx_slices, **options)
            say(f"compiled in {compiled.pop('seconds'):.1f} s")
        if card is not None:
            problems = _check_blob(produced, card, precisions, output_precision)
            if problems:
                more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
                raise ModelError(f"to-blob: the compiled blob does not match the card: "
                                 f"{problems[0]}{more}")  # fmt: skip
        data = produced.read_bytes()
        compiled.update(
            shaves=shaves,
            cmx_slices=cmx_slices,
            input_precisions=dict(sorted(precisions.items())),
            output_precision=output_precision,
            steps=[*steps, "compile"],
        )
        card_data = None
        if card is not None:
            card_data = _blob_card(card, src, dst, data, precisions, output_precision, compiled)
        # blob and card move into place together, the card last (it commits the pair): a
        # failure or an interrupt leaves the previous blob and card as they were
        card_name = card_path_for(dst).name
        if card_data is not None:  # before anything moves: the previous pair stays
            refuse_non_finite_card(card_path_for(dst), card_data)
        with StagedOutputs(
            dst.parent,
            marker=card_name if card_data is not None else None,
            replaces=(dst.name, card_name),
        ) as stage:
            write_bytes_atomic(stage.path(dst.name), data)
            if card_data is not None:
                write_json_atomic(stage.path(card_name), card_data, non_finite="refuse")
    return dst


def _compile_online(name, exe, model, produced, *, shaves, precisions, output_precision,
                    timeout, host, port) -> dict:  # fmt: skip
    out_dir = produced.parent / "online"
    out_dir.mkdir()
    if name == "blobconverter":
        blob = blobconverter_blob(
            model, out_dir, shaves, precisions, output_precision, timeout, host, port
        )
    else:
        blob = modelconverter_blob(exe, model, out_dir, timeout)
    blob.replace(produced)
    return {"compiler": f"Luxonis {name} (online)", "compiler_version": "unknown"}


def _compile_local(compiler, model, produced, *, shaves, cmx_slices, precisions,
                   output_precision, timeout) -> dict:  # fmt: skip
    try:
        report = compiler.compile(
            model,
            produced,
            shaves=shaves,
            cmx_slices=cmx_slices,
            input_precisions=precisions,
            output_precision=output_precision,
            timeout=timeout,
        )
    except Exception as exc:  # ToolchainError, ValueError: one line
        raise ModelError(f"to-blob: {exc}") from None
    return {
        "compiler": compiler.description,
        "compiler_version": compiler.version,
        "tool_sha256": compiler.tool_sha256,
        "seconds": report.seconds,
    }


def _blob_card(card, src: Path, dst: Path, data: bytes, precisions, out_prec, compiled) -> dict:
    import hashlib

    d = copy.deepcopy(card.raw)
    for t in d["inputs"]:
        t["dtype"] = _DTYPE_OF[precisions[t["name"]]]
    for t in d["outputs"]:
        t["dtype"] = _DTYPE_OF[out_prec]
    d.update(format="blob", file=dst.name, sha256=hashlib.sha256(data).hexdigest())
    d["precision"] = "fp16"
    d["derived_from"] = {"file": src.name, "sha256": sha256_file(src), "tool": _TOOL}
    d["compiled"] = compiled
    d["target_devices"] = ["myriadx"]
    problems = validate_card_dict(d)
    if problems:
        raise ModelError(f"{dst}: refusing to write an invalid card: {problems[0]}")
    return d
