"""Where the experiment record lives: ``--data-dir``, else ``$NIGHTLAB_DATA_DIR``, else the
platform's user data folder (``~/.local/share/NightLab`` on Linux, the folder ``nightlab doctor``
checks)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_DIR_ENV", "DB_NAME", "database_problem", "default_data_dir", "resolve_data_dir"]

DATA_DIR_ENV = "NIGHTLAB_DATA_DIR"
DB_NAME = "nightlab.sqlite3"


def default_data_dir() -> Path:
    """``$NIGHTLAB_DATA_DIR`` when set, else the user data folder from platformdirs."""
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("NightLab", appauthor=False))


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """``data_dir`` when given (``--data-dir``), else `default_data_dir`."""
    if data_dir is not None and str(data_dir).strip():
        return Path(data_dir).expanduser()
    return default_data_dir()


def database_problem(db_path: Path) -> str:
    """Why ``db_path`` (the record's database) cannot be one although something is there: a
    folder or a special file in its place (``""`` when it is a file or absent). SQLite would
    only say "unable to open database file", and a reader "no sessions yet"."""
    from engine.atomic import special_file_kind

    if db_path.is_dir():
        return f"{db_path}: is a folder, not the record's database; move it aside"
    if kind := special_file_kind(db_path):
        return f"{db_path}: not a regular file ({kind}), not the record's database; move it aside"
    return ""
