"""Picture refinement of speech-placed offsets.

A map placed by speech pairs alone is known only as well as the dub actors kept the
original's timing (each line starts up to a few hundred ms off, so a segment's mean is
known to ~±30 ms). Both releases show the same film frames through the same map, so the
picture pins each segment's offset to a frame or better:

* per segment, a few short stretches spread inside it (bounded: the cost does not grow
  with the film's length) are decoded from both files with an input seek, to a tiny
  grayscale grid per frame with the stream's own frame times;
* each side's grid has its per-cell mean over the stretch removed (static backgrounds,
  levels and logos drop out; what moves and cuts remains) and each frame is normalized;
* the dub's frames are sent to original time through the segment (its speed included)
  and compared with the original's frames interpolated at those times, for lags within
  ±MAX_LAG_S of the speech-placed offset (1 ms steps; where the dub's frames are whole
  film frames — equal rates after the speed, as in a PAL transfer — the lag found is the
  nearest frame: the picture cannot say more; only where the phases vary, e.g. a
  frame-rate conversion, do they average to a lag between frames);
* a stretch's lag counts only when its peak is clear: a high mean correlation that
  falls away on both sides within the search, and no other lobe of the curve near it;
* the segment's offset moves by the median of the accepted lags when at least
  MIN_AGREE stretches agree within a frame; otherwise it stays as speech placed.

Only reads the video (never re-encodes); any decoding failure leaves the map as it was.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from app.errors import MediaError
from app.services.media import MediaInfo, ff_path, run_ffmpeg_capture
from app.services.timemap import Segment, TimeMap

logger = logging.getLogger(__name__)

GRID_W, GRID_H = 16, 9            # signature per frame (cells)
STRETCHES_PER_SEGMENT = 4
MAX_STRETCHES = 16                # in all, whatever the number of segments
STRETCH_S = 20.0                  # dub seconds per stretch ...
MIN_STRETCH_S = 5.0               # ... never shorter than this
MAX_LAG_S = 0.5                   # search around the speech-placed offset
LAG_STEP_S = 0.001
MIN_PEAK = 0.5                    # mean correlation of the frames at the peak
MIN_DROP = 0.25                   # the curve falls this far from the peak on both sides
RIVAL_GAP = 0.5                   # another lobe stays below peak - this share of the depth
MIN_AGREE = 2                     # stretches agreeing within a frame
MIN_FRAMES = 40                   # dub frames a stretch needs
MIN_MOTION = 1.0                  # grey levels (0-255): RMS change needed in a stretch

_PTS = re.compile(r"n:\s*(\d+)\s+pts:\s*(-?\d+)\s+pts_time:(-?[0-9.]+)")


def signature_args(path: Path, video_index: int, start: float, duration: float
                   ) -> list[str]:
    """ffmpeg argv (without the program) writing a GRID_W x GRID_H grey grid per frame of
    stream `video_index` to stdout, `duration` s from `start` (s, input seek, clamped at
    0), with the frame times logged by showinfo (needs loglevel "info")."""
    return ["-copyts", "-ss", f"{max(0.0, start):.6f}", "-t", f"{duration:.6f}",
            "-i", ff_path(path), "-map", f"0:{video_index}", "-an", "-sn", "-dn",
            "-vf", f"scale={GRID_W}:{GRID_H}:flags=area,format=gray,showinfo",
            "-fps_mode", "passthrough", "-f", "rawvideo", "pipe:1"]


def read_signatures(info: MediaInfo, start: float, duration: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(frame times on the file's timeline — the same zero as the audio decode —,
    (n, GRID_W*GRID_H) float32 grey levels) for `duration` s of the first video stream
    from `start` (s). Input seek; times are the stream's own presentation times. Raise
    MediaError when ffmpeg fails or runs past media.CAPTURE_TIMEOUT."""
    v = info.video
    if v is None:
        raise ValueError("no video stream")
    raw, log = run_ffmpeg_capture(signature_args(info.path, v.index, start, duration),
                                  loglevel="info",
                                  what=f"could not read the picture of {info.path.name!r}")
    size = GRID_W * GRID_H
    frames = np.frombuffer(raw, dtype=np.uint8)
    frames = frames[:len(frames) // size * size].reshape(-1, size).astype(np.float32)
    times = [float(m.group(3)) for m in _PTS.finditer(log)]
    n = min(len(times), len(frames))
    t = np.asarray(times[:n], dtype=np.float64) - info.start_time
    return t, frames[:n]


def _normalize(x: np.ndarray) -> np.ndarray | None:
    """Per-cell temporal mean removed, then each frame zero-mean and unit-norm; None when
    nothing moves (a still picture says nothing about time)."""
    if len(x) < 2:
        return None
    x = x - x.mean(axis=0, keepdims=True)
    if float(np.sqrt(np.mean(x ** 2))) < MIN_MOTION:
        return None
    x = x - x.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, 1e-6)


def match_stretch(t_orig: np.ndarray, x_orig: np.ndarray, t_dub: np.ndarray,
                  x_dub: np.ndarray, seg: Segment, max_lag: float = MAX_LAG_S
                  ) -> dict:
    """Lag (s, added to the segment's offset) that best lays the dub's frames on the
    original's, with the peak's figures; "lag" is None when the peak is not clear."""
    out: dict = {"lag": None}
    xo, xd = _normalize(x_orig), _normalize(x_dub)
    if xo is None or xd is None or len(t_orig) < 4:
        out["why"] = "no motion"
        return out
    u = seg.orig_start + (t_dub - seg.dub_start) * seg.speed
    keep = (u - max_lag >= t_orig[0]) & (u + max_lag <= t_orig[-1])
    if keep.sum() < MIN_FRAMES:
        out["why"] = "too few frames"
        return out
    u, xd = u[keep], xd[keep]
    sim = xd @ xo.T                                           # (dub frames, orig frames)
    lags = np.arange(-max_lag, max_lag + LAG_STEP_S / 2, LAG_STEP_S)
    uu = u[None, :] + lags[:, None]                           # (lags, dub frames)
    i = np.clip(np.searchsorted(t_orig, uu) - 1, 0, len(t_orig) - 2)
    t0, t1 = t_orig[i], t_orig[i + 1]
    w = np.clip((uu - t0) / np.maximum(t1 - t0, 1e-6), 0.0, 1.0)
    rows = np.arange(len(u))[None, :]
    curve = ((1 - w) * sim[rows, i] + w * sim[rows, i + 1]).mean(axis=1)
    k = int(np.argmax(curve))
    peak, low = float(curve[k]), float(curve.min())
    # The peak's lobe: downhill both ways (a ripple of 1 % of the depth does not end it).
    tol = 0.01 * max(peak - low, 1e-6)
    a = k
    while a > 0 and curve[a - 1] <= curve[a] + tol:
        a -= 1
    b = k
    while b < len(curve) - 1 and curve[b + 1] <= curve[b] + tol:
        b += 1
    outside = np.r_[curve[:a], curve[b + 1:]]
    rival = float(outside.max()) if len(outside) else low
    drop = min(peak - float(curve[:k + 1].min()), peak - float(curve[k:].min()))
    out.update(peak=round(peak, 3), drop=round(drop, 3), rival=round(rival, 3),
               lag_ms=round(float(lags[k]) * 1000, 1), frames=int(len(u)))
    if peak < MIN_PEAK:
        out["why"] = "weak peak"
    elif drop < MIN_DROP:
        out["why"] = "peak not clear"
    elif peak - rival < RIVAL_GAP * (peak - low):
        out["why"] = "rival peak"
    elif abs(lags[k]) >= max_lag - 2 * LAG_STEP_S:
        out["why"] = "peak at the search's edge"
    else:
        out["lag"] = float(lags[k])
    return out


def _stretches(seg: Segment, n: int, dub_dur: float, orig_dur: float, max_lag: float
               ) -> list[tuple[float, float]]:
    """Up to n dub stretches (start, length) spread inside the segment, their images
    (± the search) inside the original."""
    a = max(seg.dub_start, 0.0) + 1.0
    b = min(seg.dub_end, dub_dur) - 1.0
    # keep the image inside the original
    if seg.speed > 0:
        a = max(a, seg.to_dub(max_lag + 0.5))
        b = min(b, seg.to_dub(orig_dur - max_lag - 0.5))
    span = b - a
    if span < MIN_STRETCH_S:
        return []
    n = max(1, min(n, int(span // MIN_STRETCH_S)))
    length = min(STRETCH_S, span / n)
    step = span / n
    return [(a + (j + 0.5) * step - length / 2, length) for j in range(n)]


def refine_picture(tmap: TimeMap, orig: MediaInfo, dub: MediaInfo,
                   max_lag: float = MAX_LAG_S) -> tuple[TimeMap, dict]:
    """The map with each segment's offset set by the picture where the picture is clear,
    and what was done (for the report's diagnostics)."""
    t_start = time.perf_counter()
    diag: dict = {"segments": [], "max_lag_ms": round(max_lag * 1000)}
    if orig.video is None or dub.video is None or not tmap.segments:
        diag["skipped"] = "a file has no video stream"
        return tmap, diag
    segs = list(tmap.segments)
    # Bounded cost: the longest segments get the stretches first.
    budget = MAX_STRETCHES
    order = sorted(range(len(segs)), key=lambda j: -(segs[j].dub_end - segs[j].dub_start))
    plan: dict[int, list[tuple[float, float]]] = {}
    for j in order:
        n = min(STRETCHES_PER_SEGMENT, budget)
        st = _stretches(segs[j], n, tmap.dub_duration, tmap.orig_duration, max_lag) \
            if n > 0 else []
        plan[j] = st
        budget -= len(st)
    new = list(segs)
    for j, seg in enumerate(segs):
        rec: dict = {"dub_start": round(seg.dub_start, 3), "dub_end": round(seg.dub_end, 3),
                     "tried": len(plan[j]), "accepted": 0, "shift_ms": None, "stretches": []}
        lags: list[float] = []
        for d0, length in plan[j]:
            o0 = seg.to_original(d0) - max_lag - 0.5
            o_len = length * seg.speed + 2 * (max_lag + 0.5)
            # The picture only refines a map that stands without it: a stretch ffmpeg
            # cannot read (MediaError, time limit included) is skipped, not fatal.
            try:
                t_o, x_o = read_signatures(orig, o0, o_len)
                t_d, x_d = read_signatures(dub, d0, length)
            except MediaError as e:
                logger.info("picture: stretch at %.1f s not read: %s", d0, e)
                m = {"lag": None, "why": f"not read: {str(e).splitlines()[0]}"[:120]}
            else:
                m = match_stretch(t_o, x_o, t_d, x_d, seg, max_lag)
            m["dub_t"] = round(d0, 2)
            rec["stretches"].append(m)
            if m["lag"] is not None:
                lags.append(m["lag"])
        rec["accepted"] = len(lags)
        frame = 1.0 / orig.video.fps if orig.video.fps > 0 else 0.042
        if lags:
            med = float(np.median(lags))
            agree = [x for x in lags if abs(x - med) <= frame]
            if len(agree) >= MIN_AGREE and len(agree) * 2 > len(lags):
                shift = float(np.median(agree))
                cand = replace(seg, orig_start=seg.orig_start + shift)
                prev = new[j - 1] if j > 0 else None
                nxt = segs[j + 1] if j + 1 < len(segs) else None
                if (prev and cand.orig_start < prev.orig_end - 1e-3 and seg.orig_start
                        >= prev.orig_end - 1e-3) or \
                   (nxt and cand.orig_end > nxt.orig_start + 1e-3 and seg.orig_end
                        <= nxt.orig_start + 1e-3):
                    rec["why"] = "the shift would overlap a neighbour"
                else:
                    new[j] = cand
                    rec["shift_ms"] = round(shift * 1000, 1)
            else:
                rec["why"] = f"{len(agree)} of {len(lags)} accepted stretches agree"
        elif plan[j]:
            rec["why"] = "no stretch had a clear peak"
        else:
            rec["why"] = "segment too short"
        rec["offset"] = round(new[j].offset, 4)
        diag["segments"].append(rec)
    diag["seconds"] = round(time.perf_counter() - t_start, 2)
    if all(a is b for a, b in zip(new, segs)):
        return tmap, diag
    return replace(tmap, segments=tuple(new)), diag
