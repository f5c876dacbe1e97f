"""`describe_bag`: what a bag says it holds, in a fraction of a second, for an import dialog or
``sessions import --check`` to show before the full check. It trusts nothing it shows: the
full check (`open_bag`) still runs before anything is imported."""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from engine.exchange._errors import BagRejected
from engine.exchange._limits import ImportLimits
from engine.exchange._manifest import check_version
from engine.exchange._read import _check_name, check_one_bag, not_a_bag

__all__ = ["BagSummary", "describe_bag"]


@dataclass(frozen=True)
class BagSummary:
    path: Path
    session_name: str
    session_uid: str
    operator: str
    format_version: str
    pairs: int
    captures: int
    runs: int
    payload_bytes: int
    """From Payload-Oxum (what the bag claims; the full check verifies it)."""
    payload_files: int
    selection: str


def describe_bag(path: str | os.PathLike[str], *, limits: ImportLimits | None = None) -> BagSummary:
    """Read ``bag-info.txt`` and ``data/manifest.json`` of a bag folder or zip (nothing is
    extracted or hashed). Raises `BagRejected` (one line) when they cannot be read or the
    format version is not 1.x.

    Examples
    --------
    >>> s = describe_bag("roof-night.zip")  # doctest: +SKIP
    >>> f"{s.session_name}: {s.pairs} pairs, {s.payload_bytes / 1e9:.1f} GB"  # doctest: +SKIP
    'roof night: 118 pairs, 1.2 GB'
    """
    limits = limits or ImportLimits()
    src = Path(path)
    if src.is_dir():
        info = _read_small(src / "bag-info.txt", 1 << 20, src)
        manifest = _read_small(src / "data" / "manifest.json", limits.max_manifest_bytes, src)
    elif src.is_file() and zipfile.is_zipfile(src):
        info, manifest = _read_zip(src, limits)
    elif not src.exists():
        raise FileNotFoundError(f"{src}: no such file or folder")
    else:
        raise not_a_bag(src)
    where = f"{src}: data/manifest.json"
    try:
        m = json.loads(manifest.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BagRejected(f"{where}: not valid JSON") from None
    check_version(m, where=where)
    tags = {}
    for line in info.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            tags.setdefault(key.strip(), value.strip())
    size, _, count = tags.get("Payload-Oxum", "0.0").partition(".")
    try:
        session, pairs = m["session"], m["pairs"]
        sel = m.get("selection", {})
        return BagSummary(
            path=src,
            session_name=str(session["name"]),
            session_uid=str(session["uid"]),
            operator=str(session.get("operator", "")),
            format_version=str(m["format_version"]),
            pairs=len(pairs),
            captures=len(m["captures"]),
            runs=sum(len(p.get("runs", ())) for p in pairs),
            payload_bytes=int(size) if size.isdigit() else 0,
            payload_files=int(count) if count.isdigit() else 0,
            selection="whole session"
            if sel.get("whole_session", True)
            else ", ".join(f"{k} {sel[k]}" for k in ("verdict", "tag") if sel.get(k)),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise BagRejected(f"{where}: missing or malformed {exc}") from None


def _read_small(path: Path, limit: int, src: Path) -> bytes:
    if path.is_symlink() or not path.is_file():
        raise BagRejected(f"{src}: {path.relative_to(src)}: missing (not a NightLab export)")
    if path.stat().st_size > limit:
        raise BagRejected(f"{src}: {path.relative_to(src)}: larger than {limit} bytes")
    return path.read_bytes()


def _read_zip(src: Path, limits: ImportLimits) -> tuple[bytes, bytes]:
    try:
        with zipfile.ZipFile(src) as zf:
            infos = zf.infolist()
            if len(infos) > limits.max_files:
                raise BagRejected(f"{src}: {len(infos)} entries, more than {limits.max_files}")
            found = {}
            tops, at_root = set(), False
            for info in infos:
                _check_name(src, info.filename, limits)  # the same refusals as the full check
                parts = info.filename.split("/")
                tops.add(parts[0])
                at_root |= len(parts) == 1 and not info.is_dir()
                tail = "/".join(parts[-2:]) if len(parts) >= 2 else info.filename
                if info.filename.count("/") <= 2 and (
                    parts[-1] == "bag-info.txt" or tail == "data/manifest.json"
                ):
                    found.setdefault(parts[-1], info)
            # as the full check does, before a summary that would describe one of two bags
            check_one_bag(src, tops, at_root=at_root)
            out = []
            for name, limit in (
                ("bag-info.txt", 1 << 20),
                ("manifest.json", limits.max_manifest_bytes),
            ):
                info = found.get(name)
                if info is None:
                    raise BagRejected(f"{src}: no {name} (not a NightLab export)")
                if info.file_size > limit:
                    raise BagRejected(f"{src}: {info.filename}: larger than {limit} bytes")
                with zf.open(info) as f:
                    out.append(f.read(limit + 1)[:limit])
            return out[0], out[1]
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise BagRejected(f"{src}: damaged zip ({exc})") from None
