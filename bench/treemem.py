"""Peak memory of a whole process tree (a Python process and its ffmpeg children), for
the benchmarks.

`ru_maxrss` of RUSAGE_CHILDREN is the largest single descendant's peak, not the tree's: the
CLI's Python and its two to four ffmpeg decoders run at once. `TreeSampler` reads the RSS
of the root and every live descendant every `period` seconds and keeps the largest sum.
Descendants are found through /proc/PID/task/TID/children (psutil's children() reads every
process's stat file: ~10 % of a core at 10 Hz). Pages shared between processes (libraries)
count in each: the sum is an upper bound of what the tree holds; but a child forked and
not yet exec'd (a copy of the parent's pages for a moment) is not counted.
"""
from __future__ import annotations

import os
import threading

import psutil


def descendants(pid: int) -> list[psutil.Process]:
    """The live descendants of `pid`."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            for k in kids:
                todo.append(k)
                try:
                    out.append(psutil.Process(k))
                except psutil.Error:
                    pass
    return out


def tree_rss(pid: int) -> int:
    """RSS (bytes) of `pid` and its live descendants, summed. A descendant still running
    the root's program is a fork not yet turned into ffmpeg (subprocess forks, then
    execs): its pages are the root's, shared, and are not counted twice."""
    root = psutil.Process(pid)
    total = root.memory_info().rss
    exe = root.exe()
    for p in descendants(pid):
        try:
            if p.exe() != exe:
                total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


class TreeSampler:
    """Samples `tree_rss(pid)` every `period` s in a thread; `peak` is the largest sum,
    `on_sample(rss)` (optional) sees every sample."""

    def __init__(self, pid: int | None = None, period: float = 0.1, on_sample=None):
        self.pid = pid if pid is not None else os.getpid()
        self.period = period
        self.peak = 0
        self.on_sample = on_sample
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        try:
            rss = tree_rss(self.pid)
        except psutil.Error:                 # the root has exited
            return 0
        self.peak = max(self.peak, rss)
        if self.on_sample is not None:
            self.on_sample(rss)
        return rss

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.sample()

    def __enter__(self) -> "TreeSampler":
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()
