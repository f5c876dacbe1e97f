"""An export's generated files and file list, written to disk as they are made, so an export
holds a few records at a time however many pairs the session has.

A night of 3,000 pairs with two runs each made a manifest of ~245 MiB as Python objects and
60 MB of text (629 MiB peak RSS for the whole export). Here each record is checked (schema and
references, `engine.exchange._manifest`), dumped and appended to a temporary file as soon as it
is made; the CSV's rows wait in another (its header needs every pair's run columns first); the
list of files to copy goes into a temporary SQLite table, which gives them back sorted (the
bag's documented order) without holding them. `SpoolBuilder.finish` then writes
``manifest.json`` and ``metrics.csv`` in exactly the bytes ``json.dumps(manifest, indent=2,
ensure_ascii=False)`` and `metrics_csv` give for the whole manifest.

The temporary files are anonymous (``tempfile.TemporaryFile``): nothing is left behind by a
failure, a cancel or a kill. An export puts them beside its bag, on the disk that has room for
it (a ``/tmp`` in memory would hold them in RAM).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from engine.exchange._csv import METRICS_COLUMNS, metrics_row, write_metrics_csv
from engine.exchange._manifest import References, check_manifest_head, check_record

__all__ = ["GENERATED", "SpoolBuilder", "SpooledPlan"]

#: What the exporter writes into ``data/`` itself.
GENERATED = ("manifest.json", "metrics.csv")
_INDENT = "  "


def _dumped(value: Any, level: int) -> str:
    """``value`` as it appears at nesting ``level`` of ``json.dumps(.., indent=2)``: JSON text
    has no raw newline inside a string, so every newline is a line break to indent."""
    text = json.dumps(value, indent=2, ensure_ascii=False)
    return text.replace("\n", "\n" + _INDENT * level)


class _ListSpool:
    """The items of one top-level JSON list, dumped at their depth, in a temporary file."""

    def __init__(self, folder: str | None) -> None:
        self.file = tempfile.TemporaryFile(dir=folder)
        self.count = 0

    def append(self, item: Any) -> None:
        sep = b",\n" if self.count else b""
        self.file.write(sep + (_INDENT * 2 + _dumped(item, 2)).encode("utf-8"))
        self.count += 1

    def write_to(self, out: IO[bytes]) -> None:
        """``[]``, or ``[`` the items ``]`` as the indented dump lays out a list at level 1."""
        if not self.count:
            out.write(b"[]")
            return
        out.write(b"[\n")
        self.file.seek(0)
        while chunk := self.file.read(1 << 20):
            out.write(chunk)
        out.write(("\n" + _INDENT + "]").encode())


class _HashingFile:
    """Writes to a file and hashes what it writes."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file, self.sha, self.size = file, hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self.sha.update(data)
        self.size += len(data)


@dataclass
class Generated:
    """A file the exporter made: its bytes wait in ``file``."""

    file: IO[bytes]
    size: int
    sha256: str

    def chunks(self) -> Iterator[bytes]:
        self.file.seek(0)
        while chunk := self.file.read(1 << 20):
            yield chunk


@dataclass
class SpooledPlan:
    """A bag's contents ready to write (`engine.exchange.write_bag`): ``generated`` maps a
    name under ``data/`` to its bytes on disk; `sources` gives the files to copy, sorted."""

    generated: dict[str, Generated]
    pairs: int
    captures: int
    runs: int
    files: int
    pairs_without_run: int
    source_bytes: int
    """Bytes of the files to copy (an export dialog's size estimate)."""
    app_version: str
    info: Mapping[str, str] = field(default_factory=dict)
    _db: sqlite3.Connection | None = None

    def sources(self) -> Iterator[tuple[str, str, str | None]]:
        """``(name under data/, file to copy, expected sha256 or None)``, sorted by name."""
        assert self._db is not None, "the plan was closed"
        yield from self._db.execute("SELECT name, path, sha256 FROM sources ORDER BY name")

    def close(self) -> None:
        for g in self.generated.values():
            g.file.close()
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> SpooledPlan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SpoolBuilder:
    """Collects a manifest record by record (`capture`, `pair`, `add_source`) and `finish`es
    it into a `SpooledPlan`. ``check`` runs the schema on every record as it comes (off for a
    manifest already validated whole); the references are always checked."""

    def __init__(self, folder: str | os.PathLike[str] | None = None, *, check: bool = True):
        self.folder = None if folder is None else os.fspath(folder)
        self.check = check
        self.refs = References()
        self._stack = contextlib.ExitStack()
        try:
            self.captures = _ListSpool(self.folder)
            self._stack.callback(self.captures.file.close)
            self.pairs = _ListSpool(self.folder)
            self._stack.callback(self.pairs.file.close)
            self.rows = self._stack.enter_context(tempfile.TemporaryFile(dir=self.folder))
            # "" is SQLite's private temporary database: a small cache, then a file in its
            # temporary folder, gone on close. The plan may be written from another thread
            # than the one that made it (one at a time).
            self.db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
            self._stack.callback(self.db.close)
            self.db.execute(
                "CREATE TABLE sources (name TEXT PRIMARY KEY, path TEXT NOT NULL, sha256 TEXT)"
            )
            self.db.execute("BEGIN")
        except BaseException:
            self._stack.close()
            raise
        self.run_keys: set[str] = set()
        self.n_sources = 0
        self.source_bytes = 0
        self.n_runs = 0
        self.without_run = 0

    def add_source(self, name: str, path: Path, sha256: str | None = None) -> str:
        """A file to copy to ``data/<name>``; checked present now, before anything is written."""
        if name in GENERATED:
            raise ValueError(f"data/{name} is written by the exporter itself")
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: file missing (for data/{name})") from None
        self.db.execute("INSERT INTO sources VALUES (?, ?, ?)", (name, os.fspath(path), sha256))
        self.n_sources += 1
        self.source_bytes += size
        return name

    def has_source(self, name: str) -> bool:
        return (
            self.db.execute("SELECT 1 FROM sources WHERE name = ?", (name,)).fetchone() is not None
        )

    def capture(self, record: dict[str, Any]) -> None:
        i = self.captures.count
        if self.check:
            check_record("captures", i, record)
            self._in_bag(record["file"])
        self.refs.capture(i, record)
        self.captures.append(record)

    def pair(self, record: dict[str, Any]) -> None:
        i = self.pairs.count
        if self.check:
            check_record("pairs", i, record)
            files = record["files"]
            for name in [files["night"], *files["day"]]:
                self._in_bag(name)
            for run in record["runs"]:
                for name in run["outputs"].values():
                    self._in_bag(name)
        self.refs.pair(i, record)
        self.pairs.append(record)
        row = metrics_row(record)
        self.run_keys.update(k for k in row if k not in METRICS_COLUMNS)
        self.rows.write(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
        self.n_runs += len(record["runs"])
        self.without_run += record["chosen_run"] is None

    def _in_bag(self, name: str) -> None:
        if not self.has_source(name):
            from engine.exchange._errors import BagRejected

            raise BagRejected(f"data/manifest.json: names data/{name}, which is not in the bag")

    def counts(self) -> dict[str, int]:
        return {
            "pairs": self.pairs.count,
            "captures": self.captures.count,
            "runs": self.n_runs,
            "files": self.n_sources + len(GENERATED),
        }

    def finish(self, head: dict[str, Any], info: Mapping[str, str]) -> SpooledPlan:
        """The plan, with ``head`` (the manifest's other fields, in order; ``captures``,
        ``pairs`` and ``counts`` go where they stand in it) checked and written around the
        records. The builder's files now belong to the plan."""
        counts = head["counts"]
        if self.check:
            check_manifest_head({**head, "captures": [], "pairs": []})
        self.refs.done(counts)
        self.db.execute("COMMIT")
        manifest = self._manifest(head)
        try:
            csv_file = self._csv()
        except BaseException:
            # nothing owns the manifest yet: closed now, not when the traceback is collected
            manifest.file.close()
            raise
        plan = SpooledPlan(
            generated={"manifest.json": manifest, "metrics.csv": csv_file},
            pairs=counts["pairs"],
            captures=counts["captures"],
            runs=counts["runs"],
            files=counts["files"],
            pairs_without_run=self.without_run,
            source_bytes=self.source_bytes,
            app_version=head["provenance"]["app_version"],
            info=dict(info),
            _db=self.db,
        )
        self._stack.pop_all()  # the plan closes the database and the finished files
        self.captures.file.close()
        self.pairs.file.close()
        self.rows.close()
        return plan

    def _manifest(self, head: dict[str, Any]) -> Generated:
        spools = {"captures": self.captures, "pairs": self.pairs}
        out = _HashingFile(tempfile.TemporaryFile(dir=self.folder))
        try:
            out.write(b"{\n")
            for k, (key, value) in enumerate(head.items()):
                out.write(f"{_INDENT}{json.dumps(key, ensure_ascii=False)}: ".encode())
                if key in spools:
                    spools[key].write_to(out)
                else:
                    out.write(_dumped(value, 1).encode("utf-8"))
                out.write(b",\n" if k < len(head) - 1 else b"\n")
            out.write(b"}\n")
        except BaseException:
            out.file.close()
            raise
        return Generated(out.file, out.size, out.sha.hexdigest())

    def _csv(self) -> Generated:
        out = _HashingFile(tempfile.TemporaryFile(dir=self.folder))
        try:
            self.rows.seek(0)
            rows = (json.loads(line) for line in self.rows)
            write_metrics_csv(_Utf8(out), rows, self.run_keys)
        except BaseException:
            out.file.close()
            raise
        return Generated(out.file, out.size, out.sha.hexdigest())

    def close(self) -> None:
        """Drop everything (the plan was not finished: an error, a cancel)."""
        self._stack.close()


class _Utf8:
    """What `csv.writer` writes to: text, stored as UTF-8."""

    def __init__(self, target: _HashingFile) -> None:
        self.target = target

    def write(self, text: str) -> int:
        self.target.write(text.encode("utf-8"))
        return len(text)
