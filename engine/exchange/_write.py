"""Write a BagIt bag (RFC 8493, version 1.0) as a folder or as one zip, atomically.

Why not ``bagit.make_bag``: it ``os.chdir``s the whole process while it works (the GUI exports
on a worker thread while the camera and store threads use paths), it writes ``BagIt-Version:
0.97`` rather than RFC 8493's 1.0, it hashes the payload in a second full read after the copy
and it has no progress hook. The tag files are a few lines of text, so we write them here,
hashing each payload file while copying it (one read), and the ``bagit`` package *validates*
what we wrote: on import (`engine.exchange.open_bag`) and in the tests.

A folder bag is built in a hidden sibling folder and renamed into place when complete; a zip
goes through `engine.atomic.atomic_write`. A failure or a `Cancelled` at any moment leaves
nothing at ``out``. PNGs go into the zip stored (they are compressed already); text deflated.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from engine.atomic import PARTIAL_SUFFIX, WriteError, atomic_write, fsync_dir, fsync_files
from engine.exchange._csv import metrics_csv
from engine.exchange._manifest import validate_manifest
from engine.exchange._progress import ProgressCallback, Reporter

__all__ = ["BagPlan", "ExportResult", "write_bag"]

_CHUNK = 1 << 20
_STORED_SUFFIXES = (".png", ".jpg", ".jpeg", ".zip", ".gz", ".onnx")


@dataclass(frozen=True)
class BagPlan:
    """What goes into a bag: the manifest and, for every file it names, where the bytes are.

    ``sources`` maps a path inside ``data/`` (as the manifest names it) to the file to copy;
    ``expected_sha256`` (optional, same keys) is checked while copying, so a store file that
    changed since it was recorded fails the export instead of shipping silently. ``info`` adds
    lines to ``bag-info.txt``.
    """

    manifest: dict
    sources: Mapping[str, Path]
    expected_sha256: Mapping[str, str] = field(default_factory=dict)
    info: Mapping[str, str] = field(default_factory=dict)

    @property
    def pairs(self) -> int:
        return len(self.manifest["pairs"])

    @property
    def source_bytes(self) -> int:
        """Bytes of the image files to copy (an export dialog's size estimate)."""
        return sum(Path(p).stat().st_size for p in self.sources.values())


@dataclass(frozen=True)
class ExportResult:
    path: Path
    payload_bytes: int
    """Bytes under ``data/`` (the Payload-Oxum's first number)."""
    payload_files: int
    bag_bytes: int
    """Size of what was written (the zip, or every file of the folder)."""
    seconds: float
    pairs: int
    pairs_without_run: int = 0
    """Pairs no model ran on (``chosen_run`` null): their folders hold only the night and day
    images, no ``aligned_reference`` / ``leak_mask`` / ``colorized`` (``nightlab reprocess``
    adds runs)."""

    @property
    def mb_per_s(self) -> float:
        return self.payload_bytes / 1e6 / self.seconds if self.seconds > 0 else float("inf")


def write_bag(
    plan: BagPlan,
    out: str | os.PathLike[str],
    *,
    as_zip: bool = False,
    progress: ProgressCallback | None = None,
) -> ExportResult:
    """Write ``plan`` as a BagIt bag at ``out`` (a new folder, or one zip with ``as_zip``).

    Blocking; call it from a worker thread in a GUI. ``progress`` gets `Progress` reports
    (phase ``"writing"``, bytes) and may raise `Cancelled` to stop.

    Raises
    ------
    FileExistsError
        ``out`` exists (nothing is ever overwritten).
    ValueError
        The manifest is invalid, or a source file no longer matches its recorded sha256.
    OSError
        A source cannot be read or the destination cannot be written (disk full...).

    Examples
    --------
    >>> write_bag(plan, "night-42.zip", as_zip=True)  # doctest: +SKIP
    ExportResult(path=PosixPath('night-42.zip'), ...)
    """
    out = Path(out)
    if out.exists() or out.is_symlink():
        raise FileExistsError(f"{out}: already exists; choose a new name")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"{out.parent}: no such folder")
    missing = [n for n in plan.sources if not Path(plan.sources[n]).is_file()]
    if missing:
        raise FileNotFoundError(f"{plan.sources[missing[0]]}: file missing (for data/{missing[0]})")
    validate_manifest(plan.manifest, bag_files=plan.sources.keys())
    # generated payload: validated above, serialised once here
    generated = {
        "manifest.json": (json.dumps(plan.manifest, indent=2, ensure_ascii=False) + "\n").encode(),
        "metrics.csv": metrics_csv(plan.manifest),
    }
    clash = set(generated) & set(plan.sources)
    if clash:
        raise ValueError(f"data/{sorted(clash)[0]} is written by the exporter itself")
    total = sum(len(b) for b in generated.values()) + sum(
        Path(p).stat().st_size for p in plan.sources.values()
    )
    reporter = Reporter(progress)
    reporter.start("writing", total)
    t0 = time.perf_counter()
    try:
        sink: _Sink = _ZipSink(out) if as_zip else _FolderSink(out)
    except OSError as exc:  # name ``out``, not the hidden temporary the sink was creating
        raise OSError(f"{out}: cannot be created here ({exc.strerror or exc})") from None
    try:
        with sink:
            sums: dict[str, str] = {}
            sizes = 0
            for name in sorted(plan.sources):
                digest, n = sink.copy(f"data/{name}", Path(plan.sources[name]), reporter)
                want = plan.expected_sha256.get(name)
                if want is not None and digest != want:
                    raise ValueError(
                        f"{plan.sources[name]}: contents changed since they were recorded "
                        f"(sha256 {digest[:12]}…, expected {want[:12]}…); run the store check"
                    )
                sums[f"data/{name}"] = digest
                sizes += n
            for name, data in generated.items():
                sums[f"data/{name}"] = sink.put(f"data/{name}", data)
                sizes += len(data)
                reporter.advance(len(data), name)
            n_files = len(sums)
            tag = _tag_files(plan, sums, sizes, n_files)
            for name, data in tag.items():
                sink.put(name, data)
            reporter.finish()  # a Cancelled raised here still leaves nothing behind
            bag_bytes = sink.commit()
    except OSError as exc:
        if exc.filename is not None:  # a source that cannot be read names itself
            raise
        # a write into the bag (disk full, file size limit): name the bag the user asked for,
        # not "[Errno 28] No space left on device"; the sink left nothing behind
        raise WriteError(exc.errno, exc.strerror, str(out)) from None
    return ExportResult(
        path=out,
        payload_bytes=sizes,
        payload_files=n_files,
        bag_bytes=bag_bytes,
        seconds=time.perf_counter() - t0,
        pairs=len(plan.manifest["pairs"]),
        pairs_without_run=sum(p.get("chosen_run") is None for p in plan.manifest["pairs"]),
    )


def _tag_files(plan: BagPlan, sums: dict[str, str], size: int, count: int) -> dict[str, bytes]:
    """bagit.txt, bag-info.txt, manifest-sha256.txt and, last, tagmanifest-sha256.txt."""
    from engine.exchange._manifest import FORMAT_VERSION

    info = {
        "Bag-Software-Agent": f"NightLab {plan.manifest['provenance']['app_version']}",
        "Bagging-Date": _dt.date.today().isoformat(),
        **{k: _one_line(v) for k, v in plan.info.items()},
        "NightLab-Format-Version": FORMAT_VERSION,
        "Bag-Size": _human(size),
        "Payload-Oxum": f"{size}.{count}",
    }
    tags = {
        "bagit.txt": b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
        "bag-info.txt": "".join(f"{k}: {v}\n" for k, v in info.items()).encode(),
        "manifest-sha256.txt": "".join(
            f"{digest}  {_encode_path(name)}\n" for name, digest in sorted(sums.items())
        ).encode(),
    }
    tags["tagmanifest-sha256.txt"] = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in tags.items()
    ).encode()
    return tags


def _encode_path(name: str) -> str:
    # RFC 8493 2.1.3: percent-encode CR, LF and % in manifest file paths
    return name.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def _human(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)  # pragma: no cover


def _copy_hashing(src: Path, dst: IO[bytes], reporter: Reporter, item: str) -> tuple[str, int]:
    h = hashlib.sha256()
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    n = 0
    with open(src, "rb") as f:
        while True:
            k = f.readinto(buf)
            if not k:
                break
            h.update(view[:k])
            dst.write(view[:k])
            n += k
            reporter.advance(k, item)
    return h.hexdigest(), n


class _Sink:
    def copy(self, name: str, src: Path, reporter: Reporter) -> tuple[str, int]:
        raise NotImplementedError

    def put(self, name: str, data: bytes) -> str:
        raise NotImplementedError

    def commit(self) -> int:
        raise NotImplementedError

    def __enter__(self) -> _Sink:
        return self

    def __exit__(self, *exc) -> None:
        raise NotImplementedError


class _FolderSink(_Sink):
    """Files go into a hidden sibling folder; `commit` fsyncs and renames it to ``out``."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.tmp = Path(
            tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=PARTIAL_SUFFIX)
        )
        os.chmod(self.tmp, 0o777 & ~_umask())
        self.bytes = 0
        self.dirs: set[Path] = {self.tmp}
        self.files: list[Path] = []

    def _open(self, name: str) -> IO[bytes]:
        path = self.tmp / name
        if path.parent not in self.dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.dirs.add(path.parent)
        # direct write: a bag being built in its staging folder, renamed whole
        return open(path, "xb")

    # Files are flushed together at commit (`fsync_files`: several at once, ~4x faster than
    # one fsync per file here); nothing is visible at ``out`` before every byte is on disk.
    def copy(self, name: str, src: Path, reporter: Reporter) -> tuple[str, int]:
        with self._open(name) as f:
            digest, n = _copy_hashing(src, f, reporter, name)
        self.files.append(self.tmp / name)
        self.bytes += n
        return digest, n

    def put(self, name: str, data: bytes) -> str:
        with self._open(name) as f:
            f.write(data)
        self.files.append(self.tmp / name)
        self.bytes += len(data)
        return hashlib.sha256(data).hexdigest()

    def commit(self) -> int:
        fsync_files(self.files)
        for d in sorted(self.dirs, key=lambda p: len(p.parts), reverse=True):
            fsync_dir(d)
        if self.out.exists():
            raise FileExistsError(f"{self.out}: appeared while exporting; not overwritten")
        os.rename(self.tmp, self.out)
        fsync_dir(self.out.parent)
        self.committed = True
        return self.bytes

    def __exit__(self, *exc) -> None:
        if not getattr(self, "committed", False):
            shutil.rmtree(self.tmp, ignore_errors=True)


class _ZipSink(_Sink):
    """One zip, ``<bag name>/...`` inside (RFC 8493 5.2: one top folder named like the file)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.root = out.name[:-4] if out.name.lower().endswith(".zip") else out.name
        self._stack = contextlib.ExitStack()
        self.f = self._stack.enter_context(atomic_write(out, mode="wb"))
        # direct write: a zip inside a file that is itself one atomic_write
        self.zf = self._stack.enter_context(zipfile.ZipFile(self.f, "w", allowZip64=True))
        self.when = time.localtime()[:6]
        self.committed = False

    def _info(self, name: str, size: int) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(f"{self.root}/{name}", date_time=self.when)
        stored = name.lower().endswith(_STORED_SUFFIXES)
        info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
        info.external_attr = (0o100644 & 0xFFFF) << 16  # a regular file, rw-r--r--
        info.file_size = size
        return info

    def copy(self, name: str, src: Path, reporter: Reporter) -> tuple[str, int]:
        size = src.stat().st_size
        # direct write: a member of a zip that is itself one atomic_write
        with self.zf.open(self._info(name, size), "w", force_zip64=size >= 0x7FFFFFFF) as f:
            return _copy_hashing(src, f, reporter, name)

    def put(self, name: str, data: bytes) -> str:
        self.zf.writestr(self._info(name, len(data)), data)
        return hashlib.sha256(data).hexdigest()

    def commit(self) -> int:
        self.committed = True
        self._stack.close()  # central directory, fsync, rename into place
        return self.out.stat().st_size

    def __exit__(self, *exc) -> None:
        if not self.committed:
            # unwind with the error so atomic_write removes its temporary file
            self._stack.__exit__(*exc) if exc[0] else self._stack.close()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
