"""Where the experiment record lives: ``--data-dir``, else ``$NIGHTLAB_DATA_DIR``, else the
platform's user data folder (``~/.local/share/nightlab`` on Linux)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_DIR_ENV", "DB_NAME", "default_data_dir", "resolve_data_dir"]

DATA_DIR_ENV = "NIGHTLAB_DATA_DIR"
DB_NAME = "nightlab.sqlite3"


def default_data_dir() -> Path:
    """``$NIGHTLAB_DATA_DIR`` when set, else the user data folder from platformdirs."""
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("nightlab", appauthor=False))


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """``data_dir`` when given (``--data-dir``), else `default_data_dir`."""
    if data_dir is not None and str(data_dir).strip():
        return Path(data_dir).expanduser()
    return default_data_dir()
