"""`Store`: the experiment record (SQLite in WAL mode + lossless PNG files in a data folder).

Threading: one writer thread owns the write connection (`Writer`); every write method blocks
its caller until the change committed, so call writes off the GUI thread (the capture runner's
thread, a job runner). Reads open one connection per calling thread. Only one process writes a
data folder at a time (an advisory lock), which is what makes reconciling at open safe.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.atomic import fsync_dir, write_text_atomic
from engine.store._capture_rows import (
    PlannedCapture,
    WriteFailed,
    controls_text,
    encode_and_write,
    insert_capture,
    plan_capture,
)
from engine.store._events import StoreEvents
from engine.store._files import (
    FILES_ROOT,
    PNG_COMPRESSION,
    decode_png,
    encode_png,
    new_file_name,
    sha256_hex,
    write_file,
)
from engine.store._lock import FolderBusy, FolderLock, lock_holder
from engine.store._paths import DB_NAME, database_problem, resolve_data_dir
from engine.store._queries import (
    CAPTURE_COLUMNS,
    PAIR_COLUMNS,
    SESSION_COLUMNS,
    capture_from_row,
    log_from_row,
    pair_query_sql,
    pairs_from_rows,
    run_from_row,
    session_from_row,
    verdict_from_row,
)
from engine.store._reconcile import reconcile_files, session_files, verify_files
from engine.store._records import (
    VERDICTS,
    Capture,
    LogEntry,
    Pair,
    PairPage,
    PairQuery,
    ReconcileReport,
    Run,
    Session,
    Verdict,
)
from engine.store._rows import (
    PAIR_FIELDS,
    app_version,
    capture_time,
    check_session_text,
    clean_tags,
    dumps,
    insert_pair,
    meta_dict,
    os_reason,
    pair_columns,
    sqlite_reason,
)
from engine.store._schema import READABLE_FROM, SCHEMA_VERSION, migrate, schema_version
from engine.store._writer import Writer

if TYPE_CHECKING:
    from alignment import Alignment
    from engine.camera import Frame, FrameMeta
    from engine.leakmask import LeakMaskParams

__all__ = ["Store", "StoreBusy", "StoreError", "folder_writer"]

LOCK_NAME = ".writer.lock"
CLEAN_MARK = ".closed-cleanly"


def folder_writer(data_dir: str | os.PathLike[str] | None = None) -> str | None:
    """The pid of the process that writes ``data_dir`` now (the app, a capture; ``"?"`` if it
    wrote none), or None: what a writable `Store` there would be refused for (`StoreBusy`).
    For a reader (an export) to say what to do, not to decide whether it may read."""
    return lock_holder(resolve_data_dir(data_dir) / LOCK_NAME)


class StoreError(RuntimeError):
    """The store cannot do what was asked; the message is one line for the user."""


class StoreBusy(StoreError):
    """Another process is writing this data folder."""


class Store:
    """The experiment record in ``data_dir`` (see `resolve_data_dir`).

    Parameters
    ----------
    data_dir : str or Path, optional
        The data folder; default ``$NIGHTLAB_DATA_DIR`` or the user data folder.
    read_only : bool
        Open for reading only: no lock, no migration, no reconciliation; the database must
        exist. Any number of readers may run beside one writer. A record of an older schema
        from `engine.store.READABLE_FROM` on is read as it is (``schema``).
    reconcile : {"auto", "always", "never"}
        When to compare files and rows at a writable open: ``"auto"`` unless the last writer
        closed cleanly (a kill, a crash or a failed clean-up leaves no ``.closed-cleanly``
        mark), so everyday commands on a large archive do not walk every file.
    compression : {"huffman", "none"}
        How new PNGs are compressed (both lossless): ``"huffman"`` (default) ~55 % of the raw
        size; ``"none"`` the raw size but ~8x less CPU, for capture loops that must commit
        fast with disk to spare. Reading handles both.

    Raises
    ------
    StoreBusy
        Another process has the data folder open for writing.
    StoreError
        The folder or database cannot be opened (read-only disk, newer schema, not a database).

    Examples
    --------
    >>> with Store("/tmp/nightlab-doc") as store:  # doctest: +SKIP
    ...     s = store.create_session("roof camera", operator="ana")
    ...     cap = store.add_capture(s.id, frame.image, kind="night", meta=frame.meta)
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        read_only: bool = False,
        compression: str = "huffman",
        reconcile: str = "auto",
    ):
        self.root = resolve_data_dir(data_dir).absolute()
        self.db_path = self.root / DB_NAME
        self.read_only = bool(read_only)
        if compression not in PNG_COMPRESSION:
            raise ValueError(f"compression must be one of {', '.join(PNG_COMPRESSION)}")
        self.compression = compression
        if reconcile not in ("auto", "always", "never"):
            raise ValueError(f"reconcile must be auto, always or never, got {reconcile!r}")
        # the folder, or the nearest of its parents that exists, must be a folder: e.g. the
        # database file itself given as the data folder, or a path through a file; a reader
        # would otherwise report "no sessions yet" and a writer "cannot open for writing"
        blocker = next((p for p in (self.root, *self.root.parents) if p.exists()), self.root)
        if blocker.exists() and not blocker.is_dir():
            if blocker != self.root:
                raise StoreError(f"{self.root}: cannot be a data folder: {blocker} is a file")
            raise StoreError(f"{self.root}: not a folder (the data folder holds {DB_NAME})")
        if problem := database_problem(self.db_path):  # before the folder's lock is taken
            raise StoreError(problem)
        self._dirty = False
        self._opened = False
        """Set when a clean-up failed: the next open must reconcile."""
        self.events = StoreEvents()
        self.last_reconcile: ReconcileReport | None = None
        self._local = threading.local()
        self._readers: list[tuple[threading.Thread, sqlite3.Connection]] = []
        """Every read connection with the thread it belongs to (closed with the store, or
        once that thread has ended)."""
        self._readers_lock = threading.Lock()
        self._uids: dict[int, str] = {}
        self._no_write_threads: set[threading.Thread] = set()
        self._lock: FolderLock | None = None
        self._writer: Writer | None = None
        self._closed = False
        self._gate = threading.Condition()
        self._writes_in_flight = 0
        """Writes (files and their commit) under way: `close` waits for them, refuses new ones."""
        self.schema = SCHEMA_VERSION
        """The record's schema: the latest, or an older one a read-only store reads as it is
        (`engine.store.READABLE_FROM`)."""
        if self.read_only:
            if not self.db_path.is_file():
                raise StoreError(f"{self.root}: no NightLab record here yet (nothing captured)")
            try:
                version = schema_version(self._reader())
                if READABLE_FROM <= version <= SCHEMA_VERSION:
                    # parses the schema: a damaged one fails here, as one line, not at the
                    # reader's first query with a traceback
                    self._reader().execute("SELECT 1 FROM sessions LIMIT 1").fetchall()
            except sqlite3.Error as exc:  # not a database, a damaged one
                self.close()
                raise StoreError(sqlite_reason(self.db_path, exc)) from None
            if not READABLE_FROM <= version <= SCHEMA_VERSION:
                self.close()
                raise StoreError(
                    f"{self.db_path}: schema v{version}, this NightLab reads v{READABLE_FROM} "
                    f"to v{SCHEMA_VERSION}; "
                    + ("upgrade NightLab" if version > SCHEMA_VERSION else "open it once for "
                       "writing (any nightlab command that records) to upgrade it")
                )  # fmt: skip
            self.schema = version
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._take_lock()
            self._writer = Writer(self._connect_writer)
            # in here: a folder that refuses the marker's removal (read-only) is one line
            # naming the folder, not "[Errno 13] Permission denied: '.../.closed-cleanly'"
            was_clean = self._unmark_clean()
        except (sqlite3.Error, ValueError) as exc:  # not a database, a newer schema
            self.close()
            raise StoreError(sqlite_reason(self.db_path, exc)) from None
        except OSError as exc:
            self.close()
            raise StoreError(f"{self.root}: cannot open for writing ({os_reason(exc)})") from None
        except BaseException:
            self.close()
            raise
        if reconcile == "always" or (reconcile == "auto" and not was_clean):
            self.reconcile()
        self._opened = True  # from here a clean close may mark the folder clean

    def _unmark_clean(self) -> bool:
        """Whether the folder was closed cleanly; from now on a kill leaves it unmarked."""
        marker = self.root / CLEAN_MARK
        was_clean = marker.exists()
        if was_clean:
            marker.unlink()
            fsync_dir(self.root)
        return was_clean

    # -- lifecycle --------------------------------------------------------------------------
    def _take_lock(self) -> None:
        try:
            self._lock = FolderLock(self.root / LOCK_NAME)
        except FolderBusy as busy:
            raise StoreBusy(
                f"{self.root} is being written by another NightLab process (pid {busy.pid}); "
                "close it first or use another --data-dir"
            ) from None

    def _connect_writer(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.db_path, isolation_level=None, check_same_thread=False, timeout=10.0
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk when it returns (WAL survives SIGKILL either way; this
            # also survives a power cut). Costs one fsync per commit.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StoreError("the store is closed")
            uri = self.db_path.as_uri() + "?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only=1")
            self._local.conn = conn
            with self._readers_lock:
                self._close_ended_readers()
                self._readers.append((threading.current_thread(), conn))
        return conn

    def _close_ended_readers(self) -> None:
        """Close the read connections of threads that have ended (with the lock held).

        Each thread that reads gets a connection (two file descriptors, the database and its
        WAL, and its page cache); a thread started per job (every "Capture pair" runs on a
        thread of its own) left one open for as long as the store: an operator's night of
        single captures, or a long-lived GUI, ran out of descriptors. An ended thread can no
        longer use its connection, so closing it here is safe."""
        alive = []
        for thread, conn in self._readers:
            if thread.is_alive():
                alive.append((thread, conn))
            else:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
        self._readers = alive

    def close(self, timeout: float = 60.0) -> None:
        """Finish the writes under way (up to ``timeout`` s), refuse new ones, close every
        connection, release the folder."""
        with self._gate:
            self._closed = True
            # a thread between writing a run's files and committing its rows would otherwise
            # write into a folder already released and marked clean, then fail at the commit
            # (or, in the writer's queue behind its stop, wait forever for it)
            self._gate.wait_for(lambda: self._writes_in_flight == 0, timeout)
            if self._writes_in_flight:
                self._dirty = True  # one is still going: the next open reconciles
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        with self._readers_lock:
            for thread, conn in self._readers:
                # another live thread's connection may be mid-query: closing it under that
                # thread crashed the process (sqlite frees the statement it is stepping).
                # Dropped here, it closes when that thread lets go of it; its next read is
                # refused ("the store is closed")
                if thread is threading.current_thread() or not thread.is_alive():
                    with contextlib.suppress(sqlite3.Error):
                        conn.close()
            self._readers.clear()
        self._local = threading.local()
        if self._lock is not None and self._opened and not self._dirty:
            with contextlib.suppress(OSError):  # no mark = reconcile at the next open
                write_text_atomic(self.root / CLEAN_MARK, f"{time.time()}\n")
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def writer_thread(self) -> threading.Thread | None:
        """The thread every write runs on (None for a read-only store)."""
        return None if self._writer is None else self._writer.thread

    def disallow_writes_on(self, thread: threading.Thread) -> None:
        """Make writes from ``thread`` (the GUI thread) raise instead of blocking it.

        Writes wait for PNG encoding, fsync and the commit (up to a few hundred ms for a
        1920x1080 pair); a GUI calls ``store.disallow_writes_on(threading.main_thread())``
        once so a write that slipped onto its thread fails loudly in testing.
        """
        self._no_write_threads.add(thread)

    def _check_thread(self) -> None:
        if threading.current_thread() in self._no_write_threads:
            raise RuntimeError(
                f"store write on thread {threading.current_thread().name!r}, where writes are "
                "disallowed (they block until committed): run it on a worker thread"
            )

    @contextlib.contextmanager
    def _writing(self):
        """One write (files, then the rows that name them): refused once the store is closing,
        waited for by `close` while it runs."""
        with self._gate:
            if self._writer is None or self._closed:
                raise StoreError(
                    f"{self.root}: opened read-only" if self.read_only else "the store is closed"
                )
            self._writes_in_flight += 1
        try:
            yield
        finally:
            with self._gate:
                self._writes_in_flight -= 1
                self._gate.notify_all()

    def _write(self, fn):
        self._check_thread()
        with self._writing():
            return self._commit(fn)

    def _commit(self, fn):
        try:
            return self._writer.call(fn)
        except sqlite3.IntegrityError as exc:
            raise ValueError(f"{self.db_path}: {exc}") from None
        except sqlite3.Error as exc:
            raise StoreError(sqlite_reason(self.db_path, exc)) from None

    def _write_files(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Write files (within a `_writing` block, with the rows that name them)."""
        self._check_thread()
        written = []
        try:
            for rel, data in items:
                write_file(self.root, rel, data)
                written.append(rel)
        except OSError as exc:
            self._discard(written)
            raise StoreError(f"cannot write {self.root / rel}: {os_reason(exc)}") from None

    def _discard(self, rels: Iterable[str]) -> None:
        """Remove files whose row never committed (the caller gets the error instead)."""
        for rel in rels:
            try:
                (self.root / rel).unlink()
            except FileNotFoundError:
                pass
            except OSError:
                self._dirty = True

    def path(self, rel: str) -> Path:
        """Absolute path of a file the store owns (``Capture.path``, ``Run.outputs[...]``)."""
        return self.root / rel

    # -- sessions ----------------------------------------------------------------------------
    def create_session(
        self,
        name: str,
        *,
        operator: str = "",
        scene_notes: str = "",
        camera_backend: str = "",
        device_id: str = "",
        settings: Mapping[str, Any] | None = None,
        uid: str | None = None,
        created_at: float | None = None,
    ) -> Session:
        """Start a session. ``uid``/``created_at`` are for imports (default: new / now)."""
        name = str(name).strip()
        if not name:
            raise ValueError("a session needs a name")
        check_session_text(name=name, operator=operator, scene_notes=scene_notes)
        uid = uid or uuid.uuid4().hex
        created = time.time() if created_at is None else float(created_at)
        settings_json = dumps(dict(settings or {}))
        version = app_version()

        def insert(conn):
            cur = conn.execute(
                "INSERT INTO sessions (uid, name, operator, scene_notes, camera_backend, "
                "device_id, app_version, settings_json, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (uid, name, operator, scene_notes, camera_backend, device_id, version,
                 settings_json, created),
            )  # fmt: skip
            return cur.lastrowid

        sid = self._write(insert)
        session = self.session(sid)
        self.events.session_added.emit(session)
        return session

    def update_session(
        self,
        session_id: int,
        *,
        name: str | None = None,
        operator: str | None = None,
        scene_notes: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> Session:
        """Change a session's description or saved settings (``settings`` replaces them)."""
        fields: dict[str, Any] = {}
        if name is not None:
            if not name.strip():
                raise ValueError("a session needs a name")
            fields["name"] = name.strip()
        check_session_text(name=fields.get("name"), operator=operator, scene_notes=scene_notes)
        if operator is not None:
            fields["operator"] = operator
        if scene_notes is not None:
            fields["scene_notes"] = scene_notes
        if settings is not None:
            fields["settings_json"] = dumps(dict(settings))
        self.session(session_id)  # exists?
        if fields:
            sets = ", ".join(f"{k} = ?" for k in fields)
            self._write(
                lambda c: c.execute(
                    f"UPDATE sessions SET {sets} WHERE id = ?", [*fields.values(), session_id]
                )
            )
        session = self.session(session_id)
        self.events.session_changed.emit(session)
        return session

    def change_session_settings(
        self, session_id: int, change: Callable[[dict[str, Any]], None]
    ) -> Session:
        """Edit a session's saved settings in place: ``change(settings)`` runs on the
        settings as committed, inside the transaction that writes them back.

        Unlike ``update_session(settings=...)``, built from a copy read earlier, two edits
        never lose each other's keys (two presets saved in a row, a preset and a note).

        Examples
        --------
        >>> store.change_session_settings(  # doctest: +SKIP
        ...     s.id, lambda st: st.setdefault("leak_presets", {}).update(wide={"close_px": 21})
        ... )
        """
        import json

        self.session(session_id)  # exists?

        def edit(conn):
            row = conn.execute(
                "SELECT settings_json FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()
            settings = json.loads(row[0] or "{}")
            change(settings)
            conn.execute(
                "UPDATE sessions SET settings_json = ? WHERE id = ?", (dumps(settings), session_id)
            )

        self._write(edit)
        session = self.session(session_id)
        self.events.session_changed.emit(session)
        return session

    def close_session(self, session_id: int, *, at: float | None = None) -> Session:
        """Mark a session closed (no more captures). Closing twice keeps the first time.
        ``at`` (default now) is for imports."""
        self.session(session_id)
        now = time.time() if at is None else float(at)
        self._write(
            lambda c: c.execute(
                "UPDATE sessions SET closed_at = ? WHERE id = ? AND closed_at IS NULL",
                (now, session_id),
            )
        )
        session = self.session(session_id)
        self.events.session_changed.emit(session)
        return session

    def delete_session(self, session_id: int) -> Session:
        """Delete a session's records, then its files (an explicit request: files do go).

        Rows go first, in one transaction; if the process dies before the files are gone,
        the next open moves the leftovers aside to ``lost+found`` (nothing half-present).
        """
        import shutil

        session = self.session(session_id)

        def delete(conn):
            file_ids = [
                r[0]
                for r in conn.execute(
                    "SELECT file_id FROM captures WHERE session_id = ? UNION "
                    "SELECT o.file_id FROM run_outputs o JOIN runs r ON r.id = o.run_id "
                    "JOIN pairs p ON p.id = r.pair_id WHERE p.session_id = ?",
                    (session_id, session_id),
                )
            ]
            conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            conn.executemany("DELETE FROM files WHERE id = ?", [(i,) for i in file_ids])

        self._check_thread()
        with self._writing():  # the rows, then the files, before close releases the folder
            self._commit(delete)
            try:
                shutil.rmtree(self.root / FILES_ROOT / session.uid)
            except FileNotFoundError:
                pass
            except OSError:
                self._dirty = True  # leftovers go to lost+found at the next open
        self._uids.pop(session_id, None)
        self.events.session_deleted.emit(session_id)
        return session

    def sessions(self) -> list[Session]:
        """Every session, oldest first, with capture and pair counts."""
        conn = self._reader()
        counts_c = dict(conn.execute("SELECT session_id, COUNT(*) FROM captures GROUP BY 1"))
        counts_p = dict(conn.execute("SELECT session_id, COUNT(*) FROM pairs GROUP BY 1"))
        rows = conn.execute(f"SELECT {SESSION_COLUMNS} FROM sessions s ORDER BY s.id").fetchall()
        return [session_from_row(r, counts_c.get(r[0], 0), counts_p.get(r[0], 0)) for r in rows]

    def session(self, ref: int | str) -> Session:
        """A session by uid, id or (unique) name, tried in that order (a uid of decimal digits
        is that session's, not the session of that id).

        Raises
        ------
        KeyError
            No such session (or the name is ambiguous).
        """
        conn = self._reader()
        rows: list = []
        if isinstance(ref, str):  # a uid first: uids are unique and can be all digits
            rows = conn.execute(
                f"SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.uid = ?", (ref,)
            ).fetchall()
        # an id, if it can be one: past SQLite's integers the driver raises OverflowError, and
        # 32 digits are a uid (of a session not in this record), not an id with leading zeros
        digits = isinstance(ref, str) and ref.strip().isdigit() and len(ref.strip()) < 32
        if not rows and (isinstance(ref, int) or digits) and 0 <= int(ref) < 2**63:
            rows = conn.execute(
                f"SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.id = ?", (int(ref),)
            ).fetchall()
        if not rows and isinstance(ref, str):
            rows = conn.execute(
                f"SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.uid = ? OR s.name = ? "
                "ORDER BY s.id",
                (ref, ref),
            ).fetchall()
        if not rows:
            raise KeyError(f"no session {ref!r}")
        if len(rows) > 1:
            ids = ", ".join(str(r[0]) for r in rows)
            raise KeyError(f"{len(rows)} sessions are named {ref!r} (ids {ids}); use the id")
        sid = rows[0][0]
        n_c = conn.execute("SELECT COUNT(*) FROM captures WHERE session_id = ?", (sid,))
        n_p = conn.execute("SELECT COUNT(*) FROM pairs WHERE session_id = ?", (sid,))
        return session_from_row(rows[0], n_c.fetchone()[0], n_p.fetchone()[0])

    def _uid(self, session_id: int, *, for_capture: bool = False) -> str:
        session = self.session(session_id)
        if for_capture and not session.is_open:
            raise ValueError(f"session {session.id} ({session.name}) is closed")
        self._uids[session.id] = session.uid
        return session.uid

    # -- captures ----------------------------------------------------------------------------
    def add_capture(
        self,
        session_id: int,
        image: np.ndarray | bytes,
        *,
        kind: str,
        meta: FrameMeta | Mapping[str, Any] | None = None,
        controls: Mapping[str, Any] | None = None,
        taken_at: float | None = None,
    ) -> Capture:
        """Record one frame: its PNG is on disk (fsynced) before the row commits.

        Parameters
        ----------
        image : ndarray or bytes
            Gray ``(H, W)`` or RGB ``(H, W, 3)`` uint8, stored losslessly at full resolution;
            or PNG bytes (an import), checked by decoding and stored byte for byte.
        kind : {"day", "night"}
        meta : FrameMeta or dict, optional
            The frame's metadata (``FrameMeta.to_dict()`` is stored).
        controls : dict, optional
            Camera controls in force.
        taken_at : float, optional
            Capture time (default: ``meta.timestamp``, else now).
        """
        return self.add_burst(
            session_id, [image], kind=kind, metas=[meta], controls=controls, taken_at=taken_at
        )

    def add_frame(
        self, session_id: int, frame: Frame, *, kind: str | None = None, controls=None
    ) -> Capture:
        """`add_capture` for a camera `Frame` (``kind`` defaults to ``frame.meta.mode``)."""
        kind = kind or frame.meta.mode or ("night" if frame.is_gray else "day")
        return self.add_capture(
            session_id, frame.image, kind=kind, meta=frame.meta, controls=controls
        )

    def add_burst(
        self,
        session_id: int,
        images: Sequence[np.ndarray],
        *,
        kind: str,
        metas: Sequence[FrameMeta | Mapping[str, Any] | None] | None = None,
        controls: Mapping[str, Any] | None = None,
        taken_at: float | None = None,
    ) -> Capture:
        """Record a burst: the per-pixel mean of the frames (night noise averaging) is the
        capture; with more than one frame every member is kept too (``burst_of``), all in one
        commit. Returns the combined capture."""
        plan = self._plan(session_id, images, kind, metas, controls, taken_at)
        now = time.time()
        with self._writing():  # read back before close: the caller is told what committed
            (cid,) = self._commit_captures(
                [plan], lambda conn: [insert_capture(conn, session_id, plan, now)]
            )
            capture = self.capture(cid)
        self.events.capture_added.emit(capture)
        return capture

    def capture_pair(
        self,
        session_id: int,
        *,
        day: np.ndarray | Sequence[np.ndarray],
        night: np.ndarray | Sequence[np.ndarray],
        day_metas: Sequence[FrameMeta | Mapping[str, Any] | None] | None = None,
        night_metas: Sequence[FrameMeta | Mapping[str, Any] | None] | None = None,
        controls: Mapping[str, Any] | None = None,
        **pair_fields: Any,
    ) -> Pair:
        """Record a day and a night capture and their pair in one commit (all or nothing).

        ``day`` / ``night``: one frame or a burst (a list). Both are encoded in parallel, so a
        1920x1080 pair commits in about the time of its larger frame. ``pair_fields`` are
        those of `add_pair` (``alignment``, ``leak_params``, ``ssim_mean``, ``leak_area_pct``).
        """
        day_imgs = [day] if isinstance(day, np.ndarray) else list(day)
        night_imgs = [night] if isinstance(night, np.ndarray) else list(night)
        plans = [
            self._plan(session_id, day_imgs, "day", day_metas, controls, None),
            self._plan(session_id, night_imgs, "night", night_metas, controls, None),
        ]
        return self._commit_pair(session_id, plans, pair_fields)

    def add_pair_with_captures(
        self,
        session_id: int,
        *,
        days: Sequence[np.ndarray],
        night: np.ndarray,
        day_metas: Sequence[FrameMeta | Mapping[str, Any] | None] | None = None,
        night_meta: FrameMeta | Mapping[str, Any] | None = None,
        **pair_fields: Any,
    ) -> Pair:
        """Record day captures (one each, together the day reference), a night capture and
        their pair in one commit (all or nothing): an import of image files.

        Unlike `capture_pair`, several ``days`` are kept as separate captures (not a burst).
        ``pair_fields`` are those of `add_pair`.
        """
        days = list(days)
        if not days:
            raise ValueError("a pair needs at least one day capture")
        metas = list(day_metas) if day_metas is not None else [None] * len(days)
        if len(metas) != len(days):
            raise ValueError(f"{len(days)} day images but {len(metas)} metadata entries")
        plans = [
            self._plan(session_id, [d], "day", [m], None, None)
            for d, m in zip(days, metas, strict=True)
        ]
        plans.append(self._plan(session_id, [night], "night", [night_meta], None, None))
        return self._commit_pair(session_id, plans, pair_fields)

    def _commit_pair(self, session_id: int, plans: list[PlannedCapture], pair_fields) -> Pair:
        """Commit day ``plans[:-1]``, night ``plans[-1]`` and their pair in one transaction."""
        cols = pair_columns(**{k: pair_fields.pop(k, None) for k in PAIR_FIELDS})
        if pair_fields:
            raise TypeError(f"unexpected argument(s): {', '.join(pair_fields)}")
        now = time.time()

        def insert(conn):
            ids = [insert_capture(conn, session_id, plan, now) for plan in plans]
            return [*ids, insert_pair(conn, session_id, ids[-1], ids[:-1], cols, now)]

        with self._writing():  # read back before close: the caller is told what committed
            *cids, pid = self._commit_captures(plans, insert)
            captures, pair = [self.capture(cid) for cid in cids], self.pair(pid)
        for capture in captures:
            self.events.capture_added.emit(capture)
        self.events.pair_added.emit(pair)
        return pair

    def _plan(self, session_id, images, kind, metas, controls, taken_at) -> PlannedCapture:
        images = list(images)
        metas = list(metas) if metas is not None else [None] * len(images)
        meta_dicts = [meta_dict(m) for m in metas]
        uid = self._uid(session_id, for_capture=True)
        taken = capture_time(taken_at, meta_dicts[0] if meta_dicts else {})
        return plan_capture(
            uid, images, kind=kind, metas=meta_dicts, controls_json=controls_text(controls),
            taken_at=taken,
        )  # fmt: skip

    def _write_one(self, rel: str, data: bytes) -> None:
        try:
            write_file(self.root, rel, data)
        except OSError as exc:  # name the file in the one-line message
            raise OSError(exc.errno, exc.strerror, str(self.root / rel)) from None

    def _commit_captures(self, plans: list[PlannedCapture], insert) -> list[int]:
        """Encode and write the files (fsynced, in parallel), then commit ``insert``; on any
        failure remove the files, so nothing of the capture remains."""
        self._check_thread()
        with self._writing():  # the files and their rows, both or neither, before close
            try:
                encode_and_write(plans, self._write_one, compression=self.compression)
            except WriteFailed as failed:
                self._discard(failed.written)
                exc = failed.__cause__
                if isinstance(exc, OSError):
                    name = exc.filename or self.root
                    raise StoreError(f"cannot write {name}: {os_reason(exc)}") from None
                raise exc from None
            try:
                return self._commit(insert)
            except BaseException:
                self._discard(r for p in plans for r in p.rels)
                raise

    def capture(self, capture_id: int) -> Capture:
        row = (
            self._reader()
            .execute(
                f"SELECT {CAPTURE_COLUMNS} FROM captures c JOIN files f ON f.id = c.file_id "
                "WHERE c.id = ?",
                (int(capture_id),),
            )
            .fetchone()
        )
        if row is None:
            raise KeyError(f"no capture {capture_id}")
        return capture_from_row(row)

    def captures(
        self,
        session_id: int,
        *,
        kind: str | None = None,
        members: bool = False,
        newest: int | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> list[Capture]:
        """A session's captures in order; burst members only with ``members=True``; only the
        last ``newest`` of them when given (a night's session holds thousands); or, a page at
        a time, the first ``limit`` with an id above ``after``."""
        sql = (
            f"SELECT {CAPTURE_COLUMNS} FROM captures c JOIN files f ON f.id = c.file_id "
            "WHERE c.session_id = ?"
        )
        params: list[Any] = [int(session_id)]
        if after is not None:
            sql += " AND c.id > ?"
            params.append(int(after))
        if kind is not None:
            sql += " AND c.kind = ?"
            params.append(kind)
        if not members:
            sql += " AND c.burst_of IS NULL"
        if newest is None:
            sql += " ORDER BY c.id" if limit is None else " ORDER BY c.id LIMIT ?"
            rows = self._reader().execute(sql, params + ([] if limit is None else [int(limit)]))
            rows = rows.fetchall()
        else:
            sql += " ORDER BY c.id DESC LIMIT ?"
            rows = self._reader().execute(sql, [*params, int(newest)]).fetchall()[::-1]
        return [capture_from_row(r) for r in rows]

    def burst_members(self, capture_id: int) -> list[Capture]:
        """The frames a burst capture combines (empty for a single-frame capture)."""
        rows = (
            self._reader()
            .execute(
                f"SELECT {CAPTURE_COLUMNS} FROM captures c JOIN files f ON f.id = c.file_id "
                "WHERE c.burst_of = ? ORDER BY c.burst_index",
                (int(capture_id),),
            )
            .fetchall()
        )
        return [capture_from_row(r) for r in rows]

    def read_image(self, item: Capture | int | str) -> np.ndarray:
        """The pixels of a capture (or of a stored file path), exactly as captured."""
        if isinstance(item, int):
            item = self.capture(item)
        rel = item.path if isinstance(item, Capture) else str(item)
        path = self.root / rel
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise StoreError(f"{path}: file missing (see the store's lost+found)") from None
        return decode_png(data, str(path))

    # -- pairs -------------------------------------------------------------------------------
    def add_pair(
        self,
        session_id: int,
        *,
        night_id: int,
        day_ids: Sequence[int],
        alignment: Alignment | Mapping[str, Any] | None = None,
        leak_params: LeakMaskParams | Mapping[str, Any] | None = None,
        ssim_mean: float | None = None,
        leak_area_pct: float | None = None,
        created_at: float | None = None,
    ) -> Pair:
        """Record a day/night pair (``day_ids``: the day reference, one or more captures).

        ``alignment`` is an `alignment.Alignment` (or a dict with ``ok, method, motion, score,
        reason, matrix``); ``leak_params`` a `LeakMaskParams` or dict. All may come later
        through `update_pair`. ``created_at`` (default now) is for imports.
        """
        day_ids = [int(i) for i in day_ids]
        if not day_ids:
            raise ValueError("a pair needs at least one day capture")
        self._check_kinds(session_id, night_id, day_ids)
        cols = pair_columns(alignment, leak_params, ssim_mean, leak_area_pct)
        now = time.time() if created_at is None else float(created_at)

        pair = self.pair(
            self._write(lambda conn: insert_pair(conn, session_id, night_id, day_ids, cols, now))
        )
        self.events.pair_added.emit(pair)
        return pair

    def update_pair(
        self,
        pair_id: int,
        *,
        alignment: Alignment | Mapping[str, Any] | None = None,
        leak_params: LeakMaskParams | Mapping[str, Any] | None = None,
        ssim_mean: float | None = None,
        leak_area_pct: float | None = None,
    ) -> Pair:
        """Replace a pair's alignment results (re-run, accepted nudge) and/or metrics.

        A new ``alignment`` replaces the metrics too: ``ssim_mean`` and ``leak_area_pct``
        measured under the old matrix would be wrong for the new one, so when they are not
        given they are cleared (`engine.pair_views.record_registration` measures them).
        """
        self.pair(pair_id)
        cols = pair_columns(alignment, leak_params, ssim_mean, leak_area_pct)
        if alignment is not None:
            cols.setdefault("ssim_mean", None)
            cols.setdefault("leak_area_pct", None)
        if cols:
            sets = ", ".join(f"{k} = ?" for k in cols)
            self._write(
                lambda c: c.execute(
                    f"UPDATE pairs SET {sets} WHERE id = ?", [*cols.values(), pair_id]
                )
            )
        pair = self.pair(pair_id)
        self.events.pair_changed.emit(pair)
        return pair

    def _check_kinds(self, session_id: int, night_id: int, day_ids: list[int]) -> None:
        for cid, want in [(night_id, "night"), *[(d, "day") for d in day_ids]]:
            cap = self.capture(cid)
            if cap.session_id != session_id:
                raise ValueError(f"capture {cid} belongs to session {cap.session_id}")
            if cap.kind != want:
                raise ValueError(f"capture {cid} is a {cap.kind} capture, expected {want}")

    def pair(self, pair_id: int) -> Pair:
        conn = self._reader()
        rows = conn.execute(
            f"SELECT {PAIR_COLUMNS} FROM pairs p WHERE p.id = ?", (int(pair_id),)
        ).fetchall()
        if not rows:
            raise KeyError(f"no pair {pair_id}")
        return pairs_from_rows(conn, rows, verdict_runs=self.schema >= 3)[0]

    def pairs(self, query: PairQuery | None = None, **criteria: Any) -> list[Pair]:
        """A page of pairs: ``store.pairs(verdict="fail", sort="-leak_area_pct", limit=50)``.

        Keyword arguments build a `PairQuery` when ``query`` is not given.
        """
        q = query or PairQuery(**criteria)
        sql, params = pair_query_sql(q)
        conn = self._reader()
        conn.execute("BEGIN")  # one snapshot for the page and its days/tags
        try:
            return pairs_from_rows(
                conn, conn.execute(sql, params).fetchall(), verdict_runs=self.schema >= 3
            )
        finally:
            conn.execute("COMMIT")

    def pair_page(self, query: PairQuery) -> PairPage:
        """A page of pairs with its position among the matches and their count, read in one
        snapshot (what the QA grid shows: "pairs 1,201-1,400 of 3,000").

        With ``query.start`` the page begins at that pair (or where it would be); when no
        match is left there or at ``query.offset`` (the pairs at the end were judged out of a
        "not judged" list), the page is the last one.
        """
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            total = self._count(conn, pair_query_sql(query, count=True))
            rows = conn.execute(*pair_query_sql(query)).fetchall()
            if not total:
                position = 0
            elif rows:
                position = (
                    query.offset
                    if query.start is None
                    else self._count(conn, pair_query_sql(query, before_start=True))
                )
            else:  # past the last match (an offset or a start): the last page
                position = max(0, total - (query.limit or total))
                last = replace(query, start=None, offset=position)
                rows = conn.execute(*pair_query_sql(last)).fetchall()
            return PairPage(
                pairs_from_rows(conn, rows, verdict_runs=self.schema >= 3), position, total
            )
        finally:
            conn.execute("COMMIT")

    @staticmethod
    def _count(conn: sqlite3.Connection, sql_params: tuple[str, list[Any]]) -> int:
        return int(conn.execute(*sql_params).fetchone()[0])

    def count_pairs(self, query: PairQuery | None = None, **criteria: Any) -> int:
        """How many pairs match (ignores the page)."""
        q = query or PairQuery(**criteria)
        sql, params = pair_query_sql(q, count=True)
        return int(self._reader().execute(sql, params).fetchone()[0])

    # -- runs --------------------------------------------------------------------------------
    def add_run(
        self,
        pair_id: int,
        *,
        model_name: str,
        model_sha256: str,
        params: Mapping[str, Any] | None = None,
        outputs: Mapping[str, np.ndarray | bytes] | None = None,
        metrics: Mapping[str, Any] | None = None,
        timings_ms: Mapping[str, float] | None = None,
        created_at: float | None = None,
    ) -> Run:
        """Record one processing of a pair; ``outputs`` (role -> image) become lossless PNGs
        (PNG bytes, from an import, are checked and kept byte for byte)."""
        pair = self.pair(pair_id)
        uid = self._uids.get(pair.session_id) or self._uid(pair.session_id)
        files = []
        for role, image in (outputs or {}).items():
            if not role.replace("_", "").isalnum():
                raise ValueError(f"output role must be a plain word, got {role!r}")
            if isinstance(image, (bytes, bytearray, memoryview)):
                data = bytes(image)
                decode_png(data, f"run output {role}")  # a PNG, or one line saying not
            else:
                data = encode_png(image, f"run output {role}", compression=self.compression)
            files.append((role, f"{FILES_ROOT}/{uid}/runs/{new_file_name(role)}", data))
        texts = (dumps(dict(params or {})), dumps(dict(metrics or {})),
                 dumps(dict(timings_ms or {})))  # fmt: skip
        now = time.time() if created_at is None else float(created_at)

        def insert(conn):
            rid = conn.execute(
                "INSERT INTO runs (pair_id, model_name, model_sha256, params_json, metrics_json, "
                "timings_json, created_at) VALUES (?,?,?,?,?,?,?)",
                (pair_id, model_name, model_sha256, *texts, now),
            ).lastrowid
            for role, rel, data in files:
                fid = conn.execute(
                    "INSERT INTO files (path, sha256, size, created_at) VALUES (?,?,?,?)",
                    (rel, sha256_hex(data), len(data), now),
                ).lastrowid
                conn.execute(
                    "INSERT INTO run_outputs (run_id, role, file_id) VALUES (?,?,?)",
                    (rid, role, fid),
                )
            return rid

        self._check_thread()
        with self._writing():  # the files and their rows, both or neither, before close
            self._write_files([(rel, data) for _r, rel, data in files])
            try:
                rid = self._commit(insert)
            except BaseException:
                self._discard(rel for _r, rel, _d in files)
                raise
            run = self.run(rid)  # before close: the caller is told what committed
        self.events.run_added.emit(run)
        return run

    def run(self, run_id: int) -> Run:
        runs = self._runs("r.id = ?", int(run_id))
        if not runs:
            raise KeyError(f"no run {run_id}")
        return runs[0]

    def pair_ids_without_run(self, session_id: int, model_sha256: str) -> list[int]:
        """A session's pairs (ids, oldest first) that have no run of this model: what the app's
        "Process pairs without a run" does and counts (one query, cheap at every new pair)."""
        rows = (
            self._reader()
            .execute(
                "SELECT p.id FROM pairs p WHERE p.session_id = ? AND NOT EXISTS "
                "(SELECT 1 FROM runs r WHERE r.pair_id = p.id AND r.model_sha256 = ?) "
                "ORDER BY p.id",
                (int(session_id), str(model_sha256)),
            )
            .fetchall()
        )
        return [int(r[0]) for r in rows]

    def runs(self, pair_id: int) -> list[Run]:
        """Every run of a pair, oldest first."""
        return self._runs("r.pair_id = ?", int(pair_id))

    def _runs(self, where: str, value: int) -> list[Run]:
        conn = self._reader()
        rows = conn.execute(
            "SELECT r.id, r.pair_id, r.model_name, r.model_sha256, r.params_json, "
            f"r.metrics_json, r.timings_json, r.created_at FROM runs r WHERE {where} ORDER BY r.id",
            (value,),
        ).fetchall()
        out = []
        for row in rows:
            outputs = dict(
                conn.execute(
                    "SELECT o.role, f.path FROM run_outputs o JOIN files f ON f.id = o.file_id "
                    "WHERE o.run_id = ? ORDER BY o.role",
                    (row[0],),
                ).fetchall()
            )
            out.append(run_from_row(row, outputs))
        return out

    # -- verdicts, tags, log -----------------------------------------------------------------
    def set_verdict(
        self,
        pair_id: int,
        verdict: str,
        *,
        note: str = "",
        operator: str = "",
        created_at: float | None = None,
        run_id: int | None = None,
    ) -> Verdict:
        """Judge a pair; earlier verdicts stay in the history, the latest wins.

        ``run_id``: the stored run of this pair whose outputs were judged (the QA panel showed
        them); None when the judge saw the live model's render.
        """
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
        self.pair(pair_id)
        if run_id is not None:
            run_id = int(run_id)
            if self.run(run_id).pair_id != int(pair_id):  # KeyError for an unknown run
                raise ValueError(f"run {run_id} is not a run of pair {pair_id}")
        now = time.time() if created_at is None else float(created_at)
        vid = self._write(
            lambda c: (
                c.execute(
                    "INSERT INTO verdicts (pair_id, verdict, note, operator, created_at, run_id) "
                    "VALUES (?,?,?,?,?,?)",
                    (pair_id, verdict, note, operator, now, run_id),
                ).lastrowid
            )
        )
        v = Verdict(vid, int(pair_id), verdict, note, operator, now, run_id)
        self.events.verdict_set.emit(v)
        return v

    def verdicts(self, pair_id: int) -> list[Verdict]:
        """A pair's verdict history, oldest first (the last one is in force)."""
        rows = self._reader().execute(
            "SELECT id, pair_id, verdict, note, operator, created_at, "
            + ("run_id" if self.schema >= 3 else "NULL")  # (a v2 record read as it is)
            + " FROM verdicts "
            "WHERE pair_id = ? ORDER BY id",
            (int(pair_id),),
        )
        return [verdict_from_row(r) for r in rows]

    def add_tags(self, pair_id: int, *tags: str) -> tuple[str, ...]:
        clean = clean_tags(tags)
        self.pair(pair_id)
        self._write(
            lambda c: c.executemany(
                "INSERT OR IGNORE INTO tags (pair_id, tag) VALUES (?, ?)",
                [(pair_id, t) for t in clean],
            )
        )
        now = self.pair(pair_id).tags
        self.events.tags_changed.emit(int(pair_id), now)
        return now

    def remove_tags(self, pair_id: int, *tags: str) -> tuple[str, ...]:
        clean = clean_tags(tags)
        self._write(
            lambda c: c.executemany(
                "DELETE FROM tags WHERE pair_id = ? AND tag = ?", [(pair_id, t) for t in clean]
            )
        )
        now = self.pair(pair_id).tags
        self.events.tags_changed.emit(int(pair_id), now)
        return now

    def log(self, session_id: int, kind: str, message: str, *, at: float | None = None) -> LogEntry:
        """Add a line to a session's log (what was captured, missed, camera gaps)."""
        at = time.time() if at is None else float(at)
        lid = self._write(
            lambda c: (
                c.execute(
                    "INSERT INTO session_log (session_id, at, kind, message) VALUES (?,?,?,?)",
                    (session_id, at, kind, message),
                ).lastrowid
            )
        )
        entry = LogEntry(lid, int(session_id), at, kind, message)
        self.events.logged.emit(entry)
        return entry

    def log_entries(self, session_id: int) -> list[LogEntry]:
        rows = self._reader().execute(
            "SELECT id, session_id, at, kind, message FROM session_log WHERE session_id = ? "
            "ORDER BY id",
            (int(session_id),),
        )
        return [log_from_row(r) for r in rows]

    # -- consistency -------------------------------------------------------------------------
    def reconcile(self) -> ReconcileReport:
        """Compare the files on disk with the rows: move strays aside, flag missing files.

        Runs at every writable open. Files without a row and half-written temporary files go
        to ``lost+found/<time>/`` (with a ``report.json``); rows whose file is gone get
        ``missing_since`` set and are reported. Nothing is deleted.
        """
        if self._writer is None:
            raise StoreError("reconcile needs the store open for writing")
        report = reconcile_files(self.root, self._reader(), self._write)
        self.last_reconcile = report
        if not report.clean or report.restored:
            self.events.reconciled.emit(report)
        return report

    def verify(self, session_id: int | None = None) -> list[str]:
        """Re-read files and compare checksums; returns one line per problem (empty = sound)."""
        return verify_files(self.root, self._reader(), session_id)

    def count_files(self, session_id: int | None = None) -> int:
        """How many files `verify` checks (one session's, or all)."""
        return len(session_files(self._reader(), session_id))
