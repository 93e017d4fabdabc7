"""Charts are PNGs drawn in a font that has the Chinese glyphs: no label turns into
empty boxes."""

from __future__ import annotations

import io
import warnings

import pytest
from matplotlib.ft2font import FT2Font

from surveys.charts import (
    PNG_SIGNATURE,
    cjk_font_family,
    cjk_font_path,
    comments_chart,
    completion_chart,
    scale_chart,
)
from surveys.report import ConsultationData, ConsultationInfo
from tests.surveys.test_report import T0, make_data


@pytest.fixture
def data() -> ConsultationData:
    return make_data()


def test_the_font_used_has_chinese_glyphs() -> None:
    path = cjk_font_path()
    font = FT2Font(str(path))
    for ch in "镇乡街道满意采纳":
        assert font.get_char_index(ord(ch)) != 0, ch
    assert cjk_font_family()


def _no_missing_glyphs(draw) -> bytes:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = draw()
    missing = [str(w.message) for w in caught if "missing from" in str(w.message)]
    assert not missing, missing
    return png


def test_completion_chart_is_a_png_without_missing_glyphs(data: ConsultationData) -> None:
    png = _no_missing_glyphs(lambda: completion_chart(data))
    assert png.startswith(PNG_SIGNATURE)
    assert len(png) > 5000


def test_comments_chart_is_a_png_without_missing_glyphs(data: ConsultationData) -> None:
    png = _no_missing_glyphs(lambda: comments_chart(data))
    assert png.startswith(PNG_SIGNATURE)
    assert _no_missing_glyphs(lambda: comments_chart(data, "en")).startswith(PNG_SIGNATURE)


def test_scale_chart(data: ConsultationData) -> None:
    png = _no_missing_glyphs(lambda: scale_chart(data, "sat"))
    assert png.startswith(PNG_SIGNATURE)
    with pytest.raises(ValueError):
        scale_chart(data, "aware")


def test_charts_of_an_empty_consultation() -> None:
    empty = ConsultationData(ConsultationInfo(1, "空", "draft", None, T0), [], [], None, [], [], [])
    for draw in (completion_chart, comments_chart):
        assert _no_missing_glyphs(lambda d=draw: d(empty)).startswith(PNG_SIGNATURE)


def test_a_missing_glyph_would_be_noticed() -> None:
    """The check above can fail: DejaVu Sans has no 镇, and matplotlib says so."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"font.family": ["DejaVu Sans"]}), \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = Figure()
        FigureCanvasAgg(fig)
        fig.add_subplot().set_title("青山镇")
        fig.savefig(io.BytesIO(), format="png")
    assert any("missing from" in str(w.message) for w in caught)


def test_charts_with_nothing_counted_yet_show_no_data_on_an_axis_from_zero(monkeypatch, data) -> None:
    from dataclasses import replace

    import surveys.charts as charts
    from surveys.report import TownshipRef

    figures = []
    monkeypatch.setattr(charts, "_png", lambda fig: figures.append(fig) or b"")
    nobody = replace(data, responses=[], comments=[], summary=None,
                     townships=[TownshipRef(1, "A$镇$B", 1), TownshipRef(2, "绿水乡", 2)])
    completion_chart(nobody)
    comments_chart(nobody)
    completion, comments = figures
    ax = completion.axes[0]
    assert ax.get_xlim() == (0, 1)
    assert any(t.get_text() == "暂无数据" for t in ax.texts)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["绿水乡", "A$镇$B"]
    assert all(a.get_ylim() == (0, 1) for a in comments.axes)
    monkeypatch.undo()
    png = _no_missing_glyphs(lambda: completion_chart(nobody))  # "$…$" drawn as characters, not maths
    assert png.startswith(PNG_SIGNATURE)


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_the_decision_labels_do_not_run_into_each_other(monkeypatch, data, locale) -> None:
    # in English "Partly adopted", "Not adopted" and "Not yet answered" (now "Unanswered") overlapped, unrotated
    import surveys.charts as charts

    figures = []
    monkeypatch.setattr(charts, "_png", lambda fig: figures.append(fig) or b"")
    with charts.matplotlib.rc_context(charts._rc()):
        comments_chart(data, locale)
        [fig] = figures
        renderer = fig.canvas.get_renderer()
        decisions = fig.axes[1]
        boxes = [t.get_window_extent(renderer) for t in decisions.get_xticklabels()]
        assert len(boxes) == 4
        for a, b in zip(boxes, boxes[1:], strict=False):
            assert a.x1 < b.x0, [t.get_text() for t in decisions.get_xticklabels()]


def test_the_scale_labels_of_the_default_questionnaire_do_not_run_into_each_other(monkeypatch, data) -> None:
    # in English "1 Very dissatisfied" ran into "2 Dissatisfied"
    from dataclasses import replace

    import surveys.charts as charts
    from surveys.questionnaire import DEFAULT_QUESTIONNAIRE_PATH, load_questionnaire
    from tests.surveys.test_report import response

    q, _ = load_questionnaire(DEFAULT_QUESTIONNAIRE_PATH.read_text(encoding="utf-8"))
    rated = replace(data, questionnaire=q, summary=None,
                    responses=[response(n, "青山镇", T0, T0, sat_welfare=n % 5 + 1) for n in range(1, 11)])
    figures = []
    monkeypatch.setattr(charts, "_png", lambda fig: figures.append(fig) or b"")
    with charts.matplotlib.rc_context(charts._rc()):
        for locale in ("zh_CN", "en"):
            scale_chart(rated, "sat_welfare", locale)
            ax = figures[-1].axes[0]
            renderer = figures[-1].canvas.get_renderer()
            boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels()]
            assert len(boxes) == 6
            for a, b in zip(boxes, boxes[1:], strict=False):
                assert a.x1 < b.x0, (locale, [t.get_text() for t in ax.get_xticklabels()])


def test_completion_chart_rounds_its_rates_half_up(data: ConsultationData, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rates to one decimal, rounded half up, as the digest, workbook and /stats say them: 3 of 7
    was labelled 43% where they said 42.9%, and 1 of 16 6% (6.25 → 6.3, not half-even 6.2)."""
    from dataclasses import replace

    import surveys.charts as charts
    from tests.surveys.test_report import response

    labels: list[str] = []

    def texts_of(fig) -> bytes:
        labels.extend(t.get_text() for ax in fig.axes for t in ax.texts)
        return b""

    monkeypatch.setattr(charts, "_png", texts_of)
    from surveys.report import TownshipProgress, digest, township_progress

    seven = [response(300 + n, "青山镇", T0, T0 if n < 3 else None) for n in range(7)]
    sixteen = [response(400 + n, "绿水镇", T0, T0 if n == 0 else None) for n in range(16)]
    seven_data = replace(data, responses=seven + sixteen, summary=None)
    assert township_progress(seven_data)[:2] == [TownshipProgress("青山镇", 7, 3), TownshipProgress("绿水镇", 16, 1)]
    completion_chart(seven_data)
    assert " 3/7 (42.9%)" in labels and " 1/16 (6.3%)" in labels
    said = digest(seven_data, None, T0).text("zh_CN")
    assert "42.9%" in said and "6.3%" in said  # (the digest says the same)


def _png_size(png: bytes) -> tuple[int, int]:
    import struct

    assert png.startswith(PNG_SIGNATURE)
    return struct.unpack(">II", png[16:24])  # (the IHDR chunk: width, height)


def within_telegram_photo_limits(png: bytes) -> bool:
    """What Telegram takes as a photo: at most 10 MB, width + height at most 10,000 px, and
    neither side more than 20 times the other."""
    width, height = _png_size(png)
    return len(png) <= 10_000_000 and width + height <= 10_000 and max(width, height) <= 20 * min(width, height)


@pytest.mark.parametrize("n", [3, 41, 300, 1000])
def test_the_completion_chart_of_many_townships_stays_a_photo_telegram_takes(data: ConsultationData, n) -> None:
    """One column of bars grew 50 px a township: past ~180 townships the digest's chart was too
    tall for Telegram (width + height over 10,000). Many townships go in columns side by side."""
    from dataclasses import replace

    from surveys.report import ResponseRecord, TownshipRef

    townships = [TownshipRef(i, f"第{i:04d}号示范街道办事处", i) for i in range(n)]
    responses = [ResponseRecord(f"p{i}", townships[i % n].name, T0, T0 if i % 3 else None) for i in range(2 * n)]
    png = completion_chart(replace(data, townships=townships, responses=responses, summary=None))
    assert within_telegram_photo_limits(png), (n, _png_size(png), len(png))


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_completion_charts_legend_covers_no_townships_figures(data: ConsultationData, locale: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The legend sat inside the axes at the lower right, over the "1/1 (100%)" of a township
    whose bars reach the right edge (a single township, or the best one): it covers no label."""
    import surveys.charts as charts
    from surveys.report import TownshipProgress

    drawn = []
    monkeypatch.setattr(charts, "_png", lambda fig: drawn.append(fig) or b"")
    shapes = ([TownshipProgress("青山镇", 1, 1)], [TownshipProgress("青山镇", 5, 2), TownshipProgress("绿水镇", 9, 9)],
              [TownshipProgress(f"镇{n}", 12, 12 - n) for n in range(6)])
    for progress in shapes:
        monkeypatch.setattr(charts, "township_progress", lambda _data, progress=progress: progress)
        charts.completion_chart(data, locale)
        fig = drawn.pop()
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        ax = fig.axes[0]
        legend = ax.get_legend().get_window_extent(renderer)
        labels = [t.get_window_extent(renderer) for t in ax.texts if "/" in t.get_text()]
        assert labels and not any(legend.overlaps(label) for label in labels), locale
        assert not legend.overlaps(ax.xaxis.label.get_window_extent(renderer))  # nor the axis's name


@pytest.mark.parametrize("n", [1, 8, 60, 100])
def test_completion_charts_figures_stay_inside_their_axes(data: ConsultationData, n: int,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """With a county's numbers ("1500/1500 (100.0%)", rates to one decimal as the digest says them)
    the figure beside a full bar ran over the axes' right edge, across the frame (and, in columns,
    towards the next column's names)."""
    import surveys.charts as charts
    from surveys.report import TownshipProgress

    progress = [TownshipProgress(f"第{i:03d}号示范街道办事处", 1500, 1500 if i % 3 == 0 else 1234) for i in range(n)]
    monkeypatch.setattr(charts, "township_progress", lambda _data: progress)
    drawn = []
    monkeypatch.setattr(charts, "_png", lambda fig: drawn.append(fig) or b"")
    for locale in ("zh_CN", "en"):
        charts.completion_chart(data, locale)
        fig = drawn.pop()
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        for ax in fig.axes:
            right = ax.get_window_extent(renderer).x1
            over = [t.get_text() for t in ax.texts if t.get_window_extent(renderer).x1 > right]
            assert not over, (n, locale, over[:3])


def test_a_scale_question_nobody_answered_says_so_on_its_chart(monkeypatch, data) -> None:
    """The scale chart of a question nobody answered (yet) showed six bars of 0 and nothing
    else, where the completion and comments charts say 暂无数据."""
    from dataclasses import replace

    import surveys.charts as charts

    figures = []
    monkeypatch.setattr(charts, "_png", lambda fig: figures.append(fig) or b"")
    scale_chart(replace(data, responses=[], summary=None), "sat")
    scale_chart(replace(data, responses=[], summary=None), "sat", "en")
    scale_chart(data, "sat")
    nobody, nobody_en, some = figures
    assert any(t.get_text() == "暂无数据" for t in nobody.axes[0].texts)
    assert any(t.get_text() == "No data yet" for t in nobody_en.axes[0].texts)
    assert nobody.axes[0].get_ylim() == (0, 1)
    assert not any(t.get_text() == "暂无数据" for t in some.axes[0].texts)


def test_a_township_nobody_answered_in_yet_is_labelled_0_of_0_on_the_completion_chart(monkeypatch, data) -> None:
    """白云乡 (nobody started) had a row with no bar and no figure, as if left out; the digest
    says "完成 0/0". It is labelled " 0/0" — unless nobody anywhere answered (then 暂无数据)."""
    from dataclasses import replace

    import surveys.charts as charts

    labels: list[list[str]] = []
    monkeypatch.setattr(charts, "_png", lambda fig: labels.append([t.get_text() for t in fig.axes[0].texts]) or b"")
    completion_chart(data)
    completion_chart(replace(data, responses=[], summary=None))
    some, nobody = labels
    assert some == [" 0/0", " 1/2 (50.0%)", " 2/3 (66.7%)"]  # (bottom to top: 白云乡, 绿水镇, 青山镇)
    assert nobody == ["暂无数据"]


@pytest.mark.parametrize("n", [26, 27, 40])
def test_a_completion_chart_of_a_county_is_shown_by_telegram_at_its_own_size(data: ConsultationData, n: int) -> None:
    """A column of 30–40 townships' bars was 1,400–1,700 px tall: Telegram showed it at 1,280 px,
    the figures 9 px high. Up to ONE_COLUMN_MAX (26) townships, long names too, a bar pair each
    within 1,280 px; more are counted in bands (a picture of its own size as well)."""
    from dataclasses import replace

    from surveys.charts import ONE_COLUMN_MAX
    from surveys.report import ResponseRecord, TownshipRef

    townships = [TownshipRef(i, f"第{i:04d}号示范街道办事处", i) for i in range(n)]
    responses = [ResponseRecord(f"p{i}", townships[i].name, T0, T0) for i in range(n)]
    county = replace(data, townships=townships, responses=responses, summary=None)
    width, height = _png_size(completion_chart(county))
    assert max(width, height) <= 1280, (n, width, height)
    assert (n <= ONE_COLUMN_MAX) == (height > 1000)  # (a column of bars, or the bands' 4.6 in)


@pytest.mark.parametrize("n", [41, 300, 1000])
def test_the_completion_chart_of_hundreds_of_townships_is_readable_without_zooming(
        data: ConsultationData, n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hundreds of townships were drawn as bars in columns side by side, a picture of thousands of
    pixels that Telegram shows at 1,280 px: names and figures a few pixels high, readable only by
    zooming. Past ONE_COLUMN_MAX townships the chart counts the townships in bands of completion
    rate (no township named, so none ranked), with the county's totals and a pointer to the 概况
    sheet, where each township's figures are — a picture Telegram shows at its own size."""
    from dataclasses import replace

    import surveys.charts as charts
    from surveys.report import ResponseRecord, TownshipRef

    townships = [TownshipRef(i, f"第{i:04d}号示范街道办事处", i) for i in range(n)]
    # township i: i % 6 started, of whom i % 6 // 2 completed (none started in every sixth)
    responses = [ResponseRecord(f"p{i}-{k}", townships[i].name, T0, T0 if k < i % 6 // 2 else None)
                 for i in range(n) for k in range(i % 6)]
    many = replace(data, townships=townships, responses=responses, summary=None)
    png = completion_chart(many)
    width, height = _png_size(png)
    assert width <= 1280 and height <= 1280, (width, height)
    drawn = []
    monkeypatch.setattr(charts, "_png", lambda fig: drawn.append(fig) or b"")
    charts.completion_chart(many)
    fig = drawn.pop()
    texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    assert not [t for t in texts if "示范街道办事处" in t]
    ax = fig.axes[0]
    bands = dict(zip([t.get_text() for t in ax.get_yticklabels()], [p.get_width() for p in ax.patches], strict=True))
    nobody = sum(1 for i in range(n) if i % 6 == 0)
    assert bands["尚无人答卷"] == nobody and sum(bands.values()) == n
    # 1 started: 0 done (0%); 2: 1 (50%); 3: 1 (33.3%); 4: 2 (50%); 5: 2 (40%)
    assert bands["0–19.9%"] == sum(1 for i in range(n) if i % 6 == 1)
    assert bands["40–59.9%"] == sum(1 for i in range(n) if i % 6 in (2, 4, 5))
    assert bands["80–100%"] == 0
    started = sum(i % 6 for i in range(n))
    assert any(f"开始答卷 {started} 人" in t and "“概况”" in t for t in texts)
    assert any(f"共 {n} 个" in t for t in texts)
    charts.completion_chart(many, "en")
    english = [t.get_text() for t in drawn.pop().findobj(lambda a: hasattr(a, "get_text"))]
    assert any("“Summary”" in t for t in english) and "Nobody started yet" in english


def test_charts_with_nothing_to_show_are_told_apart_from_those_with_data(data) -> None:
    """A consultation nobody answered got a completion chart, a comments chart and a chart per
    scale question, each a picture saying 暂无数据: whether a chart has something to show is now
    asked first (bot.scheduler leaves the empty ones unsent)."""
    from dataclasses import replace

    from surveys.charts import comments_charted, completion_charted, scale_charted

    nobody = replace(data, responses=[], comments=[], summary=None)
    assert not completion_charted(nobody) and not comments_charted(nobody) and not scale_charted(nobody, "sat")
    assert completion_charted(data) and comments_charted(data) and scale_charted(data, "sat")
    assert not scale_charted(data, "no-such-question")
