"""How fast does ``nightlab process`` end on SIGINT / SIGTERM, and what does it leave?

Usage::

    python benchmarks/interrupt_latency.py [--runs 12] [--size 1600x1200]

Each run starts ``python -m main process`` on a synthetic pair (a complete earlier output set
already in ``--out``), sends SIGTERM or SIGINT at a random moment of the run, and records the
time from the signal to the process's exit, the exit status, its stderr line and whether the
output folder holds the earlier set or a complete new one (never a mix, never a partial file).
Prints every run and the median / range of the latency. Not a CI test.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine import write_image  # noqa: E402
from engine.atomic import is_partial  # noqa: E402

PNG_END = b"IEND\xaeB`\x82"


def make_pair(folder: Path, size: tuple[int, int], shift: tuple[float, float], tag: str):
    import skimage.data

    day = cv2.resize(skimage.data.astronaut(), size, interpolation=cv2.INTER_CUBIC)
    h, w = day.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 2.0, 1.0)
    m[:, 2] += shift
    night = cv2.cvtColor(cv2.warpAffine(day, m, (w, h), borderMode=cv2.BORDER_REFLECT), 7)
    return (
        write_image(folder / f"day_{tag}.png", day),
        write_image(folder / f"night_{tag}.png", night),
    )


def committed_set(out: Path) -> str:
    """Which input's set the folder holds ('' = none), after checking every file is whole."""
    import hashlib

    for p in out.iterdir():
        if p.suffix == ".png" and not p.name.startswith("."):
            if not p.read_bytes().endswith(PNG_END):
                return f"TRUNCATED {p.name}"
    metrics = out / "metrics.json"
    if not metrics.exists():
        return ""
    m = json.loads(metrics.read_text())
    for name, digest in m.get("output_sha256", {}).items():
        if hashlib.sha256((out / name).read_bytes()).hexdigest() != digest:
            return f"MIXED {name}"
    return Path(m["inputs"]["day"]).name


def run(cmd: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=12)
    p.add_argument("--size", default="1600x1200", help="WxH of the synthetic pair")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    rng = random.Random(args.seed)
    latencies, bad, codes = [], 0, {}
    with tempfile.TemporaryDirectory(prefix="nightlab-interrupt-") as tmp:
        tmp = Path(tmp)
        old, new = make_pair(tmp, size, (6, -4), "old"), make_pair(tmp, size, (-9, 5), "new")
        out = tmp / "out"

        def cmd(pair):
            return [sys.executable, "-m", "main", "process", "--day", str(pair[0]),
                    "--night", str(pair[1]), "--out", str(out)]  # fmt: skip

        t0 = time.monotonic()
        first = run(cmd(old))
        first.communicate()
        duration = time.monotonic() - t0
        print(f"uninterrupted run: {duration:.1f} s (exit {first.returncode})")
        for i in range(args.runs):
            sig = (signal.SIGTERM, signal.SIGINT)[i % 2]
            moment = rng.uniform(0.1, 1.0) * duration
            proc = run(cmd(new))
            time.sleep(moment)
            t = time.monotonic()
            proc.send_signal(sig)
            _, err = proc.communicate()
            waited = time.monotonic() - t
            state = committed_set(out)
            partial = [q.name for q in out.iterdir() if is_partial(q)]
            ok = state in ("day_old.png", "day_new.png") and not partial
            bad += not ok
            if proc.returncode in (130, 143, -9):  # unwound / watchdog, or the reaper
                latencies.append(waited)
                codes[proc.returncode] = codes.get(proc.returncode, 0) + 1
            line = err.strip().splitlines()
            print(
                f"{i + 1:>2} {sig.name:<7} at {moment:5.2f} s -> exit {proc.returncode:>3} after "
                f"{waited:5.2f} s; folder: {state or 'no set'}{' PARTIAL ' + str(partial) if partial else ''}; "  # noqa: E501
                f"{len(line)} stderr line(s): {line[-1] if line else ''}"
            )
    if latencies:
        print(
            f"signal -> exit: median {statistics.median(latencies):.2f} s, range "
            f"{min(latencies):.2f}-{max(latencies):.2f} s over {len(latencies)} interrupted runs "
            f"(exit codes {dict(sorted(codes.items()))}; -9 = the reaper's kill)"
        )
    print(f"output folder whole after every run: {'yes' if not bad else f'NO ({bad} runs)'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
