"""features (app/services/features.py): warp, decimate, normalize and the onset envelope,
on small arrays."""
from __future__ import annotations

import numpy as np

from app.services import features
from tests.helpers.envelopes import RATE

def test_warp_maps_dub_frames_to_the_original_clock():
    env = np.sin(np.arange(1000) / 7.0).astype(np.float32)
    out = features.warp(env, 1.25)
    assert len(out) == 1250
    k = np.arange(0, 1240)
    assert np.allclose(out[k], np.interp(k / 1.25, np.arange(1000), env), atol=1e-6)
    assert features.warp(env, 1.0) is env


def test_decimate_and_normalize():
    x = np.arange(12, dtype=np.float32)
    assert features.decimate(x, 5).tolist() == [2.0, 7.0]
    assert len(features.decimate(x[:3], 5)) == 0
    rng = np.random.default_rng(0)
    loud = np.concatenate([rng.normal(0, 1, 3000), rng.normal(0, 10, 3000)])
    z = features.normalize(loud)
    assert abs(z[:2500].std() - z[3500:].std()) < 0.3      # loud and quiet weigh alike
    assert z.max() <= 8.0 and z.min() >= -3.0


def test_onset_extractor_streaming_equals_whole():
    rng = np.random.default_rng(1)
    x = (rng.normal(0, 0.1, 16000 * 3) * (rng.random(16000 * 3) > 0.5)).astype(np.float32)
    whole, en = features.onset_envelope(x)
    ex = features.OnsetExtractor()
    for i in range(0, len(x), 7777):              # odd block sizes
        ex.feed(x[i:i + 7777])
    env, en2 = ex.finish()
    assert len(whole) == (len(x) - features.WIN) // features.HOP + 1
    assert np.allclose(env, whole, atol=1e-5) and np.allclose(en, en2, atol=1e-5)


def test_onset_envelope_peaks_at_a_click():
    x = np.zeros(16000 * 2, np.float32)
    x[16000:16000 + 80] = 0.5                     # a burst at 1.00 s
    env, _ = features.onset_envelope(x)
    k = int(np.argmax(env))
    assert abs(k / RATE - 1.0) <= 0.03           # frame time = window start

