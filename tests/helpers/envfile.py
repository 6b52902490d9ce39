""".env.example as the config and deploy tests read it. (No tests here.)"""
from __future__ import annotations

import re

from tests.helpers import ROOT

ENV_EXAMPLE = ROOT / ".env.example"
_ASSIGN = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$")


def env_example() -> dict[str, str]:
    """VAR -> value of every assignment in .env.example (each must follow a comment)."""
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    out: dict[str, str] = {}
    for i, line in enumerate(lines):
        m = _ASSIGN.match(line)
        if not m:
            assert not line.strip() or line.startswith("#"), f"unexpected line: {line!r}"
            continue
        assert m.group(1) not in out, f"{m.group(1)} is set twice"
        # PUID/PGID share one comment; every other variable has its own line above it.
        above = lines[i - 1]
        assert above.startswith("# ") or _ASSIGN.match(above), f"{m.group(1)} has no comment"
        out[m.group(1)] = m.group(2)
    return out
