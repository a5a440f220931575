"""Summarises a py-spy profile in its raw (collapsed stacks) format: where the operator's CPU
goes, by function, inclusive and self. `python bench/pyspy.py FILE [TOP]`."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path


def summary(path: Path, top: int = 30) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = stack.split(";")[1:]  # the first is the process
        if not frames:
            continue
        total += samples
        own[frames[-1]] += samples
        # A function counts once per sample however deep it recurses; lines are left out.
        for function in {frame.split(":")[0] + ")" for frame in frames}:
            inclusive[function] += samples
    lines = [f"{total} samples (CPU only)", "", "inclusive:"]
    lines += [f"{100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    lines += ["", "self:"]
    lines += [f"{100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(summary(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 30))
