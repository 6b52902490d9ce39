"""Speech path with real models: Whisper on the committed clips, the model-missing
errors, the optional openai-whisper backend, and speech_anchors end to end.

tests/data/speech_{en,es}.flac: the same four sentences in English and Spanish
(espeak-ng, made once by tests/data/make_speech_clips.py), starting at the times in
speech_clips.json.
"""
from __future__ import annotations

import importlib.util
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from app.errors import ModelError
from app.services import transcribe as tr
from app.services.speech import iso639_2, language_name, speech_anchors
from config import EngineSettings
from tests.helpers import DATA
from tests.helpers.media import decode_mono

CLIPS = json.loads((DATA / "speech_clips.json").read_text())


def load_clip(lang: str) -> np.ndarray:
    return decode_mono(DATA / f"speech_{lang}.flac", rate=16000, timestamps=False).copy()


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def settings(models_dir) -> EngineSettings:
    return EngineSettings(models_dir=models_dir, device="cpu", threads=2)


def test_bundled_model_is_joined_once(models_dir):
    path = tr.ensure_bundled_model(models_dir)
    assert path == models_dir / tr.BUNDLED_DIR_NAME
    model_bin = path / "model.bin"
    assert model_bin.stat().st_size == tr.BUNDLED_MODEL_SIZE
    assert {p.name for p in path.iterdir()} == {"model.bin", "config.json", "tokenizer.json",
                                               "vocabulary.txt"}
    mtime = model_bin.stat().st_mtime_ns
    assert tr.ensure_bundled_model(models_dir) == path
    assert model_bin.stat().st_mtime_ns == mtime       # not joined again


@pytest.mark.parametrize("lang,keywords", [
    ("en", ["keys", "car", "house", "sea", "train", "thank", "help"]),
    ("es", ["llaves", "coche", "abuela", "mar", "tren", "gracias"]),
])
def test_clip_transcribes_with_language_and_words(settings, lang, keywords):
    seen: list[float] = []
    t = tr.get_transcriber(settings).transcribe(load_clip(lang), progress=seen.append)
    assert t.language == lang and t.language_probability > 0.5
    text = t.text.lower()
    found = [k for k in keywords if k in text]
    # Most keywords, not every one: Whisper's words change with the processor's numeric
    # path (an AVX2-only EPYC hears "silla" for "llaves"); language and timing are firm.
    assert 2 * len(found) > len(keywords), (text, found)
    assert seen and seen == sorted(seen) and seen[-1] == 1.0
    assert 0 < t.rtf < 2.0 and t.audio_seconds == pytest.approx(CLIPS["duration"], abs=0.05)
    # Segment starts land near the true sentence starts (Whisper: 0.1-0.5 s early).
    starts = [ln["start"] for ln in CLIPS["tracks"][lang]["lines"]]
    for s in t.segments:
        assert min(abs(s.start - x) for x in starts) < 0.6
        assert s.words and all(w.start <= w.end for w in s.words)


def test_regions_are_transcribed_alone_on_the_full_timeline(settings):
    t = tr.get_transcriber(settings).transcribe(load_clip("en"), regions=[(10.5, 14.0)])
    assert t.audio_seconds == pytest.approx(3.5 + 2 * tr.REGION_PAD)
    assert len(t.segments) == 1 and "train" in t.segments[0].text.lower()
    assert 10.4 < t.segments[0].start < 11.2      # full-track time, not region time


def test_transcriber_is_cached_per_settings(settings):
    assert tr.get_transcriber(settings) is tr.get_transcriber(replace(settings))


def test_missing_whisper_model_names_models_dir(tmp_path):
    s = EngineSettings(models_dir=tmp_path, whisper_model="large-v3", device="cpu")
    with pytest.raises(ModelError) as e:
        tr.get_transcriber(s).transcribe(np.zeros(16000, np.float32))
    msg = str(e.value)
    assert str(tmp_path) in msg and "large-v3" in msg and "MODELS_DIR" in msg
    assert "model.bin" in msg and "tokenizer.json" in msg
    with pytest.raises(ModelError):
        tr.check_model(s)


def test_model_folder_without_tokenizer_is_refused(tmp_path):
    (tmp_path / "small").mkdir()
    (tmp_path / "small" / "model.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="tokenizer.json"):
        tr.check_model(EngineSettings(models_dir=tmp_path, whisper_model="small"))


def test_missing_openai_checkpoint_names_models_dir(tmp_path):
    s = EngineSettings(models_dir=tmp_path, whisper_backend="openai", whisper_model="base")
    with pytest.raises(ModelError) as e:
        tr.get_transcriber(s).transcribe(np.zeros(16000, np.float32))
    assert str(tmp_path) in str(e.value) and "base.pt" in str(e.value)


needs_openai = pytest.mark.skipif(
    importlib.util.find_spec("whisper") is None or importlib.util.find_spec("torch") is None,
    reason="openai-whisper/torch not installed (optional: requirements-optional.txt)")


@pytest.mark.slow  # a random model decodes garbage until its token limit: ~1 min on 2 cores
@needs_openai
def test_openai_backend_runs_a_checkpoint_from_models_dir(tmp_path):
    """A tiny random Whisper checkpoint in openai-whisper's format: the backend loads it by
    path from MODELS_DIR and returns a Transcript on the full timeline (text is noise)."""
    import torch
    import whisper
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(0)
    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2,
                           n_audio_layer=1, n_vocab=51865, n_text_ctx=64, n_text_state=64,
                           n_text_head=2, n_text_layer=1)
    model = Whisper(dims)
    with torch.no_grad():  # some parameters start as torch.empty: give them all values
        for p in model.parameters():
            p.normal_(0.0, 0.02)
    torch.save({"dims": dims.__dict__, "model_state_dict": model.state_dict()},
               tmp_path / "tiny-random.pt")
    s = EngineSettings(models_dir=tmp_path, whisper_backend="openai",
                       whisper_model="tiny-random", device="cpu", threads=2)
    t = tr.get_transcriber(s)
    assert isinstance(t, tr.OpenAIWhisperTranscriber)
    audio = load_clip("en")[: 16000 * 6]
    out = t.transcribe(audio, regions=[(1.0, 4.0)])
    assert out.backend == "openai" and out.audio_seconds == pytest.approx(4.0)
    assert out.language in whisper.tokenizer.LANGUAGES
    for seg in out.segments:
        assert 0.0 <= seg.start <= seg.end <= 6.0 + 1e-6


def test_speech_anchors_on_the_clips(settings):
    """English original; Spanish dub starting 1.5 s later: four pairs, anchors agree."""
    orig = load_clip("en")
    dub = np.concatenate([np.zeros(24000, np.float32), load_clip("es")])
    seen: list[float] = []
    res = speech_anchors(orig, dub, 16000, settings, progress=seen.append)
    assert (res.orig_language, res.dub_language) == ("en", "es")
    assert (iso639_2(res.dub_language), language_name(res.dub_language)) == ("spa", "Spanish")
    assert len(res.pairs) == 4
    assert [round(p.orig_start) for p in res.pairs] == [1, 6, 11, 16]
    starts = [a for a in res.anchors if any(abs(a.orig_t - x) < 0.3 for x in (1, 6, 11, 16))]
    assert len(starts) == 4
    for a in starts:
        assert a.source == "speech" and a.score >= 5
        assert a.dub_t - a.orig_t == pytest.approx(1.5, abs=0.06)
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert res.timings["orig_rtf"] > 0 and res.timings["dub_rtf"] > 0


def test_the_same_audio_is_not_transcribed_twice(settings):
    """One original with several dubs (or a batch): its transcript is reused, keyed by the
    samples themselves; other samples or other regions are transcribed anew."""
    t = tr.get_transcriber(settings)
    clip = load_clip("en")[: 16000 * 6].copy()
    first = t.transcribe(clip)
    seen: list[float] = []
    again = t.transcribe(clip.copy(), progress=seen.append)
    assert again is first and seen == [1.0]
    assert t.transcribe(clip, regions=[(0.0, 3.0)]) is not first
    louder = clip * 0.5
    assert t.transcribe(louder) is not first
