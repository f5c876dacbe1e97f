"""SIGINT (Ctrl+C) and SIGTERM close the app cleanly: one line, the window's normal shutdown
(camera closed, worker stopped), exit status 128 + signal.

Qt's event loop runs in C++, where Python never gets to run its signal handlers. The C-level
handler writes the signal number to a wake-up socket (``signal.set_wakeup_fd``); a
``QSocketNotifier`` on the other end wakes the event loop, and the Python handler runs.
"""

from __future__ import annotations

import signal
import socket
import sys


def quit_on_signals(app) -> None:
    """On SIGINT / SIGTERM close every window (their normal shutdown) and leave ``app.exec()``
    with 128 + signum. Install it right after the ``QApplication`` exists."""
    from PySide6.QtCore import QSocketNotifier, QTimer

    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)

    def on_signal(signum, _frame) -> None:
        name = signal.Signals(signum).name
        print(f"nightlab: interrupted by {name}; closing", file=sys.stderr, flush=True)

        def close() -> None:
            app.closeAllWindows()
            app.exit(128 + signum)

        QTimer.singleShot(0, close)

    def drain() -> None:
        try:
            while reader.recv(64):
                pass
        except OSError:
            pass

    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, app)
    notifier.activated.connect(drain)  # running Python here lets the handler run
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, on_signal)
    app._nightlab_signal_sockets = (reader, writer, notifier)  # keep alive with the app
