"""Season batches: which dubbed file goes with which original episode.

Pure (no ffmpeg): file names in, a `Pairing` out. Names are read with guessit; where a
name gives no usable number, durations (seconds, measured by the caller) may pair a file,
but only when exactly one file on the other side fits. Nothing is guessed silently: every
file that is not paired is listed, with the reason.

Rules, in order:

1. Each name is read by guessit as an episode: season, episode (an int, or a tuple for a
   multi-episode file such as S01E01E02 or 1x01-02), title.
2. A name with an episode number but no season ("Episode 2", "E02", "Show - 02 -") takes
   the one regular season (> 0) named anywhere in the two folders; season 1 when no name
   in either folder gives one. With several seasons the number could be absolute
   numbering: the file gets no key (not guessed). When the other side names the season,
   a side's bare numbers must not run past that season's last episode there (a dub folder
   numbered 14..26 against S02E01..E13 is absolute numbering, not season 2): otherwise
   none of that side's bare numbers is used.
3. Files pair by name when they cover exactly the same (season, episode) keys, one file
   on each side. Files whose keys overlap otherwise (two dubs read as S01E02; S01E01E02
   against separate E01 and E02 files) are ambiguous: all listed, none paired.
4. guessit reads a bare three-digit number ("Show - 113") as season 1 episode 13. The
   other reading, absolute episode 113, is kept in `Episode.absolute`; a file left without
   a partner by rule 3 is tried again with that number (season as in rule 2), and pairs
   only if the retry finds exactly one partner.
5. Files still unpaired that have no key from the name (or whose partner has none) pair
   by duration: the durations must agree within `DURATION_TOLERANCE` after allowing for
   the PAL speed-up either way, and the two files must be each other's only candidate.
   Several candidates: ambiguous; none, or no duration: unpaired.
"""
from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal, Mapping, Sequence

from guessit import guessit

from app.utils.file_utils import allowed_file

logger = logging.getLogger(__name__)

#: Relative difference allowed between two durations of the same episode: releases differ
#: by logos, recaps and a few seconds of credits (2 % of 22 min is 26 s).
DURATION_TOLERANCE = 0.02
#: A PAL release plays 25/23.976 faster (4.1 % shorter); either side may be the PAL one.
PAL_SPEEDUP = 25 / (24000 / 1001)

Key = tuple[int | None, int]        # (season, episode); season None only while unresolved
How = Literal["name", "duration"]


@dataclass(frozen=True)
class Episode:
    """What a file's name says. `episode`: int, or a tuple for a multi-episode file;
    `absolute`: the name's number read as absolute numbering when that reading differs
    from guessit's (see rule 4), else guessit's absolute_episode, else None."""

    path: Path
    season: int | None
    episode: int | tuple[int, ...] | None
    absolute: int | None
    title: str | None


@dataclass(frozen=True)
class Pair:
    original: Path
    dub: Path
    how: How
    reason: str                     # e.g. "S01E02" or "duration 1322.0 s vs 1268.1 s"


@dataclass(frozen=True)
class Unpaired:
    path: Path
    reason: str


@dataclass(frozen=True)
class Ambiguity:
    """`file` could go with any of `candidates` (files on the other side; empty when the
    clash is among files of its own side only)."""

    path: Path
    candidates: tuple[Path, ...]
    reason: str


@dataclass(frozen=True)
class Pairing:
    pairs: tuple[Pair, ...]
    unpaired_originals: tuple[Unpaired, ...]
    unpaired_dubs: tuple[Unpaired, ...]
    ambiguous: tuple[Ambiguity, ...]


# ------------------------------------------------------------------ reading names

def parse_episode(path: Path) -> Episode:
    """Read season, episode and title from `path`'s name with guessit."""
    name = Path(path).name
    g = guessit(name, {"type": "episode"})
    season = _one_int(g.get("season"))
    episode = _episodes(g.get("episode"))
    absolute = _one_int(g.get("absolute_episode"))
    if season is not None and isinstance(episode, int):
        # "Show - 113": guessit says S01E13; the same name read as one number says 113.
        alt = guessit(name, {"type": "episode", "episode_prefer_number": True})
        alt_ep = _episodes(alt.get("episode"))
        if alt.get("season") is None and isinstance(alt_ep, int) and alt_ep != episode:
            absolute = alt_ep
    title = g.get("title")
    return Episode(Path(path), season, episode, absolute, str(title) if title else None)


def _one_int(v) -> int | None:
    if isinstance(v, list):          # "Season 1-2" packs: no single season
        return None
    return v if isinstance(v, int) else None


def _episodes(v) -> int | tuple[int, ...] | None:
    if isinstance(v, list):
        nums = tuple(sorted({e for e in v if isinstance(e, int)}))
        return nums if len(nums) > 1 else (nums[0] if nums else None)
    return v if isinstance(v, int) else None


def _numbers(ep: int | tuple[int, ...] | None) -> tuple[int, ...]:
    if ep is None:
        return ()
    return ep if isinstance(ep, tuple) else (ep,)


def key_label(keys: Iterable[Key]) -> str:
    """{(1, 2), (1, 3)} -> 'S01E02E03'."""
    ks = sorted(keys, key=lambda k: (k[0] or 0, k[1]))
    if not ks:
        return "-"
    season = ks[0][0]
    return (f"S{season:02d}" if season is not None else "") + "".join(f"E{e:02d}"
                                                                       for _, e in ks)


# ------------------------------------------------------------------ keys

def _season_of_bare(own: list[Episode], other: list[Episode],
                    regular: set[int]) -> tuple[int | None, str]:
    """The season for `own`'s numbers without a season (rule 2), or None and why not."""
    if len(regular) > 1:
        return None, (f"no season in the name and the folders hold seasons "
                      f"{', '.join(map(str, sorted(regular)))}: absolute numbering is "
                      "not matched without guessing")
    season = next(iter(regular)) if regular else 1
    bare = [n for e in own if e.season is None for n in _numbers(e.episode)]
    theirs = [n for e in other if e.season == season for n in _numbers(e.episode)]
    if bare and theirs and max(bare) > max(theirs):
        return None, (f"numbers without a season run to {max(bare)}, past the other "
                      f"side's last episode of season {season} (E{max(theirs):02d}): "
                      "absolute numbering? not matched without guessing")
    return season, ""


def _keys(eps: list[Episode], other: list[Episode],
          regular: set[int]) -> dict[Path, tuple[frozenset[Key], str]]:
    """Each file's (season, episode) keys and, when it has none, why."""
    season, why = _season_of_bare(eps, other, regular)
    out = {}
    for e in eps:
        nums = _numbers(e.episode)
        if not nums:
            out[e.path] = (frozenset(), "no episode number in the name")
        elif e.season is not None:
            out[e.path] = (frozenset((e.season, n) for n in nums), "")
        elif season is None:
            out[e.path] = (frozenset(), why)
        else:
            out[e.path] = (frozenset((season, n) for n in nums), "")
    return out


def _match_keys(orig_keys: Mapping[Path, frozenset[Key]],
                dub_keys: Mapping[Path, frozenset[Key]]
                ) -> tuple[list[Pair], list[Ambiguity]]:
    """Rule 3: group files whose keys overlap; a group of one original and one dub with
    the same keys is a pair, any other group of two or more files is ambiguous."""
    files = [("o", p) for p, k in orig_keys.items() if k] + \
            [("d", p) for p, k in dub_keys.items() if k]
    keys = {**{("o", p): k for p, k in orig_keys.items()},
            **{("d", p): k for p, k in dub_keys.items()}}
    parent = {f: f for f in files}

    def find(f):
        while parent[f] != f:
            parent[f] = parent[parent[f]]
            f = parent[f]
        return f

    by_key: dict[Key, tuple] = {}
    for f in files:
        for k in keys[f]:
            if k in by_key:
                parent[find(f)] = find(by_key[k])
            else:
                by_key[k] = f
    groups: dict[tuple, list] = defaultdict(list)
    for f in files:
        groups[find(f)].append(f)
    pairs, ambiguous = [], []
    for group in groups.values():
        origs = sorted(p for side, p in group if side == "o")
        dubs = sorted(p for side, p in group if side == "d")
        if len(origs) == 1 and len(dubs) == 1 and orig_keys[origs[0]] == dub_keys[dubs[0]]:
            pairs.append(Pair(origs[0], dubs[0], "name", key_label(orig_keys[origs[0]])))
        elif len(group) > 1:
            desc = "; ".join(f"{'original' if s == 'o' else 'dub'} {p.name} reads "
                             f"{key_label(keys[(s, p)])}"
                             for s, p in sorted(group, key=lambda f: (f[0] != "o", f[1])))
            for p in origs:
                ambiguous.append(Ambiguity(p, tuple(dubs), f"episodes overlap: {desc}"))
            for p in dubs:
                ambiguous.append(Ambiguity(p, tuple(origs), f"episodes overlap: {desc}"))
    return pairs, ambiguous


def _absolute_keys(eps: list[Episode], others: list[Episode], regular: set[int],
                   left: set[Path]) -> dict[Path, frozenset[Key]]:
    """Rule 4: keys from the absolute reading, for the files in `left` that have one."""
    alt = [Episode(e.path, None, e.absolute, None, e.title) for e in eps
           if e.path in left and e.absolute is not None]
    if not alt:
        return {}
    return {p: k for p, (k, _) in _keys(alt, others, regular).items() if k}


# ------------------------------------------------------------------ durations

def durations_match(a: float, b: float, tolerance: float = DURATION_TOLERANCE) -> bool:
    """True when durations `a` and `b` (seconds) can be the same episode: equal within
    `tolerance` (relative), allowing a PAL speed-up of either one."""
    if not (a > 0 and b > 0):
        return False
    return abs(math.log(a / b)) <= math.log(PAL_SPEEDUP) + math.log1p(tolerance)


def _match_durations(origs: list[Path], dubs: list[Path], named: set[Path],
                     durations: Mapping[Path, float]
                     ) -> tuple[list[Pair], list[Ambiguity]]:
    """Rule 5 on the files left over: an edge where the durations agree and at least one
    end has no key from its name; an original and a dub with one edge each pair."""
    def fits(o: Path, d: Path) -> bool:
        if o in named and d in named:     # both names say something else: not overruled
            return False
        return o in durations and d in durations and durations_match(durations[o],
                                                                     durations[d])

    edges = {o: [d for d in dubs if fits(o, d)] for o in origs}
    back = {d: [o for o in origs if d in edges[o]] for d in dubs}
    pairs, ambiguous = [], []
    for o in origs:
        ds = edges[o]
        if len(ds) == 1 and len(back[ds[0]]) == 1:
            d = ds[0]
            pairs.append(Pair(o, d, "duration", f"duration {durations[o]:.1f} s vs "
                                                f"{durations[d]:.1f} s, the only fit"))
        elif ds:
            ambiguous.append(Ambiguity(o, tuple(ds), _dur_reason(o, ds, durations)))
    paired = {p.dub for p in pairs}
    for d in dubs:
        if back[d] and d not in paired:
            ambiguous.append(Ambiguity(d, tuple(back[d]), _dur_reason(d, back[d], durations)))
    return pairs, ambiguous


def _dur_reason(f: Path, cands: list[Path], durations: Mapping[Path, float]) -> str:
    if len(cands) == 1:
        return (f"duration {durations[f]:.1f} s fits {cands[0].name}, which other files "
                "fit too")
    return (f"duration {durations[f]:.1f} s fits {len(cands)} files: "
            + ", ".join(f"{c.name} ({durations[c]:.1f} s)" for c in cands))


# ------------------------------------------------------------------ the whole pairing

def pair_episodes(originals: Sequence[Path], dubs: Sequence[Path],
                  durations: Mapping[Path, float] | None = None) -> Pairing:
    """Pair the episodes of two folders (see the module's rules). `durations`: seconds per
    file, used only for files the names leave unpaired; files missing from it are not
    paired by duration."""
    durations = dict(durations or {})
    o_eps = [parse_episode(Path(p)) for p in dict.fromkeys(originals)]
    d_eps = [parse_episode(Path(p)) for p in dict.fromkeys(dubs)]
    regular = {e.season for e in o_eps + d_eps if e.season}
    o_keys = _keys(o_eps, d_eps, regular)
    d_keys = _keys(d_eps, o_eps, regular)
    pairs, ambiguous = _match_keys({p: k for p, (k, _) in o_keys.items()},
                                   {p: k for p, (k, _) in d_keys.items()})

    # Rule 4: files left alone with an absolute reading, against the others left alone.
    taken = {p for x in pairs for p in (x.original, x.dub)} | {a.path for a in ambiguous}
    o_left = {e.path for e in o_eps} - taken
    d_left = {e.path for e in d_eps} - taken
    o_alt = _absolute_keys(o_eps, d_eps, regular, o_left)
    d_alt = _absolute_keys(d_eps, o_eps, regular, d_left)
    if o_alt or d_alt:
        o_try = {p: o_alt.get(p, o_keys[p][0]) for p in o_left}
        d_try = {p: d_alt.get(p, d_keys[p][0]) for p in d_left}
        alt_pairs, _ = _match_keys(o_try, d_try)
        for x in alt_pairs:
            if x.original in o_alt or x.dub in d_alt:
                pairs.append(Pair(x.original, x.dub, "name",
                                  f"{x.reason} (a three-digit number read as absolute)"))
                o_left.discard(x.original)
                d_left.discard(x.dub)

    # Rule 5: durations, for what is left.
    named = {p for p, (k, _) in {**o_keys, **d_keys}.items() if k}
    o_rest = [e.path for e in o_eps if e.path in o_left]
    d_rest = [e.path for e in d_eps if e.path in d_left]
    dur_pairs, dur_amb = _match_durations(o_rest, d_rest, named, durations)
    pairs += dur_pairs
    ambiguous += dur_amb
    done = {p for x in dur_pairs for p in (x.original, x.dub)} | {a.path for a in dur_amb}

    def unpaired(rest: list[Path], keys: Mapping[Path, tuple[frozenset[Key], str]]):
        out = []
        for p in rest:
            if p in done:
                continue
            k, why = keys[p]
            if k:
                why = f"reads {key_label(k)}, which no file on the other side does"
            why += ("; no duration to pair it by" if p not in durations
                    else "; no file left on the other side has a fitting duration")
            out.append(Unpaired(p, why))
        return tuple(out)

    order = {p: i for i, p in enumerate([e.path for e in o_eps + d_eps])}
    pairs.sort(key=lambda x: order[x.original])
    ambiguous.sort(key=lambda a: order[a.path])
    return Pairing(tuple(pairs), unpaired(o_rest, o_keys), unpaired(d_rest, d_keys),
                   tuple(ambiguous))


def pair_files(originals: Sequence[Path], dubs: Sequence[Path]) -> Pairing:
    """`pair_episodes` on the names, then again with the durations (ffprobe) of the files
    the names left unpaired, when any could be measured: the I/O twin the CLI batch and
    the batch API share. A file ffprobe cannot read stays unpaired, the pairing says
    why."""
    from app.errors import SyncDubError
    from app.services.media import probe
    pairing = pair_episodes(originals, dubs)
    durations: dict[Path, float] = {}
    for u in pairing.unpaired_originals + pairing.unpaired_dubs:
        try:
            durations[u.path] = probe(u.path).duration
        except (SyncDubError, OSError) as e:    # not media, empty, gone...
            logger.warning("no duration for %s: %s", u.path.name, e)
    return pair_episodes(originals, dubs, durations) if durations else pairing


def episode_label(pair: Pair) -> str:
    """"S01E02" for a pair made by name, else the original's file name."""
    if pair.how == "name" and pair.reason:
        return pair.reason.split()[0]
    return pair.original.name


def media_files(folder: Path, allowed: Iterable[str] | None = None) -> list[Path]:
    """The video and audio files directly in `folder`, sorted by name, hidden files left
    out. `allowed`: extensions without dots (default: the ALLOWED_EXTENSIONS default)."""
    if allowed is None:
        from config import Settings
        allowed = Settings.allowed_extensions
    allowed = set(allowed)
    return sorted((p for p in Path(folder).iterdir()
                   if not p.name.startswith(".") and p.is_file()
                   and allowed_file(p.name, allowed)), key=lambda p: p.name)
