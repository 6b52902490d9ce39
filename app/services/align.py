"""From two onset envelopes (and optional speech anchors) to a TimeMap. Pure numpy.

`align_envelopes` is the pure twin of the I/O stages: sync_service decodes the audio,
computes the envelopes and calls it.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from app.services import anchors, features, fit
from app.services.timemap import Segment, TimeMap
from app.services.types import Anchor

logger = logging.getLogger(__name__)

WIN_S = 12.0            # dense window length (s): long enough to be unique in a film
HOP_S = 4.0             # dense window hop (s): boundary search spans ~ a window
MIN_COVERAGE = 0.30     # share of the dub's active windows that must match
SPEECH_TOL = 0.45       # s: speech pairs scatter by actors' timing (~0.3 s), not by 10 ms
SPEECH_Z_NULL = 1.5     # speech-only: weak pairs count when several agree (jumps cost,
#                         so strays do not)
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
    windows: tuple[anchors.WindowMatch, ...]


@dataclass(frozen=True, kw_only=True)
class AlignmentDiagnostics:
    """What the fit saw, for the report. Speeds are original seconds per dub second, times
    dub seconds, offsets seconds (orig_t - speed * dub_t). A run is [first dub_t, last
    dub_t, offset, summed z]. An optional figure is None where it was not measured, and
    is then left out of `to_dict`."""

    speed_scan_score: float | None = None   # z of the speed scan's best ratio (audio)
    speed_scan: float                        # the speed the windows were scanned at first
    speed_windows: float                     # ... refined by the windows' slope
    dropped_runs: list[list[float]] | None = None   # conflicting runs (fit.py), dropped
    cluster_offsets: list[float]             # the decode's candidate offsets (16 at most)
    decoded_runs: list[list[float]]          # the decode's runs (32 at most)
    slots: int                               # audio windows + speech pairs decoded
    clusters: int
    runs: int                                # runs kept as segments
    coverage: float                          # share of the slots with evidence the runs hold
    median_z: float                          # median strength of the decoded slots
    speech_speed_se: float | None = None     # speech only: standard error of the free speed
    residual_ms: float                       # spread of the kept anchors around the fit
    speed: float                             # the map's speed
    holes: list[list[float]]                 # dub stretches the audio matched nowhere
    picture: dict[str, Any] | None = None    # the picture stage's figures (picture.py)
    edges: list[dict[str, Any]] | None = None  # the waveform edge stage's moves (edges.py)

    def to_dict(self) -> dict[str, Any]:
        """The report's `diagnostics`: the measured figures, in field order."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class Alignment:
    tmap: TimeMap
    anchors: list[Anchor]
    diagnostics: AlignmentDiagnostics
    scan: AudioScan | None = None
    # Dub stretches (s) the audio matched nowhere, HOLE_MIN_S or longer.
    holes: list[tuple[float, float]] = field(default_factory=list)
    # The dub's audio windows that have sound, and of them the ones the decode matched:
    # (dub_t, offset). What the evidence judge (evidence.py) counts against the map.
    windows_active: int = 0
    windows_matched: tuple[tuple[float, float], ...] = ()

    @property
    def speech_placed(self) -> bool:
        """The map was placed by speech pairs alone (no audio windows): its offsets are
        known to a few hundred ms and its edges to a line or two."""
        return not self.scan or not self.scan.windows


@dataclass(frozen=True)
class _Decoded:
    """The global decode over every slot (audio windows and speech pairs)."""
    slots: list[fit.Slot]
    clusters: list[float]
    decode: fit.Decode
    runs: list[fit.Run]            # merged, conflicting ones dropped
    dropped: list[fit.Run]
    tol: float                     # s: a slot belongs to a run within this of its offset
    z_null: float                  # strength below which a slot is "no counterpart"
    coverage: float                # share of the slots with evidence that the runs hold
    zs: list[float]                # strength of each decoded slot's best candidate


@dataclass(frozen=True)
class _Placement:
    """The runs placed by a shared-slope fit on their anchors."""
    speed: float
    offsets: list[float]           # s, per run (orig_t - speed * dub_t)
    anchors: list[Anchor]
    residual_ms: float
    speech_speed_se: float | None  # speech only: standard error of the free speed


def _slots(windows: list[anchors.WindowMatch], speech: list[Anchor],
           speed: float) -> list[fit.Slot]:
    slots = [fit.Slot(w.dub_t, tuple(fit.Candidate(p.lag, p.z) for p in w.peaks))
             for w in windows]
    slots += [fit.Slot(a.dub_t, (fit.Candidate(a.orig_t - speed * a.dub_t, a.score),),
                       "speech") for a in speech]
    slots.sort(key=lambda s: s.dub_t)
    return slots


def _coarse(env_f: np.ndarray) -> np.ndarray:
    return features.normalize(features.decimate(env_f, anchors.COARSE), span=60)


def _runs_rows(slots: list[fit.Slot], runs: list[fit.Run]) -> list[list[float]]:
    return [[round(slots[r.first].dub_t, 1), round(slots[r.last].dub_t, 1),
             round(r.offset, 3), round(r.z_sum, 1)] for r in runs]


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
    o_f = features.normalize(orig_env)
    d_f = features.normalize(dub_env)
    scan_score = None
    if speed is None:
        speed, scan_score = _search_speed(o_f, d_f, speech, use_audio, speed_hint, scan)
    speed_scan = speed
    windows, win_speed, speed = _dense_windows(o_f, d_f, speed, use_audio, scan)
    new_scan = AudioScan(win_speed, float(scan_score or 0.0), tuple(windows)) \
        if use_audio else None
    speed_windows = speed
    dcd = _decode_slots(windows, speech, speed)
    place = _place_runs(dcd, o_f, d_f, speed, speed_hint, dub_duration,
                        speech_only=not windows)
    tmap = _time_map(dcd, place, o_f, d_f, orig_bands, dub_bands, orig_duration,
                     dub_duration, speech_only=not windows)
    dec, slots = dcd.decode, dcd.slots
    matched = tuple((sl.dub_t, dec.clusters[dec.choice[i]]) for i, sl in enumerate(slots)
                    if sl.source == "audio" and dec.choice and dec.choice[i] >= 0)
    holes = find_holes([t for t, _ in matched], dub_duration, WIN_S / 2) if use_audio else \
        [(0.0, dub_duration)]
    diag = AlignmentDiagnostics(
        speed_scan_score=scan_score, speed_scan=speed_scan, speed_windows=speed_windows,
        dropped_runs=_runs_rows(slots, dcd.dropped) if dcd.dropped else None,
        cluster_offsets=[round(c, 3) for c in dcd.clusters[:16]],
        decoded_runs=_runs_rows(slots, dec.runs)[:32], slots=len(slots),
        clusters=len(dcd.clusters), runs=len(dcd.runs), coverage=round(dcd.coverage, 3),
        median_z=round(float(np.median(dcd.zs)), 2) if dcd.zs else 0,
        speech_speed_se=place.speech_speed_se, residual_ms=round(place.residual_ms, 2),
        speed=place.speed, holes=[[round(a, 1), round(b, 1)] for a, b in holes])
    return Alignment(tmap, place.anchors, diag, new_scan, holes,
                     windows_active=sum(1 for sl in slots if sl.source == "audio" and sl.cands),
                     windows_matched=matched)


def _search_speed(o_f: np.ndarray, d_f: np.ndarray, speech: list[Anchor], use_audio: bool,
                  speed_hint: float | None, scan: AudioScan | None
                  ) -> tuple[float, float | None]:
    """The speed from the audio (a previous scan's, else a search on the coarse
    envelopes), unless only speech counts; speech pairs settle it when the audio is not
    sure. Returns (speed, the scan's score, None when no scan spoke)."""
    score = None
    if use_audio and scan is not None:
        speed = scan.speed
        score = round(scan.speed_score, 2)
    else:
        o_c, d_c = _coarse(o_f), _coarse(d_f)
        if use_audio and len(d_c) > 40 and len(o_c) > 40:
            speed, found = anchors.find_speed(o_c, d_c, hint=speed_hint)
            score = round(found, 2)
        else:
            speed = 1.0
    if speech and (not use_audio or (score or 0) < fit.Z_NULL):
        sp = _speech_speed(speech, speed_hint)
        if sp is not None:
            speed = sp
    return speed, score


def _dense_windows(o_f: np.ndarray, d_f: np.ndarray, speed: float, use_audio: bool,
                   scan: AudioScan | None) -> tuple[list[anchors.WindowMatch], float, float]:
    """Dense windows at `speed`; the slope of their matches refines the speed (a 0.05 %
    error drifts 3.6 s over two hours), then the windows are redone. Returns (windows,
    the speed they were scanned at, the refined speed)."""
    windows: list[anchors.WindowMatch] = []
    win_speed = speed
    if use_audio and scan is not None and abs(scan.speed - speed) < 1e-9:
        windows = list(scan.windows)
    elif use_audio:
        for _ in range(2):
            win_speed = speed
            windows = anchors.scan_windows(o_f, features.warp(d_f, speed), speed, WIN_S, HOP_S)
            best = [(w.dub_t, w.dub_t * speed + w.peaks[0].lag, w.peaks[0].z)
                    for w in windows if w.peaks and w.peaks[0].z >= 8.0]
            if len(best) < 3:
                break
            arr = np.array(best)
            s2 = fit.ransac_speed(arr[:, 0], arr[:, 1], arr[:, 2], speed, max_dev=0.004)
            if abs(s2 - speed) < 2e-5:
                break
            speed = s2
    return windows, win_speed, speed


def _decode_slots(windows: list[anchors.WindowMatch], speech: list[Anchor],
                  speed: float) -> _Decoded:
    """One global decode over every slot at `speed`: runs of slots sharing an offset."""
    slots = _slots(windows, speech, speed)
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
    active = sum(1 for s in slots if s.cands)
    matched = sum(r.n for r in runs)
    zs = [c.z for i, s in enumerate(slots) for c in s.cands[:1]
          if dec.choice and dec.choice[i] >= 0]
    return _Decoded(slots, clusters, dec, runs, dropped, tol, z_null,
                    matched / active if active else 0.0, zs)


def _run_points(dcd: _Decoded, o_f: np.ndarray, d_f: np.ndarray, speed: float,
                speech_only: bool) -> list[tuple[float, float, float, int, str]]:
    """Fine anchors inside each run: (dub_t, orig_t, weight, run, source)."""
    d_fw = features.warp(d_f, speed)
    pts: list[tuple[float, float, float, int, str]] = []
    for k, r in enumerate(dcd.runs):
        for i in range(r.first, r.last + 1):
            s = dcd.slots[i]
            cand = [c for c in s.cands if abs(c.offset - r.offset) <= dcd.tol]
            if not cand:
                continue
            z = max(c.z for c in cand)
            if z < dcd.z_null:
                continue
            u = s.dub_t * speed
            fa = anchors.fine_anchor(o_f, d_fw, u - WIN_S / 2, u + WIN_S / 2, r.offset) \
                if s.source == "audio" else None
            if fa is not None:
                pts.append((s.dub_t, u + fa[0], z, k, "audio"))
            elif s.source == "speech" and \
                    abs(s.cands[0].offset - r.offset) <= max(dcd.tol, 0.5):
                # Speech pairs are imprecise (~0.1-0.3 s): with audio anchors they only
                # steer; alone, their weighted mean places the segment.
                pts.append((s.dub_t, s.dub_t * speed + s.cands[0].offset,
                            z * (1.0 if speech_only else 0.05), k, "speech"))
    return pts


def _place_runs(dcd: _Decoded, o_f: np.ndarray, d_f: np.ndarray, speed: float,
                speed_hint: float | None, dub_duration: float, *,
                speech_only: bool) -> _Placement:
    """One speed shared by all runs, fitted on their fine anchors (snapped to a usual
    ratio within the measurement's precision), and each run's offset."""
    runs = dcd.runs
    pts = _run_points(dcd, o_f, d_f, speed, speech_only)
    offsets = [r.offset for r in runs]
    if not pts:
        return _Placement(speed, offsets, [], 0.0, None)
    se = None
    slot_speed = speed                # the speed the slots' candidate offsets are taken at
    arr = np.array([p[:4] for p in pts], dtype=float)
    lf = fit.fit_shared_slope(arr[:, 0], arr[:, 1], arr[:, 3].astype(int), arr[:, 2],
                              len(runs), speed, fit_speed=True)
    if abs(lf.speed / speed - 1) < 0.003:
        speed = lf.speed
    if speech_only:
        snapped, se = _speech_snap(arr, len(runs), speed, speed_hint)
    else:
        snapped = _snap_speed(speed, dub_duration, 0.002)
    if snapped != speed:
        # A usual ratio within the measurement's precision: use it exactly (speed 1
        # then lets the dub be placed without re-encoding).
        speed = snapped
        lf = fit.fit_shared_slope(arr[:, 0], arr[:, 1], arr[:, 3].astype(int), arr[:, 2],
                                  len(runs), speed, fit_speed=False)
    for k in range(len(runs)):
        if any(int(p[3]) == k for p, ok in zip(pts, lf.inliers) if ok):
            offsets[k] = lf.offsets[k]
    if speech_only:
        pts, lf = _speech_reselect(dcd.slots, runs, offsets, speed, slot_speed, dcd.tol,
                                   dcd.z_null, pts, lf)
    kept = [Anchor(p[0], p[1], round(p[2], 2), p[4]) for p, ok in zip(pts, lf.inliers) if ok]
    return _Placement(speed, offsets, kept, lf.residual_ms, se)


def _time_map(dcd: _Decoded, place: _Placement, o_f: np.ndarray, d_f: np.ndarray,
              orig_bands: np.ndarray | None, dub_bands: np.ndarray | None,
              orig_duration: float, dub_duration: float, *, speech_only: bool) -> TimeMap:
    """Segments with their edges placed on the per-band evidence (the full envelopes
    when there are no bands or only one run), and the map's confidence."""
    speed, runs = place.speed, dcd.runs
    if orig_bands is not None and dub_bands is not None and len(runs) > 1:
        o_ev = [features.normalize(orig_bands[:, b], span=100) for b in range(orig_bands.shape[1])]
        d_ev = [features.warp(features.normalize(dub_bands[:, b], span=100), speed)
                for b in range(dub_bands.shape[1])]
    else:
        o_ev, d_ev = o_f, features.warp(d_f, speed)
    tmap_segments = _segments(runs, place.offsets, dcd.slots, speed, o_ev, d_ev,
                              orig_duration, dub_duration)
    conf, reasons, seg_conf = _confidence(runs, dcd.coverage, dcd.zs, place.residual_ms,
                                          tmap_segments, speech_only=speech_only)
    segs = tuple(Segment(s.dub_start, s.dub_end, s.orig_start, speed, round(c, 3), r.n)
                 for s, c, r in zip(tmap_segments, seg_conf, runs))
    return TimeMap(segs, orig_duration, dub_duration, speed, round(conf, 3), tuple(reasons))


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
    for r in anchors.USUAL_SPEEDS:
        if abs(speed - r) * max(dub_duration, 1.0) < tol_s:
            return r
    return speed


def _speech_snap(arr: np.ndarray, n_runs: int, speed: float,
                 hint: float | None) -> tuple[float, float | None]:
    """Speech-only speed. Speech anchors are coarse (~0.1-0.3 s), so the free slope is
    only known to its standard error: the frame-rate hint, else the nearest usual ratio,
    is used when it lies within 3 standard errors of it (the slope alone cannot tell
    1.000 from 1.001 over a few minutes of dialogue); the free speed otherwise. Returns
    (speed, the standard error, None when too few pairs to tell)."""
    lf = fit.fit_shared_slope(arr[:, 0], arr[:, 1], arr[:, 3].astype(int), arr[:, 2],
                              n_runs, speed, fit_speed=False)
    d, g = arr[lf.inliers, 0], arr[lf.inliers, 3].astype(int)
    if len(d) < 3:
        return speed, None
    spread = sum(float(((d[g == k] - d[g == k].mean()) ** 2).sum()) for k in set(g.tolist()))
    sigma = max(lf.residual_ms / 1000.0, 0.02)
    se = sigma / np.sqrt(max(spread, 1e-9))
    rounded_se = round(float(se), 6)
    if hint is not None and abs(hint - speed) <= 3 * se:
        return hint, rounded_se
    near = min(anchors.USUAL_SPEEDS, key=lambda c: abs(c - speed))
    return (near if abs(near - speed) <= 3 * se else speed), rounded_se


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
    for s0 in sorted(set(anchors.USUAL_SPEEDS + ((hint,) if hint else ()))):
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
        x1, x2 = anchors.refine_boundary(o_f, d_fw, u_lo, u_hi, offsets[k], offsets[k + 1],
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
