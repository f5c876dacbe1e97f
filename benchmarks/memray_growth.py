"""Which call sites' live memory grew steadily over a run: a memray capture, read at three times.

Usage (``pip install -e ".[profile]"``)::

    NIGHTLAB_SOAK_PROBE=probe.tsv NIGHTLAB_SOAK_CAPTURE_EVERY=3 NIGHTLAB_DATA_DIR=/tmp/d \\
        memray run --native -o run.bin -m main --smoke 1500
    python benchmarks/memray_growth.py run.bin 600 1050 1490 [--top 25]

For every allocation stack (Python frames and the native ones under them) it adds up the
bytes still allocated at each of the three times (seconds from the start) and lists the
stacks that grew in *both* halves: memory something keeps adding to, not the frames and
renders in flight at one moment. Then the largest net growth first to last, and memray's own
heap and RSS over the run: an RSS that grows while the heap memray sees stays flat is the
allocator keeping freed memory, not the app holding it. memray sees Python's small objects
only as the 1 MiB arenas they come in; its reader takes minutes for a long run.
"""

from __future__ import annotations

import argparse
import bisect
import collections


def live_at(record, snapshot: int) -> tuple[int, int]:
    """Bytes and allocations of ``record`` (a temporal record) alive at ``snapshot``."""
    nbytes = count = 0
    for iv in record.intervals:
        gone = iv.deallocated_before_snapshot
        if iv.allocated_before_snapshot <= snapshot and (gone is None or gone > snapshot):
            nbytes += iv.n_bytes
            count += iv.n_allocations
    return nbytes, count


def stack_key(record) -> str:
    py = [f"{f[0]} {f[1].split('/')[-1]}:{f[2]}" for f in record.stack_trace(max_stacks=8)]
    native = [f[0] for f in record.native_stack_trace(max_stacks=12) if f[0] != "<unknown>"]
    return " <- ".join(py) + "  || " + " <- ".join(native[:5])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("capture", help="a memray capture file (not --aggregate)")
    p.add_argument("times", nargs=3, type=float, help="three times, seconds from the start")
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args(argv)
    from memray import FileReader

    reader = FileReader(args.capture, report_progress=False)
    snaps = list(reader.get_memory_snapshots())
    if not snaps:
        p.error(f"{args.capture}: no memory snapshots in it")
    t0 = snaps[0].time
    times = [(s.time - t0) / 1000 for s in snaps]
    idx = [min(len(times) - 1, bisect.bisect_left(times, t)) for t in sorted(args.times)]
    for k in range(0, len(snaps), max(1, len(snaps) // 20)):
        print(f"t {times[k]:7.0f} s  RSS {snaps[k].rss / 2**20:7.1f} MiB  "
              f"heap {snaps[k].heap / 2**20:7.1f} MiB")  # fmt: skip
    agg: dict[str, list[int]] = collections.defaultdict(lambda: [0] * 6)
    for rec in reader.get_temporal_allocation_records(merge_threads=True):
        live = [live_at(rec, i) for i in idx]
        if live[0] == live[1] == live[2]:
            continue
        a = agg[stack_key(rec)]
        for j in range(3):
            a[j] += live[j][0]
            a[3 + j] += live[j][1]
    rows = [(a[1] - a[0], a[2] - a[1], a, key) for key, a in agg.items()]
    at = [times[i] for i in idx]
    print(f"\nstacks that grew in both halves ({at[0]:.0f} -> {at[1]:.0f} -> {at[2]:.0f} s):")
    steady = sorted((r for r in rows if r[0] > 0 and r[1] > 0), key=lambda r: -min(r[0], r[1]))
    for g1, g2, a, key in steady[: args.top]:
        print(f"{g1 / 1024:+9.1f} KiB then {g2 / 1024:+9.1f} KiB; allocations "
              f"{a[3]} -> {a[4]} -> {a[5]}\n    {key[:900]}")  # fmt: skip
    print("\nlargest net growth, first to last:")
    for g1, g2, _a, key in sorted(rows, key=lambda r: -(r[0] + r[1]))[: args.top // 2]:
        print(f"{(g1 + g2) / 1024:+9.1f} KiB ({g1 / 1024:+.1f}, {g2 / 1024:+.1f})\n    {key[:900]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
