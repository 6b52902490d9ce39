"""Shared fixtures: the app (create_app on temporary folders, the fake engine), its test
client and CLI runner, and media made with ffmpeg lavfi inside the tests. Helpers the
tests import are in tests/helpers/ (imported here inside the fixtures, so that collecting
a test file imports only what it needs)."""
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


@pytest.fixture
def engine():
    """The fake engine (tests/helpers/web.py): the web tests are about the web layer."""
    from tests.helpers.web import FakeEngine
    return FakeEngine()


@pytest.fixture
def settings(tmp_path):
    from tests.helpers.web import make_settings
    return make_settings(tmp_path)


@pytest.fixture
def app(settings, engine):
    from tests.helpers.web import app_for
    with app_for(settings, engine, TESTING=True) as app:
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium (tests/helpers/browser.py) asking for the Spanish pages; a test
    file that wants another language has its own `browser`."""
    from tests.helpers.browser import chromium
    with chromium(tmp_path / "profile") as ctx:
        yield ctx


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> tuple[Path, Path]:
    """original.mkv and dubbed.mkv: 24 s, the dub 1.5 s late (tests/helpers/media.py).
    Shared by the whole session: tests read them and write elsewhere."""
    from tests.helpers.media import make_pair
    return make_pair(tmp_path_factory.mktemp("clips"))
