"""The report picture: offset (original time - dub time) over the original timeline, as SVG.

Pure function of the engine's report dict (no I/O, no plotting library): anchors as dots
(audio and speech in two colours), the fitted map as lines, cuts as shaded bands (original
time with no dub), inserts as dashed lines (dub material dropped at that point).
Offsets are seconds; positive = the dub plays later than the original.
"""
from __future__ import annotations

import math
from html import escape
from typing import Any

W, H = 760, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 50, 44

LABELS = {
    "en": {"title": "Offset over time", "x": "original time", "y": "offset (s)",
           "audio": "audio anchors", "speech": "speech anchors", "map": "time map",
           "cut": "cut (missing in the dub)", "insert": "insert (dropped from the dub)",
           "empty": "no anchors in this report"},
    "es": {"title": "Desfase a lo largo del tiempo", "x": "tiempo del original",
           "y": "desfase (s)", "audio": "anclas de audio", "speech": "anclas de voz",
           "map": "mapa temporal", "cut": "corte (falta en el doblaje)",
           "insert": "inserto (eliminado del doblaje)", "empty": "sin anclas en este informe"},
}


def _num(d: Any, *keys: str) -> float | None:
    if isinstance(d, dict):
        for k in keys:
            v = d.get(k)
            if isinstance(v, (int, float)) and math.isfinite(v):
                return float(v)
    return None


def _pair(d: Any, prefix: str) -> tuple[float, float] | None:
    """An interval from a dict ({prefix}_start/_end, start/end) or a 2-list."""
    if isinstance(d, (list, tuple)) and len(d) == 2 and all(isinstance(x, (int, float))
                                                            for x in d):
        return float(d[0]), float(d[1])
    a = _num(d, f"{prefix}_start", "start")
    b = _num(d, f"{prefix}_end", "end")
    if a is None:
        return None
    return a, (b if b is not None else a)


def _segments(report: dict) -> list[tuple[float, float, float, float]]:
    """(orig_a, off_a, orig_b, off_b) line ends of each map segment."""
    out = []
    for s in report.get("segments") or []:
        d0, d1 = _num(s, "dub_start"), _num(s, "dub_end")
        o0 = _num(s, "orig_start")
        sp = _num(s, "speed") or _num(report, "speed") or 1.0
        if d0 is None or d1 is None or o0 is None:
            continue
        o1 = o0 + (d1 - d0) * sp
        out.append((o0, o0 - d0, o1, o1 - d1))
    return out


def _insert_at(report: dict, dub_start: float, dub_end: float) -> float | None:
    """Where on the original an insert [dub_start, dub_end) sits: where the next segment
    starts (or where the previous one ends, for a trailing insert)."""
    after, before = None, None
    for s in report.get("segments") or []:
        d0, d1, o0 = _num(s, "dub_start"), _num(s, "dub_end"), _num(s, "orig_start")
        sp = _num(s, "speed") or _num(report, "speed") or 1.0
        if d0 is None or o0 is None:
            continue
        if d0 >= dub_end - 0.05 and (after is None or d0 < after[0]):
            after = (d0, o0)
        if d1 is not None and d1 <= dub_start + 0.05 and (before is None or d1 > before[0]):
            before = (d1, o0 + (d1 - d0) * sp)
    return after[1] if after else before[1] if before else None


def _ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 1)]


def _fmt_time(t: float) -> str:
    t = max(0.0, t)
    h, rem = divmod(int(round(t)), 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _fmt_off(v: float, span: float) -> str:
    return f"{v:.0f}" if span >= 20 else f"{v:.1f}" if span >= 2 else f"{v:.2f}"


def render_offset_svg(report: dict, lang: str = "en") -> str:
    L = LABELS.get(lang, LABELS["en"])
    anchors = [a for a in report.get("anchors") or [] if _num(a, "dub_t") is not None
               and _num(a, "orig_t") is not None]
    pts = [(_num(a, "orig_t"), _num(a, "orig_t") - _num(a, "dub_t"),  # type: ignore[operator]
            str(a.get("source", "audio"))) for a in anchors]
    segs = _segments(report)
    cuts = [c for c in (_pair(x, "orig") for x in report.get("cuts") or []) if c]
    inserts = []
    for x in report.get("inserts") or []:
        at = _num(x, "orig_t", "orig_at", "orig_start")
        if at is None:
            dub = _pair(x, "dub")
            at = _insert_at(report, *dub) if dub else None
        if at is not None:
            inserts.append(at)

    xs = [p[0] for p in pts] + [v for s in segs for v in (s[0], s[2])] \
        + [v for c in cuts for v in c] + inserts
    ys = [p[1] for p in pts] + [v for s in segs for v in (s[1], s[3])]
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    x0 = min(0.0, x0)
    if x1 - x0 < 1:
        x1 = x0 + 1
    if ys:
        y0, y1 = min(ys), max(ys)
    else:
        y0, y1 = -1.0, 1.0
    pad = max(0.05, (y1 - y0) * 0.15)
    y0, y1 = y0 - pad, y1 + pad
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return TOP + (1 - (y - y0) / (y1 - y0)) * ph

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="100%" '
        f'role="img" aria-label="{escape(L["title"])}" font-family="system-ui,sans-serif" '
        f'font-size="11">',
        f'<title>{escape(L["title"])}</title>',
        f'<rect x="0" y="0" width="{W}" height="{H}" fill="#fff"/>',
    ]
    for c0, c1 in cuts:
        a, b = sx(c0), sx(c1)
        out.append(f'<rect class="cut" x="{a:.1f}" y="{TOP}" width="{max(2.0, b - a):.1f}" '
                   f'height="{ph}" fill="#dc3545" fill-opacity="0.15"/>')
    for t in _ticks(y0, y1, 5):
        y = sy(t)
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="#e9ecef"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#495057">'
                   f'{_fmt_off(t, y1 - y0)}</text>')
    for t in _ticks(x0, x1, 8):
        x = sx(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + ph}" '
                   f'stroke="#f1f3f5"/>')
        out.append(f'<text x="{x:.1f}" y="{TOP + ph + 16}" text-anchor="middle" '
                   f'fill="#495057">{_fmt_time(t)}</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" '
               f'stroke="#adb5bd"/>')
    for t in inserts:
        x = sx(t)
        out.append(f'<line class="insert" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" '
                   f'y2="{TOP + ph}" stroke="#fd7e14" stroke-width="2" '
                   f'stroke-dasharray="5 4"/>')
    colors = {"audio": "#0d6efd", "speech": "#198754"}
    for x, y, src in pts:
        out.append(f'<circle class="anchor" cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" '
                   f'fill="{colors.get(src, "#6c757d")}" fill-opacity="0.7"/>')
    for a, oa, b, ob in segs:
        out.append(f'<line class="segment" x1="{sx(a):.1f}" y1="{sy(oa):.1f}" '
                   f'x2="{sx(b):.1f}" y2="{sy(ob):.1f}" stroke="#212529" stroke-width="2"/>')
    if not pts and not segs:
        out.append(f'<text x="{LEFT + pw / 2}" y="{TOP + ph / 2}" text-anchor="middle" '
                   f'fill="#6c757d">{escape(L["empty"])}</text>')
    out.append(f'<text x="{LEFT}" y="18" font-size="13" font-weight="600" fill="#212529">'
               f'{escape(L["title"])}</text>')
    out.append(f'<text x="{LEFT + pw / 2}" y="{H - 8}" text-anchor="middle" fill="#495057">'
               f'{escape(L["x"])}</text>')
    out.append(f'<text transform="translate(14 {TOP + ph / 2}) rotate(-90)" '
               f'text-anchor="middle" fill="#495057">{escape(L["y"])}</text>')
    legend = [("#0d6efd", L["audio"], "dot"), ("#198754", L["speech"], "dot"),
              ("#212529", L["map"], "line"), ("#dc3545", L["cut"], "band"),
              ("#fd7e14", L["insert"], "dash")]
    present = {"dot": bool(pts), "line": bool(segs), "band": bool(cuts), "dash": bool(inserts)}
    items = [it for it in legend if present[it[2]]
             and (it[1] != L["speech"] or any(p[2] == "speech" for p in pts))
             and (it[1] != L["audio"] or any(p[2] != "speech" for p in pts))]
    dash = ' stroke-dasharray="3 2"'
    x, ly = float(LEFT), 36
    for color, text, kind in items:
        mark = (f'<circle cx="{x + 6}" cy="{ly - 4}" r="3.5" fill="{color}"/>' if kind == "dot"
                else f'<rect x="{x}" y="{ly - 9}" width="12" height="10" fill="{color}" '
                f'fill-opacity="0.25"/>' if kind == "band" else
                f'<line x1="{x}" x2="{x + 12}" y1="{ly - 4}" y2="{ly - 4}" stroke="{color}" '
                f'stroke-width="2"{dash if kind == "dash" else ""}/>')
        out.append(mark + f'<text x="{x + 16}" y="{ly}" fill="#495057">{escape(text)}</text>')
        x += 6.2 * len(text) + 34
    out.append("</svg>")
    return "\n".join(out)
