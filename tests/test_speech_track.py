"""A track heard by stretches in bounded memory (speech_track): the streamed speech
envelope equals the whole one, chunks end in pauses, a chunked transcription hears the
same lines at the same times as one call, a track already heard is not heard again, a
file is read at the right place after a seek, and the memory of hearing a long track
does not grow with it."""
from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

from app.services import speech as sp
from app.services import speech_track as st
from app.services.transcribe import SAMPLE_RATE, Transcript, get_transcriber
from config import EngineSettings
from tests.helpers import DATA
from tests.helpers.media import decode_mono, ffmpeg

CLIPS = json.loads((DATA / "speech_clips.json").read_text())


def test_streamed_envelope_is_the_whole_one():
    rng = np.random.default_rng(3)
    x = (0.1 * rng.standard_normal(SAMPLE_RATE * 23 + 77)).astype(np.float32)
    x[SAMPLE_RATE * 5:SAMPLE_RATE * 9] *= 0.01
    env = sp.SpeechEnvelope()
    i = 0
    while i < len(x):
        k = int(rng.integers(1, 40000))
        env.feed(x[i:i + k])
        i += k
    assert np.array_equal(env.finish(), sp.speech_envelope(x))
    for n in (0, 100, 639, 640, 1000):
        short = sp.SpeechEnvelope()
        short.feed(x[:n])
        assert np.array_equal(short.finish(), sp.speech_envelope(x[:n]))


def test_quiet_cut_falls_in_the_pause():
    hop = 160
    energy = np.ones(3000)
    energy[2200:2260] = 1e-6                     # a 0.6 s pause at 22.0-22.6 s
    cut = st.quiet_cut(energy, 1000, 3000, hop)
    assert 2200 * hop <= cut <= 2260 * hop
    assert st.quiet_cut(energy, 2990, 3000, hop) == 3000 * hop   # too short to search


class CountingTranscriber:
    """Hears nothing; records the length of every chunk it is given."""

    name = "counting"

    def __init__(self):
        self.chunks: list[int] = []

    def transcribe(self, audio, *, regions=None, language=None, progress=None):
        self.chunks.append(len(audio))
        return Transcript([], "en", 0.5, len(audio) / SAMPLE_RATE, 0.0)


class LazyNoise:
    """A long track made block by block as it is read (never held whole)."""

    def __init__(self, seconds: float):
        self.duration = seconds

    def blocks(self, start, duration):
        rng = np.random.default_rng(int(start))
        n = int(min(duration, self.duration - start) * SAMPLE_RATE)
        step = 30 * SAMPLE_RATE
        for i in range(0, n, step):
            yield (0.05 * rng.standard_normal(min(step, n - i))).astype(np.float32)


def _hear_peak(seconds: float) -> tuple[int, CountingTranscriber, st.Heard]:
    tr = CountingTranscriber()
    src = LazyNoise(seconds)
    tracemalloc.start()
    try:
        heard = st.hear(src, [(0.0, src.duration)], tr, chunk_s=60.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, tr, heard


def test_hearing_a_long_track_holds_one_chunk_not_the_track():
    """40 minutes (150 MB of samples) heard with 60 s chunks: Whisper gets no chunk longer
    than a chunk and its search, all the track in all; the memory held at any time is a
    few chunks (the envelope grows by 8 bytes per 10 ms), not the track: 10 minutes more
    or 30 minutes more cost the same."""
    peak, tr, heard = _hear_peak(2400.0)
    limit = int((60.0 + st.CUT_SEARCH_S) * SAMPLE_RATE)
    assert max(tr.chunks) <= limit and len(tr.chunks) >= 2400 / 80
    assert sum(tr.chunks) == 2400 * SAMPLE_RATE
    assert heard.seconds == pytest.approx(2400.0) and heard.language == "en"
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.0f} MB"
    short, _, _ = _hear_peak(600.0)
    assert peak - short < 5 * 2**20, f"{short / 2**20:.1f} -> {peak / 2**20:.1f} MB"


@pytest.fixture(scope="module")
def transcriber(tmp_path_factory):
    return get_transcriber(EngineSettings(models_dir=tmp_path_factory.mktemp("models"),
                                          device="cpu", threads=2))


def _clip(lang: str) -> np.ndarray:
    return decode_mono(DATA / f"speech_{lang}.flac", rate=16000, timestamps=False).copy()


def test_chunked_hearing_finds_the_lines_of_the_whole(transcriber):
    """The clip three times over (63 s), heard as one call and in 15 s chunks cut at
    pauses: the same lines, each found at its start (energy onset)."""
    x = np.concatenate([_clip("en")] * 3)
    src = st.ArrayAudio(x)
    whole = st.hear(src, [(0.0, src.duration)], transcriber)
    chunked = st.hear(src, [(0.0, src.duration)], transcriber, chunk_s=15.0)
    assert whole.chunks == 1 and chunked.chunks >= 4
    assert whole.language == chunked.language == "en"
    truth = [c["start"] + k * CLIPS["duration"] for k in range(3)
             for c in CLIPS["tracks"]["en"]["lines"]]

    def found(heard) -> dict[float, float]:
        """The clip's lines heard at their start (energy onset within 30 ms): line -> onset."""
        onsets = [p.onset for p in heard.phrases if p.onset is not None]
        near = {t: min(onsets, key=lambda o: abs(o - t)) for t in truth}
        return {t: o for t, o in near.items() if abs(o - t) < 0.03}
    w, c = found(whole), found(chunked)
    assert len(w) >= 9 and set(w) <= set(c), (w, c)
    assert all(abs(w[t] - c[t]) <= 0.011 for t in w)


def test_a_listener_hears_each_stretch_once(transcriber):
    x = np.concatenate([_clip("es")] * 2)
    lis = st.Listener(st.ArrayAudio(x), transcriber)
    assert lis.hear([(0.0, 21.0)]) == pytest.approx(21.0)
    assert lis.hear([(5.0, 15.0)]) == 0.0                  # heard already
    new = lis.new_parts([(10.0, 42.0)])
    assert new == [(21.0 - st.OVERLAP_S, 42.0)]
    assert lis.hear([(10.0, 42.0)]) == pytest.approx(21.0 + st.OVERLAP_S)
    assert lis.spans == [(0.0, 42.0)] and lis.language == "es"
    starts = [p.start for p in lis.phrases]
    assert starts == sorted(starts)
    # no line twice where the pieces meet: 4 sentences a clip (Whisper may split one)
    assert 8 <= len(lis.phrases) <= 10, [p.text for p in lis.phrases]
    assert len(lis.phrases_in([(21.0, 42.0)])) >= 4


def test_a_file_is_read_at_the_place_asked(transcriber, tmp_path):
    """A stretch of a file heard after a seek lands on the file's timeline: the same
    onsets as the stretch of its decoded whole."""
    path = tmp_path / "two.mka"
    ffmpeg("-i", DATA / "speech_en.flac", "-i", DATA / "speech_en.flac", "-filter_complex",
           "[0:a][1:a]concat=n=2:v=0:a=1,aresample=48000[a]", "-map", "[a]",
           "-c:a", "ac3", "-b:a", "192k", path)
    from app.services import media
    info = media.probe(path)
    fa = st.FileAudio(info, info.audio_stream(None, "dub"))
    assert fa.duration == pytest.approx(42.0, abs=0.1)
    from_file = st.hear(fa, [(20.0, 42.0)], transcriber)
    whole = media.read_audio(path, info.audio[0])
    from_array = st.hear(st.ArrayAudio(whole), [(20.0, 42.0)], transcriber)
    a = [p.onset for p in from_file.phrases if p.onset is not None]
    b = [p.onset for p in from_array.phrases if p.onset is not None]
    assert len(a) >= 4 and len(a) == len(b)
    assert max(abs(x - y) for x, y in zip(a, b)) <= 0.011
    assert all(21.0 <= t <= 42.0 for t in a)
