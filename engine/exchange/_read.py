"""Open a bag for import and check everything about it before anything is written to the store.

Order (cheap and dangerous first, each failure one `BagRejected` line naming the file):

1. the container: for a zip, every central-directory entry (absolute or ``..`` paths,
   backslashes, symlinks and other non-regular members, encryption, duplicate or
   case-colliding names, count, sizes, compression ratio) before one byte is extracted; for a
   folder, every entry by ``lstat`` (symlinks, FIFOs, devices, depth, count, sizes);
2. the bag, with the ``bagit`` package: ``bagit.txt``, the manifests (unsafe paths), complete
   (no missing, no extra payload file); no ``fetch.txt``, no stray top-level file; the
   Payload-Oxum is compared here but a mismatch is reported after step 4, which names the file
   that changed size (the Oxum only counts bytes);
3. ``data/manifest.json``'s version (a 2.x bag is refused in one line before any hashing; for
   a zip, from its manifest member before anything is unpacked);
4. fixity: the sha256 of every payload and tag file against ``manifest-sha256.txt`` /
   ``tagmanifest-sha256.txt`` (for a zip, hashed while extracting; for a folder, one read);
5. the manifest: JSON Schema, ids and references, every file it names present and every
   payload file named, capture bytes matching their recorded sha256, PNG headers sane.

A zip is extracted into a private staging folder (checked for free space first) that
`OpenedBag.close` removes; a folder bag is read in place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import stat
import struct
import tempfile
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.atomic import PARTIAL_SUFFIX, special_file_kind
from engine.exchange._errors import BagRejected
from engine.exchange._limits import ImportLimits
from engine.exchange._manifest import check_version, manifest_files, validate_manifest
from engine.exchange._progress import ProgressCallback, Reporter

if TYPE_CHECKING:
    import bagit

__all__ = ["OpenedBag", "open_bag"]

# bagit logs each problem it finds; we turn them into one line ourselves (no stray stderr)
logging.getLogger("bagit").addHandler(logging.NullHandler())

#: staging folders are named ``<prefix><pid>-<random>.partial``
STAGING_PREFIX = ".nightlab-import-"
_CHUNK = 1 << 20
_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_GENERATED = ("manifest.json", "metrics.csv")
_PNG_COLOUR = {0: "gray", 2: "RGB", 3: "palette", 4: "gray+alpha", 6: "RGBA"}
#: channels -> the only PNG a capture of that many channels is (also every run output's kinds)
_PNG_KINDS = {1: "8-bit gray", 3: "8-bit RGB"}


@dataclass
class OpenedBag:
    """A bag that passed every check. Read its files with `path`; `close` it when done (a
    zip's staging folder is removed). Use as a context manager."""

    source: Path
    root: Path
    manifest: dict[str, Any]
    info: dict[str, Any]
    sha256: dict[str, str]
    """Path inside ``data/`` -> sha256 (verified)."""
    payload_bytes: int
    _staging: Path | None = field(default=None, repr=False)

    @property
    def staged(self) -> bool:
        """The files are a private extracted copy (a zip), removed on `close`: they may be
        moved elsewhere instead of copied."""
        return self._staging is not None

    def path(self, name: str) -> Path:
        """The verified file ``data/<name>``."""
        if name not in self.sha256:
            raise KeyError(f"data/{name} is not in the bag")
        return self.root / "data" / name

    def close(self) -> None:
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    def __enter__(self) -> OpenedBag:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def not_a_bag(src: Path) -> BagRejected:
    """The one line for a path that is neither a bag folder nor a readable zip.

    A zip whose end was cut off (an interrupted download or copy) still starts with the zip
    signature but has no central directory: say so, rather than "not a zip".
    """
    if kind := special_file_kind(src):  # reading a FIFO without a writer would never end
        return BagRejected(f"{src}: not a regular file ({kind}); neither a bag folder nor a zip")
    try:
        with open(src, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        return BagRejected(f"{src}: cannot read ({exc.strerror or exc})")
    if head.startswith(b"PK"):
        size = src.stat().st_size
        return BagRejected(
            f"{src}: damaged zip file, truncated or corrupt ({size} bytes, no zip directory "
            "at its end: an interrupted download or copy?)"
        )
    return BagRejected(f"{src}: neither a bag folder nor a zip file")


def open_bag(
    path: str | os.PathLike[str],
    *,
    limits: ImportLimits | None = None,
    progress: ProgressCallback | None = None,
    staging_dir: str | os.PathLike[str] | None = None,
) -> OpenedBag:
    """Check the bag at ``path`` (a folder or a ``.zip``) completely; return it opened.

    Blocking (hashes every byte once); call it from a worker thread in a GUI. ``progress``
    gets `Progress` reports (``"checking"`` and ``"verifying"`` for a folder, ``"unpacking"``
    for a zip) and may raise `Cancelled`.

    Raises
    ------
    BagRejected
        Anything wrong with the bag, in one line naming the file and the problem.
    FileNotFoundError
        ``path`` does not exist.

    Examples
    --------
    >>> with open_bag("night-42.zip") as bag:  # doctest: +SKIP
    ...     print(bag.manifest["session"]["name"], len(bag.manifest["pairs"]))
    night-42 118
    """
    limits = limits or ImportLimits()
    src = Path(path)
    if not src.exists():
        raise FileNotFoundError(f"{src}: no such file or folder")
    if special_file_kind(src):  # is_zipfile would wait forever on a FIFO without a writer
        raise not_a_bag(src)
    reporter = Reporter(progress)
    if src.is_dir():
        reporter.start("checking", 0)
        total = _scan_folder(src, limits)
        root, staging, hashes = src, None, None
    elif zipfile.is_zipfile(src):
        staging = Path(
            tempfile.mkdtemp(
                prefix=f"{STAGING_PREFIX}{os.getpid()}-", suffix=PARTIAL_SUFFIX, dir=staging_dir
            )
        )
        try:
            root, hashes, total = _extract_zip(src, staging, limits, reporter)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    else:
        raise not_a_bag(src)
    try:
        bag = _check_bag(src, root, total, limits, hashes, reporter)
        bag._staging = staging
        return bag
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise


# -- the container -----------------------------------------------------------------------


def check_one_bag(src: Path, tops: set[str], *, at_root: bool) -> None:
    """RFC 8493 5.2: a bag's zip holds one top folder, the bag; the bag at the zip's root is
    accepted too. ``tops``: the first path component of every member; ``at_root``: whether a
    file sits at the root. Raises `BagRejected` naming the folders."""
    if len(tops) > 1 and not at_root:
        shown = ", ".join(f"{t}/" for t in sorted(tops)[:3]) + (", …" if len(tops) > 3 else "")
        raise BagRejected(
            f"{src}: {len(tops)} top-level folders ({shown}); a bag's zip holds one folder, the bag"
        )


def _check_name(src: Path, name: str, limits: ImportLimits) -> list[str]:
    """The '/'-separated parts of a member name; `BagRejected` if it could escape or collide."""
    where = f"{src}: {name!r}"
    if len(name) > limits.max_path_chars:
        raise BagRejected(f"{where[:200]}…: path longer than {limits.max_path_chars} characters")
    if "\\" in name:
        raise BagRejected(f"{where}: backslash in a path (not portable, may escape the bag)")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise BagRejected(f"{where}: absolute path")
    if any(ord(c) < 32 or c == "\x7f" for c in name):
        raise BagRejected(f"{where}: control character in a path")
    parts = name.rstrip("/").split("/")
    if any(p in ("..", ".", "") for p in parts):
        raise BagRejected(f"{where}: path traversal ('..', '.' or an empty part)")
    if len(parts) > limits.max_depth:
        raise BagRejected(f"{where}: nested deeper than {limits.max_depth} folders")
    return parts


def _fold(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def _check_counts(src: Path, n: int, size: int, total: int, name: str, lim: ImportLimits) -> None:
    if n > lim.max_files:
        raise BagRejected(f"{src}: more than {lim.max_files} files")
    if size > lim.max_file_bytes:
        raise BagRejected(
            f"{src}: {name}: {size} bytes, more than the {lim.max_file_bytes} allowed"
        )
    if total > lim.max_total_bytes:
        raise BagRejected(f"{src}: more than {lim.max_total_bytes} bytes in all")


def _scan_folder(root: Path, limits: ImportLimits) -> int:
    """Walk by ``lstat``: only folders and regular files, within the limits. Returns bytes."""
    n = total = 0
    seen: dict[str, str] = {}
    stack = [(root, "")]
    while stack:
        folder, rel = stack.pop()
        with os.scandir(folder) as it:
            for entry in it:
                name = f"{rel}{entry.name}"
                try:
                    entry.name.encode("utf-8")
                except UnicodeEncodeError:
                    raise BagRejected(f"{root}: {name!r}: name is not valid UTF-8") from None
                parts = _check_name(root, name, limits)
                folded = _fold(name)
                if folded in seen:
                    raise BagRejected(
                        f"{root}: {name!r} and {seen[folded]!r} differ only in case or Unicode form"
                    )
                seen[folded] = name
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    raise BagRejected(f"{root / name}: symbolic link (not allowed in a bag)")
                if stat.S_ISDIR(st.st_mode):
                    if len(parts) >= limits.max_depth:
                        raise BagRejected(f"{root / name}: nested deeper than {limits.max_depth}")
                    stack.append((Path(entry.path), f"{name}/"))
                elif stat.S_ISREG(st.st_mode):
                    n += 1
                    total += st.st_size
                    _check_counts(root, n, st.st_size, total, name, limits)
                else:
                    raise BagRejected(f"{root / name}: not a regular file (device, FIFO or socket)")
    return total


def _extract_zip(
    src: Path, staging: Path, limits: ImportLimits, reporter: Reporter
) -> tuple[Path, dict[str, str], int]:
    """Check every member from the central directory, then extract, hashing as we go."""
    try:
        zf = zipfile.ZipFile(src)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise BagRejected(f"{src}: damaged zip ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_files:
            raise BagRejected(f"{src}: {len(infos)} entries, more than {limits.max_files}")
        seen: dict[str, str] = {}
        tops: set[str] = set()
        files: list[tuple[zipfile.ZipInfo, list[str]]] = []
        total = 0
        for info in infos:
            name = info.filename
            parts = _check_name(src, name, limits)
            folded = _fold(name.rstrip("/"))
            if folded in seen:
                raise BagRejected(
                    f"{src}: {name!r} appears twice (or collides with "
                    f"{seen[folded]!r} by case or Unicode form)"
                )
            seen[folded] = name
            mode = info.external_attr >> 16
            kind = stat.S_IFMT(mode)
            if info.create_system == 3 and kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                what = "symbolic link" if kind == stat.S_IFLNK else "not a regular file"
                raise BagRejected(f"{src}: {name}: {what} (not allowed in a bag)")
            if info.flag_bits & 0x1:
                raise BagRejected(f"{src}: {name}: encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise BagRejected(
                    f"{src}: {name}: unsupported compression (method {info.compress_type})"
                )
            tops.add(parts[0])
            if info.is_dir():
                continue
            total += info.file_size
            files.append((info, parts))
            _check_counts(src, len(files), info.file_size, total, name, limits)
            if info.file_size > (1 << 20) and (
                info.file_size > limits.max_ratio * max(info.compress_size, 1)
            ):
                raise BagRejected(
                    f"{src}: {name}: compression ratio "
                    f"{info.file_size / max(info.compress_size, 1):.0f}:1 is absurd (zip bomb?)"
                )
        at_root = any(len(p) == 1 for _, p in files)
        check_one_bag(src, tops, at_root=at_root)
        prefix = 1 if len(tops) == 1 and not at_root else 0
        _check_zip_version(src, zf, files, prefix, limits)
        free = shutil.disk_usage(staging).free
        if total + (64 << 20) > free:
            raise BagRejected(
                f"{src}: needs {total / 1e9:.1f} GB to unpack, "
                f"{free / 1e9:.1f} GB free in {staging.parent}"
            )
        reporter.start("unpacking", total)
        hashes: dict[str, str] = {}
        for info, parts in files:
            rel = "/".join(parts[prefix:])
            target = staging.joinpath(*parts[prefix:])
            h = hashlib.sha256()
            n = 0
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                # direct write: the import's staging folder, removed whole if unfinished
                with zf.open(info) as fin, open(target, "xb") as fout:
                    while chunk := fin.read(_CHUNK):
                        n += len(chunk)
                        if n > info.file_size:  # never trust the header's size
                            raise BagRejected(
                                f"{src}: {info.filename}: longer than its header says"
                            )
                        h.update(chunk)
                        fout.write(chunk)
                        reporter.advance(len(chunk), rel)
            except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
                raise BagRejected(f"{src}: {info.filename}: damaged ({exc})") from None
            except (FileExistsError, NotADirectoryError, IsADirectoryError):
                raise BagRejected(
                    f"{src}: {info.filename}: clashes with another entry (a file and a folder "
                    "of the same name)"
                ) from None
            hashes[rel] = h.hexdigest()
        reporter.finish()
    return staging, hashes, total


def _check_zip_version(
    src: Path,
    zf: zipfile.ZipFile,
    files: list[tuple[zipfile.ZipInfo, list[str]]],
    prefix: int,
    limits: ImportLimits,
) -> None:
    """Refuse a bag of another format version before unpacking it: its manifest is one small
    member. A manifest that cannot be read here is left to the full check, which says why."""
    for info, parts in files:
        if parts[prefix:] == ["data", "manifest.json"]:
            if info.file_size > limits.max_manifest_bytes:
                return
            try:
                manifest = json.loads(zf.read(info).decode("utf-8"))
            except (zipfile.BadZipFile, EOFError, zlib.error, ValueError, RecursionError):
                return
            check_version(manifest, where=f"{src}: data/manifest.json")
            return


# -- the bag -------------------------------------------------------------------------------


def _check_bag(
    src: Path,
    root: Path,
    total: int,
    limits: ImportLimits,
    hashes: dict[str, str] | None,
    reporter: Reporter,
) -> OpenedBag:
    import bagit

    if not (root / "bagit.txt").is_file():  # bagit's own line names our staging folder
        raise BagRejected(f"{src}: bagit.txt missing: not a BagIt bag")
    try:
        bag = bagit.Bag(str(root))
    except bagit.BagError as exc:
        raise BagRejected(f"{src}: not a valid bag: {_one_line(exc)}") from None
    if bag.version_info not in ((0, 97), (1, 0)):
        version = ".".join(map(str, bag.version_info))
        raise BagRejected(f"{src}: BagIt version {version} is not supported (0.97 or 1.0)")
    if "sha256" not in bag.algorithms or not (root / "manifest-sha256.txt").is_file():
        raise BagRejected(f"{src}: manifest-sha256.txt missing (sha256 is the checksum we verify)")
    if not (root / "tagmanifest-sha256.txt").is_file():
        raise BagRejected(f"{src}: tagmanifest-sha256.txt missing")
    if (root / "fetch.txt").exists():
        raise BagRejected(f"{src}: fetch.txt: remote payload files are not supported")
    if "Payload-Oxum" not in bag.info:
        raise BagRejected(f"{src}: bag-info.txt has no Payload-Oxum")
    tag_entries = {k for k in bag.entries if not k.startswith("data/")}
    for entry in sorted(os.listdir(root)):
        if entry == "data" or entry in ("bagit.txt", "tagmanifest-sha256.txt"):
            continue
        if entry.startswith(("manifest-", "tagmanifest-")) and entry.endswith(".txt"):
            continue
        if entry not in tag_entries:
            raise BagRejected(f"{src}: {entry}: unexpected file, not in the tag manifest")
    for name in sorted(tag_entries):
        if not (root / name).is_file():
            raise BagRejected(f"{src}: {name}: missing (listed in the tag manifest)")
    try:
        # completeness first, so the message names the file (the Oxum check only counts)
        only_in_manifest, only_on_disk = bag.compare_manifests_with_fs()
        if only_in_manifest:
            raise BagRejected(
                f"{src}: {sorted(only_in_manifest)[0]}: missing (listed in the manifest)"
            )
        if only_on_disk:
            raise BagRejected(f"{src}: {sorted(only_on_disk)[0]}: extra file, not in the manifest")
        oxum = _oxum_problem(bag)
    except bagit.BagValidationError as exc:
        raise BagRejected(f"{src}: {_explain(exc)}") from None
    except bagit.BagError as exc:
        raise BagRejected(f"{src}: {_one_line(exc)}") from None

    manifest = _load_manifest(src, root, limits)  # refuses a 2.x bag before hashing it all
    if hashes is None:
        hashes = _hash_all(root, bag, total, reporter)
    for name, algs in sorted(bag.entries.items()):
        if "sha256" not in algs:
            raise BagRejected(f"{src}: {name}: not in manifest-sha256.txt")
        got = hashes.get(name)
        if got is None:
            raise BagRejected(f"{src}: {name}: missing")
        if got != algs["sha256"].lower():
            raise BagRejected(f"{src}: {name}: changed since export (sha256 does not match)")
    if oxum:  # every file matches its sha256, yet the Oxum does not: bag-info.txt is wrong
        raise BagRejected(f"{src}: {oxum}")
    payload = {
        k[len("data/") :]: v["sha256"].lower()
        for k, v in bag.entries.items()
        if k.startswith("data/")
    }
    validate_manifest(manifest, bag_files=payload.keys(), where=f"{src}: data/manifest.json")
    _check_payload(src, root, manifest, payload, limits)
    return OpenedBag(
        source=src,
        root=root,
        manifest=manifest,
        info=dict(bag.info),
        sha256=payload,
        payload_bytes=sum((root / "data" / n).stat().st_size for n in payload),
    )


def _oxum_problem(bag: bagit.Bag) -> str:
    """The Payload-Oxum mismatch, if any, as a line to give only when no file is to blame.

    With the file lists complete, a wrong Oxum means a file changed size, and the fixity
    check that follows names that file ("data/x.png: changed since export"); the Oxum line
    alone ("expected 15494159 bytes, found 15494160") would leave the user to find it.
    """
    import bagit

    try:
        bag.validate(completeness_only=True)
    except bagit.BagValidationError as exc:
        msg = _explain(exc)
        if "Payload-Oxum" not in msg:
            raise
        return msg
    return ""


def _hash_all(root: Path, bag: bagit.Bag, total: int, reporter: Reporter) -> dict[str, str]:
    reporter.start("verifying", total)
    out = {}
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    for name in sorted(bag.entries):
        h = hashlib.sha256()
        with contextlib.suppress(FileNotFoundError), open(root / name, "rb") as f:
            while k := f.readinto(buf):
                h.update(view[:k])
                reporter.advance(k, name)
            out[name] = h.hexdigest()
    reporter.finish()
    return out


def _load_manifest(src: Path, root: Path, limits: ImportLimits) -> dict[str, Any]:
    path = root / "data" / "manifest.json"
    where = f"{src}: data/manifest.json"
    if not path.is_file():
        raise BagRejected(f"{where}: missing (not a NightLab export)")
    if path.stat().st_size > limits.max_manifest_bytes:
        raise BagRejected(f"{where}: larger than {limits.max_manifest_bytes} bytes")

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"), parse_constant=no_constants)
    except UnicodeDecodeError:
        raise BagRejected(f"{where}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BagRejected(f"{where}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except (ValueError, RecursionError) as exc:
        raise BagRejected(f"{where}: not valid JSON ({_one_line(exc)[:80]})") from None
    check_version(manifest, where=where)
    return manifest


def _check_payload(
    src: Path, root: Path, m: dict[str, Any], payload: dict[str, str], limits: ImportLimits
) -> None:
    named = manifest_files(m)
    for name in sorted(payload):
        if name not in named and name not in _GENERATED:
            raise BagRejected(f"{src}: data/{name}: not described by data/manifest.json")
    captures = {c["id"]: c for c in m["captures"]}
    for c in m["captures"]:
        if payload[c["file"]] != c["sha256"]:
            raise BagRejected(
                f"{src}: data/{c['file']}: bytes do not match the capture's recorded sha256"
            )
    for p in m["pairs"]:
        copies = [(p["files"]["night"], p["night"])]
        copies += list(zip(p["files"]["day"], p["days"], strict=True))
        for name, cid in copies:
            if payload[name] != captures[cid]["sha256"]:
                raise BagRejected(f"{src}: data/{name}: not the bytes of capture {cid}")
    # captures and their pair-folder copies (same bytes, checked above): their kind below
    capture_files = {c["file"] for c in m["captures"]}
    capture_files |= {f for p in m["pairs"] for f in (p["files"]["night"], *p["files"]["day"])}
    for name in sorted(named):
        if name.lower().endswith(".png"):
            w, h, kind = _png_header(src, root / "data" / name, name)
            if w * h > limits.max_image_pixels:
                raise BagRejected(f"{src}: data/{name}: {w}x{h} pixels is absurd")
            # what the record holds and the doc promises
            if kind not in _PNG_KINDS.values() and name not in capture_files:
                raise BagRejected(f"{src}: data/{name}: a {kind} PNG, not 8-bit gray or RGB")
    for c in m["captures"]:
        if c["file"].lower().endswith(".png"):
            w, h, kind = _png_header(src, root / "data" / c["file"], c["file"])
            if (w, h) != (c["width"], c["height"]):
                raise BagRejected(
                    f"{src}: data/{c['file']}: {w}x{h} pixels, the manifest says "
                    f"{c['width']}x{c['height']}"
                )
            if kind != _PNG_KINDS[c["channels"]]:
                raise BagRejected(
                    f"{src}: data/{c['file']}: a {kind} PNG, the manifest says "
                    f"{_PNG_KINDS[c['channels']]} ({c['channels']} channel"
                    f"{'s' * (c['channels'] != 1)})"
                )


def _png_header(src: Path, path: Path, name: str) -> tuple[int, int, str]:
    """Width, height and kind (``"8-bit gray"``, ``"16-bit RGBA"``...) from the IHDR chunk."""
    with open(path, "rb") as f:
        head = f.read(26)
    if len(head) < 26 or head[:8] != _PNG_SIG or head[12:16] != b"IHDR":
        raise BagRejected(f"{src}: data/{name}: not a PNG image")
    w, h, depth, colour = struct.unpack(">IIBB", head[16:26])
    return w, h, f"{depth}-bit {_PNG_COLOUR.get(colour, f'colour type {colour}')}"


def _explain(exc: Any) -> str:
    import bagit

    for d in getattr(exc, "details", []) or []:
        if isinstance(d, bagit.FileMissing):
            return f"{d.path}: missing (listed in the manifest)"
        if isinstance(d, bagit.UnexpectedFile):
            return f"{d.path}: extra file, not in the manifest"
        if isinstance(d, bagit.ChecksumMismatch):
            return f"{d.path}: changed since export (checksum does not match)"
    msg = _one_line(exc)
    if "Payload-Oxum" in msg:
        return f"bag-info.txt: {msg} (files added, removed or truncated)"
    return msg


def _one_line(exc: object) -> str:
    return " ".join(str(exc).split())
