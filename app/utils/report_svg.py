"""The report picture: offset (original time - dub time) over the original timeline, as SVG.

Pure function of the report's JSON form, SyncReport.to_dict (no I/O, no plotting
library): anchors as dots (audio and speech in two colours), the fitted map as lines, cuts
as shaded bands (original time with no dub), inserts as dashed lines (dub material dropped
at that point).
Offsets are seconds; positive = the dub plays later than the original.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
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


def _finite(*values: Any) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def _points(report: dict[str, Any]) -> list[tuple[float, float, str]]:
    """(original time, offset, source) of each anchor in the report."""
    return [(a["orig_t"], a["orig_t"] - a["dub_t"], str(a.get("source", "audio")))
            for a in report.get("anchors") or [] if _finite(a["dub_t"], a["orig_t"])]


def _segments(report: dict[str, Any]) -> list[tuple[float, float, float, float]]:
    """(orig_a, off_a, orig_b, off_b) line ends of each map segment."""
    out = []
    for s in report.get("segments") or []:
        d0, d1, o0 = s["dub_start"], s["dub_end"], s["orig_start"]
        o1 = o0 + (d1 - d0) * s["speed"]
        out.append((o0, o0 - d0, o1, o1 - d1))
    return out


def _insert_at(report: dict[str, Any], dub_start: float, dub_end: float) -> float | None:
    """Where on the original an insert [dub_start, dub_end) sits: where the next segment
    starts (or where the previous one ends, for a trailing insert)."""
    after, before = None, None
    for s in report.get("segments") or []:
        d0, d1, o0 = s["dub_start"], s["dub_end"], s["orig_start"]
        if d0 >= dub_end - 0.05 and (after is None or d0 < after[0]):
            after = (d0, o0)
        if d1 <= dub_start + 0.05 and (before is None or d1 > before[0]):
            before = (d1, o0 + (d1 - d0) * s["speed"])
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


@dataclass(frozen=True)
class _Plot:
    """The plot area: original time x0..x1 (s) and offset y0..y1 (s) onto pixels."""

    x0: float
    x1: float
    y0: float
    y1: float

    @property
    def width(self) -> int:
        return W - LEFT - RIGHT

    @property
    def height(self) -> int:
        return H - TOP - BOTTOM

    def sx(self, x: float) -> float:
        return LEFT + (x - self.x0) / (self.x1 - self.x0) * self.width

    def sy(self, y: float) -> float:
        return TOP + (1 - (y - self.y0) / (self.y1 - self.y0)) * self.height


def _plot(xs: list[float], ys: list[float]) -> _Plot:
    """Axes that hold every x and y, from time 0, with a margin above and below."""
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    x0 = min(0.0, x0)
    if x1 - x0 < 1:
        x1 = x0 + 1
    y0, y1 = (min(ys), max(ys)) if ys else (-1.0, 1.0)
    pad = max(0.05, (y1 - y0) * 0.15)
    return _Plot(x0, x1, y0 - pad, y1 + pad)


def _grid(plot: _Plot) -> list[str]:
    """Horizontal offset lines and vertical time lines with their labels, and the frame."""
    out = []
    for t in _ticks(plot.y0, plot.y1, 5):
        y = plot.sy(t)
        out += _grid_line((LEFT, W - RIGHT, y, y), "#e9ecef", (LEFT - 6, y + 4), "end",
                          _fmt_off(t, plot.y1 - plot.y0))
    for t in _ticks(plot.x0, plot.x1, 8):
        x = plot.sx(t)
        out += _grid_line((x, x, TOP, TOP + plot.height), "#f1f3f5",
                          (x, TOP + plot.height + 16), "middle", _fmt_time(t))
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot.width}" height="{plot.height}" '
               f'fill="none" stroke="#adb5bd"/>')
    return out


def _grid_line(xy: tuple[float, float, float, float], stroke: str,
               at: tuple[float, float], anchor: str, label: str) -> list[str]:
    """One grid line (x1, x2, y1, y2 in px) and its label at `at`."""
    x1, x2, y1, y2 = xy
    return [f'<line x1="{_px(x1)}" x2="{_px(x2)}" y1="{_px(y1)}" y2="{_px(y2)}" '
            f'stroke="{stroke}"/>',
            f'<text x="{_px(at[0])}" y="{_px(at[1])}" text-anchor="{anchor}" '
            f'fill="#495057">{label}</text>']


def _px(v: float) -> str:
    """An SVG coordinate as the plot writes it: integers as they are, others to 0.1 px."""
    return str(v) if isinstance(v, int) else f"{v:.1f}"


def _legend(labels: dict[str, str], pts: list[tuple[float, float, str]], has_segs: bool,
            has_cuts: bool, has_inserts: bool) -> list[str]:
    """One line of legend items, only for what the picture shows."""
    legend = [("#0d6efd", labels["audio"], "dot"), ("#198754", labels["speech"], "dot"),
              ("#212529", labels["map"], "line"), ("#dc3545", labels["cut"], "band"),
              ("#fd7e14", labels["insert"], "dash")]
    present = {"dot": bool(pts), "line": has_segs, "band": has_cuts, "dash": has_inserts}
    items = [it for it in legend if present[it[2]]
             and (it[1] != labels["speech"] or any(p[2] == "speech" for p in pts))
             and (it[1] != labels["audio"] or any(p[2] != "speech" for p in pts))]
    dash = ' stroke-dasharray="3 2"'
    out = []
    x, ly = float(LEFT), 36
    for color, text, kind in items:
        mark = (f'<circle cx="{x + 6}" cy="{ly - 4}" r="3.5" fill="{color}"/>' if kind == "dot"
                else f'<rect x="{x}" y="{ly - 9}" width="12" height="10" fill="{color}" '
                f'fill-opacity="0.25"/>' if kind == "band" else
                f'<line x1="{x}" x2="{x + 12}" y1="{ly - 4}" y2="{ly - 4}" stroke="{color}" '
                f'stroke-width="2"{dash if kind == "dash" else ""}/>')
        out.append(mark + f'<text x="{x + 16}" y="{ly}" fill="#495057">{escape(text)}</text>')
        x += 6.2 * len(text) + 34
    return out


def render_offset_svg(report: dict[str, Any], lang: str = "en") -> str:
    """The picture of a report's JSON form (SyncReport.to_dict) in `lang` (en, es)."""
    labels = LABELS.get(lang, LABELS["en"])
    pts = _points(report)
    segs = _segments(report)
    cuts = [(c[0], c[1]) for c in report.get("cuts") or []]
    inserts = [at for at in (_insert_at(report, i[0], i[1])
                             for i in report.get("inserts") or []) if at is not None]
    plot = _plot([p[0] for p in pts] + [v for s in segs for v in (s[0], s[2])]
                 + [v for c in cuts for v in c] + inserts,
                 [p[1] for p in pts] + [v for s in segs for v in (s[1], s[3])])
    pw, ph, sx, sy = plot.width, plot.height, plot.sx, plot.sy
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="100%" '
        f'role="img" aria-label="{escape(labels["title"])}" font-family="system-ui,sans-serif" '
        f'font-size="11">',
        f'<title>{escape(labels["title"])}</title>',
        f'<rect x="0" y="0" width="{W}" height="{H}" fill="#fff"/>',
    ]
    for c0, c1 in cuts:
        a, b = sx(c0), sx(c1)
        out.append(f'<rect class="cut" x="{a:.1f}" y="{TOP}" width="{max(2.0, b - a):.1f}" '
                   f'height="{ph}" fill="#dc3545" fill-opacity="0.15"/>')
    out += _grid(plot)
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
                   f'fill="#6c757d">{escape(labels["empty"])}</text>')
    out.append(f'<text x="{LEFT}" y="18" font-size="13" font-weight="600" fill="#212529">'
               f'{escape(labels["title"])}</text>')
    out.append(f'<text x="{LEFT + pw / 2}" y="{H - 8}" text-anchor="middle" fill="#495057">'
               f'{escape(labels["x"])}</text>')
    out.append(f'<text transform="translate(14 {TOP + ph / 2}) rotate(-90)" '
               f'text-anchor="middle" fill="#495057">{escape(labels["y"])}</text>')
    out += _legend(labels, pts, bool(segs), bool(cuts), bool(inserts))
    out.append("</svg>")
    return "\n".join(out)
