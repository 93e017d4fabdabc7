"""Charts for the digest and the final report: PNG bytes drawn with matplotlib's
Agg backend (no display, no pyplot state, safe from any thread) in a CJK font.

The font is Noto Sans CJK SC shipped by the `mplfonts` package, registered with
matplotlib's font manager; when it is missing any installed font that has the
Chinese glyphs will do. Townships appear in the consultation's own order — a
chart never ranks them.
"""

from __future__ import annotations

import io
import textwrap
from functools import lru_cache
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ft2font import FT2Font  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from surveys.i18n import DEFAULT_LOCALE, gettext  # noqa: E402
from surveys.questionnaire import SCALE_POINTS, UNSURE  # noqa: E402
from surveys.report import (  # noqa: E402
    DECISIONS,
    NO_DECISION,
    ConsultationData,
    active_comments,
    comments_by_decision,
    comments_by_kind,
    decision_label,
    kind_label,
    percent_text,
    question_results,
    township_progress,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PROBE = "镇乡街道满意"
_SYSTEM_HINTS = ("NotoSansCJK", "NotoSerifCJK", "SourceHan", "wqy", "WenQuanYi", "SimHei", "msyh", "PingFang",
                 "DroidSansFallback", "ukai", "uming", "AR PL")


def _has_cjk(path: Path) -> bool:
    try:
        font = FT2Font(str(path))
    except Exception:  # noqa: BLE001 - unreadable or unsupported font files are simply skipped
        return False
    return all(font.get_char_index(ord(ch)) != 0 for ch in _PROBE)


@lru_cache(maxsize=1)
def cjk_font_path() -> Path:
    """The CJK font charts are drawn in: mplfonts' Noto Sans CJK SC, else an installed
    font with the Chinese glyphs. FileNotFoundError when there is none."""
    try:
        import mplfonts

        bundled = Path(mplfonts.__file__).parent / "fonts" / "NotoSansCJKsc-Regular.otf"
        if bundled.is_file() and _has_cjk(bundled):
            return bundled
    except ImportError:
        pass
    candidates = sorted(font_manager.findSystemFonts(), key=lambda p: not any(h in p for h in _SYSTEM_HINTS))
    for path in candidates:
        if any(h.lower() in path.lower() for h in _SYSTEM_HINTS) and _has_cjk(Path(path)):
            return Path(path)
    for path in candidates:
        if _has_cjk(Path(path)):
            return Path(path)
    raise FileNotFoundError("no font with Chinese glyphs found (install mplfonts or a Noto CJK font)")


@lru_cache(maxsize=1)
def cjk_font_family() -> str:
    """The family name of `cjk_font_path()`, registered with matplotlib."""
    path = cjk_font_path()
    font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path)).get_name()


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", bbox_inches="tight")
    return out.getvalue()


def _rc() -> dict[str, object]:
    # text.parse_math off: a "$" in a township or item name is a character, not maths
    return {"font.family": [cjk_font_family()], "font.sans-serif": [cjk_font_family()],
            "axes.unicode_minus": False, "text.parse_math": False}


def _t(key: str, locale: str) -> str:
    return gettext(f"report.{key}", locale)


def completion_chart(data: ConsultationData, locale: str = DEFAULT_LOCALE) -> bytes:
    """Horizontal bars per township: questionnaires started and completed (the
    consultation's township order, top to bottom)."""
    progress = township_progress(data)
    with matplotlib.rc_context(_rc()):
        fig = _figure(8, max(2.5, 0.45 * len(progress) + 1.5))
        ax = fig.add_subplot()
        names = [p.township for p in progress][::-1]
        ys = range(len(names))
        started = [p.started for p in progress][::-1]
        completed = [p.completed for p in progress][::-1]
        ax.barh([y + 0.2 for y in ys], started, height=0.4, color="#9ecae1", label=_t("chart.started", locale))
        ax.barh([y - 0.2 for y in ys], completed, height=0.4, color="#3182bd",
                label=_t("chart.completed", locale))
        for y, (s, c) in enumerate(zip(started, completed, strict=True)):
            if s:
                ax.text(c, y - 0.2, f" {c}/{s} ({percent_text(c, s, 0)})", va="center", fontsize=8)
        ax.set_yticks(list(ys), names)
        ax.set_xlabel(_t("chart.people", locale))
        ax.set_title(_t("chart.completion.title", locale))
        ax.legend(loc="lower right")
        if not any(started):  # no townships, or nobody answered yet
            ax.text(0.5, 0.5, _t("chart.no-data", locale), ha="center", va="center", transform=ax.transAxes)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.margins(x=0.2)
        _from_zero(ax, "x", max(started, default=0))
        return _png(fig)


def _from_zero(ax: Any, axis: str, top: int) -> None:
    """Counts start at 0; with nothing counted yet the axis shows 0–1, not ±0.06."""
    if top == 0:
        (ax.set_xlim if axis == "x" else ax.set_ylim)(0, 1)


def comments_chart(data: ConsultationData, locale: str = DEFAULT_LOCALE) -> bytes:
    """Two panels: active comments by type, and by decision (unanswered included)."""
    active = active_comments(data)
    kinds = comments_by_kind(active)
    decisions = comments_by_decision(active)
    with matplotlib.rc_context(_rc()):
        fig = _figure(10, 4)
        left, right = fig.subplots(1, 2)
        labels = [kind_label(k, locale) for k in kinds]
        left.bar(range(len(labels)), list(kinds.values()), color="#6baed6")
        left.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        left.set_title(_t("chart.comments.by-kind", locale))
        left.set_ylabel(_t("chart.count", locale))
        keys = [*DECISIONS, NO_DECISION]
        colors = ["#31a354", "#a1d99b", "#de2d26", "#bdbdbd"]
        right.bar(range(len(keys)), [decisions[k] for k in keys], color=colors)
        # (wrapped: the English labels side by side ran into each other)
        right.set_xticks(range(len(keys)), [textwrap.fill(decision_label(k, locale), 10) for k in keys])
        right.set_title(_t("chart.comments.by-decision", locale))
        for ax, values in ((left, list(kinds.values())), (right, [decisions[k] for k in keys])):
            for x, v in enumerate(values):
                ax.text(x, v, str(v), ha="center", va="bottom", fontsize=8)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            _from_zero(ax, "y", max(values, default=0))
            if not any(values):
                ax.text(0.5, 0.6, _t("chart.no-data", locale), ha="center", va="center", transform=ax.transAxes)
        return _png(fig)


def scale_chart(data: ConsultationData, question_id: str, locale: str = DEFAULT_LOCALE) -> bytes:
    """The distribution of one scale question: points 1–5 and 不清楚."""
    result = next((r for r in question_results(data) if r.question.id == question_id), None)
    if result is None or result.question.type != "scale":
        raise ValueError(f"not a scale question: {question_id}")
    q = result.question
    labels = []
    for p in SCALE_POINTS:
        label = q.label(p)
        labels.append(f"{p}\n{textwrap.fill(label.get(locale), 12)}" if label else str(p))  # (English ran together)
    values = [result.counts[p] for p in SCALE_POINTS]
    if q.allow_unsure or result.counts[UNSURE]:
        labels.append(_t("chart.scale.unsure", locale))
        values.append(result.counts[UNSURE])
    with matplotlib.rc_context(_rc()):
        fig = _figure(7, 3.8)
        ax = fig.add_subplot()
        ax.bar(range(len(values)), values, color=["#de2d26", "#fc9272", "#fee0d2", "#a1d99b", "#31a354",
                                                   "#bdbdbd"][: len(values)])
        ax.set_xticks(range(len(labels)), labels)
        ax.set_ylabel(_t("chart.people", locale))
        ax.set_title(q.text.get(locale), fontsize=10, wrap=True)
        for x, v in enumerate(values):
            ax.text(x, v, str(v), ha="center", va="bottom", fontsize=8)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        _from_zero(ax, "y", max(values, default=0))
        return _png(fig)
