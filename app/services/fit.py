"""Fit the time map (pure numpy, no I/O).

Evidence arrives as dub-time slots, each with a few candidate offsets (the peaks of its
audio correlation, speech phrase pairs) and a strength (z-score scale). One global
decode (Viterbi) picks, for every slot, one offset or "no counterpart", paying a penalty
for every change: a wrong peak here and there cannot pull the map, a real cut or insert
(many slots agreeing on a new offset) can. Runs of equal offset become segments; their
offsets and the shared speed are then re-estimated by robust least squares.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

# Thresholds live here, each with its reason.
Z_NULL = 6.5          # a slot's reward for "no counterpart": unrelated audio peaks at z~4-5
JUMP_PENALTY = 14.0   # about two solid windows of evidence must support a new offset
OFFSET_TOL = 0.12     # s: candidates this close are the same offset (coarse frames are 50 ms)
MIN_CLUSTER_Z = 16.0  # an offset needs this much total evidence to be considered at all
MIN_SEGMENT_Z = 20.0  # a segment with less total evidence is dropped as spurious


@dataclass(frozen=True)
class Candidate:
    offset: float         # s: orig_t - speed * dub_t
    z: float


@dataclass(frozen=True)
class Slot:
    dub_t: float
    cands: tuple[Candidate, ...]
    source: str = "audio"          # audio | speech


@dataclass(frozen=True)
class Run:
    """Consecutive slots decoded to one offset."""
    offset: float
    first: int            # slot indices, inclusive
    last: int
    z_sum: float
    n: int


@dataclass
class Decode:
    runs: list[Run] = field(default_factory=list)
    choice: list[int] = field(default_factory=list)     # per slot: cluster index or -1
    clusters: list[float] = field(default_factory=list)


def cluster_offsets(slots: list[Slot], tol: float = OFFSET_TOL,
                    min_z: float = MIN_CLUSTER_Z, max_clusters: int = 64,
                    cand_min_z: float = Z_NULL * 0.8) -> list[float]:
    """Offsets supported by enough evidence: greedy 1-D clustering, z-weighted centres.
    Candidates weaker than `cand_min_z` are left out (speech pairs use a lower floor:
    many weak pairs that agree are strong evidence together)."""
    pts = sorted((c.offset, c.z) for s in slots for c in s.cands if c.z > cand_min_z)
    clusters: list[list[tuple[float, float]]] = []
    for off, z in pts:
        if clusters and off - clusters[-1][-1][0] <= tol:
            clusters[-1].append((off, z))
        else:
            clusters.append([(off, z)])
    scored = []
    for cl in clusters:
        zs = np.array([z for _, z in cl])
        offs = np.array([o for o, _ in cl])
        total = float(zs.sum())
        if total >= min_z or zs.max() >= 2 * Z_NULL:
            scored.append((total, float((offs * zs).sum() / zs.sum())))
    scored.sort(reverse=True)
    return sorted(o for _, o in scored[:max_clusters])


def decode(slots: list[Slot], clusters: list[float], tol: float = OFFSET_TOL,
           penalty: float = JUMP_PENALTY, z_null: float = Z_NULL) -> Decode:
    """Viterbi over (clusters + null) per slot; returns the best path and its runs."""
    n, m = len(slots), len(clusters)
    if n == 0 or m == 0:
        return Decode(choice=[-1] * n, clusters=list(clusters))
    cl = np.array(clusters)
    emit = np.full((n, m + 1), 0.0)
    for i, s in enumerate(slots):
        best = np.zeros(m)
        for c in s.cands:
            hit = np.abs(cl - c.offset) <= tol
            best = np.where(hit, np.maximum(best, c.z), best)
        emit[i, :m] = best - z_null          # a candidate slot below z_null costs
        emit[i, m] = 0.0                     # null
    trans = np.full((m + 1, m + 1), -penalty)
    np.fill_diagonal(trans, 0.0)
    trans[m, :m] = -penalty / 2              # leaving / entering "no counterpart"
    trans[:m, m] = -penalty / 2
    score = emit[0].copy()
    back = np.zeros((n, m + 1), dtype=np.int32)
    for i in range(1, n):
        tot = score[:, None] + trans
        back[i] = np.argmax(tot, axis=0)
        score = tot[back[i], np.arange(m + 1)] + emit[i]
    path = np.zeros(n, dtype=int)
    path[-1] = int(np.argmax(score))
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    choice = [int(p) if p < m else -1 for p in path]
    runs: list[Run] = []
    i = 0
    while i < n:
        j = i
        while j + 1 < n and choice[j + 1] == choice[i]:
            j += 1
        if choice[i] >= 0:
            zs = emit[i:j + 1, choice[i]] + z_null
            runs.append(Run(float(cl[choice[i]]), i, j, float(zs[zs > 0].sum()),
                            int((zs > z_null).sum())))
        i = j + 1
    return Decode(runs=runs, choice=choice, clusters=list(clusters))


def merge_runs(runs: list[Run], tol: float = OFFSET_TOL) -> list[Run]:
    """Join consecutive runs with the same offset (separated by unmatched slots), and
    drop runs too weak to be believed."""
    kept = [r for r in runs if r.z_sum >= MIN_SEGMENT_Z]
    out: list[Run] = []
    for r in kept:
        if out and abs(out[-1].offset - r.offset) <= tol:
            p = out[-1]
            out[-1] = Run((p.offset * p.z_sum + r.offset * r.z_sum) / (p.z_sum + r.z_sum),
                          p.first, r.last, p.z_sum + r.z_sum, p.n + r.n)
        else:
            out.append(r)
    return out


def edge_span(runs: list[Run], slots: list[Slot], k: int, speed: float,
              half: float) -> tuple[float, float]:
    """(lo, hi), on the speed-corrected dub clock: where the edge between runs k and k+1
    can lie, from run k's last evidence to run k+1's first (an audio window speaks for
    `half` s on either side of its centre, a speech anchor only for its instant)."""
    sa, sb = slots[runs[k].last], slots[runs[k + 1].first]
    lo = sa.dub_t * speed - (half if sa.source == "audio" else 0.0)
    hi = sb.dub_t * speed + (half if sb.source == "audio" else 0.0)
    return lo, hi


def edge_room(runs: list[Run], slots: list[Slot], k: int, speed: float,
              half: float) -> tuple[float, float]:
    """(needed, room) for the edge between runs k and k+1, in seconds of the original's
    clock: `needed` = offset_k - offset_k+1, the dub material with no counterpart that
    the change of offset implies (0 for a cut); `room` = the span of `edge_span` where
    that material can lie."""
    lo, hi = edge_span(runs, slots, k, speed, half)
    return max(0.0, runs[k].offset - runs[k + 1].offset), hi - lo


def drop_conflicting_runs(runs: list[Run], slots: list[Slot], speed: float, half: float,
                          tol: float = OFFSET_TOL) -> tuple[list[Run], list[Run]]:
    """Runs whose offsets cannot both hold: between runs A and B the dub must carry
    offset_A - offset_B seconds with no counterpart (an insert: the original's timeline
    never plays backwards), and when the evidence of A and B leaves less room than that
    between them, one of them is wrong. The edge search would otherwise force the
    insert in anyway, centred between them, wiping out the real segments on both sides
    (a stray run of two windows at a far offset once dropped 100 s of a film; a
    commercial's jingle matching a music cue is another). The weaker run (total
    evidence) of the worst conflict goes, neighbours of equal offset join, repeat.
    Returns (kept runs, dropped runs)."""
    runs = list(runs)
    dropped: list[Run] = []
    while len(runs) > 1:
        worst, worst_excess = -1, 0.0
        for k in range(len(runs) - 1):
            need, room = edge_room(runs, slots, k, speed, half)
            if need - room > worst_excess:
                worst, worst_excess = k, need - room
        if worst < 0:
            break
        a, b = runs[worst], runs[worst + 1]
        weak = worst if a.z_sum < b.z_sum else worst + 1
        dropped.append(runs.pop(weak))
        runs = merge_runs(runs, tol)
    return runs, dropped


@dataclass(frozen=True)
class LineFit:
    speed: float
    offsets: list[float]           # per group
    residual_ms: float             # robust spread of the residuals
    inliers: np.ndarray            # boolean mask over the input points


def fit_shared_slope(dub_t: np.ndarray, orig_t: np.ndarray, group: np.ndarray,
                     weight: np.ndarray, n_groups: int, speed0: float,
                     fit_speed: bool = True, iters: int = 4) -> LineFit:
    """Weighted least squares orig_t = speed * dub_t + offset[group], one speed shared by
    every group; points whose residual exceeds max(4 * MAD, 8 ms) are dropped between
    iterations. With fit_speed=False the speed stays speed0."""
    inl = np.ones(len(dub_t), dtype=bool)
    speed = speed0
    offsets = [0.0] * n_groups
    spread = 0.0
    for _ in range(iters):
        if inl.sum() < 2:
            break
        d, o, g, w = dub_t[inl], orig_t[inl], group[inl], weight[inl]
        present = sorted(set(g.tolist()))
        if fit_speed and len(d) >= 3 and np.ptp(d) > 1.0:
            cols = [d] + [(g == k).astype(float) for k in present]
            A = np.stack(cols, axis=1) * np.sqrt(w)[:, None]
            sol, *_ = np.linalg.lstsq(A, o * np.sqrt(w), rcond=None)
            speed = float(sol[0])
            for k, v in zip(present, sol[1:]):
                offsets[k] = float(v)
        else:
            for k in present:
                sel = g == k
                offsets[k] = float(np.average(o[sel] - speed * d[sel], weights=w[sel]))
        res = orig_t - speed * dub_t - np.array([offsets[k] for k in group])
        r_in = np.abs(res[inl])
        mad = float(np.median(r_in)) * 1.4826 if len(r_in) else 0.0
        spread = mad
        new = np.abs(res) <= max(4 * mad, 0.008)
        if np.array_equal(new, inl):
            break
        inl = new
    return LineFit(speed, offsets, spread * 1000.0, inl)


def ransac_speed(dub_t: np.ndarray, orig_t: np.ndarray, z: np.ndarray, speed0: float,
                 tol: float = 0.15, max_dev: float = 0.01, trials: int = 400,
                 seed: int = 0) -> float:
    """Speed of the line through the most z-weighted (dub_t, orig_t) pairs, searched
    near `speed0` (+-max_dev relative). Pairs from different segments disagree on the
    offset but not on the slope; the best line is drawn inside one segment."""
    n = len(dub_t)
    if n < 2:
        return speed0
    rng = np.random.default_rng(seed)
    best, best_s = -1.0, speed0
    for _ in range(trials):
        i, j = rng.choice(n, 2, replace=False)
        dd = dub_t[j] - dub_t[i]
        if abs(dd) < 20.0:
            continue
        s = (orig_t[j] - orig_t[i]) / dd
        if abs(s / speed0 - 1) > max_dev:
            continue
        off = orig_t[i] - s * dub_t[i]
        res = np.abs(orig_t - s * dub_t - off)
        score = float(z[res < tol].sum())
        if score > best:
            best, best_s = score, s
    return best_s
