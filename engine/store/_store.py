"""`Store`: the experiment record (SQLite in WAL mode + lossless PNG files in a data folder).

Threading: one writer thread owns the write connection (`Writer`); every write method blocks
its caller until the change committed, so call writes off the GUI thread (the capture runner's
thread, a job runner). Reads open one connection per calling thread. Only one process writes a
data folder at a time (an advisory lock), which is what makes reconciling at open safe.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.atomic import write_json_atomic
from engine.store._events import StoreEvents
from engine.store._files import (
    FILES_ROOT,
    decode_png,
    encode_png,
    move_aside,
    new_file_name,
    sha256_hex,
    walk_files,
    write_file,
)
from engine.store._paths import DB_NAME, resolve_data_dir
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
from engine.store._records import (
    VERDICTS,
    Capture,
    LogEntry,
    Pair,
    PairQuery,
    ReconcileReport,
    Run,
    Session,
    Verdict,
)
from engine.store._schema import SCHEMA_VERSION, migrate, schema_version
from engine.store._writer import Writer

if TYPE_CHECKING:
    from engine.camera import Frame, FrameMeta

__all__ = ["Store", "StoreBusy", "StoreError"]

LOCK_NAME = ".writer.lock"


class StoreError(RuntimeError):
    """The store cannot do what was asked; the message is one line for the user."""


class StoreBusy(StoreError):
    """Another process is writing this data folder."""


def _json(data: Any) -> str:
    return json.dumps(data, default=_jsonable, allow_nan=True, sort_keys=True)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _app_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nightlab")
    except PackageNotFoundError:
        return "unknown"


class Store:
    """The experiment record in ``data_dir`` (see `resolve_data_dir`).

    Parameters
    ----------
    data_dir : str or Path, optional
        The data folder; default ``$NIGHTLAB_DATA_DIR`` or the user data folder.
    read_only : bool
        Open for reading only: no lock, no migration, no reconciliation; the database must
        exist. Any number of readers may run beside one writer.

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

    def __init__(self, data_dir: str | os.PathLike[str] | None = None, *, read_only=False):
        self.root = resolve_data_dir(data_dir).absolute()
        self.db_path = self.root / DB_NAME
        self.read_only = bool(read_only)
        self.events = StoreEvents()
        self.last_reconcile: ReconcileReport | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._uids: dict[int, str] = {}
        self._lock_fd: int | None = None
        self._writer: Writer | None = None
        self._closed = False
        if self.read_only:
            if not self.db_path.is_file():
                raise StoreError(f"{self.root}: no NightLab record here yet (nothing captured)")
            version = schema_version(self._reader())
            if version != SCHEMA_VERSION:
                self.close()
                raise StoreError(
                    f"{self.db_path}: schema v{version}, this NightLab reads v{SCHEMA_VERSION}; "
                    + ("upgrade NightLab" if version > SCHEMA_VERSION else "open it once for "
                       "writing (any nightlab command that records) to upgrade it")
                )  # fmt: skip
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._take_lock()
            self._writer = Writer(self._connect_writer)
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(f"{self.db_path}: {exc}") from None
        except OSError as exc:
            self.close()
            raise StoreError(f"{self.root}: cannot open for writing ({_reason(exc)})") from None
        except BaseException:
            self.close()
            raise
        self.reconcile()

    # -- lifecycle --------------------------------------------------------------------------
    def _take_lock(self) -> None:
        fd = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StoreBusy(
                f"{self.root} is being written by another NightLab process (pid {pid}); "
                "close it first or use another --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

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
                self._readers.append(conn)
        return conn

    def close(self) -> None:
        """Finish queued writes, close every connection, release the folder."""
        self._closed = True
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        with self._readers_lock:
            for conn in self._readers:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._readers.clear()
        self._local = threading.local()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def writer_thread(self) -> threading.Thread | None:
        """The thread every write runs on (None for a read-only store)."""
        return None if self._writer is None else self._writer.thread

    def _write(self, fn):
        if self._writer is None:
            raise StoreError(
                f"{self.root}: opened read-only" if self.read_only else "the store is closed"
            )
        try:
            return self._writer.call(fn)
        except sqlite3.IntegrityError as exc:
            raise ValueError(f"{self.db_path}: {exc}") from None
        except sqlite3.Error as exc:
            raise StoreError(f"{self.db_path}: {exc}") from None

    def _write_files(self, items: Sequence[tuple[str, bytes]]) -> None:
        written = []
        try:
            for rel, data in items:
                write_file(self.root, rel, data)
                written.append(rel)
        except OSError as exc:
            self._discard(written)
            raise StoreError(f"cannot write {self.root / rel}: {_reason(exc)}") from None

    def _discard(self, rels: Iterable[str]) -> None:
        """Remove files whose row never committed (the caller gets the error instead)."""
        for rel in rels:
            with contextlib.suppress(OSError):
                (self.root / rel).unlink()

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
        uid = uid or uuid.uuid4().hex
        created = time.time() if created_at is None else float(created_at)
        settings_json = _json(dict(settings or {}))
        version = _app_version()

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
        if operator is not None:
            fields["operator"] = operator
        if scene_notes is not None:
            fields["scene_notes"] = scene_notes
        if settings is not None:
            fields["settings_json"] = _json(dict(settings))
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

    def close_session(self, session_id: int) -> Session:
        """Mark a session closed (no more captures). Closing twice keeps the first time."""
        self.session(session_id)
        now = time.time()
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

        self._write(delete)
        shutil.rmtree(self.root / FILES_ROOT / session.uid, ignore_errors=True)
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
        """A session by id, uid or (unique) name.

        Raises
        ------
        KeyError
            No such session (or the name is ambiguous).
        """
        conn = self._reader()
        rows: list = []
        if isinstance(ref, int) or (isinstance(ref, str) and ref.strip().isdigit()):
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
        image: np.ndarray,
        *,
        kind: str,
        meta: FrameMeta | Mapping[str, Any] | None = None,
        controls: Mapping[str, Any] | None = None,
        taken_at: float | None = None,
    ) -> Capture:
        """Record one frame: its PNG is on disk (fsynced) before the row commits.

        Parameters
        ----------
        image : ndarray
            Gray ``(H, W)`` or RGB ``(H, W, 3)`` uint8, stored losslessly at full resolution.
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
        if kind not in ("day", "night"):
            raise ValueError(f"kind must be 'day' or 'night', got {kind!r}")
        images = [np.asarray(i) for i in images]
        if not images:
            raise ValueError("a capture needs at least one image")
        if len({i.shape for i in images}) != 1:
            raise ValueError(f"burst frames differ in shape: {sorted({i.shape for i in images})}")
        metas = list(metas or [None] * len(images))
        if len(metas) != len(images):
            raise ValueError(f"{len(images)} images but {len(metas)} metadata entries")
        meta_dicts = [_meta_dict(m) for m in metas]
        if len(images) == 1:
            combined = images[0]
        else:
            combined = np.rint(np.mean(np.stack(images), axis=0)).astype(np.uint8)
        combined_meta = dict(meta_dicts[0])
        if len(images) > 1:
            combined_meta["burst"] = {"size": len(images), "combine": "mean"}
        taken = _taken_at(taken_at, meta_dicts[0])
        uid = self._uid(session_id, for_capture=True)
        ctrl_json = _json(dict(controls or {}))
        entries = []  # (rel, bytes, image, meta_json, taken_at)
        for idx, (img, md) in enumerate(
            [(combined, combined_meta)] + (list(zip(images, meta_dicts, strict=True))
                                           if len(images) > 1 else [])
        ):  # fmt: skip
            stem = kind if idx == 0 else f"{kind}-m{idx - 1:02d}"
            data = encode_png(img, f"{kind} capture")
            rel = f"{FILES_ROOT}/{uid}/captures/{new_file_name(stem, at=taken)}"
            entries.append((rel, data, img, _json(md), _taken_at(None, md) if idx else taken))
        self._write_files([(e[0], e[1]) for e in entries])
        now = time.time()

        def insert(conn):
            ids = []
            parent = None
            for idx, (rel, data, img, meta_json, t) in enumerate(entries):
                fid = conn.execute(
                    "INSERT INTO files (path, sha256, size, created_at) VALUES (?,?,?,?)",
                    (rel, sha256_hex(data), len(data), now),
                ).lastrowid
                h, w = img.shape[:2]
                ch = 1 if img.ndim == 2 else img.shape[2]
                cid = conn.execute(
                    "INSERT INTO captures (session_id, file_id, kind, width, height, channels, "
                    "taken_at, meta_json, controls_json, burst_of, burst_index, burst_size, "
                    "created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (session_id, fid, kind, w, h, ch, t, meta_json, ctrl_json, parent,
                     None if idx == 0 else idx - 1, len(images) if idx == 0 else 1, now),
                ).lastrowid  # fmt: skip
                parent = parent or cid
                ids.append(cid)
            return ids

        try:
            ids = self._write(insert)
        except BaseException:
            self._discard(e[0] for e in entries)
            raise
        capture = self.capture(ids[0])
        self.events.capture_added.emit(capture)
        return capture

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
        self, session_id: int, *, kind: str | None = None, members: bool = False
    ) -> list[Capture]:
        """A session's captures in order; burst members only with ``members=True``."""
        sql = (
            f"SELECT {CAPTURE_COLUMNS} FROM captures c JOIN files f ON f.id = c.file_id "
            "WHERE c.session_id = ?"
        )
        params: list[Any] = [int(session_id)]
        if kind is not None:
            sql += " AND c.kind = ?"
            params.append(kind)
        if not members:
            sql += " AND c.burst_of IS NULL"
        rows = self._reader().execute(sql + " ORDER BY c.id", params).fetchall()
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
        alignment: Any = None,
        leak_params: Any = None,
        ssim_mean: float | None = None,
        leak_area_pct: float | None = None,
    ) -> Pair:
        """Record a day/night pair (``day_ids``: the day reference, one or more captures).

        ``alignment`` is an `alignment.Alignment` (or a dict with ``ok, method, motion, score,
        reason, matrix``); ``leak_params`` a `LeakMaskParams` or dict. All may come later
        through `update_pair`.
        """
        day_ids = [int(i) for i in day_ids]
        if not day_ids:
            raise ValueError("a pair needs at least one day capture")
        self._check_kinds(session_id, night_id, day_ids)
        cols = _pair_columns(alignment, leak_params, ssim_mean, leak_area_pct)
        now = time.time()

        def insert(conn):
            names = ", ".join(["session_id", "night_id", "created_at", *cols])
            marks = ",".join("?" * (len(cols) + 3))
            pid = conn.execute(
                f"INSERT INTO pairs ({names}) VALUES ({marks})",
                (session_id, night_id, now, *cols.values()),
            ).lastrowid
            conn.executemany(
                "INSERT INTO pair_days (pair_id, capture_id, position) VALUES (?,?,?)",
                [(pid, cid, i) for i, cid in enumerate(day_ids)],
            )
            return pid

        pair = self.pair(self._write(insert))
        self.events.pair_added.emit(pair)
        return pair

    def update_pair(
        self,
        pair_id: int,
        *,
        alignment: Any = None,
        leak_params: Any = None,
        ssim_mean: float | None = None,
        leak_area_pct: float | None = None,
    ) -> Pair:
        """Replace a pair's alignment results (re-run, accepted nudge) and/or metrics."""
        self.pair(pair_id)
        cols = _pair_columns(alignment, leak_params, ssim_mean, leak_area_pct)
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
        return pairs_from_rows(conn, rows)[0]

    def pairs(self, query: PairQuery | None = None, **criteria: Any) -> list[Pair]:
        """A page of pairs: ``store.pairs(verdict="fail", sort="-leak_area_pct", limit=50)``.

        Keyword arguments build a `PairQuery` when ``query`` is not given.
        """
        q = query or PairQuery(**criteria)
        sql, params = pair_query_sql(q)
        conn = self._reader()
        conn.execute("BEGIN")  # one snapshot for the page and its days/tags
        try:
            return pairs_from_rows(conn, conn.execute(sql, params).fetchall())
        finally:
            conn.execute("COMMIT")

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
        outputs: Mapping[str, np.ndarray] | None = None,
        metrics: Mapping[str, Any] | None = None,
        timings_ms: Mapping[str, float] | None = None,
    ) -> Run:
        """Record one processing of a pair; ``outputs`` (role -> image) become lossless PNGs."""
        pair = self.pair(pair_id)
        uid = self._uids.get(pair.session_id) or self._uid(pair.session_id)
        files = []
        for role, image in (outputs or {}).items():
            if not role.replace("_", "").isalnum():
                raise ValueError(f"output role must be a plain word, got {role!r}")
            data = encode_png(image, f"run output {role}")
            files.append((role, f"{FILES_ROOT}/{uid}/runs/{new_file_name(role)}", data))
        texts = (_json(dict(params or {})), _json(dict(metrics or {})),
                 _json(dict(timings_ms or {})))  # fmt: skip
        self._write_files([(rel, data) for _r, rel, data in files])
        now = time.time()

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

        try:
            rid = self._write(insert)
        except BaseException:
            self._discard(rel for _r, rel, _d in files)
            raise
        run = self.run(rid)
        self.events.run_added.emit(run)
        return run

    def run(self, run_id: int) -> Run:
        runs = self._runs("r.id = ?", int(run_id))
        if not runs:
            raise KeyError(f"no run {run_id}")
        return runs[0]

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
        self, pair_id: int, verdict: str, *, note: str = "", operator: str = ""
    ) -> Verdict:
        """Judge a pair; earlier verdicts stay in the history, the latest wins."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
        self.pair(pair_id)
        now = time.time()
        vid = self._write(
            lambda c: (
                c.execute(
                    "INSERT INTO verdicts (pair_id, verdict, note, operator, created_at) "
                    "VALUES (?,?,?,?,?)",
                    (pair_id, verdict, note, operator, now),
                ).lastrowid
            )
        )
        v = Verdict(vid, int(pair_id), verdict, note, operator, now)
        self.events.verdict_set.emit(v)
        return v

    def verdicts(self, pair_id: int) -> list[Verdict]:
        """A pair's verdict history, oldest first (the last one is in force)."""
        rows = self._reader().execute(
            "SELECT id, pair_id, verdict, note, operator, created_at FROM verdicts "
            "WHERE pair_id = ? ORDER BY id",
            (int(pair_id),),
        )
        return [verdict_from_row(r) for r in rows]

    def add_tags(self, pair_id: int, *tags: str) -> tuple[str, ...]:
        clean = _clean_tags(tags)
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
        clean = _clean_tags(tags)
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
        on_disk, partials = walk_files(self.root)
        known = dict(self._reader().execute("SELECT path, missing_since FROM files").fetchall())
        orphans = sorted(on_disk - known.keys())
        missing = sorted(p for p, gone in known.items() if gone is None and p not in on_disk)
        restored = sorted(p for p, gone in known.items() if gone is not None and p in on_disk)
        moved_to = None
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        if orphans or partials:
            moved_to = str(move_aside(self.root, [*orphans, *sorted(partials)], stamp))
        if missing or restored:
            now = time.time()

            def mark(conn):
                conn.executemany(
                    "UPDATE files SET missing_since = ? WHERE path = ?", [(now, p) for p in missing]
                )
                conn.executemany(
                    "UPDATE files SET missing_since = NULL WHERE path = ?", [(p,) for p in restored]
                )

            self._write(mark)
        report = ReconcileReport(
            tuple(orphans), tuple(sorted(partials)), tuple(missing), tuple(restored), moved_to
        )
        if not report.clean:
            target = Path(moved_to) if moved_to else self.root / "lost+found" / stamp
            write_json_atomic(target / "report.json", {"at": stamp, **_report_dict(report)})
            if moved_to is None:
                report = ReconcileReport(report.orphans, report.partials, report.missing,
                                         report.restored, str(target))  # fmt: skip
        self.last_reconcile = report
        if not report.clean or report.restored:
            self.events.reconciled.emit(report)
        return report

    def verify(self, session_id: int | None = None) -> list[str]:
        """Re-read files and compare checksums; returns one line per problem (empty = sound)."""
        sql = "SELECT f.path, f.sha256 FROM files f"
        params: tuple = ()
        if session_id is not None:
            sql += (
                " WHERE f.id IN (SELECT file_id FROM captures WHERE session_id = ?) OR f.id IN "
                "(SELECT o.file_id FROM run_outputs o JOIN runs r ON r.id = o.run_id JOIN pairs "
                "p ON p.id = r.pair_id WHERE p.session_id = ?)"
            )
            params = (session_id, session_id)
        problems = []
        for rel, digest in self._reader().execute(sql, params).fetchall():
            try:
                data = (self.root / rel).read_bytes()
            except FileNotFoundError:
                problems.append(f"{rel}: missing")
                continue
            if sha256_hex(data) != digest:
                problems.append(f"{rel}: checksum mismatch")
        return problems


# -- helpers --------------------------------------------------------------------------------
def _reason(exc: OSError) -> str:
    import errno

    hint = {
        errno.ENOSPC: "disk full",
        errno.EFBIG: "file size limit reached (disk full?)",
        errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied (read-only folder?)",
        errno.EPERM: "operation not permitted",
    }.get(exc.errno or -1)
    return hint or exc.strerror or str(exc)


def _meta_dict(meta: Any) -> dict[str, Any]:
    if meta is None:
        return {}
    if hasattr(meta, "to_dict"):
        return dict(meta.to_dict())
    if isinstance(meta, Mapping):
        return dict(meta)
    raise ValueError(f"meta must be a FrameMeta or a dict, got {type(meta).__name__}")


def _taken_at(explicit: float | None, meta: Mapping[str, Any]) -> float:
    if explicit is not None:
        return float(explicit)
    ts = meta.get("timestamp")
    return float(ts) if isinstance(ts, (int, float)) else time.time()


def _pair_columns(alignment, leak_params, ssim_mean, leak_area_pct) -> dict[str, Any]:
    cols: dict[str, Any] = {}
    if alignment is not None:
        a = alignment if isinstance(alignment, Mapping) else {
            k: getattr(alignment, k, None) for k in ("ok", "method", "motion", "score", "reason",
                                                     "matrix")
        }  # fmt: skip
        matrix = a.get("matrix")
        if matrix is not None:
            m = np.asarray(matrix, float)
            if m.shape != (3, 3) or not np.isfinite(m).all():
                raise ValueError(f"alignment matrix must be a finite 3x3, got shape {m.shape}")
            matrix = _json(m.tolist())
        cols.update(
            aligned_ok=None if a.get("ok") is None else int(bool(a.get("ok"))),
            method=a.get("method"),
            motion=a.get("motion"),
            score=None if a.get("score") is None else float(a["score"]),
            reason=a.get("reason") or "",
            matrix_json=matrix,
        )
    if leak_params is not None:
        cols["leak_params_json"] = _json(
            leak_params if isinstance(leak_params, Mapping) else _jsonable(leak_params)
        )
    if ssim_mean is not None:
        cols["ssim_mean"] = float(ssim_mean)
    if leak_area_pct is not None:
        cols["leak_area_pct"] = float(leak_area_pct)
    return cols


def _clean_tags(tags: Iterable[str]) -> list[str]:
    clean = []
    for t in tags:
        t = str(t).strip()
        if not t or len(t) > 64 or any(ch in t for ch in ",\n\t"):
            raise ValueError(f"a tag is 1-64 characters without commas or tabs, got {t!r}")
        clean.append(t)
    return clean


def _report_dict(report: ReconcileReport) -> dict[str, Any]:
    return {
        "orphans": list(report.orphans),
        "partials": list(report.partials),
        "missing": list(report.missing),
        "restored": list(report.restored),
    }
