"""Debian's headless Chromium driven by playwright, for the real-browser tests (no tests
here): one persistent context per test, in the page language asked for."""
from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage"]
#: For pages that play clips: a clip may start without a click (the tests call play()),
#: and no sound on the test machine.
AUDIO_ARGS = ["--autoplay-policy=no-user-gesture-required", "--mute-audio"]


@contextmanager
def chromium(profile: Path, locale: str = "es-ES", extra_args: Sequence[str] = ()
             ) -> Iterator[Any]:
    """A headless Chromium context (1280x900, downloads accepted) whose pages ask for
    `locale` ("es-ES": the Spanish pages); skips the test when playwright or chromium is
    not installed."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (apt-get install chromium)")
    lang = locale.split("-")[0]
    with sync_api.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True,
            args=[*CHROMIUM_ARGS, *extra_args], accept_downloads=True, locale=locale,
            extra_http_headers={"Accept-Language": f"{locale},{lang};q=0.9"},
            viewport={"width": 1280, "height": 900})
        try:
            yield ctx
        finally:
            ctx.close()
