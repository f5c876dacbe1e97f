"""A damaged experiment record (the SQLite database under the data folder): every command that
reads it says so in one line naming the database, exits non-zero and changes nothing.

Before: ``nightlab sessions list | show | verify | export`` on a database that was not one, or
whose pages were damaged, ended in a ``sqlite3.DatabaseError`` traceback; the commands that
write (``ingest``, ``qa``) already said it in one line."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

import cli
from engine.store import DB_NAME, Store, StoreError


def _recorded(root) -> None:
    """A real record: one session, two captures; its WAL checkpointed."""
    with Store(root) as store:
        s = store.create_session("roof")
        store.add_capture(s.id, np.full((24, 32, 3), 90, np.uint8), kind="day")
        store.add_capture(s.id, np.full((24, 32), 40, np.uint8), kind="night")
    conn = sqlite3.connect(root / DB_NAME)  # every page in the main file, none in the WAL
    assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
    conn.close()


def _damage_all_but_sessions(db) -> None:
    """Overwrite the root page of every table and index but ``sessions`` with garbage: the
    schema still parses and the open check (which reads ``sessions``) passes, so the damage
    shows only when a query reads another table, as the captures' counts do."""
    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    roots = [r for (r,) in conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE rootpage > 1 AND tbl_name != 'sessions'"
    )]  # fmt: skip
    conn.close()
    assert roots
    with open(db, "r+b") as f:
        for root_page in roots:
            f.seek((root_page - 1) * page_size)
            f.write(b"\xa5" * page_size)


def _one_error_line(capsys, db) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert str(db) in lines[0] and "damaged" in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "argv",
    [["sessions", "list"], ["sessions", "show", "1"], ["sessions", "verify", "1"]],
    ids=["list", "show", "verify"],
)
def test_reading_a_file_that_is_not_a_database_is_one_line_naming_it(tmp_path, capsys, argv):
    db = tmp_path / DB_NAME
    garbage = b"not a sqlite database, garbage " * 200
    db.write_bytes(garbage)
    assert cli.main([*argv, "--data-dir", str(tmp_path)]) == 2
    assert "not a database" in _one_error_line(capsys, db)
    assert db.read_bytes() == garbage


def test_read_only_open_of_a_damaged_schema_raises_store_error_naming_the_database(tmp_path):
    _recorded(tmp_path)
    db = tmp_path / DB_NAME
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA writable_schema=ON")  # a schema row whose SQL no longer parses
    conn.execute("UPDATE sqlite_master SET sql = 'CREATE TABLE sessions (' WHERE name='sessions'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="malformed database schema") as err:
        Store(tmp_path, read_only=True)
    assert str(db) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "argv",
    [["sessions", "list"], ["sessions", "show", "1"]],
    ids=["list", "show"],
)
def test_a_table_damaged_past_the_open_check_is_one_line_not_a_traceback(tmp_path, capsys, argv):
    _recorded(tmp_path)
    db = tmp_path / DB_NAME
    _damage_all_but_sessions(db)  # both commands count the captures
    before = db.read_bytes()
    assert cli.main([*argv, "--data-dir", str(tmp_path)]) == 2
    _one_error_line(capsys, db)
    assert db.read_bytes() == before


def test_export_from_a_damaged_record_writes_no_bag(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    db = data / DB_NAME
    db.write_bytes(b"garbage " * 500)
    out = tmp_path / "bag"
    assert cli.main(["sessions", "export", "1", "--out", str(out), "--data-dir", str(data)]) == 2
    _one_error_line(capsys, db)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_doctor_fails_on_a_damaged_record_and_passes_an_intact_one(tmp_path):
    # Before: doctor said "data directory ...: writable" and exited 0 while every session
    # command refused the folder's database
    from cli._doctor import FAIL, OK, check_record

    assert check_record(tmp_path) == (
        OK, f"record {tmp_path / DB_NAME}: none yet (the first capture or session makes it)"
    )  # fmt: skip
    _recorded(tmp_path)
    assert check_record(tmp_path) == (OK, f"record {tmp_path / DB_NAME}: intact, 1 session")
    db = tmp_path / DB_NAME
    _damage_all_but_sessions(db)
    before = db.read_bytes()
    status, line = check_record(tmp_path)
    assert status == FAIL and line.startswith(f"record {db}: damaged ("), line
    assert db.read_bytes() == before  # a check, never a repair


def test_cli_doctor_exits_non_zero_on_a_record_that_is_not_a_database(tmp_path, capsys):
    (tmp_path / DB_NAME).write_bytes(b"garbage " * 500)
    assert cli.main(["doctor", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"FAIL  record {tmp_path / DB_NAME}: damaged (file is not a database)" in out


def test_a_busy_database_mid_query_is_one_line_not_called_damaged(tmp_path, capsys, monkeypatch):
    # an OperationalError is a DatabaseError too: a lock that outlasted the timeout is not
    # damage, and the line must not send the operator to restore a copy
    from engine.store import Store as StoreClass

    _recorded(tmp_path)

    def locked(self, *a, **k):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(StoreClass, "sessions", locked)
    assert cli.main(["sessions", "list", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"nightlab sessions: error: {tmp_path / DB_NAME}: database is locked"]
