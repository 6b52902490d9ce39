"""score.py of the corpus (../shared/corpus) on one output, as one line, for the benches
(`from corpus_score import score_line`: the benches run as `python bench/NAME.py`, so
this folder is on sys.path)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def score_line(corpus: Path, mkv: Path, case: Path) -> str:
    """"median signed X ms, within 20 ms Y %, within 100 ms Z %" of `mkv` against the
    generated `case`, or why it was not scored."""
    if not (corpus / "score.py").is_file():
        return "(no corpus: not scored)"
    r = subprocess.run([sys.executable, str(corpus / "score.py"), str(mkv), str(case),
                        "--json"], capture_output=True, text=True)
    if r.returncode not in (0, 1):
        return f"(score.py failed: {r.stderr.strip()[-200:]})"
    s = json.loads(r.stdout)
    s = s.get("sync", s)
    return (f"median signed {s.get('median_signed_ms')} ms, within 20 ms "
            f"{s.get('within_20ms_pct')} %, within 100 ms {s.get('within_100ms_pct')} %")
