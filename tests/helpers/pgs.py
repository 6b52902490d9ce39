"""A real PGS (Blu-ray picture subtitle) stream written byte by byte: ffmpeg has no PGS
encoder, and the bitmap tests need one (ffmpeg then makes VobSub and DVB from it). No
tests here."""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Sequence


def _segment(kind: int, payload: bytes, ms: int) -> bytes:
    return b"PG" + struct.pack(">IIBH", ms * 90, ms * 90, kind, len(payload)) + payload


def display_set(ms: int, n: int, picture: bool) -> bytes:
    """A PGS display set at `ms`: a 200x40 picture (a white bar, its width from n) in a
    720x576 frame, or a clear (no object)."""
    w, h, x, y = 200, 40, 260, 480
    pcs = struct.pack(">HHBHBBBB", 720, 576, 0x10, n, 0x80 if picture else 0, 0, 0,
                      int(picture))
    if picture:
        pcs += struct.pack(">HBBHH", 0, 0, 0, x, y)
    out = _segment(0x16, pcs, ms) + _segment(0x17, struct.pack(">BBHHHH", 1, 0, x, y, w, h),
                                              ms)
    if picture:
        bar = 20 + 10 * (n % 16)          # a width of its own (up to 16 cues apart)
        line = bytes([0, 0x40, 10, 0, 0xC0 | (bar >> 8), bar & 0xFF, 1,
                      0, 0x40 | ((w - 10 - bar) >> 8), (w - 10 - bar) & 0xFF, 0, 0])
        data = struct.pack(">HH", w, h) + line * h
        out += _segment(0x14, bytes([0, 0, 0, 16, 128, 128, 0, 1, 235, 128, 128, 255]), ms)
        out += _segment(0x15, struct.pack(">HBB", 0, 0, 0xC0) + len(data).to_bytes(3, "big")
                        + data, ms)
    return out + _segment(0x80, b"", ms)


def write_sup(path: Path, cues: Sequence[tuple[int, int]]) -> Path:
    """A .sup file: for each (start ms, end ms) a picture at start and a clear at end."""
    path.write_bytes(b"".join(display_set(a, i, True) + display_set(b, i, False)
                              for i, (a, b) in enumerate(cues)))
    return path
