"""Where models run: DEVICE=auto|cpu|cuda resolved against what CTranslate2 sees."""
from __future__ import annotations

import logging
import os
from functools import lru_cache

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def cuda_device_count() -> int:
    """Number of CUDA devices CTranslate2 can use (0 when none or not importable)."""
    try:
        import ctranslate2
        return int(ctranslate2.get_cuda_device_count())
    except Exception:  # no CUDA runtime, no driver, or ctranslate2 missing
        return 0


def resolve_device(setting: str) -> str:
    """'auto' -> 'cuda' when a CUDA device is visible, else 'cpu'. 'cuda' without a
    device falls back to 'cpu' with a warning (same results, slower)."""
    setting = (setting or "auto").lower()
    n = cuda_device_count()
    if setting == "cpu":
        return "cpu"
    if setting == "cuda" and n == 0:
        logger.warning("DEVICE=cuda but no CUDA device is visible: running on the CPU")
        return "cpu"
    return "cuda" if n > 0 else "cpu"


def compute_type(device: str) -> str:
    """int8 on the CPU (fast, same accuracy for Whisper base), float16 on CUDA."""
    return "float16" if device == "cuda" else "int8"


def usable_cores(cap: int | None = None) -> int:
    """The cores this process may run on (its CPU affinity), at most `cap`."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, n if cap is None else min(cap, n))
