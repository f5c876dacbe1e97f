"""Read a depthai NN archive (``.tar.xz``/``.tar``: ``config.json`` + model executable) safely.

Nothing is ever extracted to disk by :mod:`tarfile`: members are read into memory after
checking them, so a hostile archive (absolute paths, ``..``, links, devices, huge members,
thousands of entries) cannot write anywhere or exhaust memory; it gets a one-line error.
"""

from __future__ import annotations

import json
import lzma
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from engine.models._card import ModelError

__all__ = ["NNArchive", "read_nn_archive"]

MAX_MEMBERS = 64
MAX_MEMBER_BYTES = 256 * 1024 * 1024
MAX_CONFIG_BYTES = 1024 * 1024
# everything a damaged tar / gzip / xz stream can raise while being read
_CORRUPT = (tarfile.TarError, EOFError, OSError, lzma.LZMAError, zlib.error)
EXECUTABLE_SUFFIXES = (".blob", ".superblob", ".onnx", ".dlc", ".xml", ".tflite")


@dataclass(frozen=True)
class NNArchive:
    """An NN archive read into memory: its parsed config and its model executable's bytes."""

    path: Path
    config: dict[str, Any]
    executable_name: str
    executable: bytes

    @property
    def executable_format(self) -> str:
        return PurePosixPath(self.executable_name).suffix.lstrip(".")


def _check_member(archive: Path, m: tarfile.TarInfo) -> str:
    name = m.name
    pure = PurePosixPath(name)
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise ModelError(f"{archive}: unsafe NN archive: absolute member path {name!r}")
    if ".." in pure.parts or "\\" in name:
        raise ModelError(f"{archive}: unsafe NN archive: member path {name!r} leaves the archive")
    if m.issym() or m.islnk():
        raise ModelError(f"{archive}: unsafe NN archive: member {name!r} is a link")
    if not (m.isfile() or m.isdir()):
        raise ModelError(f"{archive}: unsafe NN archive: member {name!r} is not a regular file")
    if m.size > MAX_MEMBER_BYTES:
        raise ModelError(
            f"{archive}: unsafe NN archive: member {name!r} is {m.size} bytes "
            f"(limit {MAX_MEMBER_BYTES})"
        )
    return str(pure)


def _read_member(tar: tarfile.TarFile, m: tarfile.TarInfo, limit: int) -> bytes:
    f = tar.extractfile(m)
    if f is None:  # pragma: no cover - regular files always have a stream
        raise ModelError(f"{m.name}: cannot read archive member")
    data = f.read(limit + 1)
    if len(data) > limit:
        raise ModelError(f"archive member {m.name!r} is larger than {limit} bytes")
    return data


def read_nn_archive(path: str | Path) -> NNArchive:
    """Read an NN archive's config and model executable, rejecting unsafe archives.

    Parameters
    ----------
    path : str or Path
        ``.tar.xz``, ``.tar.gz`` or ``.tar`` holding ``config.json`` (Luxonis NN archive v1:
        ``model.metadata.path`` names the executable) and the executable itself.

    Raises
    ------
    ModelError
        Not a tar archive, unsafe member (absolute path, ``..``, link, device, oversized),
        missing or invalid ``config.json``, or missing executable. One line.

    Examples
    --------
    >>> arc = read_nn_archive("refcolor_s.rvc2.tar.xz")  # doctest: +SKIP
    >>> arc.executable_name  # doctest: +SKIP
    'refcolor_s.blob'
    """
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"{p}: file not found")
    try:
        tar = tarfile.open(p, mode="r:*")
    except _CORRUPT:
        raise ModelError(f"{p}: not an NN archive (not a tar, tar.gz or tar.xz file)") from None
    try:
        return _read_archive(p, tar)
    except _CORRUPT as exc:  # truncated or corrupt compressed stream, anywhere in the file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"{p}: corrupt NN archive ({reason})") from None


def _read_archive(p: Path, tar: tarfile.TarFile) -> NNArchive:
    with tar:
        members: dict[str, tarfile.TarInfo] = {}
        try:
            for i, m in enumerate(tar):
                if i >= MAX_MEMBERS:
                    raise ModelError(f"{p}: unsafe NN archive: more than {MAX_MEMBERS} members")
                members[_check_member(p, m)] = m
        except _CORRUPT as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ModelError(f"{p}: corrupt NN archive ({reason})") from None
        config_names = [n for n in members if PurePosixPath(n).name == "config.json"]
        if not config_names:
            raise ModelError(f"{p}: NN archive has no config.json")
        config_name = min(config_names, key=len)
        try:
            raw = _read_member(tar, members[config_name], MAX_CONFIG_BYTES)
            config = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ModelError(f"{p}: config.json is not valid JSON UTF-8 text") from None
        try:
            exe = config["model"]["metadata"]["path"]
            config["model"]["inputs"], config["model"]["outputs"]  # noqa: B018 - presence check
        except (KeyError, TypeError):
            raise ModelError(
                f"{p}: config.json lacks model.metadata.path / model.inputs / model.outputs"
            ) from None
        if not isinstance(exe, str):
            raise ModelError(f"{p}: config.json model.metadata.path is not a string")
        base = PurePosixPath(config_name).parent
        candidates = [str(base / exe), exe]
        exe_name = next((c for c in candidates if c in members and members[c].isfile()), None)
        if exe_name is None:
            raise ModelError(f"{p}: config.json names executable {exe!r}, not in the archive")
        if not exe_name.lower().endswith(EXECUTABLE_SUFFIXES):
            raise ModelError(f"{p}: executable {exe_name!r} has an unknown model format")
        data = _read_member(tar, members[exe_name], MAX_MEMBER_BYTES)
    return NNArchive(path=p, config=config, executable_name=exe_name, executable=data)
