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
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from engine.atomic import (
    PARTIAL_SUFFIX,
    WriteError,
    atomic_write,
    committing,
    fsync_dir,
    fsync_files,
    track_in_flight,
    untrack_in_flight,
)
from engine.exchange._manifest import validate_manifest
from engine.exchange._progress import ProgressCallback, Reporter
from engine.exchange._spool import SpoolBuilder, SpooledPlan

__all__ = [
    "BagPlan",
    "ExportResult",
    "check_destination",
    "spool_folder",
    "spool_manifest",
    "write_bag",
]

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
    def size_text(self) -> str:
        """The size written, as the command line and the export dialog both say it (they
        said 11.2 MB of payload and 11.1 MB of zip for one export)."""
        mb = self.bag_bytes / 1e6
        return f"{mb:.1f} MB" if mb >= 0.1 else f"{self.bag_bytes / 1e3:.0f} kB"

    @property
    def mb_per_s(self) -> float:
        return self.payload_bytes / 1e6 / self.seconds if self.seconds > 0 else float("inf")


def write_bag(
    plan: BagPlan | SpooledPlan,
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
    check_destination(out)
    if isinstance(plan, SpooledPlan):
        return _write_spooled(plan, out, as_zip=as_zip, progress=progress)
    missing = [n for n in plan.sources if not Path(plan.sources[n]).is_file()]
    if missing:
        raise FileNotFoundError(f"{plan.sources[missing[0]]}: file missing (for data/{missing[0]})")
    validate_manifest(plan.manifest, bag_files=plan.sources.keys())
    with spool_manifest(plan, spool_folder(out)) as spooled:
        return _write_spooled(spooled, out, as_zip=as_zip, progress=progress)


def spool_manifest(plan: BagPlan, folder: str | os.PathLike[str] | None = None) -> SpooledPlan:
    """A plan made whole in memory (a test's, an API user's) as the spooled plan that
    `write_bag` writes; the manifest must be valid already (`validate_manifest`)."""
    builder = SpoolBuilder(folder, check=False)
    try:
        for name, path in plan.sources.items():
            builder.add_source(name, Path(path), plan.expected_sha256.get(name))
        for c in plan.manifest["captures"]:
            builder.capture(c)
        for p in plan.manifest["pairs"]:
            builder.pair(p)
        return builder.finish(plan.manifest, plan.info)
    except BaseException:
        builder.close()
        raise


def spool_folder(out: Path) -> Path | None:
    """Where an export to ``out`` keeps its generated files until they go into the bag: beside
    it, on the disk that will hold it (None: no such folder, which `write_bag` reports). A
    folder that refuses new files is named by the bag, as `write_bag` names it."""
    if not out.parent.is_dir():
        return None
    try:
        tempfile.TemporaryFile(dir=out.parent).close()
    except OSError as exc:
        raise OSError(f"{out}: cannot be created here ({exc.strerror or exc})") from None
    return out.parent


def check_destination(out: Path) -> None:
    """Refuse a bag path that exists (nothing is ever overwritten) or whose folder does not."""
    if out.exists() or out.is_symlink():
        raise FileExistsError(f"{out}: already exists; choose a new name")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"{out.parent}: no such folder")


def _write_spooled(
    plan: SpooledPlan, out: Path, *, as_zip: bool, progress: ProgressCallback | None
) -> ExportResult:
    """Copy the sources (sorted, hashing each as it is copied), then the generated files,
    then the tag files; ``manifest-sha256.txt`` is written as the files go, in name order."""
    generated = plan.generated
    total = plan.source_bytes + sum(g.size for g in generated.values())
    reporter = Reporter(progress)
    reporter.start("writing", total)
    t0 = time.perf_counter()
    try:
        sink: _Sink = _ZipSink(out) if as_zip else _FolderSink(out)
    except OSError as exc:  # name ``out``, not the hidden temporary the sink was creating
        raise OSError(f"{out}: cannot be created here ({exc.strerror or exc})") from None
    try:
        with sink, _SumsFile(out.parent) as sums:
            sizes = 0
            waiting = sorted(generated)  # their lines go where their names sort
            for name, src, want in plan.sources():
                while waiting and waiting[0] < name:
                    g = waiting.pop(0)
                    sums.add(f"data/{g}", generated[g].sha256)
                try:
                    digest, n = sink.copy(f"data/{name}", Path(src), reporter)
                except FileNotFoundError as exc:  # there when planned, gone since
                    if exc.filename not in (src, str(src)):
                        raise
                    raise FileNotFoundError(
                        f"{src}: file missing (for data/{name}); removed while exporting"
                    ) from None
                if want is not None and digest != want:
                    raise ValueError(
                        f"{src}: contents changed since they were recorded "
                        f"(sha256 {digest[:12]}…, expected {want[:12]}…); run the store check"
                    )
                sums.add(f"data/{name}", digest)
                sizes += n
            for g in waiting:
                sums.add(f"data/{g}", generated[g].sha256)
            for name, g in generated.items():
                sink.put(f"data/{name}", g.chunks(), g.size)
                sizes += g.size
                reporter.advance(g.size, name)
            n_files = plan.files
            for name, (chunks, size) in _tag_files(plan, sums, sizes, n_files).items():
                sink.put(name, chunks, size)
            reporter.finish()  # a Cancelled raised here still leaves nothing behind
            bag_bytes = sink.commit()
    except OSError as exc:
        # a source that cannot be read names itself (the sinks name the bag for their own
        # files); one without errno says what happened in its own words
        if exc.filename is not None or exc.errno is None:
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
        pairs=plan.pairs,
        pairs_without_run=plan.pairs_without_run,
    )


class _SumsFile:
    """``manifest-sha256.txt`` as it is written, line by line, in a temporary file."""

    def __init__(self, folder: Path) -> None:
        self.file = tempfile.TemporaryFile(dir=folder)
        self.sha = hashlib.sha256()
        self.size = 0

    def add(self, name: str, digest: str) -> None:
        line = f"{digest}  {_encode_path(name)}\n".encode()
        self.file.write(line)
        self.sha.update(line)
        self.size += len(line)

    def chunks(self) -> Iterator[bytes]:
        self.file.seek(0)
        while chunk := self.file.read(_CHUNK):
            yield chunk

    def __enter__(self) -> _SumsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def _tag_files(
    plan: SpooledPlan, sums: _SumsFile, size: int, count: int
) -> dict[str, tuple[Iterable[bytes], int]]:
    """bagit.txt, bag-info.txt, manifest-sha256.txt and, last, tagmanifest-sha256.txt: each
    as (chunks, size)."""
    from engine.exchange._manifest import FORMAT_VERSION

    info = {
        "Bag-Software-Agent": f"NightLab {plan.app_version}",
        "Bagging-Date": _dt.date.today().isoformat(),
        **{k: _one_line(v) for k, v in plan.info.items()},
        "NightLab-Format-Version": FORMAT_VERSION,
        "Bag-Size": _human(size),
        "Payload-Oxum": f"{size}.{count}",
    }
    small = {
        "bagit.txt": b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
        "bag-info.txt": "".join(f"{k}: {v}\n" for k, v in info.items()).encode(),
    }
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in small.items()}
    digests["manifest-sha256.txt"] = sums.sha.hexdigest()
    tagmanifest = "".join(f"{d}  {name}\n" for name, d in digests.items()).encode()
    return {
        **{name: ((data,), len(data)) for name, data in small.items()},
        "manifest-sha256.txt": (sums.chunks(), sums.size),
        "tagmanifest-sha256.txt": ((tagmanifest,), len(tagmanifest)),
    }


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

    def put(self, name: str, chunks: Iterable[bytes], size: int) -> None:
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
        try:
            # a process ended at once (a signal while stuck in native code) removes it too:
            # it is the size of the bag
            track_in_flight(self.tmp)
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        os.chmod(self.tmp, 0o777 & ~_umask())
        self.bytes = 0
        self._parent: Path | None = None  # the folder of the file last written (made)

    def _open(self, name: str) -> IO[bytes]:
        path = self.tmp / name
        try:
            if path.parent != self._parent:  # names come sorted: a folder's files together
                path.parent.mkdir(parents=True, exist_ok=True)
                self._parent = path.parent
            # direct write: a bag being built in its staging folder, renamed whole
            return open(path, "xb")
        except OSError as exc:  # no room for one more file (inodes): the bag, not its staging
            raise WriteError(exc.errno, exc.strerror, str(self.out)) from None

    # Files are flushed together at commit (`fsync_files`: several at once, ~4x faster than
    # one fsync per file here); nothing is visible at ``out`` before every byte is on disk.
    # They are found by walking the private temporary folder, not kept in a list (36,000
    # paths for a night of 3,000 pairs).
    def copy(self, name: str, src: Path, reporter: Reporter) -> tuple[str, int]:
        with self._open(name) as f:
            digest, n = _copy_hashing(src, f, reporter, name)
        self.bytes += n
        return digest, n

    def put(self, name: str, chunks: Iterable[bytes], size: int) -> None:
        with self._open(name) as f:
            for chunk in chunks:
                f.write(chunk)
        self.bytes += size

    def commit(self) -> int:
        fsync_files(os.path.join(top, f) for top, _dirs, files in os.walk(self.tmp) for f in files)
        for top, _dirs, _files in os.walk(self.tmp, topdown=False):  # deepest first
            fsync_dir(top)
        with committing():
            if self.out.exists() or self.out.is_symlink():
                raise FileExistsError(f"{self.out}: appeared while exporting; not overwritten")
            try:
                os.rename(self.tmp, self.out)
            except OSError as exc:
                raise WriteError(exc.errno, exc.strerror, str(self.out)) from None
            self.committed = True
            untrack_in_flight(self.tmp)
        fsync_dir(self.out.parent)
        return self.bytes

    def __exit__(self, *exc) -> None:
        if not getattr(self, "committed", False):
            shutil.rmtree(self.tmp, ignore_errors=True)
            untrack_in_flight(self.tmp)


class _ZipSink(_Sink):
    """One zip, ``<bag name>/...`` inside (RFC 8493 5.2: one top folder named like the file)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.root = out.name[:-4] if out.name.lower().endswith(".zip") else out.name
        self._stack = contextlib.ExitStack()
        # never over a bag another export (the app's, the command's) finished meanwhile,
        # even during the seconds the zip's end and fsync take after `commit`'s check
        self.f = self._stack.enter_context(atomic_write(out, mode="wb", replace=False))
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

    def put(self, name: str, chunks: Iterable[bytes], size: int) -> None:
        # direct write: a member of a zip that is itself one atomic_write
        with self.zf.open(self._info(name, size), "w", force_zip64=size >= 0x7FFFFFFF) as f:
            for chunk in chunks:
                f.write(chunk)

    def commit(self) -> int:
        # as the folder's: another export (the app's, the command's) may have made it since;
        # atomic_write's rename would replace it
        appeared = FileExistsError(f"{self.out}: appeared while exporting; not overwritten")
        if self.out.exists() or self.out.is_symlink():
            raise appeared  # before the central directory and the fsync
        self.committed = True
        try:
            self._stack.close()  # central directory, fsync, into place (never over a file)
        except FileExistsError:
            raise appeared from None
        return self.out.stat().st_size

    def __exit__(self, *exc) -> None:
        if not self.committed:
            # unwind with the error so atomic_write removes its temporary file
            self._stack.__exit__(*exc) if exc[0] else self._stack.close()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
