"""Season batches: pairing episodes by name (guessit), then by duration
(app/services/pairing.py), and `python -m app batch --dry-run`.

Names only, no media, except the CLI's duration test (two 3 s and 6 s lavfi files).
guessit's misreadings found so far are pinned in `test_guessit_*` with how pairing copes.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.services.pairing import (PAL_SPEEDUP, Episode, durations_match,
                                  media_files, pair_episodes, parse_episode)
from tests.helpers.cli import run_cli
from tests.helpers.media import ffmpeg

P = Path

# (original, dub, expected key): one file each side, paired by name.
NAME_PAIRS = [
    ("Show.S01E02.1080p.BluRay.x264-GRP.mkv", "Show - 1x02 - Titulo (DVDRip Castellano).avi",
     "S01E02"),
    ("Show.S01E02.mkv", "show.s1e2.720p.web.mkv", "S01E02"),
    ("Show.s01e02.mkv", "SHOW.S01E02.mp4", "S01E02"),
    ("Show.S01.E02.mkv", "Show 1x02 [Spanish] [www.example.com].avi", "S01E02"),
    # no season on one side: the other side's one season
    ("Show.S01E02.WEB.mkv", "Show Episode 2.avi", "S01E02"),
    ("Show.S01E02.mkv", "Episode 2.avi", "S01E02"),
    ("Show.S01E02.mkv", "Show E02.avi", "S01E02"),
    ("Show.S01E02.mkv", "E02.mkv", "S01E02"),
    ("Show.S01E02.mkv", "Show - 02 - Titulo.avi", "S01E02"),
    ("Show.S01E02.mkv", "Show_-_02_[DVD][Spanish].avi", "S01E02"),
    ("[Grp] Show - 02 [1080p].mkv", "Show.S01E02.Spanish.avi", "S01E02"),
    ("Show.S01E02.mkv", "Show - Episodio 2 (Castellano).avi", "S01E02"),
    ("Show.S01E02.mkv", "Capitulo 2.avi", "S01E02"),
    ("Show.S01E02.mkv", "02.mka", "S01E02"),
    # no season on either side: season 1
    ("Episode 2.mkv", "E02.avi", "S01E02"),
    ("Show - 02.mkv", "Show - 02 (Castellano).avi", "S01E02"),
    # release tags, groups, languages, years, translated show names
    ("Show.S01E02.MULTi.1080p.WEB.H264-FRENCH.mkv", "Show.1x02.Castellano.DVDRip.XviD-NOVO.avi",
     "S01E02"),
    ("Show.2019.S01E02.1080p.mkv", "Show (2019) - 1x02.avi", "S01E02"),
    ("The.Show.S01E02.HDTV.x264-LOL.mkv", "La Serie - 1x02 - El Titulo [HDTV].avi", "S01E02"),
    ("Show - S01E02 - Pilot Part 2 [Bluray-1080p].mkv",
     "Show.S01E02.SPANiSH.WEB-DL.AAC2.0.H.264.mkv", "S01E02"),
    ("Show.Temporada.1.Capitulo.2.avi", "Show.S01E02.720p.HDTV.x264-KILLERS[eztv].mkv",
     "S01E02"),
    # other seasons, compact numbers
    ("Show.S02E05.mkv", "Show.2x05.Spanish.avi", "S02E05"),
    ("Show.S02E05.mkv", "Show.205.avi", "S02E05"),
    ("Show.S01E02.mkv", "Show [Cap.102].avi", "S01E02"),
    ("Show.S03E10.1080p.mkv", "show_3x10_spa.avi", "S03E10"),
    ("Show.S10E12.mkv", "Show 10x12.avi", "S10E12"),
    # absolute numbering, two and three digits
    ("Show.S01E13.mkv", "[Grp] Show - 13 [1080p].mkv", "S01E13"),
    ("Show.S01E113.mkv", "Show - 113 - Title.mkv", "S01E113"),
    # multi-episode files, specials
    ("Show.S01E01E02.720p.mkv", "Show - 1x01-02 - Title.avi", "S01E01E02"),
    ("Show.S01E01E02.mkv", "Show.S01E01-E02.mkv", "S01E01E02"),
    ("Show.S01E02.E03.mkv", "Show 1x02 y 1x03.avi", "S01E02E03"),
    ("Show.S00E01.Special.mkv", "Show.S00E01.Especial.avi", "S00E01"),
]


@pytest.mark.parametrize("original, dub, key", NAME_PAIRS)
def test_name_pairs(original, dub, key):
    r = pair_episodes([P("o") / original], [P("d") / dub])
    assert [(x.original.name, x.dub.name, x.how) for x in r.pairs] == [(original, dub, "name")]
    assert r.pairs[0].reason.startswith(key)
    assert not (r.unpaired_originals or r.unpaired_dubs or r.ambiguous)


@pytest.mark.parametrize("original, dub, key", NAME_PAIRS)
def test_name_pairs_sides_swapped(original, dub, key):
    r = pair_episodes([P(dub)], [P(original)])
    assert [(x.original.name, x.dub.name) for x in r.pairs] == [(dub, original)]


def test_a_season_with_different_names_on_each_side():
    origs = [P(f"orig/Show.S01E{n:02d}.1080p.BluRay.x264-GRP.mkv") for n in range(1, 13)]
    forms = ["Show - 1x{n:02d} - Titulo (DVDRip Castellano).avi", "show.s1e{n}.avi",
             "Show Episode {n}.avi", "Show E{n:02d}.avi", "Show - {n:02d} - x.avi"]
    dubs = [P("dub") / forms[n % len(forms)].format(n=n) for n in range(12, 0, -1)]
    r = pair_episodes(origs, dubs)
    assert [x.original for x in r.pairs] == origs          # in the originals' order
    for n, x in enumerate(r.pairs, 1):
        assert x.dub.name == forms[n % len(forms)].format(n=n)
        assert x.how == "name" and x.reason == f"S01E{n:02d}"


def test_parse_episode_fields():
    e = parse_episode(P("Show - 1x02 - Titulo (DVDRip Castellano).avi"))
    assert e == Episode(P("Show - 1x02 - Titulo (DVDRip Castellano).avi"), 1, 2, None, "Show")
    assert parse_episode(P("Show.S01E01E02.mkv")).episode == (1, 2)
    assert parse_episode(P("E02.mkv")).season is None
    assert parse_episode(P("bonus.mkv")).episode is None


# ------------------------------------------------------------------ never guessed silently

def test_two_dubs_claim_one_episode_both_ambiguous_none_paired():
    o = [P("Show.S01E01.mkv"), P("Show.S01E02.mkv")]
    d = [P("Show 1x01.avi"), P("Show 1x02.avi"), P("Show - 02 - Repack.avi")]
    r = pair_episodes(o, d)
    assert [(x.original.name, x.dub.name) for x in r.pairs] == [("Show.S01E01.mkv",
                                                                 "Show 1x01.avi")]
    amb = {a.path.name: a for a in r.ambiguous}
    assert set(amb) == {"Show.S01E02.mkv", "Show 1x02.avi", "Show - 02 - Repack.avi"}
    assert amb["Show.S01E02.mkv"].candidates == (P("Show - 02 - Repack.avi"),
                                                 P("Show 1x02.avi"))
    assert amb["Show 1x02.avi"].candidates == (P("Show.S01E02.mkv"),)
    assert "S01E02" in amb["Show 1x02.avi"].reason


def test_two_originals_same_key_no_dub_are_listed_ambiguous():
    r = pair_episodes([P("a/Show.S01E03.mkv"), P("b/Show 1x03.mkv")], [P("Show.S01E04.avi")])
    assert not r.pairs
    assert [(a.path.name, a.candidates) for a in r.ambiguous] == [
        ("Show.S01E03.mkv", ()), ("Show 1x03.mkv", ())]
    assert [u.path.name for u in r.unpaired_dubs] == ["Show.S01E04.avi"]
    assert "S01E04" in r.unpaired_dubs[0].reason


def test_multi_episode_file_against_separate_episodes_is_ambiguous():
    r = pair_episodes([P("Show.S01E01.mkv"), P("Show.S01E02.mkv"), P("Show.S01E03.mkv")],
                      [P("Show.S01E01E02.avi"), P("Show.S01E03.avi")])
    assert [x.reason for x in r.pairs] == ["S01E03"]
    amb = {a.path.name: a.candidates for a in r.ambiguous}
    assert amb == {"Show.S01E01.mkv": (P("Show.S01E01E02.avi"),),
                   "Show.S01E02.mkv": (P("Show.S01E01E02.avi"),),
                   "Show.S01E01E02.avi": (P("Show.S01E01.mkv"), P("Show.S01E02.mkv"))}


def test_unmatched_names_are_unpaired_with_reasons():
    r = pair_episodes([P("Show.S01E01.mkv"), P("Show.S01E05.mkv")], [P("Show.S01E01.avi")])
    assert len(r.pairs) == 1
    (u,) = r.unpaired_originals
    assert u.path == P("Show.S01E05.mkv") and "reads S01E05" in u.reason


def test_bare_numbers_with_several_seasons_are_not_placed():
    """Absolute numbering against two seasons: not matched without guessing."""
    o = [P(f"Show.S0{s}E{e:02d}.mkv") for s in (1, 2) for e in (1, 2)]
    d = [P(f"Show - {n:02d}.avi") for n in (1, 2, 3, 4)]
    r = pair_episodes(o, d)
    assert not r.pairs
    assert len(r.unpaired_dubs) == 4
    assert all("seasons 1, 2" in u.reason for u in r.unpaired_dubs)


def test_bare_numbers_past_the_seasons_end_are_not_placed():
    """Season 2 as S02E01..E03, the dubs numbered absolutely 03..05: 03 must not pair with
    S02E03."""
    o = [P(f"Show.S02E{e:02d}.mkv") for e in (1, 2, 3)]
    d = [P(f"Show - {n:02d}.avi") for n in (3, 4, 5)]
    r = pair_episodes(o, d)
    assert not r.pairs and not r.ambiguous
    assert all("absolute numbering?" in u.reason for u in r.unpaired_dubs)


def test_specials_do_not_take_bare_numbers_into_season_0():
    r = pair_episodes([P("Show.S01E01.mkv"), P("Show.S00E01.mkv")], [P("Show - 01.avi")])
    assert [(x.original.name, x.reason) for x in r.pairs] == [("Show.S01E01.mkv", "S01E01")]
    assert [u.path.name for u in r.unpaired_originals] == ["Show.S00E01.mkv"]


# ------------------------------------------------------------------ durations

def test_durations_match_tolerance_and_pal():
    assert durations_match(1320.0, 1320.0 * 1.019)
    assert durations_match(1320.0, 1320.0 / PAL_SPEEDUP)          # a PAL dub, 4.1 % short
    assert durations_match(1320.0 / PAL_SPEEDUP, 1320.0)          # a PAL original
    assert durations_match(1320.0, 1320.0 / PAL_SPEEDUP * 0.985)  # PAL and 1.5 % of credits
    assert not durations_match(1320.0, 1320.0 * 1.08)
    assert not durations_match(1320.0, 1320.0 * 0.92)
    assert not durations_match(0.0, 1320.0)


def test_missing_numbers_paired_by_duration():
    o = [P("Show.S01E01.mkv"), P("Show.S01E02.mkv"), P("bonus.mkv"), P("finale.mkv")]
    d = [P("Show 1x01.avi"), P("Show 1x02.avi"), P("extra.avi"), P("ultimo.avi")]
    durations = {P("bonus.mkv"): 600.0, P("finale.mkv"): 2700.0,
                 P("extra.avi"): 600.0 / PAL_SPEEDUP, P("ultimo.avi"): 2690.0}
    r = pair_episodes(o, d, durations)
    assert [(x.original.name, x.dub.name, x.how) for x in r.pairs] == [
        ("Show.S01E01.mkv", "Show 1x01.avi", "name"),
        ("Show.S01E02.mkv", "Show 1x02.avi", "name"),
        ("bonus.mkv", "extra.avi", "duration"),
        ("finale.mkv", "ultimo.avi", "duration")]
    assert "600.0 s" in r.pairs[2].reason


def test_a_named_file_without_partner_pairs_with_a_nameless_one_by_duration():
    r = pair_episodes([P("Show.S01E03.mkv")], [P("Show - 1x01.avi"), P("tercero.avi")],
                      {P("Show.S01E03.mkv"): 1300.0, P("tercero.avi"): 1290.0,
                       P("Show - 1x01.avi"): 1300.0})
    assert [(x.dub.name, x.how) for x in r.pairs] == [("tercero.avi", "duration")]
    assert "reads S01E01" in r.unpaired_dubs[0].reason


def test_duration_ambiguity_left_unpaired():
    o = [P("a.mkv"), P("b.mkv")]
    d = [P("x.avi"), P("y.avi")]
    durations = {P("a.mkv"): 1320.0, P("b.mkv"): 1330.0, P("x.avi"): 1325.0, P("y.avi"): 900.0}
    r = pair_episodes(o, d, durations)
    assert not r.pairs
    assert {a.path.name: tuple(c.name for c in a.candidates) for a in r.ambiguous} == {
        "a.mkv": ("x.avi",), "b.mkv": ("x.avi",), "x.avi": ("a.mkv", "b.mkv")}
    assert [u.path.name for u in r.unpaired_dubs] == ["y.avi"]
    assert "fitting duration" in r.unpaired_dubs[0].reason


def test_no_name_and_no_duration_is_unpaired():
    r = pair_episodes([P("a.mkv")], [P("x.avi")], {P("a.mkv"): 1320.0})
    assert not r.pairs
    assert "no episode number" in r.unpaired_originals[0].reason
    assert "no duration" in r.unpaired_dubs[0].reason


def test_durations_never_overrule_two_names():
    r = pair_episodes([P("Show.S01E03.mkv")], [P("Show.S01E04.avi")],
                      {P("Show.S01E03.mkv"): 1300.0, P("Show.S01E04.avi"): 1300.0})
    assert not r.pairs and not r.ambiguous


# ------------------------------------------------------------------ guessit's misreadings

def test_guessit_reads_a_bare_three_digit_number_as_season_and_episode():
    """guessit 4.4.0: "Show - 113" is S01E13 (right for "Show.205" = S02E05, wrong for
    absolute numbering). pairing keeps both readings: S01E13 first, 113 when that finds
    no partner."""
    e = parse_episode(P("Show - 113 - Title.mkv"))
    assert (e.season, e.episode, e.absolute) == (1, 13, 113)
    compact = pair_episodes([P("Show.S01E13.mkv")], [P("Show - 113 - Title.avi")])
    assert compact.pairs[0].reason == "S01E13"
    absolute = pair_episodes([P("Show.S01E113.mkv")], [P("Show - 113 - Title.avi")])
    assert absolute.pairs[0].reason.startswith("S01E113")
    assert "absolute" in absolute.pairs[0].reason


def test_guessit_loses_the_number_before_a_year_in_brackets():
    """guessit 4.4.0: "Show - 02 (2019)" has no episode at all; pairing treats the file as
    nameless: paired by duration when one fits, else listed unpaired."""
    assert parse_episode(P("Show - 02 (2019).mkv")).episode is None
    r = pair_episodes([P("Show - 02 (2019).mkv")], [P("Show.S01E02.avi")])
    assert not r.pairs and "no episode number" in r.unpaired_originals[0].reason
    r = pair_episodes([P("Show - 02 (2019).mkv")], [P("Show.S01E02.avi")],
                      {P("Show - 02 (2019).mkv"): 1300.0, P("Show.S01E02.avi"): 1250.0})
    assert r.pairs[0].how == "duration"


# ------------------------------------------------------------------ media_files

def test_media_files_lists_allowed_not_hidden_sorted(tmp_path):
    for name in ("b.mkv", "A.AVI", ".hidden.mkv", "notes.txt", "c.mka", "sub.srt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "folder.mkv").mkdir()
    assert [p.name for p in media_files(tmp_path)] == ["A.AVI", "b.mkv", "c.mka"]
    assert [p.name for p in media_files(tmp_path, {"mkv"})] == ["b.mkv"]


# ------------------------------------------------------------------ the CLI

@pytest.fixture
def season(tmp_path):
    o, d = tmp_path / "orig", tmp_path / "dub"
    o.mkdir()
    d.mkdir()
    for n in (1, 2, 3):
        (o / f"Show.S01E0{n}.1080p.BluRay.x264-GRP.mkv").write_bytes(b"x")
    (d / "Show - 1x01 - Uno (DVDRip Castellano).avi").write_bytes(b"x")
    (d / "Show E02.avi").write_bytes(b"x")
    (d / "Show - 02 - Repack.avi").write_bytes(b"x")
    (d / ".Show - 1x03.avi").write_bytes(b"x")              # hidden: not listed
    (d / "notes.txt").write_text("x")
    return o, d


def test_cli_dry_run_lists_the_pairing(season):
    o, d = season
    rc, out, err = run_cli(["batch", o, d, "-o", o.parent / "out", "--dry-run"])
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == "pairs (1)"
    assert lines[1].split() == ["name", "Show.S01E01.1080p.BluRay.x264-GRP.mkv", "<-",
                                "Show", "-", "1x01", "-", "Uno", "(DVDRip", "Castellano).avi",
                                "(S01E01)"]
    assert "unpaired originals (1)" in lines
    assert any(l.startswith("  Show.S01E03.1080p.BluRay.x264-GRP.mkv: reads S01E03")
               for l in lines)
    assert "unpaired dubs (0)" in lines
    assert "ambiguous (3)" in lines
    assert any(l.startswith("  Show E02.avi -> Show.S01E02.1080p.BluRay.x264-GRP.mkv: ")
               for l in lines)
    assert "notes.txt" not in out and ".Show" not in out


def test_cli_dry_run_json(season):
    o, d = season
    rc, out, _ = run_cli(["batch", o, d, "--dry-run", "--json"])
    assert rc == 0
    doc = json.loads(out)
    assert set(doc) == {"pairs", "unpaired_originals", "unpaired_dubs", "ambiguous"}
    assert doc["pairs"][0]["dub"] == str(d / "Show - 1x01 - Uno (DVDRip Castellano).avi")
    assert doc["pairs"][0]["how"] == "name"
    assert len(doc["ambiguous"]) == 3 and doc["ambiguous"][0]["candidates"]


def test_cli_bad_input_exits_2(season, tmp_path):
    o, d = season
    rc, out, err = run_cli(["batch", o, tmp_path / "missing", "--dry-run"])
    assert rc == 2 and "does not exist" in err and out == ""
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    rc, _, err = run_cli(["batch", o, empty, "--dry-run"])
    assert rc == 2 and "nothing to pair" in err
    rc, _, err = run_cli(["batch", o, o, "--dry-run"])
    assert rc == 2 and "same folder" in err
    rc, out, err = run_cli(["batch", o, d])             # a run needs -o
    assert rc == 2 and "-o OUT_DIR" in err and "--dry-run" in err and out == ""


def test_cli_nothing_paired_exits_2(tmp_path):
    o, d = tmp_path / "o", tmp_path / "d"
    o.mkdir()
    d.mkdir()
    (o / "Show.S01E01.mkv").write_bytes(b"x")
    (d / "Show.S01E05.avi").write_bytes(b"x")
    rc, out, err = run_cli(["batch", o, d, "--dry-run"])
    assert rc == 2 and "no episode could be paired" in err
    assert "reads S01E05" in out


def test_cli_pairs_nameless_files_by_probed_duration(tmp_path):
    """Names without numbers on both sides: the CLI probes the durations (3 s and 6 s on
    each side, the dubs 4 % short like PAL) and pairs by them."""
    o, d = tmp_path / "o", tmp_path / "d"
    o.mkdir()
    d.mkdir()
    for folder, names, scale in ((o, ("bonus.mka", "making_of.mka"), 1.0),
                                 (d, ("extra.mka", "reportaje.mka"), 0.96)):
        for name, seconds in zip(names, (3.0, 6.0)):
            ffmpeg("-f", "lavfi", "-i", f"sine=d={seconds * scale:.3f}", "-c:a", "flac",
                   folder / name)
    rc, out, err = run_cli(["batch", o, d, "--dry-run"])
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == "pairs (2)"
    assert lines[1].split()[:4] == ["duration", "bonus.mka", "<-", "extra.mka"]
    assert lines[2].split()[:4] == ["duration", "making_of.mka", "<-", "reportaje.mka"]
    assert "unpaired originals (0)" in lines and "ambiguous (0)" in lines
