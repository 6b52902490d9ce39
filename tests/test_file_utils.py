"""Safe paths, names and the media listing."""
from __future__ import annotations

import io
import os

import pytest

from app.errors import InputError, InputPathError
from app.utils.file_utils import (PathNotFound, allowed_file, check_allowed, copy_stream,
                                  display_name, list_media, media_file, output_stem,
                                  resolve_inside, unique_path)
from app.utils.report_svg import render_offset_svg
from tests.helpers.web import fake_report


@pytest.mark.parametrize("custom, original, want", [
    ("", "Die Hard (1988).mkv", "Die Hard (1988).synced"),
    (None, "C:\\films\\Amélie.mp4", "Amélie.synced"),
    ("Mi película", "x.mkv", "Mi película"),
    ("name.mkv", "x.mkv", "name"),
    ("../../etc/passwd", "x.mkv", "etc_passwd"),
    ('a<b>c:"d"|e?*', "x.mkv", "a_b_c_d_e"),
    ("   ", "...", "synced"),
    ("x" * 500, "x.mkv", "x" * 120),
])
def test_output_stem(custom, original, want):
    assert output_stem(custom, original) == want


def test_unique_path(tmp_path):
    (tmp_path / "a.mkv").touch()
    assert unique_path(tmp_path, "a").name == "a (2).mkv"
    assert unique_path(tmp_path, "a", taken=[tmp_path / "a (2).mkv"]).name == "a (3).mkv"
    assert unique_path(tmp_path, "b").name == "b.mkv"


def test_extensions():
    assert allowed_file("X.MKV", {"mkv"}) and not allowed_file("x.mkv.exe", {"mkv"})
    assert not allowed_file("", {"mkv"}) and not allowed_file("mkv", {"mkv"})
    with pytest.raises(InputError, match="mkv, mp4"):
        check_allowed("a.txt", {"mp4", "mkv"})
    assert display_name("../../x\x00y.mkv") == "xy.mkv"


def test_resolve_inside(tmp_path):
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    os.symlink(tmp_path, root / "up")
    assert resolve_inside(root, "") == root.resolve()
    assert resolve_inside(root, "a/") == (root / "a").resolve()
    assert resolve_inside(root, str(root / "a")) == (root / "a").resolve()
    assert resolve_inside(root, "up/root/a") == (root / "a").resolve()  # loops back in
    for bad in ("..", "a/../..", "up", "up/other", "/etc", "\\..\\.."):
        with pytest.raises(InputPathError):
            resolve_inside(root, bad)


def test_media_file_and_listing(tmp_path):
    (tmp_path / "m" / "d").mkdir(parents=True)
    (tmp_path / "m" / "f.mkv").write_bytes(b"x" * 10)
    (tmp_path / "m" / "f.txt").write_text("x")
    os.symlink("/nonexistent", tmp_path / "m" / "broken.mkv")
    assert media_file(tmp_path / "m", "f.mkv", {"mkv"}, "original") == \
        (tmp_path / "m" / "f.mkv").resolve()
    with pytest.raises(PathNotFound):
        media_file(tmp_path / "m", "g.mkv", {"mkv"}, "original")
    with pytest.raises(InputError):
        media_file(tmp_path / "m", "f.txt", {"mkv"}, "original")
    listing = list_media(tmp_path / "m", "", {"mkv"})
    assert [(e.name, e.type, e.size) for e in listing.entries] == [
        ("d", "directory", None), ("f.mkv", "video", 10)]
    with pytest.raises(PathNotFound):
        list_media(tmp_path / "m", "f.mkv", {"mkv"})


def test_copy_stream_in_pieces():
    src, dst = io.BytesIO(b"a" * 10_000), io.BytesIO()
    assert copy_stream(src, dst, limit=2500, bufsize=1000) == 2500
    assert copy_stream(src, dst, bufsize=3000) == 7500 and dst.getvalue() == b"a" * 10_000


def test_offset_svg_marks_anchors_cuts_and_inserts():
    rep = fake_report()
    rep["cuts"] = [[10.0, 12.0]]
    svg = render_offset_svg(rep, "en")
    assert svg.count('class="anchor"') == len(rep["anchors"])
    assert svg.count('class="cut"') == 1 and svg.count('class="insert"') == 1
    assert "Offset over time" in svg
    assert "no anchors" in render_offset_svg({}, "en")
