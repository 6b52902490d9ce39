"""Test media made with ffmpeg lavfi: small "films" and "dubs" with a known time map.

No tests here (`from tests.helpers import films as mf`). Everything is deterministic:
the schedules come from a seeded numpy Generator and ffmpeg's sources are seeded too.

The bed (music and effects both releases share) is not periodic: three layers with
random schedules, merged into stereo:
  A. noise bursts (white/pink/brown, sharp attack, fading) and 2 ms impulses at
     irregular, known times, separated by silences;
  B. sine tones whose frequency and level change at random times;
  C. brown noise gated by a sum of incommensurate sines (aevalsrc, amultiply).
Voices stand in for speech: phrases of harmonic tone "syllables" (120-320 Hz), a
different schedule for the original and for the dub.
A dub is the bed transformed by a known map (a cut, a PAL speed-up by an exact
rational via asetrate, a lead-in), with its own voices, encoded with its own codec.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from tests.helpers.media import SR, decode_mono, ffmpeg   # SR: the rate of everything made here

VIDEO_RATE = "24000/1001"             # the original's frame rate (film on Blu-ray)
PAL = Fraction(25025, 24000)          # PAL speed-up of a 23.976 film: 25 / (24000/1001)


def _script(path: Path, graph: str) -> Path:
    path.write_text(graph)
    return path


# ------------------------------------------------------------------ schedules

@dataclass
class Bed:
    path: Path                       # stereo WAV, SR
    duration: float
    impulses: list[float]            # times (s) of the 2 ms impulses
    seed: int


_FMT = f"aformat=sample_fmts=fltp:sample_rates={SR}:channel_layouts=mono"


def _concat(parts: list[str], label: str) -> str:
    """`parts` (mono source chains) concatenated into [label]."""
    lines = [f"{p},{_FMT}[{label}{i}]" for i, p in enumerate(parts)]
    ins = "".join(f"[{label}{i}]" for i in range(len(parts)))
    return ";\n".join(lines) + f";\n{ins}concat=n={len(parts)}:v=0:a=1,{_FMT}[{label}]"


def _silence(d: float) -> str:
    return f"aevalsrc=0:s={SR}:d={d:.4f}"


def _layer_bursts(rng: np.random.Generator, duration: float, seed: int
                  ) -> tuple[list[str], list[float]]:
    parts, impulses, t = [], [], 0.0
    while t < duration - 0.5:
        gap = float(rng.uniform(0.08, 0.9))
        parts.append(_silence(gap))
        t += gap
        r = rng.random()
        if r < 0.3 and t > 0.5:
            d = float(rng.uniform(0.25, 0.6))
            a = float(rng.uniform(0.5, 0.8))
            parts.append(f"aevalsrc='{a:.3f}*lt(t,0.002)*(1-2*gt(mod(t*8000,2),1))'"
                         f":s={SR}:d={d:.4f}")
            impulses.append(t)
        else:
            d = float(rng.uniform(0.05, 0.7))
            colour = ["white", "pink", "brown"][int(rng.integers(3))]
            a = float(rng.uniform(0.1, 0.45))
            parts.append(f"anoisesrc=r={SR}:c={colour}:a={a:.3f}:d={d:.4f}:"
                         f"seed={seed * 1000 + len(parts)},"
                         f"afade=t=out:st={d * 0.2:.4f}:d={d * 0.8:.4f}")
        t += d
    parts.append(_silence(duration - t + 1.0))
    return parts, impulses


def _layer_tones(rng: np.random.Generator, duration: float) -> list[str]:
    parts, t = [], 0.0
    while t < duration:
        d = float(rng.uniform(0.2, 1.8))
        if rng.random() < 0.3:
            parts.append(_silence(d))
        else:
            f = float(rng.uniform(180, 2500))
            a = float(rng.uniform(0.03, 0.15))
            parts.append(f"sine=f={f:.1f}:r={SR}:d={d:.4f},volume={a:.3f}")
        t += d
    return parts


def _gate_expr(rng: np.random.Generator) -> str:
    fs = rng.uniform(0.11, 0.9, 3)
    ph = rng.uniform(0, 6.28, 3)
    s = "+".join(f"sin(2*PI*{f:.4f}*t+{p:.3f})" for f, p in zip(fs, ph))
    return f"0.6*gt({s},0.9)"


def make_bed(path: Path, duration: float, seed: int) -> Bed:
    """A varied, non-periodic stereo bed (WAV, SR Hz) of `duration` s."""
    rng = np.random.default_rng(seed)
    bursts, impulses = _layer_bursts(rng, duration, seed)
    tones = _layer_tones(rng, duration)
    graph = ";\n".join([
        _concat(bursts, "A"),
        _concat(tones, "B"),
        f"anoisesrc=r={SR}:c=brown:a=0.25:d={duration + 1:.3f}:seed={seed + 7}[cn]",
        f"aevalsrc='{_gate_expr(rng)}':s={SR}:d={duration + 1:.3f}[cg]",
        f"[cn]{_FMT}[cn1]", f"[cg]{_FMT}[cg1]", f"[cn1][cg1]amultiply,{_FMT}[C]",
        "[A][B][C]amerge=inputs=3,"
        "pan=stereo|c0=c0+0.6*c1+c2|c1=0.7*c0+c1+0.8*c2,"
        f"atrim=duration={duration:.6f}[out]",
    ])
    script = _script(path.with_suffix(".graph"), graph)
    ffmpeg("-filter_complex_script", script, "-map", "[out]", "-c:a", "pcm_f32le", path)
    script.unlink()
    return Bed(path, duration, impulses, seed)


def make_voices(path: Path, duration: float, seed: int) -> Path:
    """Stand-in dialogue: phrases of harmonic tone syllables (stereo WAV, centre)."""
    rng = np.random.default_rng(seed + 5000)
    parts, t = [], 0.0
    while t < duration:
        pause = float(rng.uniform(0.4, 2.0))
        parts.append(_silence(pause))
        t += pause
        for _ in range(int(rng.integers(3, 9))):
            d = float(rng.uniform(0.1, 0.35))
            f0 = float(rng.uniform(120, 320))
            a = float(rng.uniform(0.1, 0.25))
            parts.append(f"aevalsrc='{a:.3f}*sin(PI*t/{d:.4f})*(sin(2*PI*{f0:.1f}*t)"
                         f"+0.5*sin(4*PI*{f0:.1f}*t)+0.3*sin(6*PI*{f0:.1f}*t))'"
                         f":s={SR}:d={d:.4f}")
            gap = float(rng.uniform(0.03, 0.15))
            parts.append(_silence(gap))
            t += d + gap
    graph = _concat(parts, "V") + f";\n[V]atrim=duration={duration:.6f},pan=stereo|c0=c0|c1=c0[out]"
    script = _script(path.with_suffix(".graph"), graph)
    ffmpeg("-filter_complex_script", script, "-map", "[out]", "-c:a", "pcm_f32le", path)
    script.unlink()
    return path


# ------------------------------------------------------------------ films and dubs

@dataclass
class Film:
    path: Path
    bed: Bed
    duration: float


def make_film(path: Path, bed: Bed, voices: Path | None, *, video_rate: str = VIDEO_RATE,
              audio_codec: list[str] = ("-c:a", "flac"),
              language: str = "eng") -> Film:
    """Original release: testsrc2 160x90 H.264 + (bed + voices) audio, tagged."""
    d = bed.duration
    inputs = ["-f", "lavfi", "-i", f"testsrc2=size=160x90:rate={video_rate}:duration={d:.6f}",
              "-i", bed.path]
    if voices is not None:
        inputs += ["-i", voices]
        mix = ["-filter_complex", "[1:a][2:a]amix=inputs=2:normalize=0[a]", "-map", "0:v",
               "-map", "[a]"]
    else:
        mix = ["-map", "0:v", "-map", "1:a"]
    ffmpeg(*inputs, *mix, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
           *audio_codec, "-metadata:s:a:0", f"language={language}", "-t", f"{d:.6f}", path)
    return Film(path, bed, d)


@dataclass
class DubMap:
    """The true map of a dub made by `make_dub`: dub time -> original time."""
    speed: float
    lead_in: float                                       # dub seconds before the film starts
    cut: tuple[float, float] | None                      # original interval the dub lacks
    duration: float                                      # dub duration (s)
    segments: list[tuple[float, float, float]] = field(default_factory=list)
    # (dub_start, dub_end, orig_start) at `speed`

    @property
    def offsets(self) -> list[float]:
        """orig_t - speed * dub_t per segment (what the report's segments call offset)."""
        return [o0 - self.speed * d0 for d0, _d1, o0 in self.segments]

    def to_original(self, dub_t: float) -> float | None:
        for d0, d1, o0 in self.segments:
            if d0 <= dub_t < d1:
                return o0 + (dub_t - d0) * self.speed
        return None

    def to_dub(self, orig_t: float) -> float | None:
        for d0, d1, o0 in self.segments:
            o1 = o0 + (d1 - d0) * self.speed
            if o0 <= orig_t < o1:
                return d0 + (orig_t - o0) / self.speed
        return None


def make_dub(path: Path, bed: Bed, voices: Path | None, *, lead_in: float = 0.0,
             speed: Fraction = Fraction(1), cut: tuple[float, float] | None = None,
             audio_codec: list[str] = ("-c:a", "ac3", "-b:a", "192k"),
             language: str | None = "spa", video_rate: str | None = None,
             content_delay: float = 0.0) -> DubMap:
    """The dub: the bed with original [cut) removed (atrim + concat), sped up by `speed`
    (asetrate = SR * speed, an exact integer, then back to SR: pitch rises as in a PAL
    transfer), preceded by `lead_in` s of silence, mixed with the dub's own voices.
    With `video_rate`, a testsrc2 video at that rate is included (a full release).
    `content_delay`: the codec's delay (codec_delay), added to the true map's dub times."""
    T = bed.duration
    rate = SR * speed
    if rate.denominator != 1:
        raise ValueError(f"SR * speed must be an integer sample rate, not {rate}")
    chain = []
    if cut is not None:
        c0, c1 = cut
        chain.append(f"[0:a]asplit=2[p][q];[p]atrim=0:{c0:.6f},asetpts=PTS-STARTPTS[p1];"
                     f"[q]atrim={c1:.6f},asetpts=PTS-STARTPTS[q1];"
                     f"[p1][q1]concat=n=2:v=0:a=1[cutd]")
        src = "[cutd]"
    else:
        src = "[0:a]"
    stages = []
    if speed != 1:
        stages.append(f"asetrate={int(rate)},aresample={SR}")
    if lead_in > 0:
        ms = lead_in * 1000
        stages.append(f"adelay={ms:.3f}|{ms:.3f}")
    stages.append("anull")
    chain.append(f"{src}{','.join(stages)}[bed]")
    body = (T - ((cut[1] - cut[0]) if cut else 0.0)) / float(speed)
    duration = lead_in + body
    inputs = ["-i", bed.path]
    if voices is not None:
        inputs += ["-i", voices]
        chain.append("[bed][1:a]amix=inputs=2:normalize=0:duration=first[a]")
    else:
        chain.append("[bed]anull[a]")
    vid = []
    if video_rate:
        n_in = 2 if voices is not None else 1
        inputs += ["-f", "lavfi", "-i",
                   f"testsrc2=size=160x90:rate={video_rate}:duration={duration:.6f}"]
        vid = ["-map", f"{n_in}:v", "-c:v", "libx264", "-preset", "ultrafast",
               "-pix_fmt", "yuv420p"]
    meta = ["-metadata:s:a:0", f"language={language}"] if language else []
    ffmpeg(*inputs, "-filter_complex", ";".join(chain), *vid, "-map", "[a]", *audio_codec,
           *meta, "-t", f"{duration:.6f}", path)
    s = float(speed)
    segs = []
    L = lead_in + content_delay
    if cut is None:
        segs.append((L, duration, 0.0))
    else:
        split = L + cut[0] / s
        segs += [(L, split, 0.0), (split, duration, cut[1])]
    return DubMap(s, lead_in, cut, duration, segs)


_DELAYS: dict[tuple[str, ...], float] = {}


def codec_delay(audio_codec, tmp_dir: Path) -> float:
    """Seconds by which `audio_codec` (ffmpeg output args) delays content in Matroska, as
    decoded on the file's timeline (encoder priming the container does not undo: 256
    samples for ac3, 1024 for aac; 0 for flac). Measured once: a click at 1 s."""
    key = tuple(audio_codec)
    if key not in _DELAYS:
        src, enc = Path(tmp_dir) / "click.wav", Path(tmp_dir) / "click.mka"
        ffmpeg("-f", "lavfi", "-i", f"aevalsrc='0.8*between(t,1,1+20/{SR})':s={SR}:d=3",
               "-ac", "2", "-c:a", "pcm_f32le", src)
        ffmpeg("-i", src, *audio_codec, enc)
        x = np.abs(decode_mono(enc, rate=SR))
        i = int(np.argmax(np.convolve(x, np.ones(20), mode="valid")))
        _DELAYS[key] = (i - SR) / SR
        src.unlink()
        enc.unlink()
    return _DELAYS[key]


# ------------------------------------------------------------------ measuring

def highpass(x: np.ndarray, rate: int, hz: float = 2000.0) -> np.ndarray:
    """Zero-phase high-pass: keeps the impulses and the bed's upper band, removes the
    voices (harmonics below 1 kHz), so the two tracks' different dialogue does not blur
    the measurement."""
    from scipy.signal import butter, sosfiltfilt
    sos = butter(6, hz, btype="highpass", fs=rate, output="sos")
    return sosfiltfilt(sos, x.astype(np.float64)).astype(np.float32)


def lag_at(expected: np.ndarray, got: np.ndarray, t: float, rate: int,
           half_window: float = 0.15, search: float = 0.06) -> tuple[float, float]:
    """(lag s, normalized peak) of `got` against `expected` around time t (s): positive
    lag = `got` plays late. Normalized cross-correlation over +-`search` s."""
    a, b = int((t - half_window) * rate), int((t + half_window) * rate)
    m = int(search * rate)
    if a - m < 0 or b + m > min(len(expected), len(got)):
        raise ValueError(f"window at {t:.2f} s is off the signals' edges")
    ref = expected[a:b].astype(np.float64)
    ref = ref - ref.mean()
    seg = got[a - m:b + m].astype(np.float64)
    num = np.correlate(seg, ref, mode="valid")          # index j <-> lag j - m
    c1 = np.concatenate([[0.0], np.cumsum(seg)])
    c2 = np.concatenate([[0.0], np.cumsum(seg ** 2)])
    n = len(ref)
    var = np.maximum((c2[n:] - c2[:-n]) - (c1[n:] - c1[:-n]) ** 2 / n, 1e-12)
    ncc = num / np.sqrt(var * (ref ** 2).sum() + 1e-12)
    j = int(np.argmax(ncc))
    return (j - m) / rate, float(ncc[j])
