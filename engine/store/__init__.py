"""The experiment record: sessions, captures, pairs, runs, verdicts and tags (Qt-free).

SQLite (stdlib ``sqlite3``) in WAL mode holds the records; every image is a lossless PNG under
the data folder, written atomically *before* the row that points to it commits, so a capture
is either wholly there or not at all. One writer thread owns the write connection; readers
open their own. Events (psygnal, `StoreEvents`) fire after each commit, on the thread that
asked for the change: a Qt consumer hops to the GUI thread through a queued signal.

Public API
----------
- `Store(data_dir=None, *, read_only=False, compression="huffman")`: open (migrate,
  reconcile) a data folder. Writes block until committed, so call them off the GUI thread
  (``disallow_writes_on(gui_thread)`` makes one that slipped there raise): ``create_session``,
  ``update_session``, ``change_session_settings``, ``close_session``, ``delete_session``,
  ``add_capture``, ``add_frame``,
  ``add_burst``, ``capture_pair`` (day + night + pair in one commit),
  ``add_pair_with_captures`` (several day captures + night + pair in one commit), ``add_pair``,
  ``update_pair``, ``add_run``, ``set_verdict`` (``run_id``: the stored run judged), ``add_tags``,
  ``remove_tags``, ``log``.
  For imports, images may be given as PNG bytes (kept byte for byte) and times as
  ``uid``/``created_at``/``taken_at``/``at`` arguments.
  Reads: ``sessions``, ``session(id|uid|name)``, ``captures``, ``capture``,
  ``burst_members``, ``read_image``, ``pair``, ``pairs(PairQuery | **criteria)``,
  ``pair_page(PairQuery)`` (a page, its position and the count), ``count_pairs``, ``runs``,
  ``run``, ``verdicts``, ``log_entries``, ``path``. Consistency:
  ``reconcile`` (run at every writable open), ``verify`` (checksums), ``last_reconcile``.
- Records: `Session`, `Capture`, `Pair`, `Run`, `Verdict`, `LogEntry`, `ReconcileReport`;
  `PairQuery` (filter by verdict / tag / metric ranges, sort, page by offset or by seek),
  `PairPage`; `VERDICTS`, `METRICS`.
- `resolve_data_dir(path=None)`: ``--data-dir``, else ``$NIGHTLAB_DATA_DIR``, else the
  platform user data folder. `SCHEMA_VERSION`, `migrate` (``PRAGMA user_version``);
  `READABLE_FROM`: the oldest schema a read-only store reads without upgrading it.
- `recorded_session_name(data_dir, uid)`: a session's name read without opening the store (no
  lock, no migration, any schema version up to this one): what a replay of its folder shows.
- Errors: `StoreError` (one line for the user), `StoreBusy` (another process writes the
  folder); bad arguments raise ``ValueError``, unknown ids ``KeyError``.

Layout of a data folder::

    nightlab.sqlite3 (+ -wal, -shm)
    sessions/<session uid>/captures/<UTC time>-<kind>-<random>.png
    sessions/<session uid>/runs/<UTC time>-<role>-<random>.png
    lost+found/<UTC time>/...     files reconcile could not account for, with report.json

Examples
--------
>>> import numpy as np, tempfile
>>> with Store(tempfile.mkdtemp()) as store:
...     s = store.create_session("roof", operator="ana")
...     day = store.add_capture(s.id, np.zeros((48, 64, 3), np.uint8), kind="day")
...     night = store.add_capture(s.id, np.zeros((48, 64), np.uint8), kind="night")
...     pair = store.add_pair(s.id, night_id=night.id, day_ids=[day.id])
...     _ = store.set_verdict(pair.id, "pass", note="sharp")
...     [p.verdict for p in store.pairs(session_id=s.id)]
['pass']
"""

from engine.store._events import StoreEvents
from engine.store._paths import (
    DATA_DIR_ENV,
    DB_NAME,
    database_problem,
    default_data_dir,
    resolve_data_dir,
)
from engine.store._peek import recorded_session_name
from engine.store._records import (
    METRICS,
    SORT_KEYS,
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
from engine.store._restore import restore_session
from engine.store._rows import SESSION_TEXT_LIMITS, check_session_text, clean_tags
from engine.store._schema import READABLE_FROM, SCHEMA_VERSION, migrate, schema_version
from engine.store._store import Store, StoreBusy, StoreError, folder_writer

__all__ = [
    "DATA_DIR_ENV",
    "DB_NAME",
    "METRICS",
    "READABLE_FROM",
    "SCHEMA_VERSION",
    "SESSION_TEXT_LIMITS",
    "SORT_KEYS",
    "VERDICTS",
    "Capture",
    "LogEntry",
    "Pair",
    "PairPage",
    "PairQuery",
    "ReconcileReport",
    "Run",
    "Session",
    "Store",
    "StoreBusy",
    "StoreError",
    "StoreEvents",
    "Verdict",
    "folder_writer",
    "check_session_text",
    "clean_tags",
    "database_problem",
    "default_data_dir",
    "migrate",
    "recorded_session_name",
    "resolve_data_dir",
    "restore_session",
    "schema_version",
]
