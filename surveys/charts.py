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


# Telegram takes a photo of at most 10 MB whose width + height is at most 10,000 px, and no
# more than 20 times longer than wide. One column of bars grows 0.45 in (50 px) a township:
# past ~180 townships the chart was refused. More than ONE_COLUMN_MAX townships are counted in
# bands of completion rate instead (`_bands_chart`), and the resolution is lowered where needed
# so the picture stays within PHOTO_MAX_SIDES.
PHOTO_MAX_SIDES = 9000  # px, width + height (Telegram's 10,000 less the tight bounding box's slack)
# Telegram shows a photo at most 1,280 px on its long side: a column of 40 townships (1,789 px
# with the tight bounding box) was shown at 72 %, the 8-pt figures 9 px high, the names 11 px —
# unreadable. Measured: 26 townships make 1,255 px (27: 1,293), so up to 26 the chart is shown
# at its own size (figures 12 px, names 15 px); more are counted in bands.
ONE_COLUMN_MAX = 26  # townships drawn one bar pair each
_ROW = 0.45  # in, per township
_DPI = 110


_LABEL_SIZE = 8  # pt, the "completed/started (rate)" beside each township's bars


def _figure_label(completed: int, started: int) -> str:
    return f" {completed}/{started} ({percent_text(completed, started)})" if started else " 0/0"


def _room_for_figures(fig: Figure, progress: list[Any], top: int) -> float:
    """The right end of the count axis: far enough past the longest bar (`top`) for the widest
    "completed/started (rate)" to end inside the axes — a county's "1500/1500 (100.0%)" ran over
    the frame with a fixed 20–35 % margin."""
    if not top:
        return 1.0
    from matplotlib.font_manager import FontProperties

    renderer = fig.canvas.get_renderer()  # (text sizes only: nothing is drawn)

    def inches(text: str, size: float | str) -> float:
        width, _, _ = renderer.get_text_width_height_descent(text, FontProperties(size=size), ismath=False)
        return float(width) / fig.dpi

    label = max((inches(_figure_label(p.completed, p.started), _LABEL_SIZE) for p in progress), default=0.0)
    # (the names are outside the figure's subplot box; the tight bounding box takes them in)
    axis = fig.get_figwidth() * (fig.subplotpars.right - fig.subplotpars.left)
    share = min(0.75, (label + 0.1) / max(axis, 0.5))  # of the axis the label needs past the bar
    return max(top * 1.2, top / (1 - share))


# The completion rate bands a chart of many townships counts them in (lower bound in %, the rate
# rounded half up to one decimal as everywhere): townships counted, never named, so none ranked.
RATE_BANDS = (0, 20, 40, 60, 80)


def _band_label(k: int) -> str:
    low = RATE_BANDS[k]
    return f"{low}–100%" if k == len(RATE_BANDS) - 1 else f"{low}–{RATE_BANDS[k + 1] - 0.1:g}%"


def _bands_chart(data: ConsultationData, progress: list[Any], locale: str) -> bytes:
    """More townships than ONE_COLUMN_MAX: how many townships are in each band of completion rate
    (and how many nobody started in), with the county's totals and where each township's figures
    are (the workbook's 概况 sheet) — a picture read at the size Telegram shows it (1,280 px), where
    hundreds of bars needed zooming."""
    from surveys.report import half_up

    counts = [0] * (len(RATE_BANDS) + 1)  # nobody started, then the bands
    for p in progress:
        if not p.started:
            counts[0] += 1
            continue
        rate = half_up(100 * p.completed / p.started, 1)
        counts[1 + max(k for k, low in enumerate(RATE_BANDS) if rate >= low)] += 1
    labels = [_t("chart.bands.nobody", locale), *(_band_label(k) for k in range(len(RATE_BANDS)))]
    started = sum(p.started for p in progress)
    completed = sum(p.completed for p in progress)
    with matplotlib.rc_context(_rc()):
        fig = _figure(8, 4.6)
        ax = fig.add_subplot()
        ys = list(range(len(labels)))[::-1]  # (nobody started on top, then the bands upwards in rate)
        ax.barh(ys, counts, height=0.6, color=["#bdbdbd", *["#3182bd"] * len(RATE_BANDS)])
        ax.set_yticks(ys, labels)
        for y, n in zip(ys, counts, strict=True):
            ax.text(n, y, f" {n}", va="center", fontsize=9)
        ax.set_xlim(0, max(counts) * 1.15 or 1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(gettext("report.chart.bands.townships", locale))
        ax.set_ylabel(gettext("report.chart.bands.rate", locale))
        ax.set_title(gettext("report.chart.bands.title", locale, n=len(progress)))
        fig.text(0.5, -0.02, textwrap.fill(gettext(
            "report.chart.bands.totals", locale, started=started, completed=completed,
            rate=percent_text(completed, started) if started else "—",
            sheet=gettext("report.sheet.summary", locale)), 60 if locale != "en" else 110),
            ha="center", va="top", fontsize=9)
        return _png(fig)


def completion_chart(data: ConsultationData, locale: str = DEFAULT_LOCALE) -> bytes:
    """Horizontal bars per township: questionnaires started and completed (the
    consultation's township order, top to bottom); more than ONE_COLUMN_MAX townships are
    counted in bands of completion rate instead (`_bands_chart`)."""
    progress = township_progress(data)
    if len(progress) > ONE_COLUMN_MAX:
        return _bands_chart(data, progress, locale)
    rows = max(1, len(progress))
    width, height = 8, max(2.5, _ROW * rows + 1.5)
    dpi = min(_DPI, int(PHOTO_MAX_SIDES / (width + height)))
    top = max((p.started for p in progress), default=0)
    with matplotlib.rc_context(_rc()):
        fig = Figure(figsize=(width, height), dpi=dpi)
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        right = _room_for_figures(fig, progress, top)
        names = [p.township for p in progress][::-1]
        ys = range(rows - len(progress), rows)
        started = [p.started for p in progress][::-1]
        completed = [p.completed for p in progress][::-1]
        ax.barh([y + 0.2 for y in ys], started, height=0.4, color="#9ecae1", label=_t("chart.started", locale))
        ax.barh([y - 0.2 for y in ys], completed, height=0.4, color="#3182bd", label=_t("chart.completed", locale))
        for y, s, c in zip(ys, started, completed, strict=True):
            # the rate to one decimal, rounded half up, as the digest, workbook and /stats say it
            # (whole percents read 43% where they said 42.9%); nobody there yet: "0/0", as the
            # digest says it (a township without bars or figures read as one left out of the count)
            if s or top:  # (nobody anywhere: the chart says 暂无数据 instead)
                ax.text(c, y - 0.2, _figure_label(c, s), va="center", fontsize=_LABEL_SIZE)
        ax.set_yticks(list(ys), names)
        ax.set_ylim(-0.6, rows - 0.4)
        ax.set_xlabel(_t("chart.people", locale))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0, right)
        _from_zero(ax, "x", top)
        ax.set_title(_t("chart.completion.title", locale))
        # below the axes: inside, it covered the "c/s (rate)" label of a township whose bars reach the right
        from matplotlib.transforms import offset_copy

        below = offset_copy(ax.transAxes, fig=fig, y=-36, units="points")  # under the axis label
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0), bbox_transform=below, ncol=2, frameon=False)
        if not top:  # no townships, or nobody answered yet
            ax.text(0.5, 0.5, _t("chart.no-data", locale), ha="center", va="center", transform=ax.transAxes)
        return _png(fig)


def completion_charted(data: ConsultationData) -> bool:
    """Whether the completion chart has something to show: somebody started a questionnaire
    (nobody anywhere: a picture of empty bars saying 暂无数据, left unsent)."""
    return any(p.started for p in township_progress(data))


def comments_charted(data: ConsultationData) -> bool:
    """Whether the comments chart has something to show: an active comment."""
    return bool(active_comments(data))


def scale_charted(data: ConsultationData, question_id: str) -> bool:
    """Whether scale question `question_id`'s chart has something to show: somebody answered it."""
    result = next((r for r in question_results(data) if r.question.id == question_id), None)
    return result is not None and any(result.counts[p] for p in (*SCALE_POINTS, UNSURE))


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
        if not any(values):  # nobody answered it (yet): said, as the other charts say it
            ax.text(0.5, 0.6, _t("chart.no-data", locale), ha="center", va="center", transform=ax.transAxes)
        return _png(fig)
