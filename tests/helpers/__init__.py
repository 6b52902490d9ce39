"""Shared test helpers, imported as `tests.helpers.<module>` (no tests here):

media.py      ffmpeg for the tests (one runner), probing, decoding, small lavfi films
films.py      larger lavfi films and dubs with a known time map (the engine's end to end)
clicks.py     click signals for the render and mux tests
envelopes.py  synthetic onset envelopes with a known time map (the pure engine modules)
web.py        settings, the fake engine, the app, API calls, a real server in a subprocess
cli.py        the CLI in this process and as `python -m app`
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]      # the repository
DATA = ROOT / "tests" / "data"                  # the committed speech clips
