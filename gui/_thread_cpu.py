"""Per-thread CPU time of this process, grouped by role: where a ``--smoke`` run's CPU went.

On a 2-core machine the live view keeps up only if the live worker, the camera and the GUI
thread get the cores; this tells, after a run, how much CPU each kind of thread took (and how
many threads there were), so a slow run can be diagnosed from its ``--stats`` file alone.
Linux only (``/proc/self/task``); elsewhere the figures are empty.
"""

from __future__ import annotations

import os
import re
import threading

__all__ = ["ThreadCpu", "thread_cpu_seconds"]

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# a numbered family is one role: nightlab-job_0, nightlab-live-1, Thread-3 (...)
_NUMBER = re.compile(r"[-_ ]?\d+$")


def _label(name: str) -> str:
    base = name.split(" (")[0]
    return _NUMBER.sub("", base) or name


def thread_cpu_seconds() -> dict[int, tuple[str, float, int]]:
    """``native thread id -> (role label, CPU seconds so far, nice value)`` for every thread.

    Python threads are labelled by their name without its number (``nightlab-job``), native
    ones (ONNX Runtime, OpenCV, Qt) by their kernel name; the GUI thread is ``gui``.
    """
    names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
    main = threading.main_thread().native_id
    out: dict[int, tuple[str, float, int]] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid_s in tids:
        try:
            with open(f"/proc/self/task/{tid_s}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:  # the thread ended meanwhile
            continue
        tid = int(tid_s)
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[0] is field 3 (state): utime, stime are fields 14, 15; nice is field 19
        cpu = (int(fields[11]) + int(fields[12])) / _TICK
        nice = int(fields[16])
        label = "gui" if tid == main else _label(names.get(tid, comm))
        out[tid] = (label, cpu, nice)
    return out


class ThreadCpu:
    """CPU seconds per thread role between `start` and `stop`.

    Threads born in between count from zero; `sample` now and then also catches threads
    that end before `stop` (a capture's thread), up to their last sample. An ended thread is
    folded into its role's totals, so a night of short-lived threads (one a capture, one a
    probe sample) holds one entry a role, not one a thread.
    """

    def __init__(self) -> None:
        self._start: dict[int, tuple[str, float, int]] = {}
        self._end: dict[int, tuple[str, float, int]] = {}
        self._ended: dict[str, dict] = {}
        self._alive = 0

    def start(self) -> None:
        self._start = thread_cpu_seconds()
        self._end = dict(self._start)
        self._ended = {}

    def sample(self) -> None:
        if not self._start:
            return
        now = thread_cpu_seconds()
        for tid in [t for t in self._end if t not in now or now[t][0] != self._end[t][0]]:
            self._fold(self._ended, tid, *self._end.pop(tid))
            self._start.pop(tid, None)  # a reused thread id is a new thread
        self._end.update(now)
        self._alive = len(now)

    def _fold(self, roles: dict, tid: int, label: str, cpu: float, nice: int) -> None:
        before = self._start.get(tid)
        used = cpu - (before[1] if before is not None and before[0] == label else 0.0)
        r = roles.setdefault(label, {"cpu_s": 0.0, "threads": 0, "nice": nice})
        r["cpu_s"] += used
        r["threads"] += 1
        r["nice"] = max(r["nice"], nice)

    def __len__(self) -> int:
        """Entries held: the threads alive at the last sample plus one a role that ended."""
        return len(self._end) + len(self._ended)

    def stop(self) -> None:
        self.sample()

    def figures(self, seconds: float) -> dict:
        """``threads`` (alive at the end), ``threads_seen``, ``by_role``: role -> CPU
        seconds, share of one core over ``seconds``, thread count and the highest nice
        value among them."""
        roles = {label: dict(r) for label, r in self._ended.items()}
        for tid, (label, cpu, nice) in self._end.items():
            self._fold(roles, tid, label, cpu, nice)
        for r in roles.values():
            r["core_share"] = round(r["cpu_s"] / seconds, 3) if seconds > 0 else None
            r["cpu_s"] = round(r["cpu_s"], 2)
        ordered = dict(sorted(roles.items(), key=lambda kv: -kv[1]["cpu_s"]))
        seen = len(self._end) + sum(r["threads"] for r in self._ended.values())
        return {"threads": self._alive, "threads_seen": seen, "by_role": ordered}
