"""One way to write a file: all of it or none of it.

Every file NightLab writes (images, metrics, exports, screenshots, model copies, cards, the store's
captures) goes through :func:`atomic_write`: the bytes go to a temporary file in the target's own
folder (same filesystem, so the final ``os.replace`` is atomic), are flushed and fsynced, then
renamed over the target, and the folder is fsynced so the rename survives a power cut. A crash,
SIGKILL, a full disk or an exception at any moment leaves either the complete previous file or
the complete new one, never a truncated one; the temporary file is removed on error.

Temporary names start with ``.`` and end with ``.partial`` so that readers and reconcilers can
recognise (and clean up) leftovers of a killed writer: :func:`is_partial`.

A *set* of files that belong together (``nightlab process``'s images + ``metrics.json``, a model
+ its card) goes through :class:`StagedOutputs`: every file is written complete into a hidden
staging folder beside its destination, then all are moved into place in one short step, the
commit marker last. The previous set stays whole until that step.

Temporary files and staging folders in flight are registered, so that a process that must end
*now* (a signal while the main thread is inside native code) can remove them:
:func:`discard_in_flight`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "PARTIAL_SUFFIX",
    "StagedOutputs",
    "WriteError",
    "atomic_write",
    "committing",
    "discard_in_flight",
    "finite_json",
    "fsync_dir",
    "fsync_files",
    "is_partial",
    "jsonable",
    "non_finite_field",
    "os_reason",
    "special_file_kind",
    "track_in_flight",
    "untrack_in_flight",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]

PARTIAL_SUFFIX = ".partial"

_DISK_REFUSED = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EIO}
"""Errors of a write that the disk refused (whoever called ``write``, they are about the file)."""

_in_flight: set[str] = set()  # temporary files and staging folders being written
_in_flight_lock = threading.Lock()
_closing = False  # set by discard_in_flight: no new temporary files after it
_commit_lock = threading.RLock()  # a StagedOutputs commit is never cut by discard_in_flight


def _register(path: str) -> None:
    with _in_flight_lock:
        if _closing:
            raise InterruptedError("the process is ending: not starting a new write")
        _in_flight.add(path)


def _unregister(path: str) -> None:
    with _in_flight_lock:
        _in_flight.discard(path)


def discard_in_flight() -> list[str]:
    """Remove every temporary file and staging folder still being written; returns them.

    For a process that must exit immediately (``os._exit``) instead of unwinding: finished
    files are untouched, and no new temporary file can be started afterwards.
    """
    global _closing
    # a commit in progress finishes first (a few renames; bounded wait, so a hung disk
    # cannot keep the process alive)
    locked = _commit_lock.acquire(timeout=2.0)
    with _in_flight_lock:
        _closing = True
        paths = sorted(_in_flight)
        _in_flight.clear()
    if locked:
        _commit_lock.release()
    for p in paths:
        if os.path.isdir(p):
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(p)
    return paths


def track_in_flight(path: str | Path) -> None:
    """Register a temporary file or staging folder another module writes (an export's bag
    being built), so that `discard_in_flight` removes it if the process must end now; call
    `untrack_in_flight` once it is renamed into place or removed. InterruptedError when the
    process is already ending."""
    _register(str(path))


def untrack_in_flight(path: str | Path) -> None:
    _unregister(str(path))


@contextlib.contextmanager
def committing() -> Iterator[None]:
    """Hold off `discard_in_flight` while a tracked folder is renamed into place (it would
    otherwise remove a folder half-way through, or after the rename began)."""
    with _commit_lock:
        yield


def os_reason(exc: OSError) -> str:
    """The problem behind ``exc`` in a user's words ("disk full", "read-only file system", ...)."""
    hint = {
        errno.ENOSPC: "disk full",
        errno.EFBIG: "file size limit reached (disk full?)",
        errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied (read-only folder?)",
        errno.EPERM: "operation not permitted",
    }.get(exc.errno or -1)
    # OSError's own text, not str(exc): a WriteError's str() calls this (it recursed for one
    # without errno or strerror, and the error could not be said at all)
    return hint or exc.strerror or OSError.__str__(exc)


class WriteError(OSError):
    """A write that failed, told about the file that was asked for, not the hidden temporary
    it was going through: ``str()`` is ``"cannot write PATH: REASON"`` (``errno``,
    ``strerror`` and ``filename`` = PATH as usual)."""

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {os_reason(self)}"


def fsync_dir(folder: str | Path) -> None:
    """Flush a folder's entries (a rename or a new file) to disk; a no-op where unsupported."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on a directory
        pass
    finally:
        os.close(fd)


def special_file_kind(path: str | Path) -> str:
    """What ``path`` is when it exists but is neither a regular file nor a folder: ``"a named
    pipe"`` (a FIFO), ``"a socket"`` or ``"a device"``; ``""`` otherwise (missing, a file, a
    folder). Symbolic links are followed.

    Reading one as a file blocks or never ends (a FIFO without a writer), and renaming over
    one (``/dev/stdout``, as root) would replace the system's entry with our file: readers
    and writers refuse such paths by name.

    Examples
    --------
    >>> special_file_kind("/dev/null"), special_file_kind("/")
    ('a device', '')
    """
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return ""
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return ""


def is_partial(path: str | Path) -> bool:
    """True for a temporary file left behind by a writer that was killed mid-write."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(PARTIAL_SUFFIX)


@contextlib.contextmanager
def atomic_write(
    path: str | Path,
    *,
    mode: str = "wb",
    encoding: str | None = None,
    mkdir: bool = True,
    replace: bool = True,
) -> Iterator[IO[Any]]:
    """Open a temporary file that replaces ``path`` only when the block ends without error.

    ``replace=False``: the file takes the name only if nothing has it when the block ends
    (`FileExistsError` otherwise, the temporary removed): a file another process made there
    meanwhile is kept, however long the block took to finish (a big zip's fsync).

    Parameters
    ----------
    path : str or Path
        The file to write. Its folder is created when ``mkdir`` is true.
    mode : {"wb", "w"}
        Binary or text.
    encoding : str, optional
        Text encoding for ``mode="w"`` (default UTF-8).

    Raises
    ------
    ValueError
        For a mode other than ``"wb"`` / ``"w"``.
    IsADirectoryError
        When ``path`` is an existing folder (checked before anything is written).
    WriteError
        When ``path`` exists and is not a regular file (a FIFO, a device such as
        ``/dev/stdout``): ``cannot write PATH: not a regular file (a named pipe)``;
        checked before anything is written.
    WriteError
        An ``OSError`` naming ``path`` (never the temporary file) when its folder or the disk
        refuses it: ``cannot write PATH: disk full``.

    Examples
    --------
    >>> with atomic_write("/tmp/nightlab-doc.txt", mode="w") as f:  # doctest: +SKIP
    ...     f.write("complete or absent")
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{target}: is a folder, not a file")
    if kind := special_file_kind(target):  # the rename would replace it, not write into it
        raise WriteError(errno.EINVAL, f"not a regular file ({kind})", str(target))
    folder = target.parent
    try:
        if mkdir:
            folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=PARTIAL_SUFFIX)
    except OSError as exc:
        raise WriteError(exc.errno, exc.strerror, str(target)) from None
    try:
        _register(tmp)
        # mkstemp makes 0600; give the file the permissions a plain open() would have
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        if mode == "wb":
            # direct write: the helper itself: the temporary that is renamed into place
            f = os.fdopen(fd, "wb")
        else:
            # direct write: the helper itself: the temporary that is renamed into place
            f = os.fdopen(fd, "w", encoding=encoding or "utf-8", newline="")
        with f:
            try:
                yield f
            except OSError as exc:
                # the disk refusing our bytes is about ``target`` (the caller's own I/O
                # errors, e.g. reading a source file, pass as they are)
                if exc.filename is None and exc.errno in _DISK_REFUSED:
                    raise WriteError(exc.errno, exc.strerror, str(target)) from None
                raise
            try:
                f.flush()
                os.fsync(f.fileno())
            except OSError as exc:
                raise WriteError(exc.errno, exc.strerror, str(target)) from None
        try:
            if replace:
                os.replace(tmp, target)
            else:
                _link_as_new(tmp, target)
        except FileExistsError:
            raise
        except OSError as exc:
            raise WriteError(exc.errno, exc.strerror, str(target)) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        _unregister(tmp)
    fsync_dir(folder)


_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK, errno.EXDEV}
"""``link`` refused by the file system itself (FAT and exFAT, some network shares)."""


def _link_as_new(tmp: str, target: Path) -> None:
    """Give the finished ``tmp`` the name ``target`` only if no file has it: a hard link is
    made or refused atomically (a rename replaces), then the temporary name goes. A file
    system without hard links gets a check and a rename (a window of a syscall, not of the
    whole write)."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "exists already; not replaced", str(target)) from None
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        if os.path.lexists(target):
            raise FileExistsError(
                errno.EEXIST, "exists already; not replaced", str(target)
            ) from None
        os.replace(tmp, target)
        return
    with contextlib.suppress(FileNotFoundError):  # (gone already: a process ending at once)
        os.unlink(tmp)


def write_bytes_atomic(path: str | Path, data: bytes | memoryview) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_write(path, mode="wb") as f:
        f.write(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    with atomic_write(path, mode="w", encoding=encoding) as f:
        f.write(text)
    return Path(path)


def jsonable(obj: Any) -> Any:
    """``json.dumps``'s ``default`` for what NightLab records hold: numpy arrays and scalars,
    paths and dataclasses; anything else raises ``TypeError`` (nothing is written).

    Examples
    --------
    >>> import numpy as np
    >>> json.dumps({"m": np.eye(2), "s": np.float32(0.5), "p": Path("a/b")}, default=jsonable)
    '{"m": [[1.0, 0.0], [0.0, 1.0]], "s": 0.5, "p": "a/b"}'
    """
    import numpy as np

    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "__dataclass_fields__") and not isinstance(obj, type):
        import dataclasses

        return dataclasses.asdict(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def finite_json(value: Any, default: Callable[[Any], Any] | None = jsonable) -> Any:
    """``value`` as strict JSON can hold it: NaN and infinities become ``None`` (null).

    Python's `json` writes them as the bare words ``NaN`` / ``Infinity``, which are not JSON:
    a strict parser (``jq``, JavaScript's ``JSON.parse``, a partner's reader) refuses the
    whole document. What `json` cannot encode itself goes through ``default`` first (numpy,
    paths, dataclasses with `jsonable`), so a NaN inside a numpy array is caught too. A dict,
    list or tuple is copied only when something in it changed (a tuple then as a list, as
    `json` writes it): ``sessions show --json`` of a long night is not held twice.

    >>> import numpy as np
    >>> finite_json({"ssim": float("nan"), "m": np.array([1.0, np.inf]), "t": (1, -np.inf)})
    {'ssim': None, 'm': [1.0, None], 't': [1, None]}
    >>> kept = {"pairs": [{"ssim": 0.8}]}
    >>> finite_json(kept) is kept
    True
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, (dict, list, tuple)):
        entries = value.items() if isinstance(value, dict) else enumerate(value)
        changed: dict | list | None = None
        for k, v in entries:
            f = finite_json(v, default)
            if f is not v and changed is None:  # copied from the first change on
                changed = dict(value) if isinstance(value, dict) else list(value)
            if changed is not None:
                changed[k] = f
        return value if changed is None else changed
    if default is None:
        raise TypeError(f"not JSON serialisable: {type(value).__name__}")
    return finite_json(default(value), default)


def non_finite_field(value: Any, where: str = "") -> tuple[str, float] | None:
    """The first NaN or infinity in ``value`` (dicts, lists, tuples): its field, written as
    ``inputs[0].scale``, and the value; None when every number is finite.

    >>> non_finite_field({"inputs": [{"scale": 1.0}, {"scale": float("inf")}]})
    ('inputs[1].scale', inf)
    """
    if isinstance(value, float):
        return None if math.isfinite(value) else (where or "(top level)", value)
    if isinstance(value, dict):
        items = ((f"{where}.{k}" if where else str(k), v) for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for field, v in items:
        found = non_finite_field(v, field)
        if found is not None:
            return found
    return None


def write_json_atomic(
    path: str | Path,
    data: Any,
    *,
    indent: int = 2,
    default: Callable[[Any], Any] | None = None,
    non_finite: str = "null",
) -> Path:
    """Serialise ``data`` first (so a value that cannot be encoded writes nothing), then write.
    The file is strict JSON: NaN and infinities are written as null (`finite_json`), or, with
    ``non_finite="refuse"``, raise ``ValueError`` naming the file and the field, and nothing is
    written (a file whose every value means something, like a model card, where a null would
    silently stand for a number that was wrong)."""
    if non_finite not in ("null", "refuse"):
        raise ValueError(f"non_finite must be 'null' or 'refuse', got {non_finite!r}")
    if non_finite == "refuse":
        if default is not None:  # numpy arrays, paths... as JSON sees them, then checked
            data = json.loads(json.dumps(data, default=default))
        if (found := non_finite_field(data)) is not None:
            field, value = found
            raise ValueError(
                f"{path}: {field} is {value!r}, which JSON cannot hold (NaN and infinities "
                "are not JSON); nothing written"
            )
    data = finite_json(data, default)
    text = json.dumps(data, indent=indent, allow_nan=False) + "\n"
    return write_text_atomic(path, text)


class StagedOutputs:
    """Write a set of files into a staging folder, then move them into ``folder`` together.

    Files are written (atomically, with any writer) to :meth:`path` ``(name)``, which lies in
    a hidden ``.*.partial`` folder inside ``folder`` (same filesystem: moves are renames).
    :meth:`commit` then, with SIGINT/SIGTERM held back for those few milliseconds:

    1. removes the old ``marker`` (the previous set stops claiming to be complete),
    2. renames every staged file except the marker into ``folder``,
    3. removes files of ``replaces`` that the new set does not contain (stale outputs of a
       previous run; only those names, never anything else),
    4. renames the marker last: its presence says the set beside it is complete.

    Used as a context manager, the set is committed when the block ends normally and
    discarded (nothing of this run left, the previous set untouched) when it raises,
    including ``KeyboardInterrupt``. Staging folders of killed runs (``SIGKILL``) are removed
    by the next ``StagedOutputs`` on the same folder.

    Parameters
    ----------
    folder : str or Path
        Where the files go (created).
    marker : str, optional
        Name of the file that commits the set (e.g. ``"metrics.json"``); written last.
    replaces : iterable of str
        Output names a previous run may have left that must not survive beside a new set.

    Examples
    --------
    >>> with StagedOutputs("/tmp/out", marker="metrics.json") as st:  # doctest: +SKIP
    ...     write_bytes_atomic(st.path("a.png"), png)
    ...     write_json_atomic(st.path("metrics.json"), {"ok": True})
    """

    STAGE_PREFIX = ".nightlab-stage."

    def __init__(
        self, folder: str | Path, *, marker: str | None = None, replaces: Iterable[str] = ()
    ) -> None:
        self.folder = Path(folder)
        self.marker = marker
        self.replaces = tuple(replaces)
        if self.folder.exists() and not self.folder.is_dir():
            raise NotADirectoryError(f"{self.folder}: exists and is not a folder")
        self._created_folder = not self.folder.exists()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._remove_stale_stages()
        self.stage = Path(
            tempfile.mkdtemp(dir=self.folder, prefix=self.STAGE_PREFIX, suffix=PARTIAL_SUFFIX)
        )
        _register(str(self.stage))
        self.committed: list[Path] = []

    def _remove_stale_stages(self) -> None:
        for p in self.folder.glob(f"{self.STAGE_PREFIX}*{PARTIAL_SUFFIX}"):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)

    def path(self, name: str) -> Path:
        """Where to write the output called ``name`` (a plain file name, no folders)."""
        if not name or Path(name).name != name or name in (".", ".."):
            raise ValueError(f"output name must be a plain file name, got {name!r}")
        return self.stage / name

    def commit(self) -> list[Path]:
        """Move every staged file into place (marker last); returns the final paths."""
        names = sorted(p.name for p in self.stage.iterdir() if not is_partial(p))
        if self.marker is not None and self.marker in names:
            names.remove(self.marker)
            names.append(self.marker)
        for name in names:  # refuse before moving anything (e.g. a folder in the way)
            if (self.folder / name).is_dir():
                raise IsADirectoryError(f"{self.folder / name}: is a folder, not a file")
            if kind := special_file_kind(self.folder / name):  # the rename would replace it
                raise WriteError(
                    errno.EINVAL, f"not a regular file ({kind})", str(self.folder / name)
                )
        with _signals_held():
            if self.marker is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.folder / self.marker)
            done = []
            for name in names:
                if name == self.marker:
                    continue
                os.replace(self.stage / name, self.folder / name)
                done.append(self.folder / name)
            for name in self.replaces:
                if name not in names and name != self.marker:
                    with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                        os.unlink(self.folder / name)
            if self.marker is not None and self.marker in names:
                fsync_dir(self.folder)  # the files are in place before the marker says so
                os.replace(self.stage / self.marker, self.folder / self.marker)
                done.append(self.folder / self.marker)
            fsync_dir(self.folder)
            self.committed = done
            self.discard()
        return done

    def discard(self) -> None:
        """Remove the staging folder and everything in it (the folder is left as it was:
        created for this set and still empty, it is removed too)."""
        shutil.rmtree(self.stage, ignore_errors=True)
        _unregister(str(self.stage))
        if self._created_folder and not self.committed:
            with contextlib.suppress(OSError):
                self.folder.rmdir()  # only if empty

    def __enter__(self) -> StagedOutputs:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.commit()
            except BaseException:
                self.discard()
                raise
        else:
            self.discard()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Defer SIGINT/SIGTERM during a step that must not be cut, then deliver them.

    Python runs signal handlers in the main thread between bytecodes, whichever thread the
    kernel picked, so swapping the handlers for a recorder is what holds them back (a thread
    signal mask would not). Outside the main thread handlers cannot be changed: no-op there.
    """
    if threading.current_thread() is not threading.main_thread():
        with _commit_lock:
            yield
        return
    pending: list[int] = []
    sigs = (signal.SIGINT, signal.SIGTERM)
    old = {s: signal.signal(s, lambda signum, _frame: pending.append(signum)) for s in sigs}
    try:
        with _commit_lock:
            yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        for signum in pending[:1]:
            signal.raise_signal(signum)


def fsync_files(paths: Iterable[str | Path], *, workers: int = 8, batch: int = 512) -> None:
    """Flush many written files to disk at once, from a few threads.

    For a batch (an export folder, an import's images) this is ~3-4x faster than an fsync
    after each file on this machine (590 vs 150 MB/s for 25 x 2 MB): the device sees the
    flushes together. Callers still rename into place only after this returns. ``paths`` is
    taken ``batch`` at a time (a generator is fine): handed all 35,000 files of a
    3,000-pair export at once (a task each, and the export's list of their paths), the
    export's peak RSS was 130 MiB instead of 77.
    """
    from concurrent.futures import ThreadPoolExecutor
    from itertools import chain, islice

    def flush(path: str | Path) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    rest = iter(paths)
    chunk = list(islice(rest, batch))
    if len(chunk) <= 1 or workers <= 1:
        for p in chain(chunk, rest):
            flush(p)
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(chunk))) as pool:
        while chunk:
            list(pool.map(flush, chunk))  # re-raises the first OSError
            chunk = list(islice(rest, batch))
