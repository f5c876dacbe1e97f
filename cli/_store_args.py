"""What every command that touches the experiment record shares: ``--data-dir``, opening the
store with one-line errors, the operator's name, and progress output."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from typing import TYPE_CHECKING, TextIO

from cli._common import CliError

if TYPE_CHECKING:
    from engine.store import Store


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where sessions live (default: $NIGHTLAB_DATA_DIR, else the user data folder)",
    )


def add_operator(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--operator", default=None, help="who is recording (default: your login name)"
    )


def operator_name(args: argparse.Namespace) -> str:
    if getattr(args, "operator", None):
        return args.operator
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "")


def open_store(
    args: argparse.Namespace, *, read_only: bool = False, existing: bool = False, **options
) -> Store:
    """Open the data folder; a reconcile that found strays prints one notice to stderr.

    ``existing``: for commands about data already recorded (a verdict, a delete, a rerun): a
    folder without a record is a typo, refused before anything is created there.
    """
    from engine.store import DATA_DIR_ENV, DB_NAME, Store, resolve_data_dir

    root = resolve_data_dir(getattr(args, "data_dir", None))
    # (a file given as the folder is the store's own one-line error: "not a folder")
    if existing and not (root / DB_NAME).is_file() and not root.is_file():
        raise CliError(f"{root}: no NightLab record here (check --data-dir or ${DATA_DIR_ENV})")
    store = Store(getattr(args, "data_dir", None), read_only=read_only, **options)
    report = store.last_reconcile
    if report is not None and not report.clean:
        print(f"nightlab: store: {report.summary()}", file=sys.stderr)
    return store


def find_session(store: Store, ref: str):
    try:
        return store.session(ref)
    except KeyError as exc:
        raise CliError(f"{exc.args[0]} in {store.root}") from None


class Progress:
    """A status line redrawn in place on a terminal; plain lines (events only) otherwise."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._status_len = 0
        self._last_draw = 0.0

    def line(self, text: str) -> None:
        """A lasting line (an event): printed on its own in both modes."""
        self._clear()
        print(text, file=self.stream, flush=True)

    def status(self, text: str, *, done: int | None = None, total: int | None = None) -> None:
        """A transient status (countdown, bar): terminal only, at most 10 redraws a second."""
        if not self.tty:
            return
        now = time.monotonic()
        if now - self._last_draw < 0.1:
            return
        self._last_draw = now
        if total:
            filled = int(24 * min(done or 0, total) / total)
            text = f"[{'#' * filled}{'-' * (24 - filled)}] {done}/{total}  {text}"
        self._clear()
        self.stream.write(text)
        self.stream.flush()
        self._status_len = len(text)

    def close(self) -> None:
        self._clear()

    def _clear(self) -> None:
        if self.tty and self._status_len:
            self.stream.write("\r" + " " * self._status_len + "\r")
            self.stream.flush()
            self._status_len = 0
