"""Audio anchors: where does each stretch of the dub's bed occur in the original?

Pure numpy/scipy. Inputs are onset envelopes (features.py) at FRAME_RATE; outputs are
candidate matches with a confidence (z-score of the correlation peak against all other
lags: ~4-5 is what unrelated audio reaches by chance, >= 8 is a real match).

Steps: `find_speed` scans candidate speeds on a few probe windows (usual ratios first,
then a fine grid within +-6 %); `scan_windows` matches dense dub windows, tracked at
recent offsets and searched against the whole original (FFT) where that fails; `fine_anchor`
refines a match to ~1 ms on the full-rate envelope; `refine_boundary` places a cut or
insert edge at the frame where the evidence switches.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.fft as sp_fft
from numpy.lib.stride_tricks import sliding_window_view

from app.services import features

logger = logging.getLogger(__name__)

COARSE = 5                       # coarse view: 5 frames = 50 ms (20 per second)
COARSE_RATE = features.FRAME_RATE / COARSE
#: Usual speed ratios between releases (original seconds per dub second): PAL 25 vs
#: 23.976, 24 vs 23.976, 25 vs 24, and the reverse transfers. Tried before the grid.
USUAL_SPEEDS = (1.0, 25 * 1001 / 24000, 24000 / (25 * 1001), 1001 / 1000, 1000 / 1001,
                25 / 24, 24 / 25)
SPEED_RANGE = 0.06               # fine scan within +-6 %
HINT_CONFIRMED = 1.35            # hint's score over the median usual ratio's: no grid scan
Z_MATCH = 6.0                    # peaks below this are noise for the decoder


@dataclass(frozen=True)
class Peak:
    lag: float                   # seconds: orig_u - dub_u on the warped (original) clock
    z: float                     # peak z-score
    ncc: float                   # normalized correlation at the peak


@dataclass(frozen=True)
class WindowMatch:
    dub_t: float                 # window centre, dub seconds
    peaks: tuple[Peak, ...]      # best first


class Correlator:
    """Normalized cross-correlation of short windows against one long reference.

    The reference's FFT and running energy are computed once; each query costs one
    FFT and one inverse FFT of the padded length.
    """

    def __init__(self, ref: np.ndarray, max_window: int):
        self.ref = ref.astype(np.float64)
        self.n = len(ref)
        # the next length whose factors are 2, 3 and 5 (as fast per sample as a power of
        # two, and up to half as long: a 2-hour film's 20 Hz view, 144 240 lags, took
        # 262 144-point FFTs, now 145 800)
        self.nfft = sp_fft.next_fast_len(self.n + max_window, real=True)
        # Single precision FFTs (scipy's, ~2x numpy's double ones): the correlation only
        # ranks candidate offsets, which full-rate scoring then measures exactly.
        self.R = sp_fft.rfft(self.ref.astype(np.float32), self.nfft)
        self.csum2 = np.concatenate([[0.0], np.cumsum(self.ref ** 2)])
        self.csum = np.concatenate([[0.0], np.cumsum(self.ref)])
        self._cache: tuple[int, np.ndarray, np.ndarray] = (-1, np.zeros(0), np.zeros(0, bool))

    def ncc(self, w: np.ndarray) -> np.ndarray:
        """ncc[j] = Pearson correlation of w with ref[j : j + len(w)], j >= 0."""
        m = len(w)
        if m == 0 or m > self.n:
            return np.zeros(0)
        w = w.astype(np.float64) - w.mean()
        wn = np.sqrt((w ** 2).sum())
        if wn < 1e-9:
            return np.zeros(self.n - m + 1)
        W = sp_fft.rfft(w[::-1].astype(np.float32), self.nfft)
        full = sp_fft.irfft(self.R * W, self.nfft).astype(np.float64)
        num = full[m - 1: self.n]            # sum_k w[k] ref[j+k]
        scale, silent = self._energy(m)
        out = num / (wn * scale)
        # Near-silent stretches of the reference make unstable, meaningless peaks.
        out[silent] = 0.0
        return out

    def _energy(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """(sqrt of the reference's variance sum, near-silent mask) per lag for windows
        of `m` frames: the same for every window of that length, so computed once."""
        cached = self._cache            # one attribute: threads see old or new, whole
        if cached[0] != m:
            s1 = self.csum[m:] - self.csum[:-m]
            s2 = self.csum2[m:] - self.csum2[:-m]
            var = np.maximum(s2 - s1 ** 2 / m, 1e-9)
            silent = var < 1e-3 * m * max(1e-9, float(np.median(var)) / m)
            cached = self._cache = (m, np.sqrt(var), silent)
        return cached[1], cached[2]


def peaks_of(ncc: np.ndarray, rate: float, k: int = 4, min_sep_s: float = 1.0,
             lag0: float = 0.0) -> list[Peak]:
    """The `k` highest peaks of a correlation, at least `min_sep_s` apart, as Peaks."""
    if len(ncc) < 3:
        return []
    mu = float(np.mean(ncc))
    sd = float(np.std(ncc)) + 1e-9
    best = top_peaks(ncc, k, max(1, int(min_sep_s * rate)))
    if len(best) == 0:
        return []
    out = []
    for j in best:
        frac = _parabolic(ncc, int(j))
        out.append(Peak(lag=lag0 + (j + frac) / rate, z=(ncc[j] - mu) / sd, ncc=float(ncc[j])))
    return out


def top_peaks(y: np.ndarray, k: int, distance: int) -> np.ndarray:
    """Indices of the `k` highest local maxima of `y` (a maximum at either end counts),
    greedily from the highest, each at least `distance` samples from those kept: what
    scipy's find_peaks(distance=...) then a sort would give, without sorting every local
    maximum of a two-hour correlation (only the few hundred highest are looked at)."""
    n = len(y)
    if n == 0:
        return np.zeros(0, dtype=int)
    if n == 1:
        return np.zeros(1, dtype=int)
    left = np.concatenate([[True], y[1:] > y[:-1]])
    right = np.concatenate([y[:-1] >= y[1:], [True]])
    cand = np.flatnonzero(left & right)
    if len(cand) == 0:
        return np.zeros(0, dtype=int)
    m = min(len(cand), max(64, 32 * k))
    while True:
        top = cand[np.argpartition(-y[cand], m - 1)[:m]] if m < len(cand) else cand
        top = top[np.argsort(-y[top], kind="stable")]
        kept: list[int] = []
        for j in top:
            if all(abs(int(j) - q) >= distance for q in kept):
                kept.append(int(j))
                if len(kept) == k:
                    break
        if len(kept) == k or m >= len(cand):
            return np.array(kept, dtype=int)
        m = min(len(cand), m * 4)


def _parabolic(y: np.ndarray, j: int) -> float:
    if 0 < j < len(y) - 1:
        a, b, c = y[j - 1], y[j], y[j + 1]
        d = a - 2 * b + c
        if d < 0:
            return float(np.clip(0.5 * (a - c) / d, -0.5, 0.5))
    return 0.0


def _active_windows(dub: np.ndarray, win: int, hop: int, count: int) -> list[int]:
    """Start frames of `count` probe windows spread over the dub, each picked in its
    stretch as the one with the most activity (variance), skipping silence."""
    n = len(dub)
    if n <= win:
        return [0]
    starts = np.arange(0, n - win + 1, hop)
    if len(starts) <= count:
        return list(starts)
    var = np.array([dub[s:s + win].var() for s in starts])
    groups = np.array_split(np.arange(len(starts)), count)
    return [int(starts[g[np.argmax(var[g])]]) for g in groups if len(g)]


def _speed_score(corr: Correlator, dub_c: np.ndarray, speed: float, probes: list[int],
                 win: int) -> tuple[float, list[tuple[float, Peak]]]:
    """Mean of the better half of the probe windows' best z at `speed`, and the matches
    (dub time in seconds, best peak)."""
    warped = features.warp(dub_c, speed)
    zs, matches = [], []
    for s in probes:
        u0 = int(round(s * speed))
        w = warped[u0:u0 + win]
        if len(w) < win // 2:
            continue
        pk = peaks_of(corr.ncc(w), COARSE_RATE, k=1)
        if pk:
            zs.append(pk[0].z)
            # lag: orig_u - warped_u in seconds; the window starts at u0 (warped frames).
            matches.append((s / COARSE_RATE, Peak(pk[0].lag - u0 / COARSE_RATE, pk[0].z,
                                                  pk[0].ncc)))
    if not zs:
        return 0.0, []
    zs.sort(reverse=True)
    top = zs[: max(1, (len(zs) + 1) // 2)]
    return float(np.mean(top)), matches


def find_speed(orig_c: np.ndarray, dub_c: np.ndarray, hint: float | None = None,
               probes: int = 10, win_s: float = 24.0) -> tuple[float, float]:
    """Speed (original seconds per dub second) from coarse envelopes; also its score.

    Usual ratios (and the frame-rate `hint`) are tried first; a hierarchical grid over
    +-6 % then looks for anything better. The result is accurate to ~0.1 %; the fit
    refines it from the anchors' slope.
    """
    win = int(win_s * COARSE_RATE)
    win = min(win, max(8, len(dub_c) // 2), max(8, len(orig_c) // 2))
    corr = Correlator(orig_c, int(win * 1.1) + 2)
    starts = _active_windows(dub_c, win, max(1, win // 2), probes)
    cands = list(USUAL_SPEEDS) + ([hint] if hint else [])
    scored = {round(s, 6): _speed_score(corr, dub_c, s, starts, win)[0] for s in cands}
    best_s = max(scored, key=scored.get)
    if hint and best_s == round(hint, 6) and \
            scored[best_s] >= HINT_CONFIRMED * float(np.median(list(scored.values()))):
        # The frame rates' ratio is the best usual candidate and stands well clear of the
        # others (which score at the noise level): confirmed by the audio, no grid scan.
        # (A speed off every usual ratio leaves them all at noise: the grid runs.)
        return float(hint), scored[best_s]
    # Coarse grid: window drift at half a step stays under ~2 coarse frames.
    step = min(0.004, 2.0 / win)
    grid = np.arange(1 - SPEED_RANGE, 1 + SPEED_RANGE + 1e-9, step)
    for s in grid:
        key = round(float(s), 6)
        if key not in scored:
            scored[key] = _speed_score(corr, dub_c, float(s), starts, win)[0]
    best_s = max(scored, key=scored.get)
    # Fine scan around the best.
    for st in (step / 4, step / 16):
        for s in best_s + st * np.arange(-3, 4):
            key = round(float(s), 7)
            if key not in scored:
                scored[key] = _speed_score(corr, dub_c, float(s), starts, win)[0]
        best_s = max(scored, key=scored.get)
    # Prefer a usual ratio when it scores as well as the best grid point.
    for s in cands:
        if abs(s - best_s) < 2 * step and scored[round(s, 6)] >= 0.97 * scored[best_s]:
            best_s = round(s, 6)
            return float(s), scored[best_s]
    return float(best_s), scored[best_s]


def fine_anchor(orig_f: np.ndarray, dub_f_warped: np.ndarray, u_start: float, u_end: float,
                offset: float, search_s: float = 0.12) -> tuple[float, float] | None:
    """Refine `offset` (s) for the warped dub stretch [u_start, u_end) (s, original
    clock) on the 100 Hz envelopes: normalized correlation over +-`search_s`, parabolic
    peak. Returns (offset, ncc) or None when the stretch is silent or off the edge."""
    r = features.FRAME_RATE
    a, b = int(u_start * r), int(u_end * r)
    w = dub_f_warped[a:b].astype(np.float64)
    if len(w) < 20 or w.std() < 1e-6:
        return None
    w = w - w.mean()
    m = int(round(search_s * r))
    base = a + int(round(offset * r))
    lo, hi = base - m, base + m + len(w)
    if lo < 0 or hi > len(orig_f):
        return None
    seg = orig_f[lo:hi].astype(np.float64)
    num = np.correlate(seg, w, mode="valid")           # len 2m+1
    c1 = np.concatenate([[0.0], np.cumsum(seg)])
    c2 = np.concatenate([[0.0], np.cumsum(seg ** 2)])
    n = len(w)
    s1 = c1[n:] - c1[:-n]
    s2 = c2[n:] - c2[:-n]
    den = np.sqrt(np.maximum(s2 - s1 ** 2 / n, 1e-9)) * np.sqrt((w ** 2).sum())
    ncc = num / den
    j = int(np.argmax(ncc))
    if j == 0 or j == len(ncc) - 1:
        return None
    frac = _parabolic(ncc, j)
    return (lo + j + frac - a) / r, float(ncc[j])


def local_similarity(orig_f: np.ndarray, dub_f_warped: np.ndarray, u0: int, u1: int,
                     offset: float, smooth: int = 25) -> np.ndarray:
    """Per-frame evidence that warped dub frames [u0, u1) play at `offset`: the product
    of the two normalized envelopes, lightly smoothed. Frames off the original's edges
    score 0."""
    r = features.FRAME_RATE
    off = int(round(offset * r))
    n = u1 - u0
    out = np.zeros(n)
    j0, j1 = u0 + off, u1 + off
    a, b = max(j0, 0), min(j1, len(orig_f))
    if b > a:
        d = dub_f_warped[a - off:b - off].astype(np.float64)
        o = orig_f[a:b].astype(np.float64)
        out[a - j0:b - j0] = d * o
    return np.convolve(out, np.ones(smooth) / smooth, mode="same") if smooth > 1 else out


def change_point(sa: np.ndarray, sb: np.ndarray, gap: int, null_cost: float,
                 prior: tuple[int, int] | None = None, prior_cost: float = 0.0
                 ) -> tuple[int, int]:
    """Best (x1, x2), x2 - x1 >= gap: frames before x1 earn `sa`, from x2 on earn `sb`,
    frames between cost `null_cost`; with `prior`, each frame away from it costs
    `prior_cost` (only ties feel it). Exact, O(n) with prefix sums."""
    n = len(sa)
    pa = np.concatenate([[0.0], np.cumsum(sa)])
    pb = np.concatenate([[0.0], np.cumsum(sb)])
    x = np.arange(n + 1)
    left = pa + null_cost * x
    right = (pb[-1] - pb) - null_cost * x
    if prior is not None:
        left = left - prior_cost * np.abs(x - prior[0])
        right = right - prior_cost * np.abs(x - prior[1])
    gap = min(max(gap, 0), n)
    arg_left = np.zeros(n + 1, dtype=int)
    cur = 0
    for i in range(1, n + 1):
        if left[i] > left[cur]:
            cur = i
        arg_left[i] = cur
    best_left = left[arg_left]
    total = best_left[: n + 1 - gap] + right[gap:]
    i = int(np.argmax(total))
    return int(arg_left[i]), i + gap


def refine_boundary(orig_f: np.ndarray, dub_f_warped: np.ndarray, u_lo: float, u_hi: float,
                    off_a: float, off_b: float, min_gap: float = 0.0,
                    null_cost: float = 0.02) -> tuple[float, float]:
    """Where, between warped dub times u_lo and u_hi (s), does offset A stop and offset
    B start? `orig_f`/`dub_f_warped` are normalized envelopes, or lists of them (one per
    band: their evidence adds up). Returns (end of A, start of B) in warped seconds;
    between them the dub has no counterpart (an insert); equal values mean a straight
    splice (a cut).

    Each frame earns its evidence for A before x1 and for B from x2 on; frames between
    cost `null_cost`, so dropped material is kept as short as the evidence allows, and
    at least `min_gap` s (an insert must be long enough that the two offsets do not
    overlap on the original). Exact search in O(n) with prefix sums.
    """
    r = features.FRAME_RATE
    u0, u1 = int(u_lo * r), int(u_hi * r)
    gap = int(np.ceil(min_gap * r - 1e-6))
    if u1 - u0 < 2 or gap >= u1 - u0:
        x = (u_lo + u_hi) / 2
        return x - min_gap / 2, x + min_gap / 2
    pairs = list(zip(orig_f, dub_f_warped)) if isinstance(orig_f, list) else \
        [(orig_f, dub_f_warped)]
    sa = sum(local_similarity(o, d, u0, u1, off_a, smooth=1) for o, d in pairs)
    sb = sum(local_similarity(o, d, u0, u1, off_b, smooth=1) for o, d in pairs)
    x1, x2 = change_point(sa, sb, gap, null_cost)
    return (u0 + x1) / r, (u0 + x2) / r

Z_TRACK = 9.0                     # a tracked offset this strong needs no global search


class RunningPearson:
    """Pearson correlations of short windows with a reference at chosen lags, from the
    reference's running sums: no segment is copied when the lags are consecutive (one
    sliding dot product) and each only once otherwise."""

    def __init__(self, ref: np.ndarray):
        self.o = np.asarray(ref, dtype=np.float64)
        self.csum = np.concatenate([[0.0], np.cumsum(self.o)])
        self.csum2 = np.concatenate([[0.0], np.cumsum(self.o ** 2)])

    def at(self, w: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Correlation of `w` with ref[j : j + len(w)] for each j in `starts`."""
        n = len(w)
        if len(starts) > 1 and bool(np.all(np.diff(starts) == 1)):
            dots = np.correlate(self.o[starts[0]:starts[-1] + n], w, mode="valid")
        else:
            dots = sliding_window_view(self.o, n)[starts] @ w
        s1 = self.csum[starts + n] - self.csum[starts]
        s2 = self.csum2[starts + n] - self.csum2[starts]
        num = dots - s1 / n * w.sum()
        den = np.sqrt(np.maximum(s2 - s1 ** 2 / n, 0.0) * (w ** 2).sum()) + 1e-9
        return num / den


class FineScorer:
    """Scores a dub window at given offsets on the 100 Hz envelopes, as a z-score
    against the window's correlation with random places of the original."""

    def __init__(self, orig_f: np.ndarray | RunningPearson, n_random: int = 96,
                 seed: int = 0):
        # a RunningPearson may be shared: scorers in several threads only read it
        self._pearson = (orig_f if isinstance(orig_f, RunningPearson)
                         else RunningPearson(orig_f))
        self.o = self._pearson.o
        self.rng = np.random.default_rng(seed)
        self.n_random = n_random

    def _ncc_at(self, w: np.ndarray, starts: np.ndarray) -> np.ndarray:
        return self._pearson.at(w, starts)

    def noise(self, w: np.ndarray) -> tuple[float, float]:
        hi = len(self.o) - len(w)
        if hi <= 1:
            return 0.0, 1.0
        starts = self.rng.integers(0, hi, self.n_random)
        v = self._ncc_at(w, starts)
        return float(v.mean()), float(v.std()) + 1e-3

    def score(self, w: np.ndarray, a: int, offsets: list[float], noise: tuple[float, float],
              search_s: float = 0.15) -> list[Peak]:
        """Best peak near each offset (s) for the window starting at frame `a`."""
        r = features.FRAME_RATE
        m = int(round(search_s * r))
        mu, sd = noise
        out = []
        for off in offsets:
            base = a + int(round(off * r))
            lo, hi = base - m, base + m
            if lo < 0 or hi + len(w) > len(self.o):
                continue
            v = self._ncc_at(w, np.arange(lo, hi + 1))
            j = int(np.argmax(v))
            frac = _parabolic(v, j) if 0 < j < len(v) - 1 else 0.0
            out.append(Peak(lag=(lo + j + frac - a) / r, z=(float(v[j]) - mu) / sd,
                            ncc=float(v[j])))
        return out


SCAN_WORKERS = 2                  # threads scanning windows (FFTs and dot products drop the GIL)
_MIN_WINDOWS_PER_WORKER = 200     # below this many windows per thread, one thread


def scan_windows(orig_f: np.ndarray, dub_fw: np.ndarray, speed: float,
                 win_s: float = 12.0, hop_s: float = 4.0, k: int = 5,
                 progress=None, workers: int = SCAN_WORKERS) -> list[WindowMatch]:
    """Dense windows over the speed-warped dub (100 Hz envelopes), tracked.

    Each window is first tried at the offsets that recent windows matched (cheap, on the
    full-rate envelopes); only when none is strong (z < Z_TRACK) is it searched against
    the whole original (FFT on the 20 Hz view), and its best 2k peaks are re-scored at
    full rate, where the right one stands out. Peak lags are offsets
    `orig_t - speed * dub_t` (s); z on one scale.
    A long dub is scanned as `workers` consecutive stretches at once, each tracked on
    its own (its first window searches the whole original).
    """
    r = features.FRAME_RATE
    win, hop = int(win_s * r), int(hop_s * r)
    win = min(win, len(orig_f) - 2 * int(0.2 * r) - 1, len(dub_fw))
    if win < 50:
        return []
    o_m = features.normalize(features.decimate(orig_f, COARSE), span=60)
    d_m = features.normalize(features.decimate(dub_fw, COARSE), span=60)
    win_m = win // COARSE
    corr = Correlator(o_m, win_m + 2)
    starts = list(range(0, max(1, len(dub_fw) - win // 2), hop))
    n = max(1, min(workers, len(starts) // _MIN_WINDOWS_PER_WORKER))
    parts = [starts[len(starts) * i // n: len(starts) * (i + 1) // n] for i in range(n)]
    done = [0] * n
    lock = threading.Lock()
    pearson = RunningPearson(orig_f)

    def scan(i: int) -> list[WindowMatch]:
        scorer = FineScorer(pearson, seed=i)
        active: list[float] = []
        out: list[WindowMatch] = []
        for n_done, a in enumerate(parts[i]):
            w = dub_fw[a:a + win].astype(np.float64)
            if len(w) < win // 2 or w.std() < 1e-6:
                continue
            w = w - w.mean()
            noise = scorer.noise(w)
            peaks = scorer.score(w, a, active, noise) if active else []
            if not peaks or max(p.z for p in peaks) < Z_TRACK:
                am = a // COARSE
                gl = peaks_of(corr.ncc(d_m[am:am + win_m]), COARSE_RATE, k=2 * k)
                offs = [p.lag - am / COARSE_RATE for p in gl]
                peaks = _dedupe(peaks + scorer.score(w, a, offs, noise))
            peaks = sorted(peaks, key=lambda p: -p.z)[:k]
            out.append(WindowMatch(dub_t=(a + len(w) / 2) / r / speed, peaks=tuple(peaks)))
            strong = [p.lag for p in peaks if p.z >= Z_MATCH]
            for off in strong[:2]:
                active = [x for x in active if abs(x - off) > 0.05]
                active.insert(0, off)
            active = active[:3]
            if progress is not None and n_done % 50 == 0:
                with lock:
                    done[i] = n_done
                    progress(sum(done) / len(starts))
        return out

    if n == 1:
        return scan(0)
    with ThreadPoolExecutor(n, thread_name_prefix="scan") as ex:
        return [m for part in ex.map(scan, range(n)) for m in part]


def _dedupe(peaks: list[Peak], tol: float = 0.03) -> list[Peak]:
    out: list[Peak] = []
    for p in sorted(peaks, key=lambda p: -p.z):
        if all(abs(p.lag - q.lag) > tol for q in out):
            out.append(p)
    return out
