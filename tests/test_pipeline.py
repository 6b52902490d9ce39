"""The pipeline's decisions, without media: where speech is needed after the audio stage
(sync_service.plan_speech), from an audio map made by hand."""
from __future__ import annotations

import pytest

from app.services.align import Alignment, AlignmentDiagnostics
from app.services.evidence import Evidence
from app.services.sync_service import Fit, Judgement, SpeechPlan, plan_speech
from app.services.timemap import Segment, TimeMap
from config import EngineSettings

SETTINGS = EngineSettings()           # min_confidence 0.5, probe for dubs of 1200 s+
T = 300.0                             # both films' length (s)
ONE = [(0.0, T, 0.0)]                                    # one segment, offset 0
CUT = [(0.0, 150.0, 0.0), (150.0, T, 160.0)]             # original 150-160 s cut


def audio_fit(segments: list[tuple[float, float, float]], holes=(), *,
              confidence: float = 0.9, accounted: bool = True, coverage: float = 0.9,
              dub_dur: float = T) -> Fit:
    """An audio map with these segments (dub_start, dub_end, orig_start; speed 1), these
    holes (dub s the audio matched nowhere) and this judgement."""
    tmap = TimeMap(tuple(Segment(d0, d1, o0, 1.0) for d0, d1, o0 in segments), T, dub_dur,
                   1.0, confidence)
    diag = AlignmentDiagnostics(speed_scan=1.0, speed_windows=1.0, cluster_offsets=[],
                                decoded_runs=[], slots=70, clusters=1, runs=len(segments),
                                coverage=coverage, median_z=12.0, residual_ms=1.0,
                                speed=1.0, holes=[list(h) for h in holes])
    alignment = Alignment(tmap, [], diag, holes=list(holes))
    return Fit(alignment, Judgement(Evidence(), tmap, accounted))


EVERYWHERE_BOTH_FITS = SpeechPlan(transcribe=True, fits=(False, True))
NOWHERE = SpeechPlan()


@pytest.mark.parametrize("mode, audio, dub_dur, expected", [
    # Speech mode: both tracks whole, one speech-only fit (the audio was not matched).
    ("speech", None, T, SpeechPlan(transcribe=True, fits=(False,))),
    # Auto, the audio weak: everywhere, speech alone and speech + audio.
    ("auto", audio_fit(ONE, accounted=False), T, EVERYWHERE_BOTH_FITS),
    ("auto", audio_fit(ONE, confidence=0.3), T, EVERYWHERE_BOTH_FITS),
    ("auto", audio_fit(ONE, coverage=0.5), T, EVERYWHERE_BOTH_FITS),
    # ... and a long dub is probed first.
    ("auto", audio_fit(ONE, confidence=0.3, dub_dur=1500.0), 1500.0,
     SpeechPlan(transcribe=True, probe=True, fits=(False, True))),
    # Auto, the audio strong without holes, or with a hole inside a segment: nowhere.
    ("auto", audio_fit(CUT), T, NOWHERE),
    ("auto", audio_fit(ONE, holes=[(100.0, 200.0)]), T, NOWHERE),
    # Audio mode: nowhere, however weak the audio.
    ("audio", audio_fit(ONE, accounted=False, confidence=0.1), T, NOWHERE),
])
def test_plan_speech_everywhere_or_nowhere(mode, audio, dub_dur, expected):
    assert plan_speech(mode, audio, SETTINGS, T, dub_dur) == expected


def test_plan_speech_only_where_a_hole_hides_an_edit():
    """A strong audio map whose hole (120-180 s) holds its edit (dub 150 s): that stretch
    of the dub (5 s of margin), and the stretch of the original its neighbours map it to
    (120 -> 120 s, 180 -> 190 s; 30 s + 10 % of the hole of margin), one speech + audio
    fit."""
    plan = plan_speech("auto", audio_fit(CUT, holes=[(120.0, 180.0)]), SETTINGS, T, T)
    assert plan == SpeechPlan(transcribe=True, orig_regions=((84.0, 226.0),),
                              dub_regions=((115.0, 185.0),), fits=(True,))


@pytest.mark.parametrize("hole, dub_region, orig_region", [
    ((0.0, 40.0), (0.0, 45.0), (0.0, 74.0)),           # a lead-in the bed does not share
    ((260.0, T), (255.0, T), (226.0, T)),              # a tail
])
def test_plan_speech_only_where_a_hole_reaches_an_end(hole, dub_region, orig_region):
    plan = plan_speech("auto", audio_fit(ONE, holes=[hole]), SETTINGS, T, T)
    assert plan.transcribe and not plan.probe and plan.fits == (True,)
    assert plan.dub_regions == (dub_region,)
    assert plan.orig_regions == (orig_region,)
