#!/usr/bin/env python3
"""Where the CPU seconds of one `sync` go: each ffmpeg/ffprobe process and the CLI's own
Python, with the I/O floor of the same run beside them.

    .venv/bin/python bench/cpu_by_process.py CASE_DIR [--runs N] [--against DIR]

CASE_DIR is a pair made by ../shared/corpus/make_pair.py (e.g. long_120min). The CLI runs
with a folder first on its PATH holding `ffmpeg` and `ffprobe` wrappers that run the real
tools under GNU time (`/usr/bin/time`, the `time` package) and append each process's
user and system seconds, wall time and arguments to a log. Processes are grouped by role
(the original's and the dub's analysis decodes, the render's filter graph, the encoder,
the mux, short snippets, probes); Python = the CLI's whole tree (wait4 rusage) minus its
ffmpeg/ffprobe processes. With --runs N the rows are medians of N runs (floor and CLI
alternating); with --against DIR another checkout's CLI runs in turn with this one's
(A B, then B A), its table printed beside.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench_long import dub_file, floor, run_tree

ROOT = Path(__file__).resolve().parent.parent

WRAPPER = """#!/bin/sh
exec {time} -a -o {log} -f "%U %S %e|{tool} %C" {real} "$@"
"""


def role(args: str, orig: Path, dub: Path) -> str:
    """The part a process plays, from its arguments."""
    head = args.split(" -i ", 1)[0]            # the options before the first input
    if args.startswith("ffprobe"):
        return "probes (ffprobe)"
    if "-filter_complex" in args:
        return "render: decode the dub + re-time (filter graph)"
    if "-c copy" in args:
        return "mux (the original copied + the dub)"
    if "-i pipe:0" in args:
        return "encoder (the re-timed dub -> its codec)"
    if "f32le pipe:1" in args:
        if " -ss " in head and " -t " in head:
            return "snippets (edges, picture)"
        if str(orig) in args:
            return "extract: decode the original (its bed)"
        if str(dub) in args:
            return "extract: decode the dub"
    return "other (the encoder-delay probe...)"


def one_run(root: Path, orig: Path, dub: Path, tmp: Path) -> dict[str, float]:
    shim = tmp / "shim"
    shim.mkdir(exist_ok=True)
    log = tmp / "calls.log"
    log.unlink(missing_ok=True)
    gnu_time = shutil.which("time", path="/usr/bin:/bin")   # GNU time, not the shell's
    if gnu_time is None:
        raise SystemExit("GNU time is needed (/usr/bin/time: Debian's `time` package)")
    for tool in ("ffmpeg", "ffprobe"):
        real = shutil.which(tool)
        if real is None:
            raise SystemExit(f"{tool} is not on PATH")
        w = shim / tool
        w.write_text(WRAPPER.format(time=gnu_time, log=log, tool=tool, real=real))
        w.chmod(0o755)
    out = tmp / "out.mkv"
    out.unlink(missing_ok=True)
    env = dict(os.environ, PATH=f"{shim}:{os.environ['PATH']}")
    c = run_tree([sys.executable, "-m", "app", "sync", str(orig), str(dub), "-o", str(out),
                  "-q"], cwd=root, env=env)
    if c["rc"] != 0:
        raise SystemExit(f"the CLI at {root} failed with exit {c['rc']}")
    rows: dict[str, float] = {}
    tools = 0.0
    for line in log.read_text().splitlines():
        if "|" not in line or line.startswith("Command"):
            continue
        nums, args = line.split("|", 1)
        user, system, _wall = (float(x) for x in nums.split())
        r = role(args, orig, dub)
        rows[r] = rows.get(r, 0.0) + user + system
        tools += user + system
    rows["Python (the CLI itself)"] = c["cpu"] - tools
    rows["whole run (CPU s)"] = c["cpu"]
    rows["whole run (wall s)"] = c["wall"]
    out.unlink(missing_ok=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("case", type=Path)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--against", type=Path, metavar="DIR")
    args = ap.parse_args()
    case = args.case.resolve()
    orig, dub = case / "original.mkv", dub_file(case)
    if not orig.is_file():
        raise SystemExit(f"no original.mkv in {case} (a pair made by make_pair.py)")
    roots = [("A", ROOT)] + ([("B", args.against.resolve())] if args.against else [])
    runs: dict[str, list[dict[str, float]]] = {label: [] for label, _ in roots}
    floors: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="syncdub-cpu-") as t:
        tmp = Path(t)
        for k in range(args.runs):
            floors.append(floor(orig, dub, tmp))
            for label, root in roots[::-1 if k % 2 else 1]:
                runs[label].append(one_run(root, orig, dub, tmp))
                print(f"run {k + 1}{' ' + label if args.against else ''}: "
                      f"{runs[label][-1]['whole run (wall s)']:.1f} s wall, "
                      f"{runs[label][-1]['whole run (CPU s)']:.1f} CPU s", flush=True)
    names: list[str] = []
    for rs in runs.values():
        for r in rs:
            names += [n for n in r if n not in names]
    order = sorted(names, key=lambda n: (n.startswith("whole"), n.startswith("Python"), n))
    head = f"{'CPU seconds (user + system)':46s}" + "".join(
        f"{('median ' if args.runs > 1 else '') + label:>12s}" for label, _ in roots)
    print("\n" + head)
    for n in order:
        vals = [statistics.median(r.get(n, 0.0) for r in runs[label]) for label, _ in roots]
        print(f"{n:46s}" + "".join(f"{v:12.1f}" for v in vals))
    fl_cpu = statistics.median(f["cpu"] for f in floors)
    fl_wall = statistics.median(f["wall"] for f in floors)
    print(f"{'I/O floor (CPU s / wall s)':46s}{fl_cpu:12.1f} / {fl_wall:.1f}")
    for label, _ in roots:
        cpu = statistics.median(r["whole run (CPU s)"] for r in runs[label])
        wall = statistics.median(r["whole run (wall s)"] for r in runs[label])
        print(f"{label}: CPU {cpu:.1f} s = {cpu / fl_cpu:.2f} x the floor's, wall {wall:.1f} s "
              f"= {wall / fl_wall:.2f} x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
