"""Shared fixtures. Media are generated with ffmpeg lavfi inside the tests."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: end-to-end runs of a minute or more (run in CI)")
    config.addinivalue_line("markers", "browser: drives headless Chromium")
