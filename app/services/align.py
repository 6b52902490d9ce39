"""From two onset envelopes (and optional speech anchors) to a TimeMap. Pure numpy.

`align_envelopes` is the pure twin of the I/O stages: sync_service decodes the audio,
computes the envelopes and calls it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from app.services import anchors as A
from app.services import features as F
from app.services import fit
from app.services.timemap import Segment, TimeMap
from app.services.types import Anchor

logger = logging.getLogger(__name__)

WIN_S = 12.0            # dense window length (s): long enough to be unique in a film
HOP_S = 4.0             # dense window hop (s): boundary search spans ~ a window
MIN_COVERAGE = 0.30     # share of the dub's active windows that must match
SPEECH_TOL = 0.45       # s: speech pairs scatter by actors' timing (~0.3 s), not by 10 ms
SPEECH_Z_NULL = 1.5     # speech-only: weak pairs count when several agree (jumps cost, so strays do not)
SPEECH_MIN_COVERAGE = 0.3  # speech-only: share of paired lines in the map's runs (0 credit)
SPEECH_JUMP_PENALTY = 6.0  # speech-only: a new offset needs about one good pair's worth
#                            (pairs come every 5-10 s and score 3-15, not 4-30 every 4 s)
GOOD_Z = 9.0            # median match strength that counts as fully convincing


HOLE_MIN_S = 30.0       # a stretch of dub this long without an audio match is a hole


@dataclass(frozen=True)
class AudioScan:
    """The audio stage's speed and dense windows, reusable by a later fit."""
    speed: float
    speed_score: float
    windows: tuple[A.WindowMatch, ...]


@dataclass
class Alignment:
    tmap: TimeMap
    anchors: list[Anchor]
    diagnostics: dict = field(default_factory=dict)
    scan: AudioScan | None = None
    # Dub stretches (s) the audio matched nowhere, HOLE_MIN_S or longer.
    holes: list[tuple[float, float]] = field(default_factory=list)
    # The dub's audio windows that have sound, and of them the ones the decode matched:
    # (dub_t, offset). What the evidence judge (evidence.py) counts against the map.
    windows_active: int = 0
    windows_matched: tuple[tuple[float, float], ...] = ()


def _slots(windows: list[A.WindowMatch], speech: list[Anchor], speed: float) -> list[fit.Slot]:
    slots = [fit.Slot(w.dub_t, tuple(fit.Candidate(p.lag, p.z) for p in w.peaks))
             for w in windows]
    slots += [fit.Slot(a.dub_t, (fit.Candidate(a.orig_t - speed * a.dub_t, a.score),),
                       "speech") for a in speech]
    slots.sort(key=lambda s: s.dub_t)
    return slots


def _coarse(env_f: np.ndarray) -> np.ndarray:
    return F.normalize(F.decimate(env_f, A.COARSE), span=60)


def align_envelopes(orig_env: np.ndarray, dub_env: np.ndarray, orig_duration: float,
                    dub_duration: float, *, speed_hint: float | None = None,
                    speech: list[Anchor] | None = None, use_audio: bool = True,
                    speed: float | None = None, orig_bands: np.ndarray | None = None,
                    dub_bands: np.ndarray | None = None,
                    scan: AudioScan | None = None) -> Alignment:
    """Fit the map dub -> original from 100 Hz onset envelopes (features.py).

    `speech`: anchors from the speech path, decoded together with the audio evidence.
    `use_audio=False`: only the speech anchors count (a different music bed).
    `speed`: a known speed (skip the search; still refined from the anchors).
    `orig_bands`/`dub_bands`: per-band envelopes (features.OnsetExtractor.bands), used to
    place cut and insert edges where dialogue masks the bed in part of the spectrum.
    `scan`: a previous call's audio speed and windows (Alignment.scan), reused instead of
    scanning again when the speed stays the same.
    """
    speech = list(speech or [])
    diag: dict = {}
    o_f = F.normalize(orig_env)
    d_f = F.normalize(dub_env)
    o_c, d_c = _coarse(o_f), _coarse(d_f)

    # 1. Speed: from the audio, unless told; speech pairs can settle it too.
    if speed is None:
        if use_audio and scan is not None:
            speed = scan.speed
            diag["speed_scan_score"] = round(scan.speed_score, 2)
        elif use_audio and len(d_c) > 40 and len(o_c) > 40:
            speed, sscore = A.find_speed(o_c, d_c, hint=speed_hint)
            diag["speed_scan_score"] = round(sscore, 2)
        else:
            speed = 1.0
        if speech and (not use_audio or diag.get("speed_scan_score", 0) < fit.Z_NULL):
            sp = _speech_speed(speech, speed_hint)
            if sp is not None:
                speed = sp
    diag["speed_scan"] = speed

    # 2. Dense windows at that speed; the slope of their matches refines the speed
    #    (a 0.05 % error drifts 3.6 s over two hours), then the windows are redone.
    windows: list[A.WindowMatch] = []
    win_speed = speed
    if use_audio and scan is not None and abs(scan.speed - speed) < 1e-9:
        windows = list(scan.windows)
    elif use_audio:
        for _ in range(2):
            win_speed = speed
            windows = A.scan_windows(o_f, F.warp(d_f, speed), speed, WIN_S, HOP_S)
            best = [(w.dub_t, w.dub_t * speed + w.peaks[0].lag, w.peaks[0].z)
                    for w in windows if w.peaks and w.peaks[0].z >= 8.0]
            if len(best) < 3:
                break
            arr = np.array(best)
            s2 = fit.ransac_speed(arr[:, 0], arr[:, 1], arr[:, 2], speed, max_dev=0.004)
            if abs(s2 - speed) < 2e-5:
                break
            speed = s2
    diag["speed_windows"] = speed
    new_scan = AudioScan(win_speed, float(diag.get("speed_scan_score", 0.0)),
                         tuple(windows)) if use_audio else None

    # 3. One global decode over every slot.
    slots = _slots(windows, speech, speed)
    slot_speed = speed                # the speed the slots' candidate offsets are taken at
    tol = fit.OFFSET_TOL if windows else SPEECH_TOL
    z_null = fit.Z_NULL if windows else SPEECH_Z_NULL
    clusters = fit.cluster_offsets(slots, tol=tol, min_z=fit.MIN_CLUSTER_Z if windows else 8.0,
                                   cand_min_z=fit.Z_NULL * 0.8 if windows
                                   else SPEECH_Z_NULL * 0.8)
    dec = fit.decode(slots, clusters, tol=tol, z_null=z_null,
                     penalty=fit.JUMP_PENALTY if windows else SPEECH_JUMP_PENALTY)
    runs = fit.merge_runs(dec.runs, tol=tol)
    # Two runs whose offsets need more room for an insert than their evidence leaves
    # cannot both hold: the weaker goes before any edge is placed (fit.py).
    runs, dropped = fit.drop_conflicting_runs(runs, slots, speed, WIN_S / 2, tol)
    if dropped:
        diag["dropped_runs"] = [[round(slots[r.first].dub_t, 1), round(slots[r.last].dub_t, 1),
                                 round(r.offset, 3), round(r.z_sum, 1)] for r in dropped]
    active = sum(1 for s in slots if s.cands)
    matched = sum(r.n for r in runs)
    coverage = matched / active if active else 0.0
    zs = [c.z for i, s in enumerate(slots) for c in s.cands[:1]
          if dec.choice and dec.choice[i] >= 0]
    diag["cluster_offsets"] = [round(c, 3) for c in clusters[:16]]
    diag["decoded_runs"] = [[round(slots[r.first].dub_t, 1), round(slots[r.last].dub_t, 1),
                             round(r.offset, 3), round(r.z_sum, 1)] for r in dec.runs][:32]
    diag.update(slots=len(slots), clusters=len(clusters), runs=len(runs),
                coverage=round(coverage, 3), median_z=round(float(np.median(zs)), 2) if zs else 0)

    # 4. Fine anchors inside each run, then one speed shared by all runs.
    d_fw = F.warp(d_f, speed)
    pts: list[tuple[float, float, float, int, str]] = []   # dub_t, orig_t, weight, run, src
    for k, r in enumerate(runs):
        for i in range(r.first, r.last + 1):
            s = slots[i]
            cand = [c for c in s.cands if abs(c.offset - r.offset) <= tol]
            if not cand:
                continue
            z = max(c.z for c in cand)
            if z < z_null:
                continue
            u = s.dub_t * speed
            fa = A.fine_anchor(o_f, d_fw, u - WIN_S / 2, u + WIN_S / 2, r.offset) \
                if s.source == "audio" else None
            if fa is not None:
                pts.append((s.dub_t, u + fa[0], z, k, "audio"))
            elif s.source == "speech" and \
                    abs(s.cands[0].offset - r.offset) <= max(tol, 0.5):
                # Speech pairs are imprecise (~0.1-0.3 s): with audio anchors they only
                # steer; alone, their weighted mean places the segment.
                pts.append((s.dub_t, s.dub_t * speed + s.cands[0].offset,
                            z * (0.05 if windows else 1.0), k, "speech"))
    anchors_out: list[Anchor] = []
    offsets = [r.offset for r in runs]
    resid_ms = 0.0
    if pts:
        arr = np.array([p[:4] for p in pts], dtype=float)
        lf = fit.fit_shared_slope(arr[:, 0], arr[:, 1], arr[:, 3].astype(int), arr[:, 2],
                                  len(runs), speed, fit_speed=True)
        if abs(lf.speed / speed - 1) < 0.003:
            speed = lf.speed
        if windows:
            snapped = _snap_speed(speed, dub_duration, 0.002)
        else:
            snapped = _speech_snap(arr, len(runs), speed, speed_hint, diag)
        if snapped != speed:
            # A usual ratio within the measurement's precision: use it exactly (speed 1
            # then lets the dub be placed without re-encoding).
            speed = snapped
            lf = fit.fit_shared_slope(arr[:, 0], arr[:, 1], arr[:, 3].astype(int), arr[:, 2],
                                      len(runs), speed, fit_speed=False)
        for k in range(len(runs)):
            if any(int(p[3]) == k for p, ok in zip(pts, lf.inliers) if ok):
                offsets[k] = lf.offsets[k]
        if not windows:
            pts, lf = _speech_reselect(slots, runs, offsets, speed, slot_speed, tol, z_null,
                                       pts, lf)
        resid_ms = lf.residual_ms
        anchors_out = [Anchor(p[0], p[1], round(p[2], 2), p[4])
                       for p, ok in zip(pts, lf.inliers) if ok]
    diag["residual_ms"] = round(resid_ms, 2)
    diag["speed"] = speed

    # 5. Segments with refined edges.
    if orig_bands is not None and dub_bands is not None and len(runs) > 1:
        o_ev = [F.normalize(orig_bands[:, b], span=100) for b in range(orig_bands.shape[1])]
        d_ev = [F.warp(F.normalize(dub_bands[:, b], span=100), speed)
                for b in range(dub_bands.shape[1])]
    else:
        o_ev, d_ev = o_f, F.warp(d_f, speed)
    tmap_segments = _segments(runs, offsets, slots, speed, o_ev, d_ev,
                              orig_duration, dub_duration)
    conf, reasons, seg_conf = _confidence(runs, coverage, zs, resid_ms, tmap_segments,
                                          speech_only=not windows)
    segs = tuple(Segment(s.dub_start, s.dub_end, s.orig_start, speed, round(c, 3), r.n)
                 for s, c, r in zip(tmap_segments, seg_conf, runs))
    tmap = TimeMap(segs, orig_duration, dub_duration, speed, round(conf, 3), tuple(reasons))
    matched = tuple((sl.dub_t, dec.clusters[dec.choice[i]]) for i, sl in enumerate(slots)
                    if sl.source == "audio" and dec.choice and dec.choice[i] >= 0)
    holes = find_holes([t for t, _ in matched], dub_duration, WIN_S / 2) if use_audio else \
        [(0.0, dub_duration)]
    diag["holes"] = [[round(a, 1), round(b, 1)] for a, b in holes]
    return Alignment(tmap, anchors_out, diag, new_scan, holes,
                     windows_active=sum(1 for sl in slots if sl.source == "audio" and sl.cands),
                     windows_matched=matched)


def find_holes(matched_t: list[float], duration: float, half: float,
               min_len: float = HOLE_MIN_S) -> list[tuple[float, float]]:
    """Stretches of [0, duration) farther than `half` from every matched window centre
    in `matched_t` (dub s), `min_len` s or longer. Pure."""
    out: list[tuple[float, float]] = []
    pos = 0.0
    for t in sorted(matched_t):
        if t - half - pos >= min_len:
            out.append((pos, t - half))
        pos = max(pos, t + half)
    if duration - pos >= min_len:
        out.append((pos, duration))
    return out


def _snap_speed(speed: float, dub_duration: float, tol_s: float = 0.002) -> float:
    """The usual ratio that `speed` is indistinguishable from over the whole film
    (drifting less than `tol_s` end to end), else `speed` unchanged."""
    for r in A.USUAL_SPEEDS:
        if abs(speed - r) * max(dub_duration, 1.0) < tol_s:
            return r
    return speed


def _speech_snap(arr: np.ndarray, n_runs: int, speed: float, hint: float | None,
                 diag: dict) -> float:
    """Speech-only speed. Speech anchors are coarse (~0.1-0.3 s), so the free slope is
    only known to its standard error: the frame-rate hint, else the nearest usual ratio,
    is used when it lies within 3 standard errors of it (the slope alone cannot tell
    1.000 from 1.001 over a few minutes of dialogue); the free speed otherwise."""
    lf = fit.fit_shared_slope(arr[:, 0], arr[:, 1], arr[:, 3].astype(int), arr[:, 2],
                              n_runs, speed, fit_speed=False)
    d, g = arr[lf.inliers, 0], arr[lf.inliers, 3].astype(int)
    if len(d) < 3:
        return speed
    spread = sum(float(((d[g == k] - d[g == k].mean()) ** 2).sum()) for k in set(g.tolist()))
    sigma = max(lf.residual_ms / 1000.0, 0.02)
    se = sigma / np.sqrt(max(spread, 1e-9))
    diag["speech_speed_se"] = round(float(se), 6)
    if hint is not None and abs(hint - speed) <= 3 * se:
        return hint
    near = min(A.USUAL_SPEEDS, key=lambda c: abs(c - speed))
    return near if abs(near - speed) <= 3 * se else speed


def _speech_reselect(slots: list[fit.Slot], runs: list[fit.Run], offsets: list[float],
                     speed: float, slot_speed: float, tol: float, z_null: float,
                     pts: list, lf: fit.LineFit, iters: int = 4) -> tuple[list, fit.LineFit]:
    """Speech-only placement: the pairs of run k are its speech slots within `tol` of
    offsets[k] at the final `speed`, and offsets[k] is their weighted mean; repeated until
    the selection holds. The first selection is centred on the decode's cluster centre,
    taken at the search speed: a centre a few tens of ms off (or a slope 0.1 % off) clips
    the pairs of one side only and drags the segment that way. `offsets` is updated in
    place; returns the points and their fit."""
    prev = None
    for _ in range(iters):
        new = []
        for k, r in enumerate(runs):
            for i in range(r.first, r.last + 1):
                s = slots[i]
                if s.source != "speech" or not s.cands or s.cands[0].z < z_null:
                    continue
                orig_t = s.dub_t * slot_speed + s.cands[0].offset
                if abs(orig_t - speed * s.dub_t - offsets[k]) <= tol:
                    new.append((s.dub_t, orig_t, s.cands[0].z, k, "speech"))
        if not new or new == prev:
            break
        arr = np.array([p[:4] for p in new], dtype=float)
        lf = fit.fit_shared_slope(arr[:, 0], arr[:, 1], arr[:, 3].astype(int), arr[:, 2],
                                  len(runs), speed, fit_speed=False)
        for k in range(len(runs)):
            if any(int(p[3]) == k for p, ok in zip(new, lf.inliers) if ok):
                offsets[k] = lf.offsets[k]
        prev, pts = new, new
    return pts, lf


def _speech_speed(speech: list[Anchor], hint: float | None) -> float | None:
    if len(speech) < 4:
        return None
    d = np.array([a.dub_t for a in speech])
    o = np.array([a.orig_t for a in speech])
    z = np.array([a.score for a in speech])
    best, best_s = -1.0, None
    for s0 in sorted(set(A.USUAL_SPEEDS + ((hint,) if hint else ()))):
        s = fit.ransac_speed(d, o, z, s0, tol=0.4, max_dev=0.01)
        off = np.median(o - s * d)
        score = float(z[np.abs(o - s * d - off) < 0.4].sum())
        if score > best:
            best, best_s = score, s
    return best_s


def _segments(runs: list[fit.Run], offsets: list[float], slots: list[fit.Slot], speed: float,
              o_f, d_fw, orig_duration: float,
              dub_duration: float) -> list[Segment]:
    """Segment edges: between two runs, the change point of the per-frame evidence;
    the first and last runs reach the films' edges."""
    if not runs:
        return []
    half = WIN_S / 2
    bounds: list[tuple[float, float]] = []      # (end of run k, start of run k+1), dub s
    for k in range(len(runs) - 1):
        # An audio window speaks for its whole span; a speech anchor only for its instant:
        # the edge lies after run k's last evidence and before run k+1's first.
        u_lo, u_hi = fit.edge_span(runs, slots, k, speed, half)
        u_lo = min(max(0.0, u_lo), u_hi - 0.02)
        gap = max(0.0, offsets[k] - offsets[k + 1])       # dub material with no counterpart
        x1, x2 = A.refine_boundary(o_f, d_fw, u_lo, u_hi, offsets[k], offsets[k + 1],
                                   min_gap=gap)
        bounds.append((x1 / speed, x2 / speed))
    segs = []
    for k, r in enumerate(runs):
        off = offsets[k]
        start = bounds[k - 1][1] if k > 0 else max(0.0, -off / speed)
        end = bounds[k][0] if k < len(runs) - 1 else min(dub_duration,
                                                          (orig_duration - off) / speed)
        start = max(start, -off / speed, 0.0)
        end = min(end, (orig_duration - off) / speed, dub_duration)
        if end - start > 0.05:
            segs.append(Segment(start, end, speed * start + off, speed))
        else:
            segs.append(Segment(start, start, speed * start + off, speed))
    return segs


def _confidence(runs, coverage, zs, resid_ms, segs, speech_only: bool = False
                ) -> tuple[float, list[str], list[float]]:
    reasons: list[str] = []
    # Speech pairs scatter by the actors' timing: judge their spread on that scale.
    # A phrase pair scores 5-15 (end anchors half), an audio window 4-30.
    ok_ms, good_z, base_z = (250.0, 6.0, 2.0) if speech_only else (15.0, GOOD_Z, 5.0)
    if not runs:
        return 0.0, ["no stretch of the dub matched the original: these files do not seem "
                     "to be the same film"], []
    med_z = float(np.median(zs)) if zs else 0.0
    if speech_only:
        # The slots are phrase pairs the matcher already kept: for the same film nearly
        # all of them fall into the map's runs; most of them outside it is a wrong map.
        cov_f = float(np.clip((coverage - SPEECH_MIN_COVERAGE) / 0.4, 0, 1))
    else:
        cov_f = float(np.clip((coverage - 0.1) / (MIN_COVERAGE + 0.1 - 0.1) / 1.0, 0, 1))
    str_f = float(np.clip((med_z - base_z) / (good_z - base_z), 0, 1))
    res_f = float(np.clip(1.0 - (resid_ms - ok_ms) / (4 * ok_ms), 0, 1))
    conf = cov_f ** 0.5 * str_f * res_f
    min_cov = SPEECH_MIN_COVERAGE + 0.2 if speech_only else MIN_COVERAGE
    if coverage < min_cov:
        what = "of the paired lines fit the map" if speech_only else \
            "of the dub matched the original"
        reasons.append(f"only {coverage:.0%} {what} "
                       f"(at least {min_cov:.0%} expected for the same film)")
    if med_z < good_z:
        reasons.append(f"the matches are weak (median strength {med_z:.1f}, "
                       f"{good_z:.0f} or more is convincing)")
    if resid_ms > ok_ms:
        reasons.append(f"the anchors disagree by {resid_ms:.0f} ms: the map may be imprecise")
    seg_conf = [float(np.clip(1 - np.exp(-r.z_sum / 60.0), 0, 1)) for r in runs]
    return float(np.clip(conf, 0, 1)), reasons, seg_conf
