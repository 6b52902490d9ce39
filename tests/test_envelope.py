"""envelope: a long track decoded as two halves gives the single pass's envelope; a second
half that does not start where its timestamps say is caught and decoded in one pass."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from app.services import envelope
from app.services import media
from tests.helpers.media import ffmpeg


def _track(path: Path, codec: list[str], seconds: float = 40.0) -> media.MediaInfo:
    """Pink noise under a 3 Hz tremolo (onsets all along), 48 kHz stereo."""
    ffmpeg("-f", "lavfi", "-i",
           f"anoisesrc=d={seconds}:c=pink:a=0.3:r=48000:seed=7,tremolo=f=3:d=0.9",
           "-ac", "2", *codec, str(path))
    return media.probe(path)


@pytest.fixture(scope="module")
def flac(tmp_path_factory) -> media.MediaInfo:
    return _track(tmp_path_factory.mktemp("env") / "t.mkv", ["-c:a", "flac"])


def _spy(monkeypatch) -> list:
    real, starts = media.iter_audio, []

    def spy(path, stream, **kw):
        starts.append(kw.get("start"))
        return real(path, stream, **kw)
    monkeypatch.setattr(media, "iter_audio", spy)
    return starts


def test_halves_equal_one_pass(flac, monkeypatch):
    s = flac.audio[0]
    one = envelope.track_envelope(flac, s, bed_only=False, split=False)
    starts = _spy(monkeypatch)
    two = envelope.track_envelope(flac, s, bed_only=False, split=True)
    assert sorted(starts, key=str) == [18.0, None]          # two decodes, one seeking
    assert len(one.env) == len(two.env) > 3900 and one.bands.shape == two.bands.shape
    scale = float(np.abs(one.env).max())
    assert scale > 1.0
    np.testing.assert_allclose(two.env, one.env, atol=1e-3 * scale)
    np.testing.assert_allclose(two.bands, one.bands, atol=1e-3 * scale)


def test_ac3_halves_match_within_the_decoders_dither(tmp_path, monkeypatch):
    """The AC-3 decoder dithers zero-bit mantissas with a generator a seek restarts
    (-80 dB): the halves then differ from one pass by that noise only."""
    ac3 = _track(tmp_path / "t.mkv", ["-c:a", "ac3", "-b:a", "192k"])
    one = envelope.track_envelope(ac3, ac3.audio[0], bed_only=False, split=False)
    starts = _spy(monkeypatch)
    two = envelope.track_envelope(ac3, ac3.audio[0], bed_only=False, split=True)
    assert len(starts) == 2
    assert len(one.env) == len(two.env)
    k = len(one.env) // 2
    # First half: the same decode. Not bit-equal across processors: the decoder's dither
    # and the float paths (AVX2 vs AVX-512) move a few values by ~1e-6 of the envelope.
    tol = 1e-4 * float(np.abs(one.env).max())
    np.testing.assert_allclose(two.env[:k], one.env[:k], rtol=0, atol=tol)
    assert np.corrcoef(two.env[k:], one.env[k:])[0, 1] > 0.99


@pytest.mark.parametrize("name,codec", [
    ("aac.mp4", ["-c:a", "aac", "-b:a", "192k"]),               # sample-exact timestamps
    ("aac44.mkv", ["-c:a", "aac", "-ar", "44100"]),             # ms timestamps, 23.2 ms frames
])
def test_lossy_halves_join_without_falling_back(tmp_path, monkeypatch, name, codec):
    t = _track(tmp_path / name, codec)
    one = envelope.track_envelope(t, t.audio[0], bed_only=False, split=False)
    starts = _spy(monkeypatch)
    two = envelope.track_envelope(t, t.audio[0], bed_only=False, split=True)
    assert len(starts) == 2 and len(two.env) == len(one.env)
    k = len(one.env) // 2
    assert np.corrcoef(two.env[k:], one.env[k:])[0, 1] > 0.999


def _lying(monkeypatch, lies: list[float]) -> list:
    """iter_audio whose n-th seek lands lies[n] s later than asked (a container whose
    timestamps are off); returns the starts asked for."""
    real, calls = media.iter_audio, []

    def lying(path, stream, *, start=None, **kw):
        calls.append(start)
        if start:
            start += lies[min(len(lies), sum(1 for c in calls if c)) - 1]
        return real(path, stream, start=start, **kw)

    monkeypatch.setattr(media, "iter_audio", lying)
    return calls


def test_a_half_a_little_off_is_decoded_again_from_the_right_place(flac, monkeypatch, caplog):
    """Rounded timestamps put every seek 30 ms late: the second half is decoded again
    from the measured place, and the envelope is the single pass's."""
    caplog.set_level(logging.INFO, logger="app.services.envelope")
    s = flac.audio[0]
    one = envelope.track_envelope(flac, s, bed_only=False, split=False)
    calls = _lying(monkeypatch, [0.03])
    got = envelope.track_envelope(flac, s, bed_only=False, split=True)
    assert len(calls) == 3 and calls[2] == pytest.approx(18.0 - 0.03, abs=1e-4)
    assert "decoding it again" in caplog.text
    np.testing.assert_allclose(got.env, one.env, atol=1e-3 * float(np.abs(one.env).max()))


def test_a_half_off_its_timestamps_falls_back_to_one_pass(flac, monkeypatch, caplog):
    """Seeks that land somewhere else each time: one pass (the halves are never joined)."""
    s = flac.audio[0]
    one = envelope.track_envelope(flac, s, bed_only=False, split=False)
    calls = _lying(monkeypatch, [0.03, 0.01])
    got = envelope.track_envelope(flac, s, bed_only=False, split=True)
    assert len(calls) == 4 and calls[-1] is None          # halves, the retry, one pass
    assert "does not start where its timestamps say" in caplog.text
    # One pass both times: the same decode, to float rounding (stated tolerance).
    np.testing.assert_allclose(got.env, one.env, rtol=0,
                               atol=1e-4 * float(np.abs(one.env).max()))


def test_silence_where_the_halves_meet_means_one_pass(tmp_path, monkeypatch, caplog):
    """Nothing to compare the halves on: they are not trusted."""
    path = tmp_path / "quiet.mkv"
    ffmpeg("-f", "lavfi", "-i",
           "anoisesrc=d=40:c=pink:a=0.3:r=48000:seed=7,"
           "volume=enable='between(t,15,25)':volume=0", "-ac", "2", "-c:a", "flac",
           str(path))
    t = media.probe(path)
    starts = _spy(monkeypatch)
    got = envelope.track_envelope(t, t.audio[0], bed_only=False, split=True)
    assert len(starts) == 3 and starts[-1] is None
    assert "silent where the halves meet" in caplog.text
    assert len(got.env) > 3900


def test_a_half_that_fails_to_decode_means_one_pass(flac, monkeypatch, caplog):
    real, calls = media.iter_audio, []

    def broken(path, stream, *, start=None, **kw):
        calls.append(start)
        if start:
            raise media.MediaError("simulated: ffmpeg could not seek")
        return real(path, stream, start=start, **kw)

    monkeypatch.setattr(media, "iter_audio", broken)
    got = envelope.track_envelope(flac, flac.audio[0], bed_only=False, split=True)
    assert calls[-1] is None and "decoding in halves failed" in caplog.text
    assert len(got.env) > 3900


def test_slip():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(20000).astype(np.float32)
    first = x[1000:9000]
    for lag in (0, 5, -12):
        second = x[1000 - 800 - lag:9000 + 800 - lag]   # the same audio, `lag` samples late
        assert envelope.slip(first, second, 800) == lag
    assert envelope.slip(first, rng.standard_normal(len(first) + 1600), 800) is None
    assert envelope.quiet(np.zeros(100, np.float32)) and not envelope.quiet(first)


def test_splittable():
    def info(fmt, dur):
        return media.MediaInfo(Path("x"), fmt, dur, 0.0)
    assert envelope.splittable(info("matroska,webm", 7200.0))
    assert envelope.splittable(info("mov,mp4,m4a,3gp,3g2,mj2", 1800.0))
    assert not envelope.splittable(info("matroska,webm", 300.0))            # short: one pass
    assert not envelope.splittable(info("mpegts", 7200.0))                  # timestamp jumps
    assert not envelope.splittable(info("avi", 7200.0))


def _info(duration: float, channels: int, fmt: str = "matroska,webm"
          ) -> tuple[media.MediaInfo, media.StreamInfo]:
    s = media.StreamInfo(index=1, kind="audio", codec="ac3", channels=channels,
                         channel_layout="5.1(side)" if channels == 6 else "stereo",
                         sample_rate=48000)
    return media.MediaInfo(Path(f"/m/{channels}.mkv"), fmt, duration, 0.0, (s,)), s


def test_plan_splits_balances_the_cores():
    """Two tracks on two cores: only the costlier one goes in halves (the other decodes
    beside them); alone or on four cores every long one does; one core, none; a short
    track or an MPEG-TS capture never."""
    orig, dub = _info(7200, 6), _info(6900, 2)
    assert envelope.plan_splits([dub, orig], 2) == [False, True]
    assert envelope.plan_splits([orig, dub], 2) == [True, False]
    assert envelope.plan_splits([dub, orig], 4) == [True, True]
    assert envelope.plan_splits([dub], 2) == [True]
    assert envelope.plan_splits([dub], 1) == [False]
    # the same cost on both: neither gains by splitting on two cores
    assert envelope.plan_splits([_info(7200, 2), _info(7200, 2)], 2) == [False, False]
    assert envelope.plan_splits([_info(300, 2)], 2) == [False]           # under SPLIT_MIN_S
    assert envelope.plan_splits([_info(7200, 2, "mpegts")], 2) == [False]
