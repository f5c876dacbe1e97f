"""NightLab entry point: ``python main.py`` (or ``nightlab``) starts the desktop app.

``nightlab COMMAND ...`` runs a command-line tool instead; see ``nightlab --help``.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
