"""Progress reporting shared by every stage."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable, TypeVar

from app.errors import Cancelled

logger = logging.getLogger(__name__)

T = TypeVar("T")


def safe_call(callback: Callable[[T], None] | None, value: T) -> None:
    """Give `value` to a progress callback (None: nothing to do). An error the callback
    raises is logged and ignored, so a broken progress sink never breaks the job;
    `Cancelled` propagates, since raising it from the callback is how a job is stopped."""
    if callback is None:
        return
    try:
        callback(value)
    except Cancelled:
        raise
    except Exception:
        logger.exception("progress callback failed (ignored)")


def safe_fraction(callback: Callable[[float], None] | None, fraction: float) -> None:
    """`safe_call` with a fraction of a stage, clipped to 0..1."""
    safe_call(callback, min(1.0, max(0.0, fraction)))


#: Stages in order with their share of the whole job (fractions add to 1).
STAGES: dict[str, float] = {
    "probe": 0.02,
    "extract": 0.28,
    "audio_anchors": 0.20,
    "speech_anchors": 0.20,
    "fit": 0.03,
    "render": 0.17,
    "mux": 0.08,
    "report": 0.02,
}


@dataclass(frozen=True)
class Progress:
    """One progress event: `fraction` (0..1) of `stage`, and of the whole job."""

    stage: str
    fraction: float
    overall: float
    message: str = ""


ProgressCallback = Callable[[Progress], None]


class Reporter:
    """Turns per-stage fractions into overall progress; never lets a callback break a job.

    `cancel` (a threading.Event) is checked on every update: when set, the job stops
    with `Cancelled` at the next progress point.
    """

    def __init__(self, callback: ProgressCallback | None = None,
                 cancel: threading.Event | None = None, skip: tuple[str, ...] = ()):
        self._cb = callback
        self._cancel = cancel
        weights = {k: v for k, v in STAGES.items() if k not in skip}
        total = sum(weights.values())
        self._start: dict[str, float] = {}
        acc = 0.0
        for k, v in weights.items():
            self._start[k] = acc
            acc += v / total
        self._weight = {k: v / total for k, v in weights.items()}

    def skip(self, stage: str) -> None:
        """Mark a stage as not run: its share goes to the stage itself instantly."""
        self.update(stage, 1.0, "skipped")

    def update(self, stage: str, fraction: float, message: str = "") -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise Cancelled("cancelled by the user")
        f = min(1.0, max(0.0, fraction))
        overall = self._start.get(stage, 0.0) + self._weight.get(stage, 0.0) * f
        if self._cb is not None:
            safe_call(self._cb, Progress(stage, f, min(1.0, overall), message))

    def stage_callback(self, stage: str, message: str = "") -> Callable[[float], None]:
        return lambda f: self.update(stage, f, message)
