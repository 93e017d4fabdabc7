"""The results workbook, the digest and the feedback report hold exactly the numbers
of a small consultation whose answers and comments are known."""

from __future__ import annotations

import base64
import hmac
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
import pytest

from surveys.questionnaire import Questionnaire, load_questionnaire
from surveys.report import (
    XML_CHUNK,
    CommentRecord,
    ConsultationData,
    ConsultationInfo,
    OffListRecord,
    Pseudonyms,
    ReportItem,
    ResponseRecord,
    TownshipRef,
    build_workbook,
    chinese_number,
    days_left,
    digest,
    feedback_report,
    headline_figures,
    pseudonym,
)

QUESTIONNAIRE = """\
id: t
title: 测试问卷
intro: 测试
questions:
  - id: aware
    type: single
    text: {zh_CN: 您知道吗？, en: "Do you know?"}
    options:
      - {id: "yes", text: {zh_CN: 知道, en: "Yes"}}
      - {id: "no", text: {zh_CN: 不知道, en: "No"}}
  - id: sat
    type: scale
    text: 您满意吗？
    labels: {1: 很不满意, 5: 很满意}
    allow_unsure: true
  - id: needs
    type: multi
    text: 最需要什么？
    options:
      - {id: a, text: 养老}
      - {id: b, text: 就医}
      - {id: c, text: 就业}
  - id: age
    type: number
    required: false
    text: 年龄
  - id: rate
    type: item_rating
    text: 给事项打分
    allow_unsure: true
  - id: pick
    type: item_pick
    text: 选最重要的
  - id: say
    type: text
    required: false
    text: 其他建议
"""

T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai
SINCE = T0 + timedelta(days=2)
NOW = T0 + timedelta(days=3)
KEY = "test-key"


def questionnaire() -> Questionnaire:
    q, problems = load_questionnaire(QUESTIONNAIRE)
    assert q is not None, problems
    return q


def response(pid: int, township: str, started: datetime, completed: datetime | None, **answers: Any) -> ResponseRecord:
    return ResponseRecord(pseudonym(KEY, pid), township, started, completed, answers)


def comment(cid: int, township: str, item: ReportItem | None, kind: str, text: str, *, decision: str | None = None,
            reply: str = "", status: str = "open", hidden: bool = False, created: datetime = T0,
            missing: dict | None = None, proposed: str = "") -> CommentRecord:
    return CommentRecord(
        id=cid, pseudonym=pseudonym(KEY, 900 + cid), township=township, item_id=item.id if item else None,
        item_name=item.name if item else "", part=item.part if item else "", kind=kind, text=text,
        proposed_wording=proposed, missing=missing or {}, status=status, decision=decision, reply=reply,
        replied_at=created + timedelta(hours=5) if decision else None, created_at=created, hidden=hidden,
    )


# Two townships with the same draft: items 1–3 in 青山镇's list, 11–13 in 绿水镇's.
ITEMS = [
    ReportItem(1, "basic", "民生服务", "最低生活保障申请受理", "青山镇"),
    ReportItem(2, "basic", "平安法治", "矛盾纠纷排查化解", "青山镇"),
    ReportItem(3, "cooperating", "城乡建设", "违法建设整治", "青山镇"),
    ReportItem(11, "basic", "民生服务", "最低生活保障申请受理", "绿水镇"),
    ReportItem(12, "basic", "平安法治", "矛盾纠纷排查化解", "绿水镇"),
    ReportItem(13, "cooperating", "城乡建设", "违法建设整治", "绿水镇"),
]
BY_ID = {i.id: i for i in ITEMS}


def make_data() -> ConsultationData:
    responses = [
        response(1, "青山镇", T0, T0 + timedelta(hours=1), aware="yes", sat=5, needs=["a", "b"], age=30,
                 rate={"1": 4, "2": 5}, pick=[1], say="多办实事"),
        response(2, "青山镇", T0, T0 + timedelta(hours=1), aware="no", sat=4, needs=["a"], age=50,
                 rate={"1": 2, "2": "unsure"}, pick=[1, 2], say=None),
        response(3, "青山镇", SINCE + timedelta(hours=1), None, aware="yes", sat="unsure"),
        response(4, "绿水镇", T0, SINCE + timedelta(hours=2), aware="yes", sat=1, needs=["c"], age=None,
                 rate={"11": 5, "12": 3}, pick=[12], say="=cmd|' /C calc'!A0"),
        response(5, "绿水镇", SINCE + timedelta(minutes=5), None, aware="no"),
    ]
    comments = [
        comment(1, "青山镇", BY_ID[1], "basis", "依据应补充《社会救助暂行办法》", decision="adopted", reply="已补充"),
        comment(2, "绿水镇", BY_ID[11], "wording", "表述不清", decision="partly", reply="部分修改",
                created=SINCE + timedelta(hours=3), proposed="最低生活保障的申请受理和调查审核"),
        comment(3, "绿水镇", BY_ID[13], "to_basic", "应为基本履职事项", decision="rejected", reply="保持配合事项"),
        comment(4, "青山镇", BY_ID[2], "withdraw", "人手不足", created=SINCE + timedelta(hours=4)),
        comment(5, "青山镇", BY_ID[1], "wording", "隐藏的意见", hidden=True),
        comment(6, "青山镇", BY_ID[3], "other", "已撤回的意见", status="withdrawn"),
        comment(7, "绿水镇", None, "missing", "我们实际承担河道巡查", missing={"name": "河道日常巡查", "part": "basic",
                                                                   "basis": "《河长制》"},
                created=SINCE + timedelta(hours=1)),
    ]
    offlist = [
        OffListRecord(pseudonym(KEY, 950), "青山镇", "县住建局", "自建房安全排查", "2026-11-01", "document",
                      "要求三天内完成", T0),
        OffListRecord(pseudonym(KEY, 951), "绿水镇", "县住建局", "燃气安全检查", "2026-11-02", "meeting",
                      "", SINCE + timedelta(hours=6)),
    ]
    return ConsultationData(
        consultation=ConsultationInfo(7, "青山县乡镇履职事项清单（征求意见稿）", "open", T0,
                                      datetime(2026, 11, 30, 10, 0, tzinfo=UTC), "Asia/Shanghai"),
        townships=[TownshipRef(1, "青山镇", 10), TownshipRef(2, "绿水镇", 20), TownshipRef(3, "白云乡", 30)],
        items=ITEMS,
        questionnaire=questionnaire(),
        responses=responses,
        comments=comments,
        offlist=offlist,
    )


@pytest.fixture
def data() -> ConsultationData:
    return make_data()


def sheets(data: ConsultationData, locale: str = "zh_CN") -> dict[str, list[tuple]]:
    wb = openpyxl.load_workbook(io.BytesIO(build_workbook(data, locale)))
    return {ws.title: [tuple(c for c in row) for row in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


def rows_for(rows: list[tuple], first: Any) -> list[tuple]:
    return [r for r in rows if r and r[0] == first]


# --- pseudonyms ----------------------------------------------------------------------


def test_pseudonym_is_stable_short_keyed_and_never_the_raw_id() -> None:
    a = pseudonym("k1", 123456789)
    assert a == pseudonym("k1", 123456789)
    assert a.startswith("R-") and len(a) == 12
    assert "123456789" not in a
    assert a != pseudonym("k2", 123456789)
    assert a != pseudonym("k1", 123456788)
    assert a == "R-ABNZ3NFQSH"  # as every earlier version computed it: reports stay comparable


def test_pseudonyms_of_many_people_are_each_ones_keyed_hash() -> None:
    many = Pseudonyms("k1")
    ids = [1, 123456789, 7_000_000_000, *range(10_000, 10_300)]
    expected = ["R-" + base64.b32encode(hmac.digest(b"k1", str(i).encode(), "sha256"))[:10].decode() for i in ids]
    assert [many(i) for i in ids] == expected
    assert [many(i) for i in reversed(ids)] == expected[::-1]  # the same again, from its memory


def test_workbook_never_shows_a_telegram_id(data: ConsultationData) -> None:
    cells = [str(c) for rows in sheets(data).values() for r in rows for c in r if c is not None]
    assert pseudonym(KEY, 1) in cells and pseudonym(KEY, 901) in cells and pseudonym(KEY, 950) in cells
    # comment ids (1–7) appear, but no person id does
    assert not any(c in ("901", "902", "950", "951") for c in cells)


# --- the workbook --------------------------------------------------------------------


def test_workbook_has_the_sheets_in_order(data: ConsultationData) -> None:
    assert list(sheets(data)) == ["概况", "问卷结果", "事项评分", "文字意见", "意见", "遗漏事项", "清单外事项"]
    assert list(sheets(data, "en"))[0] == "Summary"


def test_summary_counts_respondents_per_township_in_list_order_and_comments(data: ConsultationData) -> None:
    rows = sheets(data)["概况"]
    assert rows[0] == ("征询名称", "青山县乡镇履职事项清单（征求意见稿）", None, None, None, None)
    assert rows[2][1] == datetime(2026, 11, 20, 9, 0) and rows[3][1] == datetime(2026, 11, 30, 18, 0)
    header = rows.index(("乡镇（街道）", "开始答卷人数", "完成答卷人数", "完成率", None, None))
    assert rows[header + 1][:3] == ("青山镇", 3, 2)
    assert rows[header + 1][3] == pytest.approx(2 / 3)
    assert rows[header + 2] == ("绿水镇", 2, 1, 0.5, None, None)
    assert rows[header + 3] == ("白云乡", 0, 0, None, None, None)
    assert rows[header + 4][:3] == ("合计", 5, 3)
    kinds = rows.index(("意见类型", "条数", None, None, None, None))
    # active comments only: hidden (5) and withdrawn (6) are left out
    assert rows[kinds + 1: kinds + 7] == [
        ("应调整为基本履职事项", 1, None, None, None, None), ("建议收回", 1, None, None, None, None), ("依据缺失或有误", 1, None, None, None, None),
        ("表述不清", 1, None, None, None, None), ("遗漏事项", 1, None, None, None, None), ("合计", 5, None, None, None, None)]
    decisions = rows.index(("处理结果", "条数", None, None, None, None))
    assert rows[decisions + 1: decisions + 5] == [("采纳", 1, None, None, None, None), ("部分采纳", 1, None, None, None, None),
                                                  ("不采纳", 1, None, None, None, None), ("尚未答复", 2, None, None, None, None)]
    assert ("遗漏事项建议（条）", 1, None, None, None, None) in rows
    assert ("清单外事项报告（条）", 2, None, None, None, None) in rows


def test_question_results_count_options_scale_and_numbers(data: ConsultationData) -> None:
    rows = sheets(data)["问卷结果"]
    aware = rows_for(rows, "aware")
    assert [r[3:6] for r in aware] == [("回答人数", 5, None), ("知道", 3, 0.6), ("不知道", 2, 0.4)]
    sat = rows_for(rows, "sat")
    assert [r[3:5] for r in sat] == [("回答人数", 4), ("1 很不满意", 1), ("2", 0), ("3", 0), ("4", 1),
                                     ("5 很满意", 1), ("不清楚", 1), ("平均分（不含不清楚）", None)]
    assert sat[-1][6] == pytest.approx(3.33)  # (1+4+5)/3, not sure left out
    assert sat[6][5] == 0.25
    needs = rows_for(rows, "needs")
    assert [r[3:6] for r in needs] == [("回答人数", 3, None), ("养老", 2, pytest.approx(2 / 3)),
                                       ("就医", 1, pytest.approx(1 / 3)), ("就业", 1, pytest.approx(1 / 3))]
    age = rows_for(rows, "age")
    assert [(r[3], r[4], r[6]) for r in age] == [("回答人数", 2, None), ("平均值", None, 40), ("最小值", None, 30),
                                                 ("最大值", None, 50)]
    say = rows_for(rows, "say")
    assert say[0][3:5] == ("回答人数", 2)
    assert not rows_for(rows, "rate") and not rows_for(rows, "pick")


def test_item_ratings_merge_the_same_item_across_townships(data: ConsultationData) -> None:
    rows = sheets(data)["事项评分"]
    rate = rows_for(rows, "rate")
    assert [r[1:12] for r in rate] == [
        ("基本履职事项", "民生服务", "最低生活保障申请受理", 3, pytest.approx(11 / 3, abs=0.005), 0, 1, 0, 1, 1, 0),
        ("基本履职事项", "平安法治", "矛盾纠纷排查化解", 3, 4, 0, 0, 1, 0, 1, 1),
    ]
    pick = rows_for(rows, "pick")
    assert [(r[3], r[12], r[13]) for r in pick] == [("最低生活保障申请受理", 2, pytest.approx(2 / 3)),
                                                    ("矛盾纠纷排查化解", 2, pytest.approx(2 / 3))]


def test_text_answers_sheet_keeps_formula_like_text_as_text(data: ConsultationData) -> None:
    rows = sheets(data)["文字意见"]
    assert rows[0] == ("题号", "题目", "回答内容", "乡镇（街道）", "提出人（化名）")
    assert rows[1:] == [("say", "其他建议", "多办实事", "青山镇", pseudonym(KEY, 1)),
                        ("say", "其他建议", "'=cmd|' /C calc'!A0", "绿水镇", pseudonym(KEY, 4))]
    wb = openpyxl.load_workbook(io.BytesIO(build_workbook(data)))  # text with a "'" in front (OWASP), never a formula
    assert wb["文字意见"]["C3"].data_type == "s"


def test_a_workbook_larger_than_one_write_holds_every_row(data: ConsultationData) -> None:
    # The worksheet XML goes to the zip in chunks of XML_CHUNK pieces (a cell or a row
    # tag each): 3,000 text answers make several chunks, cut in the middle of rows.
    many = [response(100 + n, "青山镇", T0, T0 + timedelta(hours=1), aware="yes", say=f"建议{n}")
            for n in range(3000)]
    data.responses.extend(many)
    rows = sheets(data)["文字意见"]
    assert 5 * len(rows) > 3 * XML_CHUNK  # five cells a row: more than three chunks
    assert [r[2] for r in rows[1:]] == ["多办实事", "'=cmd|' /C calc'!A0"] + [f"建议{n}" for n in range(3000)]
    assert [r[3] for r in rows[-3:]] == ["青山镇"] * 3


def test_comments_sheet_lists_every_comment_not_hidden(data: ConsultationData) -> None:
    rows = sheets(data)["意见"]
    assert rows[0][:5] == ("编号", "乡镇（街道）", "所属部分", "事项名称", "意见类型")
    assert [r[0] for r in rows[1:]] == [1, 2, 3, 4, 6, 7]
    second = rows[2]
    assert second[1:10] == ("绿水镇", "基本履职事项", "最低生活保障申请受理", "表述不清", "表述不清",
                            "最低生活保障的申请受理和调查审核", "有效", "部分采纳", "部分修改")
    assert second[11] == pseudonym(KEY, 902) and second[12] == datetime(2026, 11, 22, 12, 0)
    assert rows[5][7] == "已撤回"
    assert rows[6][2:4] == ("基本履职事项", "河道日常巡查")  # a missing-item proposal: the part it proposes
    assert all("隐藏的意见" not in r for r in rows)


def test_a_withdrawn_comment_has_no_decision_so_the_unanswered_rows_are_those_the_summary_counts(
        data: ConsultationData) -> None:
    book = sheets(data)
    rows = book["意见"]
    withdrawn = [r for r in rows[1:] if r[7] == "已撤回"]
    assert withdrawn and all(r[8] is None for r in withdrawn)
    summary = book["概况"]
    decisions = summary[summary.index(("处理结果", "条数", None, None, None, None)):]
    [unanswered] = [r[1] for r in decisions if r[0] == "尚未答复"]
    assert sum(1 for r in rows[1:] if r[8] == "尚未答复") == unanswered


def test_missing_and_offlist_sheets(data: ConsultationData) -> None:
    book = sheets(data)
    missing = book["遗漏事项"]
    assert missing[1][:8] == (7, "绿水镇", "河道日常巡查", "基本履职事项", None, "《河长制》", None, "我们实际承担河道巡查")
    assert len(missing) == 2
    off = book["清单外事项"]
    assert off[1][:6] == ("青山镇", "县住建局", "自建房安全排查", "2026-11-01", "文件", "要求三天内完成")
    assert len(off) == 3


def test_english_headers_come_from_the_catalog(data: ConsultationData) -> None:
    rows = sheets(data, "en")["Summary"]
    assert ("Township", "Started", "Completed", "Completion rate", None, None) in rows


# --- headline figures ----------------------------------------------------------------


def test_headline_figures(data: ConsultationData) -> None:
    f = headline_figures(data)
    assert f["townships"] == {"青山镇": {"started": 3, "completed": 2}, "绿水镇": {"started": 2, "completed": 1},
                              "白云乡": {"started": 0, "completed": 0}}
    assert f["comments_by_decision"] == {"adopted": 1, "partly": 1, "rejected": 1, "none": 2}
    assert f["offlist"] == 2
    assert f["answered"]["aware"] == 5 and f["answered"]["age"] == 2
    assert f["distribution"]["sat"] == {"1": 1, "4": 1, "5": 1, "unsure": 1}


# --- the digest ----------------------------------------------------------------------


def test_digest_counts_since_the_last_one(data: ConsultationData) -> None:
    d = digest(data, SINCE, NOW)
    assert (d.new_started, d.new_completed, d.new_comments, d.new_offlist) == (2, 1, 3, 1)
    assert (d.total_started, d.total_completed, d.total_comments) == (5, 3, 5)
    assert [(p.township, p.started, p.completed) for p in d.townships] == [("青山镇", 3, 2), ("绿水镇", 2, 1),
                                                                            ("白云乡", 0, 0)]
    assert d.comments_by_kind == {"basis": 1, "withdraw": 1, "missing": 1, "wording": 1, "to_basic": 1}
    assert d.new_comments_by_kind == {"withdraw": 1, "missing": 1, "wording": 1}
    assert [(t.part, t.name, t.comments) for t in d.top_items] == [
        ("basic", "最低生活保障申请受理", 2), ("basic", "矛盾纠纷排查化解", 1), ("cooperating", "违法建设整治", 1)]
    assert d.days_left == 7  # 11-23 09:00 → 11-30 18:00 in Shanghai


def test_digest_counts_each_townships_comments_and_the_new_ones(data: ConsultationData) -> None:
    """Beside each township's questionnaires, its active comments (hidden and withdrawn ones left
    out, as in the totals) and how many of them came since the last digest."""
    d = digest(data, SINCE, NOW)
    assert d.comments_by_township == {"青山镇": 2, "绿水镇": 3}
    assert d.new_comments_by_township == {"青山镇": 1, "绿水镇": 2}
    text = d.text()
    assert "· 青山镇：完成 2/3（66.7%）；意见 2 条（新增 1）" in text
    assert "· 绿水镇：完成 1/2（50.0%）；意见 3 条（新增 2）" in text
    assert "· 白云乡：完成 0/0（—）；意见 0 条\n" in text  # (no "new" said of none)
    assert "· 青山镇: 2/3 completed (66.7%); 2 comments (1 new)" in d.text("en")


def test_digest_says_new_comments_of_a_kind_only_when_there_are_some(data: ConsultationData) -> None:
    """The lines by kind said "（新增 0）" of a kind with nothing new; they now say it as the
    townships' lines do: only when there are new ones."""
    d = digest(data, SINCE, NOW)
    text, english = d.text(), d.text("en")
    assert "· 遗漏事项：1 条（新增 1）" in text.splitlines()
    assert "· 依据缺失或有误：1 条" in text.splitlines()
    assert "新增 0" not in text and "(0 new)" not in english
    assert "· Missing item: 1 (1 new)" in english.splitlines()


def test_digest_says_how_the_comments_were_handled_as_the_workbook_and_stats_do(data: ConsultationData) -> None:
    """The workbook, the 反馈情况说明 and /stats say 采纳 / 部分采纳 / 不采纳 / 尚未答复; the digest (comments
    are answered while the consultation is open too) said nothing of it. It gives the same split."""
    d = digest(data, SINCE, NOW)
    assert "<b>答复情况</b>：采纳 1 条、部分采纳 1 条、不采纳 1 条，尚未答复 2 条" in d.text().splitlines()
    assert "<b>Answers</b>: 1 adopted, 1 partly adopted, 1 not adopted and 2 unanswered" in d.text("en")
    summary = sheets(data)["概况"]
    head = summary.index(("处理结果", "条数", None, None, None, None))
    assert [r[1] for r in summary[head + 1:head + 5]] == [1, 1, 1, 2]


def test_a_digest_of_a_window_with_nothing_new_says_so_briefly(data: ConsultationData) -> None:
    quiet_since = NOW + timedelta(days=1)
    d = digest(replace(data, summary=None), quiet_since, quiet_since + timedelta(days=1))
    assert d.nothing_new and not digest(data, SINCE, NOW).nothing_new
    text = d.brief_text()
    assert text.splitlines()[1:3] == ["自 2026-11-24 09:00 以来：", "没有新的答卷、干部意见和清单外事项报告。"]
    assert "累计：开始答卷 5 人，完成 3 人（完成率 60.0%）；有效意见 5 条。" in text and "距截止还有 5 天" in text
    assert "Nothing new" in d.brief_text("en")


def test_digest_without_since_counts_everything_up_to_now(data: ConsultationData) -> None:
    d = digest(data, None, NOW)
    assert (d.new_started, d.new_completed, d.new_comments, d.new_offlist) == (5, 3, 5, 2)
    early = digest(data, None, T0 + timedelta(minutes=30))
    assert (early.new_started, early.new_completed) == (3, 0)


def test_days_left_is_zero_after_the_deadline() -> None:
    closes = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    assert days_left(closes, closes + timedelta(seconds=1), "Asia/Shanghai") == 0
    assert days_left(closes, closes - timedelta(hours=1), "Asia/Shanghai") == 0
    assert days_left(closes, datetime(2026, 11, 29, 16, 30, tzinfo=UTC), "Asia/Shanghai") == 0
    assert days_left(closes, datetime(2026, 11, 29, 15, 30, tzinfo=UTC), "Asia/Shanghai") == 1


def test_a_deadline_at_midnight_counts_as_the_day_it_ends(data: ConsultationData) -> None:
    """A deadline at midnight (12月5日24时, stored as the 6th 00:00) made the digest of the 5th say
    距截止还有 1 天（2026-12-05 24:00）: it closes at the end of that very day, so it says 今天截止."""
    import dataclasses

    midnight = datetime(2026, 12, 5, 16, 0, tzinfo=UTC)  # 2026-12-06 00:00 in Shanghai
    morning = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)  # 12-05 09:00
    assert days_left(midnight, morning, "Asia/Shanghai") == 0
    assert days_left(midnight, morning - timedelta(days=1), "Asia/Shanghai") == 1
    c = dataclasses.replace(data.consultation, closes_at=midnight)
    text = digest(dataclasses.replace(data, consultation=c), morning - timedelta(days=1), morning).text()
    assert "今天截止（2026-12-05 24:00）" in text and "还有 1 天" not in text


def test_digest_text_is_escaped_and_short(data: ConsultationData) -> None:
    data.consultation = ConsultationInfo(7, "<b>清单</b> & 征询", "open", T0, data.consultation.closes_at)
    data.townships += [TownshipRef(100 + n, f"<镇{n}>" * 10, 100 + n) for n in range(200)]
    text = digest(data, SINCE, NOW).text("zh_CN")
    assert "&lt;b&gt;清单&lt;/b&gt; &amp; 征询" in text
    assert "<镇" not in text
    assert len(text) < 4000
    assert "新开始答卷 2 人，新完成 1 人；新意见 3 条；新清单外事项报告 1 条" in text
    assert "另有 163 个乡镇" in text
    assert "距截止还有 7 天" in text
    en = digest(data, SINCE, NOW).text("en")
    assert "2 questionnaires started, 1 completed; 3 new comments" in en


# --- the feedback report -------------------------------------------------------------


def test_feedback_report_names_the_department_a_missing_item_proposal_gives(data: ConsultationData) -> None:
    """/missing asks for the county department: the workbook had it, the 反馈情况说明 did not."""
    [proposal] = [c for c in data.comments if c.is_missing_proposal]
    proposal.missing["department"] = "县水利局"
    assert "1. 绿水镇建议增加“河道日常巡查”（基本履职事项，对应部门：县水利局）" in feedback_report(data)
    assert "; county department: 县水利局)" in feedback_report(data, "en")
    del proposal.missing["department"]
    assert "1. 绿水镇建议增加“河道日常巡查”（基本履职事项）" in feedback_report(data)


def test_feedback_report_counts_and_groups_by_item(data: ConsultationData) -> None:
    text = feedback_report(data)
    assert text.startswith("关于《青山县乡镇履职事项清单（征求意见稿）》征求意见的反馈情况说明")
    assert "共收到意见 5 条，其中采纳 1 条、部分采纳 1 条、不采纳 1 条，尚未答复 2 条" in text
    assert "涉及具体事项的意见 4 条，建议增加遗漏事项 1 条；另收到清单外事项报告 2 条" in text
    lines = text.splitlines()
    heads = [ln for ln in lines if ln[:2] in ("一、", "二、", "三、", "四、", "五、")]
    assert [h[:2] for h in heads] == ["一、", "二、", "三、", "四、", "五、"]
    i = lines.index("（一）基本履职事项")
    assert lines[i + 1] == "1. 最低生活保障申请受理（2 条）"
    assert lines[i + 2].startswith("（1）【依据缺失或有误】青山镇：依据应补充《社会救助暂行办法》")
    assert lines[i + 2].endswith("办法》。处理结果：采纳。说明：已补充。")
    assert "表述不清。建议表述为“最低生活保障的申请受理和调查审核”。处理结果：部分采纳。" in lines[i + 3]
    assert lines[i + 4] == "2. 矛盾纠纷排查化解（1 条）"
    assert lines[i + 5].endswith("处理结果：尚未答复。")
    assert lines[i + 6] == "（二）配合履职事项"
    assert "1. 违法建设整治（1 条）" == lines[i + 7]
    assert "隐藏的意见" not in text and "已撤回的意见" not in text
    assert "1. 绿水镇建议增加“河道日常巡查”（基本履职事项）" in text
    assert "1. 县住建局：2 条（燃气安全检查、自建房安全排查）" in text
    assert "共有 5 名群众参与问卷，完成 3 份（完成率 60.0%）" in text
    assert "“您满意吗？”：4 人作答，其中 1 人表示不清楚；其余 3 人中表示满意（4–5 分）的占 66.7%，平均 3.33 分。" in text
    assert "#" not in text and "**" not in text


def test_feedback_report_in_english(data: ConsultationData) -> None:
    text = feedback_report(data, "en")
    assert "Comments received: 5 — 1 adopted, 1 partly adopted, 1 not adopted and 2 unanswered" in text
    assert f"we consulted {len(data.townships)} townships" in text


def test_feedback_report_for_one_township_says_one(data: ConsultationData) -> None:
    from dataclasses import replace

    one = replace(data, townships=data.townships[:1])
    assert "we consulted one township on" in feedback_report(one, "en")
    assert "在 1 个乡镇（街道）公开征求意见" in feedback_report(one)


def test_chinese_numbers() -> None:
    assert [chinese_number(n) for n in (1, 5, 10, 11, 20, 25, 100, 105, 110, 120)] == [
        "一", "五", "十", "十一", "二十", "二十五", "一百", "一百零五", "一百一十", "一百二十"]


def test_catalogs_have_the_same_keys() -> None:
    from surveys.i18n import keys

    zh = {k for k in keys("zh_CN") if k.startswith("report.")}
    assert zh == {k for k in keys("en") if k.startswith("report.")}
    assert len(zh) > 100


def test_empty_consultation_builds_everything() -> None:
    empty = ConsultationData(ConsultationInfo(1, "空", "draft", None, T0), [], [], None, [], [], [])
    assert build_workbook(empty)[:2] == b"PK"
    assert digest(empty, None, NOW).text().count("\n") > 2
    assert "无。" in feedback_report(empty)


def test_townships_keep_the_consultation_order_whatever_their_figures(data: ConsultationData) -> None:
    """No ranking: the township with the lower completion rate stays first when it is listed first."""
    data.townships = [data.townships[1], data.townships[2], data.townships[0]]
    rows = sheets(data)["概况"]
    header = rows.index(("乡镇（街道）", "开始答卷人数", "完成答卷人数", "完成率", None, None))
    assert [r[0] for r in rows[header + 1: header + 4]] == ["绿水镇", "白云乡", "青山镇"]
    assert [p.township for p in digest(data, None, NOW).townships] == ["绿水镇", "白云乡", "青山镇"]


def test_digest_on_the_deadlines_day_says_it_closes_today(data: ConsultationData) -> None:
    from dataclasses import replace

    c = data.consultation  # closes 11-30 18:00 in Shanghai
    morning = c.closes_at - timedelta(hours=9)  # 09:00 that day, still open
    day = replace(data, summary=None)
    text = digest(day, None, morning).text()
    assert "今天截止（2026-11-30 18:00）" in text and "已于" not in text
    assert "Closes today (2026-11-30 18:00)" in digest(day, None, morning).text("en")
    after = digest(replace(day, consultation=replace(c, status="closed", closed_at=c.closes_at)), None,
                   c.closes_at + timedelta(hours=1)).text()
    assert "征询已于 2026-11-30 18:00 截止" in after


def test_a_consultation_closed_early_reports_when_it_ended(data: ConsultationData) -> None:
    from dataclasses import replace

    c = data.consultation
    early = replace(data, consultation=replace(c, status="closed", closed_at=c.closes_at - timedelta(days=3)))
    text = feedback_report(early)
    assert "至 2026-11-27 18:00" in text and "2026-11-30 18:00" not in text


def test_a_consultation_closed_early_shows_the_planned_deadline_and_when_it_closed_in_the_workbook(
        data: ConsultationData) -> None:
    """The 概况 sheet gave the early close time as 截止时间, as if that had been the deadline: a
    clerk quoting it got the announced deadline wrong. It gives the deadline as planned and, on
    a row of its own, when it actually closed; a consultation that ran to its deadline has no such row."""
    c = data.consultation
    early = replace(data, consultation=replace(c, status="closed", closed_at=c.closes_at - timedelta(days=3)))
    rows = sheets(early)["概况"]
    assert rows_for(rows, "截止时间")[0][1] == datetime(2026, 11, 30, 18, 0)
    assert rows_for(rows, "实际结束时间（提前结束）")[0][1] == datetime(2026, 11, 27, 18, 0)
    on_time = replace(data, consultation=replace(c, status="closed", closed_at=c.closes_at + timedelta(minutes=1)))
    rows = sheets(on_time)["概况"]
    assert rows_for(rows, "截止时间")[0][1] == datetime(2026, 11, 30, 18, 0)
    assert not rows_for(rows, "实际结束时间（提前结束）")
    assert rows_for(sheets(early, "en")["Summary"], "Actually closed (early)")


def test_a_midnight_deadline_is_written_as_24_00_of_its_last_day_in_the_feedback_and_workbook(
        data: ConsultationData) -> None:
    """The 反馈情况说明 of a consultation that closed at midnight said "… 至 2026-12-06 00:00", which
    reads as though comments were taken on the 6th too; it says 2026-12-05 24:00, as the bot does."""
    c = data.consultation
    midnight = replace(data, consultation=replace(c, status="closed", closes_at=datetime(2026, 12, 5, 16, 0, tzinfo=UTC)))
    text = feedback_report(midnight)
    assert "至 2026-12-05 24:00" in text and "12-06" not in text
    book = openpyxl.load_workbook(io.BytesIO(build_workbook(midnight)))
    values = [cell for row in book.worksheets[0].iter_rows(values_only=True) for cell in row]
    assert "2026-12-05 24:00" in values and "2026-12-06 00:00" not in values


def test_a_never_opened_consultations_feedback_report_says_it_has_not_started(data: ConsultationData) -> None:
    """A draft's 反馈情况说明 began "— 至 2026-11-30 18:00，我们就…公开征求意见": no start, and
    a consultation that never took place. It says it has not started; one whose start was not
    kept gives only its end."""
    from dataclasses import replace

    c = data.consultation
    draft = replace(data, consultation=replace(c, status="draft", opens_at=None), responses=[], comments=[])
    text = feedback_report(draft)
    assert "—" not in text.splitlines()[2] and "至 2026" not in text
    assert text.splitlines()[2] == ("《青山县乡镇履职事项清单（征求意见稿）》拟在 3 个乡镇（街道）征求意见，"
                                    "截止时间为 2026-11-30 18:00；征求意见尚未开始，以下为目前情况。")
    en = feedback_report(draft, "en").splitlines()[2]
    assert en == ("The consultation on “青山县乡镇履职事项清单（征求意见稿）” in 3 townships has not started yet "
                  "(its deadline is 2026-11-30 18:00). This report sets out the position so far.")
    planned = replace(draft, consultation=replace(draft.consultation, opens_at=T0))  # a start set ahead
    assert "尚未开始" in feedback_report(planned) and "09:00 至" not in feedback_report(planned)
    no_start = replace(data, consultation=replace(c, status="closed", opens_at=None, closed_at=c.closes_at))
    line = feedback_report(no_start).splitlines()[2]
    assert line.startswith("我们就《青山县乡镇履职事项清单（征求意见稿）》在 3 个乡镇（街道）公开征求意见，"
                           "至 2026-11-30 18:00 结束，") and "—" not in line
    assert feedback_report(no_start, "en").splitlines()[2].startswith("Until 2026-11-30 18:00 we consulted 3 townships")
    one = replace(draft, townships=data.townships[:1])
    assert "拟在 1 个乡镇（街道）征求意见" in feedback_report(one)
    assert feedback_report(data).splitlines()[2].startswith("2026-11-20 09:00 至 2026-11-30 18:00，我们就")


def test_a_withdrawn_missing_item_proposal_is_not_listed(data: ConsultationData) -> None:
    from dataclasses import replace

    withdrawn = comment(90, "青山镇", None, "missing", "撤回了", status="withdrawn",
                        missing={"name": "已撤回的遗漏事项", "part": "basic"})
    book = openpyxl.load_workbook(io.BytesIO(build_workbook(replace(data, comments=[*data.comments, withdrawn]))))
    [missing] = [ws for ws in book.worksheets if "遗漏" in ws.title]
    assert "已撤回的遗漏事项" not in {cell for row in missing.iter_rows(values_only=True) for cell in row}


def test_more_than_five_off_list_tasks_of_a_department_end_with_etc(data: ConsultationData) -> None:
    from dataclasses import replace

    from surveys.report import OffListRecord

    reports = [OffListRecord("P", "青山镇", "县住建局", f"任务{n}", "上周", "meeting", "", T0) for n in range(7)]
    text = feedback_report(replace(data, offlist=reports))
    assert "县住建局：7 条（任务0、任务1、任务2、任务3、任务4等）" in text


def test_the_off_list_tasks_a_department_is_named_for_are_the_ones_reported_most(data: ConsultationData) -> None:
    """A department's tasks were named in character order, the first five only: of 7 tasks the one
    reported 4 times (typed two ways) was left out behind "等" while tasks reported once were named."""
    from dataclasses import replace

    from surveys.report import OffListRecord

    tasks = [*(f"任务{n}" for n in range(6)), "自建房安全排查", "自建房安全排查", "自建房 安全排查", "自建房安全排查",
             "燃气安全检查", "燃气安全检查"]
    reports = [OffListRecord("P", "青山镇", "县住建局", task, "上周", "meeting", "", T0) for task in tasks]
    text = feedback_report(replace(data, offlist=reports))
    assert "县住建局：12 条（自建房安全排查、燃气安全检查、任务0、任务1、任务2等）" in text


def test_feedback_counts_a_department_typed_two_ways_once(data: ConsultationData) -> None:
    from dataclasses import replace

    from surveys.report import OffListRecord

    reports = [OffListRecord("P", "青山镇", dept, task, "上周", "meeting", "", T0) for dept, task in
               (("县住建局（城建股）", "任务A"), ("县住建局(城建股)", "任务B"), (" 县住建局（城建股） ", "任务C"),
                ("县应急局", "任务D"))]
    text = feedback_report(replace(data, offlist=reports))
    assert "涉及 2 个部门" in text
    assert "县住建局（城建股）：3 条（任务A、任务B、任务C）" in text and "县应急局：1 条（任务D）" in text


def test_feedback_says_nothing_of_the_unsure_when_none_was_and_never_ends_with_a_comma(data: ConsultationData) -> None:
    from dataclasses import replace

    sure = [replace(r, answers={k: v for k, v in r.answers.items() if not (k == "sat" and v == "unsure")})
            for r in data.responses]
    text = feedback_report(replace(data, responses=sure))
    assert "表示不清楚" not in text and "平均 3.33 分。" in text
    cut = [replace(c, text="建议由县消防救援大队牵头，") if c.id == 2 else c for c in data.comments]
    text = feedback_report(replace(data, comments=cut))
    assert "，。" not in text


def test_english_comments_sheet_does_not_call_an_answered_comment_open(data: ConsultationData) -> None:
    # 有效 (not withdrawn) was "Open", which in English reads as "not yet answered" beside a decision
    rows = sheets(data, "en")["Comments"]
    second = rows[2]
    assert second[7:9] == ("Active", "Partly adopted")
    assert rows[5][7] == "Withdrawn"


def test_english_feedback_report_follows_the_number(data: ConsultationData) -> None:
    from dataclasses import replace

    one = replace(data, responses=data.responses[:1],
                  comments=[c for c in data.comments if c.id in (1, 7)])
    text = feedback_report(one, "en")
    assert "1 resident took part" in text
    assert "1 answer;" in text and "1 answers" not in text
    assert "1 written answer." in text
    assert "1 concern " not in text and "1 propose " not in text  # "1 concern specific items"
    many = feedback_report(data, "en")
    assert "5 residents took part" in many and "4 answers," in many


def test_english_digest_names_one_more_township(data: ConsultationData) -> None:
    from dataclasses import replace

    from surveys.report import DIGEST_MAX_TOWNSHIPS

    extra = [TownshipRef(100 + n, f"T{n}", 100 + n) for n in range(DIGEST_MAX_TOWNSHIPS + 1 - len(data.townships))]
    more = replace(data, townships=data.townships + extra)
    assert "… and 1 more township, see the workbook" in digest(more, None, NOW).text("en")


def test_a_part_has_the_same_name_in_the_reports_as_in_the_chat_and_lint() -> None:
    # English said "Duties withdrawn to higher departments" in the chat, the lint and the
    # published changes, but "Withdrawn duties" in the workbook and the feedback report
    from surveys.i18n import LOCALES, gettext
    from surveys.report import part_label

    for loc in LOCALES:
        for part in ("basic", "cooperating", "withdrawn"):
            assert part_label(part, loc) == gettext(f"part.{part}", loc), (loc, part)


def test_a_share_of_nobody_is_a_dash_not_zero_percent(data: ConsultationData) -> None:
    from dataclasses import replace

    text = feedback_report(replace(data, responses=[]))  # nobody started
    assert "没有群众参与问卷。" in text and "0.0%" not in text  # (not "完成 0 份（完成率 0.0%）")


def test_shares_and_means_round_half_up_as_the_workbook_shows_them(data: ConsultationData) -> None:
    """四舍五入, as Excel shows the workbook's 0.0% and 0.00 cells: 1 of 16 is 6.3% (not 6.2%,
    Python's round-half-even of 6.25), a mean of 33/8 is 4.13 (not 4.12) — in the draft
    feedback report, the digest and the workbook alike."""
    from dataclasses import replace

    points = [5, 5, 5, 5, 4, 4, 4, 1]  # mean 33/8 = 4.125
    responses = [response(200 + n, "青山镇", T0, T0 + timedelta(hours=1) if n == 0 else None,
                          sat=points[n] if n < len(points) else None) for n in range(16)]
    sixteen = replace(data, responses=responses)
    text = feedback_report(sixteen)
    assert "共有 16 名群众参与问卷，完成 1 份（完成率 6.3%）" in text
    assert "平均 4.13 分" in text
    assert "· 青山镇：完成 1/16（6.3%）" in digest(sixteen, None, NOW).text()
    sat = rows_for(sheets(sixteen)["问卷结果"], "sat")
    assert sat[-1][6] == 4.13


def test_the_workbook_leaves_a_share_of_nobody_empty_where_the_texts_say_a_dash(data: ConsultationData) -> None:
    """A township where nobody started has no completion rate (the digest and the feedback
    report say "—"); the workbook said 0.0%, as if all who started had given up, then wrote
    "—" as text in a column of numbers (a clerk's SUM or AVERAGE over it stumbled): the cell
    is empty, on the 概况 and 问卷结果 sheets alike."""
    from dataclasses import replace

    rows = sheets(data)["概况"]
    header = rows.index(("乡镇（街道）", "开始答卷人数", "完成答卷人数", "完成率", None, None))
    assert rows[header + 3] == ("白云乡", 0, 0, None, None, None)
    assert "· 白云乡：完成 0/0（—）" in digest(data, None, NOW).text()
    nobody = sheets(replace(data, responses=[]))
    summary = nobody["概况"]
    assert summary[header + 4] == ("合计", 0, 0, None, None, None)
    aware = rows_for(nobody["问卷结果"], "aware")
    assert [r[3:6] for r in aware] == [("回答人数", 0, None), ("知道", 0, None), ("不知道", 0, None)]
    for sheet in ("概况", "问卷结果"):  # no text left among the numbers of a share column
        assert not any("—" in row for row in nobody[sheet])


def test_feedback_scale_line_says_the_unsure_are_among_those_who_answered(data: ConsultationData) -> None:
    """4 answered, 1 of them not sure: the line said "4 人作答 … 66.7% … （另有 1 人表示不清楚）",
    which reads as 4 + 1 people and as 66.7% of 4. It now says the unsure are among the 4 and
    that the share is of the other 3; a question nobody answered gets no line (as choices)."""
    from dataclasses import replace

    text = feedback_report(data)
    assert ("“您满意吗？”：4 人作答，其中 1 人表示不清楚；其余 3 人中表示满意（4–5 分）的占 66.7%，"
            "平均 3.33 分。") in text
    assert "另有" not in text
    en = feedback_report(data, "en")
    assert "“您满意吗？”: 4 answers, 1 of them not sure; of the other 3, 66.7% satisfied (4–5), mean 3.33." in en
    unsure = [replace(r, answers={**r.answers, "sat": "unsure"}) if "sat" in r.answers else r for r in data.responses]
    all_unsure = feedback_report(replace(data, responses=unsure))
    assert "“您满意吗？”：4 人作答，均表示不清楚。" in all_unsure and "占 —" not in all_unsure
    assert "“您满意吗？”: 4 answers, all not sure." in feedback_report(replace(data, responses=unsure), "en")
    nobody = feedback_report(replace(data, responses=[]))
    assert "您满意吗" not in nobody and "0 人作答" not in nobody


def test_feedback_report_gives_participation_and_comments_per_township(data: ConsultationData) -> None:
    """A county's 反馈情况说明 says how many took part and how many comments came from each
    township (the consultation's order, none left out, no ranking); it gave totals only."""
    from dataclasses import replace

    text = feedback_report(data)
    # active comments: 青山镇 1 and 4 (5 hidden, 6 withdrawn); 绿水镇 2, 3 and 7
    assert "按乡镇（街道）分：\n青山镇：2 条，" in text and "\n绿水镇：3 条，" in text and "\n白云乡：未提出意见。" in text
    assert "其中，青山镇 3 人参与、完成 2 份；绿水镇 2 人参与、完成 1 份；白云乡 0 人参与、完成 0 份。" in text
    en = feedback_report(data, "en")
    assert "By township:\n青山镇: 2 comments" in en and "\n白云乡: no comments." in en
    assert "By township: 青山镇 3 took part, 2 completed; 绿水镇 2 took part, 1 completed; " \
           "白云乡 0 took part, 0 completed." in en
    nobody = feedback_report(replace(data, responses=[], comments=[]))
    assert "按乡镇（街道）分" not in nobody and "其中，青山镇" not in nobody


def test_feedback_report_says_how_each_townships_comments_were_handled_adding_up_to_the_totals(
        data: ConsultationData) -> None:
    """The 反馈情况说明 gave 采纳 / 部分采纳 / 不采纳 / 尚未答复 for the county only (and each township's
    count on one line); each township's line now says how its comments were handled (the
    consultation's order, a township with none included: no ranking), adding up to the county's."""
    import re
    from dataclasses import replace

    text = feedback_report(data)
    assert ("按乡镇（街道）分：\n"
            "青山镇：2 条，其中采纳 1 条、部分采纳 0 条、不采纳 0 条，尚未答复 1 条。\n"
            "绿水镇：3 条，其中采纳 0 条、部分采纳 1 条、不采纳 1 条，尚未答复 1 条。\n"
            "白云乡：未提出意见。\n") in text
    assert "共收到意见 5 条，其中采纳 1 条、部分采纳 1 条、不采纳 1 条，尚未答复 2 条。" in text
    en = feedback_report(data, "en")
    assert ("By township:\n"
            "青山镇: 2 comments — 1 adopted, 0 partly adopted, 0 not adopted and 1 unanswered.\n"
            "绿水镇: 3 comments — 0 adopted, 1 partly adopted, 1 not adopted and 1 unanswered.\n"
            "白云乡: no comments.\n") in en

    # many comments, one from a township no longer consulted: the lines add up to the totals
    decisions = ["adopted", "partly", "rejected", None]
    more = [comment(100 + n, ("青山镇", "绿水镇", "白云乡", "红旗街道")[n % 4], BY_ID[(1, 2, 11, 12)[n % 4]],
                    "other", f"意见{n}", decision=decisions[n % 3 if n % 5 else 3], reply="理由")
            for n in range(37)]
    big = feedback_report(replace(data, comments=[*data.comments, *more]))
    total = re.search(r"共收到意见 (\d+) 条，其中采纳 (\d+) 条、部分采纳 (\d+) 条、不采纳 (\d+) 条，尚未答复 (\d+) 条", big)
    rows = re.findall(r"^(\S+)：(\d+) 条，其中采纳 (\d+) 条、部分采纳 (\d+) 条、不采纳 (\d+) 条，尚未答复 (\d+) 条。$",
                      big, re.MULTILINE)
    assert [r[0] for r in rows] == ["青山镇", "绿水镇", "白云乡", "红旗街道"]
    sums = [sum(int(r[k]) for r in rows) for k in range(1, 6)]
    assert total is not None and sums == [int(g) for g in total.groups()] and sums[0] == 42
    assert all(int(r[1]) == sum(int(v) for v in r[2:]) for r in rows)

    one = replace(data, townships=data.townships[:1], comments=[x for x in data.comments if x.township == "青山镇"])
    assert "按乡镇（街道）分：青山镇 2 条。\n" in feedback_report(one)  # (one township: the totals say how)


def test_feedback_report_keeps_a_proposed_item_and_a_department_typed_on_two_lines_on_one(
        data: ConsultationData) -> None:
    """A cadre's message may hold line breaks: a missing item's name or an off-list task's
    department typed on two lines broke the numbered lines of the report in two."""
    from dataclasses import replace

    proposal = comment(8, "青山镇", None, "missing", "实际承担", missing={"name": "河道\n日常巡查", "part": "basic"})
    report = OffListRecord("P", "青山镇", "县住建局\n城建股", "自建房排查", "上周", "meeting", "", T0)
    text = feedback_report(replace(data, comments=[proposal], offlist=[report]))
    assert "1. 青山镇建议增加“河道 日常巡查”（基本履职事项）：实际承担。处理结果：尚未答复。" in text.splitlines()
    assert "1. 县住建局 城建股：1 条（自建房排查）" in text.splitlines()


def test_comment_types_are_listed_in_the_chats_order_everywhere(data: ConsultationData) -> None:
    """By the internal codes' alphabet 其他 came between 遗漏事项 and 应调整为配合履职事项, and the
    order was not the cadre's menu's: the digest, the feedback report and the workbook now follow it."""
    menu = ["应调整为配合履职事项", "应调整为基本履职事项", "建议收回", "依据缺失或有误", "表述不清", "其他", "遗漏事项"]
    data.comments.extend([
        comment(8, "青山镇", BY_ID[1], "to_cooperating", "应由县里牵头"),
        comment(9, "青山镇", BY_ID[2], "other", "其他意见"),
    ])
    d = digest(data, SINCE, NOW)
    text = d.text()
    kinds = text.split("<b>意见类型</b>\n")[1].split("\n\n")[0]
    lines = kinds.splitlines()
    assert [ln[2:ln.index("：")] for ln in lines] == menu
    by_kind = next(ln for ln in feedback_report(data).splitlines() if "按意见类型分" in ln)
    assert [by_kind.index(k) for k in menu] == sorted(by_kind.index(k) for k in menu), by_kind
    summary = [r[0] for r in sheets(data)["概况"] if r and r[0] in menu]
    assert summary == menu


def test_the_cadres_sheets_in_english_do_not_call_a_cadre_a_respondent(data: ConsultationData) -> None:
    """提出人（化名） — who raised it — heads the column; the English said "Respondent (pseudonym)",
    and cadres commenting on the list answer no questionnaire."""
    book = sheets(data, "en")
    for name in ("Comments", "Missing items", "Off-list tasks", "Written answers"):
        header = book[name][0]
        assert "Submitted by (pseudonym)" in header and not any("Respondent" in str(h) for h in header), name


def test_feedback_report_says_how_many_cadres_from_how_many_townships_commented(data: ConsultationData) -> None:
    """It said how many comments arrived, not from how many people: one cadre's twenty comments
    read as twenty voices. Counts only, no names."""
    from dataclasses import replace

    same = {4: 1, 3: 2}  # comment 4 by the author of 1 (青山镇), 3 by the author of 2 (绿水镇)
    by_id = {x.id: x for x in data.comments}
    comments = [replace(x, pseudonym=by_id[same[x.id]].pseudonym) if x.id in same else x for x in data.comments]
    data = replace(data, comments=comments)
    # active: 1, 4 (one cadre of 青山镇), 2, 3 (one of 绿水镇), 7 (another of 绿水镇); 5 hidden, 6 withdrawn
    text = feedback_report(data)
    assert "提出意见的干部共 3 人，来自 2 个乡镇（街道）。" in text
    assert "The comments came from 3 cadres in 2 townships." in feedback_report(data, "en")
    one = replace(data, comments=[x for x in comments if x.id in (1, 4)])
    assert "The comments came from 1 cadre in 1 township." in feedback_report(one, "en")
    assert "提出意见的干部" not in feedback_report(replace(data, comments=[]))
    assert not any(x.pseudonym in text for x in comments)


def test_feedback_report_flags_a_rejection_or_partial_adoption_without_a_reason(data: ConsultationData) -> None:
    from dataclasses import replace

    # decided before a reason was required: no reply at all (or only blanks)
    no_reason = [replace(x, reply="  ") if x.decision in ("partly", "rejected") else x for x in data.comments]
    text = feedback_report(replace(data, comments=no_reason))
    assert "处理结果：部分采纳（未说明理由）。" in text and "处理结果：不采纳（未说明理由）。" in text
    assert "处理结果：采纳。说明：已补充。" in text  # 采纳 needs no reason: not flagged
    assert "处理结果：尚未答复。" in text and "未答复（未说明理由）" not in text
    assert "Decision: Not adopted (no reason given)." in feedback_report(replace(data, comments=no_reason), "en")
    assert "未说明理由" not in feedback_report(data)  # with their reasons: nothing flagged


def test_english_feedback_report_counts_an_items_comments_in_words(data: ConsultationData) -> None:
    """An item's heading said "(2)" above its comments numbered "(1)", "(2)": it says how many
    comments, as 中文 says "（2 条）"."""
    import re

    text = feedback_report(data, "en")
    headings = re.findall(r"^\d+\. .+$", text, flags=re.M)
    counted = [h for h in headings if re.search(r"\(\d+ comments?\)$", h)]
    assert counted and not [h for h in headings if re.search(r" \(\d+\)$", h)]
    assert all(not h.endswith("(1 comments)") for h in counted)


def test_english_feedback_report_counts_a_departments_off_list_reports_in_words(data: ConsultationData) -> None:
    """"1. 县住建局: 2 (…)" gave a bare number, where 中文 says "2 条"."""
    import re

    lines = [line for line in feedback_report(data, "en").splitlines() if re.match(r"\d+\. 县", line)]
    assert lines and all(re.match(r"\d+\. 县\w+: \d+ reports? \(", line) for line in lines), lines
    assert not any(re.match(r"\d+\. 县\w+: 1 reports", line) for line in lines)


def test_the_feedback_report_says_a_word_on_number_rating_and_pick_questions_too(data: ConsultationData) -> None:
    """The residents' section spoke of single, multi, scale and text questions only: a
    questionnaire's number, item_rating and item_pick questions went unmentioned in the
    反馈情况说明 (their figures only in the workbook). Now each has its line; the same duty of
    two townships' lists counted as one item, as the workbook's 事项评分 sheet does."""
    text = feedback_report(data)
    assert "“年龄”：2 人作答，平均 40.00。" in text
    assert "“给事项打分”：3 人作答，共为 2 个事项打分，各事项的评分人数和平均分见结果汇总表“事项评分”。" in text
    assert "“选最重要的”：3 人作答，“最低生活保障申请受理”占 66.7%、“矛盾纠纷排查化解”占 66.7%。" in text
    en = feedback_report(data, "en")
    assert "“年龄”: 2 answers, mean 40.00." in en
    assert "“给事项打分”: 3 answers rating 2 items; each item's raters and mean are in the results workbook's " \
           "sheet “Item ratings”." in en
    assert "“选最重要的”: 3 answers; “最低生活保障申请受理” 66.7%, “矛盾纠纷排查化解” 66.7%." in en


def test_a_feedback_report_without_comments_does_not_list_five_zeros(data: ConsultationData) -> None:
    """With no comment at all it read "共收到意见 0 条，其中采纳 0 条、部分采纳 0 条、不采纳 0 条，尚未答复 0
    条。涉及具体事项的意见 0 条，建议增加遗漏事项 0 条" — not a sentence for an official document."""
    from dataclasses import replace

    none = replace(data, comments=[])
    text = feedback_report(none)
    assert "一、意见收集和采纳总体情况\n未收到对清单的意见；收到清单外事项报告 2 条。\n" in text
    assert "采纳 0 条" not in text
    en = feedback_report(none, "en")
    assert "1. Comments received and how they were handled\nNo comments on the list were received. " \
           "Off-list task reports received: 2.\n" in en
    assert "共收到意见 5 条" in feedback_report(data)  # (with comments: as before)


def test_a_digest_of_forty_long_named_townships_keeps_the_comment_types_items_and_days_left(
        data: ConsultationData) -> None:
    """40 township lines of ~30-character names filled the English digest: its cut at 4,000
    characters dropped the comment types, the most-commented items and the days left. The
    townships give way (as /stats's): as many as leave room, then how many more."""
    import re

    from surveys.report import TownshipProgress

    d = digest(data, SINCE, NOW)
    names = [f"No. {n:03d} Green Hill Area Township" for n in range(40)]
    d = replace(d, townships=[TownshipProgress(name, 12345, 1234) for name in names],
                comments_by_township={name: 12345 for name in names},
                new_comments_by_township={name: 123 for name in names})
    for locale in ("en", "zh_CN"):
        text = d.text(locale)
        assert len(text) <= 4000
        assert text.splitlines()[-1] == d._ending(locale)
        assert d._ending(locale) in text and "Missing item" in d.text("en") and "遗漏事项" in d.text("zh_CN")
    english = d.text("en")
    shown = [ln for ln in english.splitlines() if "Green Hill" in ln]
    more = re.search(r"and (\d+) more township", english)
    assert shown and more and len(shown) + int(more[1]) == 40


def test_the_feedback_report_quotes_long_comments_proposals_and_replies_whole(data: ConsultationData) -> None:
    """The 反馈情况说明 cut a comment, a proposed wording and a missing-item proposal at 120
    characters (a reply at 300) with "…": a clerk pasting it into the official document lost
    the end of what the cadre wrote. Each is quoted whole (on one line)."""
    long_text = "第一段：" + "该事项涉及多个部门，乡镇缺乏执法权限和专业人员，" * 8 + "建议调整。结尾"
    long_wording = "由县级部门牵头，" * 20 + "乡镇配合巡查报告。表述结尾"
    long_reply = "经研究，" + "根据相关法律法规的规定，" * 30 + "维持原表述。说明结尾"
    long_missing = "我们实际承担" + "河道日常巡查和保洁工作，" * 12 + "建议增加。提议结尾"
    assert min(len(long_text), len(long_wording), len(long_missing)) > 120 and len(long_reply) > 300
    changed = []
    for c in data.comments:
        if c.id == 3:
            c = replace(c, text=long_text, proposed_wording=long_wording, reply=long_reply)
        elif c.id == 7:
            c = replace(c, text=long_missing)
        changed.append(c)
    text = feedback_report(replace(data, comments=changed))
    assert long_text in text and long_wording in text and long_reply in text and long_missing in text
    assert "…" not in text


def test_every_table_sheet_keeps_its_header_row_in_view_and_filters_its_columns(data: ConsultationData) -> None:
    """A clerk scrolling the 意见 sheet's hundreds of rows lost the column names, and had to add a
    filter by hand to see one township's or one decision's rows. Every sheet that is a table
    (header, then a row per record) has its header row frozen and an autofilter over its rows;
    the 概况 sheet, several small tables one under the other, has neither."""
    from surveys.report import OffListRecord, build_offlist_workbook

    book = openpyxl.load_workbook(io.BytesIO(build_workbook(data)))
    assert book["概况"].freeze_panes is None and not book["概况"].auto_filter.ref
    for name in ("问卷结果", "事项评分", "文字意见", "意见", "遗漏事项", "清单外事项"):
        ws = book[name]
        assert ws.freeze_panes == "A2", name
        assert ws.auto_filter.ref == f"A1:{ws.cell(1, ws.max_column).column_letter}{ws.max_row}", name
    assert book["意见"].auto_filter.ref == "A1:N7"
    offlist = openpyxl.load_workbook(io.BytesIO(build_offlist_workbook(
        [OffListRecord("R-1", "青山镇", "县住建局", "自建房安全排查")], "Asia/Shanghai"))).worksheets[0]
    assert offlist.freeze_panes == "A2" and offlist.auto_filter.ref == "A1:I2"


def test_long_texts_wrap_in_their_columns_and_the_short_labels_fit(data: ConsultationData) -> None:
    """A 200-character comment ran on one line far past the screen (or was cut at the next
    cell), and 应调整为基本履职事项 did not fit the 意见类型 column. The columns of long texts
    (items, comments, proposals, replies, text answers, off-list details) wrap, top-aligned; the
    short labels' columns are at least as wide as their longest label (a Chinese character is
    two units of width)."""
    data.comments = [replace(c, missing={**c.missing, "department": "县水利局", "extra": "每周两次"}, reply="将研究")
                     if c.id == 7 else c
                     for c in data.comments]
    book = openpyxl.load_workbook(io.BytesIO(build_workbook(data)))
    wrapped = {"问卷结果": ["题目"], "事项评分": ["事项名称"], "文字意见": ["题目", "回答内容"],
               "意见": ["事项名称", "意见内容", "建议表述", "答复"],
               "遗漏事项": ["建议增加的事项", "依据", "相关部门", "意见内容", "其他信息", "答复"],
               "清单外事项": ["相关部门", "交办事项", "情况说明"]}
    for name, headers in wrapped.items():
        ws = book[name]
        columns = {ws.cell(1, n).value: n for n in range(1, ws.max_column + 1)}
        for header in headers:
            cell = next(ws.cell(r, columns[header]) for r in range(2, ws.max_row + 1) if ws.cell(r, columns[header]).value)
            assert cell.alignment.wrap_text and cell.alignment.vertical == "top", (name, header)
        assert not ws.cell(2, 1).alignment.wrap_text  # (ids and townships: one line)
    for name, header in (("意见", "意见类型"), ("意见", "所属部分"), ("意见", "处理结果"), ("遗漏事项", "所属部分")):
        ws = book[name]
        n = next(n for n in range(1, ws.max_column + 1) if ws.cell(1, n).value == header)
        longest = max(len(str(ws.cell(r, n).value or "")) for r in range(1, ws.max_row + 1))
        assert ws.column_dimensions[ws.cell(1, n).column_letter].width >= 2 * longest, (name, header)
    assert book["意见"].column_dimensions["E"].width >= 2 * len("应调整为配合履职事项")
    assert book["遗漏事项"].column_dimensions["D"].width >= 2 * len("上级部门收回事项")


def test_a_digest_of_names_in_two_unit_characters_keeps_its_ending_within_telegrams_count(
        data: ConsultationData) -> None:
    """Telegram counts a message in UTF-16 units, where a rare character (𠀀, 𡈽) or an emoji
    is two. Counted as one, a long title, forty such township names and such item names let
    the digest run past Telegram's limit — cut on its way out, the days left at its end
    were lost."""
    from surveys.report import DIGEST_MAX_TOWNSHIPS, TELEGRAM_LIMIT
    from surveys.text import units

    data.consultation = replace(data.consultation, title="𠀀" * 300)  # (MAX_TITLE)
    data.townships += [TownshipRef(100 + n, f"{n}" + "𠀀𡈽" * 15, 100 + n) for n in range(DIGEST_MAX_TOWNSHIPS)]
    data.comments = [replace(k, item_name=f"{k.item_name}" + "𡈽" * 60) for k in data.comments]
    text = digest(data, SINCE, NOW).text("zh_CN")
    assert units(text) <= TELEGRAM_LIMIT
    assert "距截止还有 7 天" in text and "个乡镇" in text  # the ending kept, the townships left out counted


def test_times_in_the_workbook_are_excel_dates_in_the_consultations_time_zone(data: ConsultationData) -> None:
    """Times were text ("2026-11-20 14:00"): a clerk could not sort or filter the 意见 sheet by
    date, nor count the days a reply took. Every time is a real Excel date, the wall-clock time in
    Asia/Shanghai (09:00 there is 01:00 UTC), shown as yyyy-mm-dd hh:mm."""
    from surveys.report import build_offlist_workbook

    book = openpyxl.load_workbook(io.BytesIO(build_workbook(data)))
    summary = {r[0].value: r[1] for r in book["概况"].iter_rows() if r[0].value in ("开始时间", "截止时间")}
    comments, missing, offlist = book["意见"], book["遗漏事项"], book["清单外事项"]
    cells = [summary["开始时间"], summary["截止时间"], comments["K2"], comments["M2"], missing["M2"], offlist["H2"]]
    assert [c.value for c in cells] == [datetime(2026, 11, 20, 9, 0), datetime(2026, 11, 30, 18, 0),
                                        datetime(2026, 11, 20, 14, 0), datetime(2026, 11, 20, 9, 0),
                                        datetime(2026, 11, 22, 10, 0), datetime(2026, 11, 20, 9, 0)]
    assert all(c.is_date and c.number_format == "yyyy-mm-dd hh:mm" for c in cells)
    assert comments["K5"].value is None  # (not answered: no time, not an empty text)
    other = openpyxl.load_workbook(io.BytesIO(build_offlist_workbook(data.offlist, "Asia/Shanghai"))).worksheets[0]
    assert other["I3"].value == datetime(2026, 11, 22, 15, 0) and other["I3"].number_format == "yyyy-mm-dd hh:mm"


def test_the_sheets_print_fitted_to_the_page_width_with_the_header_on_every_page(data: ConsultationData) -> None:
    """Printing the 意见 sheet gave portrait pages cut after a few columns (答复 on other pages)
    and no column names past the first page. Every table sheet prints landscape on A4, fitted to
    the page's width (as many pages down as it takes), its header row repeated on every page; the
    概况 sheet portrait, fitted to the width."""
    from surveys.report import build_offlist_workbook

    book = openpyxl.load_workbook(io.BytesIO(build_workbook(data)))
    for ws in book.worksheets:
        table = ws.title != "概况"
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 0), ws.title
        assert ws.page_setup.paperSize == 9, ws.title
        assert ws.page_setup.orientation == ("landscape" if table else "portrait"), ws.title
        assert ws.print_title_rows == ("$1:$1" if table else None), ws.title
    offlist = openpyxl.load_workbook(io.BytesIO(build_offlist_workbook(data.offlist, "Asia/Shanghai"))).worksheets[0]
    assert offlist.page_setup.orientation == "landscape" and offlist.print_title_rows == "$1:$1"
    english = openpyxl.load_workbook(io.BytesIO(build_workbook(data, "en")))
    assert [ws.print_title_rows for ws in english.worksheets][1:] == ["$1:$1"] * 6


def test_comments_hidden_by_the_organizer_are_counted_as_hidden_not_left_out_silently(data: ConsultationData) -> None:
    """A hidden comment (even one answered) was left out of every count and sheet without a word:
    a clerk who had seen more comments in the chat than the report counted could not tell why.
    The 概况 sheet says how many are hidden (0 too), and the 反馈情况说明 says it when there are some;
    they are still counted nowhere else nor listed."""
    data.comments = [replace(c, decision="rejected", reply="与本清单无关") if c.hidden else c for c in data.comments]
    rows = sheets(data)["概况"]
    assert rows_for(rows, "已隐藏的意见（条，未计入统计）") == [
        ("已隐藏的意见（条，未计入统计）", 1, None, None, None, None)]
    assert rows_for(rows, "合计")[1][1] == 5  # (the active comments, as before)
    text = feedback_report(data)
    assert "组织者已隐藏 1 条意见，未计入以上统计。" in text and "与本清单无关" not in text
    assert "共收到意见 5 条" in text
    assert "Not counted above: 1 comment hidden by the organizer." in feedback_report(data, "en")
    shown = replace(data, comments=[c for c in data.comments if not c.hidden])
    assert "隐藏" not in feedback_report(shown)
    assert rows_for(sheets(shown)["概况"], "已隐藏的意见（条，未计入统计）")[0][1] == 0


def test_the_feedback_report_of_a_consultation_nobody_answered_says_so_in_words(data: ConsultationData) -> None:
    """With no answer, no comment and no report at all the 反馈情况说明 read "收到清单外事项报告 0 条"
    and "共有 0 名群众参与问卷，完成 0 份（完成率 —）" — zeros and a dash to paste into an official
    document. It says that nothing was received and that no resident took part."""
    empty = replace(data, responses=[], comments=[], offlist=[])
    text = feedback_report(empty)
    assert "一、意见收集和采纳总体情况\n未收到对清单的意见，也未收到清单外事项报告。\n" in text
    assert "\n没有群众参与问卷。\n" in text and "0 名" not in text and "—" not in text
    en = feedback_report(empty, "en")
    assert "No comments on the list and no off-list task reports were received." in en
    assert "No resident took part in the questionnaire." in en and "0 residents" not in en
    reports_only = feedback_report(replace(empty, offlist=data.offlist))
    assert "未收到对清单的意见；收到清单外事项报告 2 条。" in reports_only


def test_dates_and_the_summary_labels_fit_their_columns(data: ConsultationData) -> None:
    """Excel shows a date wider than its column as ########: the 概况 sheet's times were in a
    column 16 wide, just the width of "2026-11-20 09:00". Every column holding a time is wide enough
    (at least 17), and the labels of the 概况 sheet's first column fit in it (two units a Chinese
    character) — the hidden comments' label ran into the figure beside it."""
    c = data.consultation
    early = replace(data, consultation=replace(c, status="closed", closed_at=c.closes_at - timedelta(days=3)))
    for locale in ("zh_CN", "en"):
        book = openpyxl.load_workbook(io.BytesIO(build_workbook(early, locale)))
        for ws in book.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    if isinstance(cell.value, datetime):
                        assert ws.column_dimensions[cell.column_letter].width >= 17, (ws.title, cell.coordinate)
        summary = book.worksheets[0]
        for row in summary.iter_rows(min_col=1, max_col=2):
            label, value = row[0].value, row[1].value
            if isinstance(label, str) and value is not None:  # (a label with a figure beside it)
                width = sum(2 if ord(ch) > 0x2E7F else 1 for ch in label)
                assert summary.column_dimensions["A"].width >= width, label


def test_the_changes_section_names_every_change_of_a_big_revision(data: ConsultationData) -> None:
    """清单修改情况 gave each township's changes as the chat's message does, cut to 4,000
    characters: a revision adding 150 items read "新增 150 项：…等 150 项", naming only some.
    The 反馈情况说明 is a file: it names every item added, removed or moved."""
    from surveys.diff import diff_lists
    from surveys.duty_list import DutyItem, Part
    from surveys.report import Revision

    old = [DutyItem(Part.BASIC, f"原有事项第{i}项：农村人居环境整治日常巡查") for i in range(60)]
    added = [DutyItem(Part.BASIC, f"新增事项第{i}项：城乡居民基本医疗保险参保登记服务") for i in range(150)]
    moved = [DutyItem(Part.COOPERATING, item.name) for item in old[:40]]
    diff = diff_lists(old, [*moved, *old[40:50], *added])
    assert len(diff.summary("zh_CN")) <= 4000 and "等 150 项" in diff.summary("zh_CN")  # (the chat's message)
    text = feedback_report(replace(data, revisions=[Revision("青山镇", "2", diff)]))
    section = text[text.index("清单修改情况"):]
    assert all(item.name in section for item in [*added, *old[:40], *old[50:]])
    assert "等 150 项" not in section


def test_the_digest_of_a_consultation_closed_early_says_it_closed_early_and_its_deadline(
        data: ConsultationData) -> None:
    """The digest of a consultation closed before its deadline said 征询已于 <close time> 截止, as if
    that had been its deadline (/stats says 提前结束，原定 … 截止). It says it was closed early, when,
    and the deadline it had; one closed at its deadline still says 截止."""
    c = data.consultation
    early = replace(data, consultation=replace(c, status="closed", closed_at=NOW))
    text = digest(early, SINCE, NOW + timedelta(hours=1)).text()
    assert text.endswith("征询已于 2026-11-23 09:00 提前结束（原定 2026-11-30 18:00 截止）。")
    assert digest(early, SINCE, NOW + timedelta(hours=1)).text("en").endswith(
        "The consultation was closed early, at 2026-11-23 09:00 (its deadline was 2026-11-30 18:00).")
    on_time = replace(data, consultation=replace(c, status="closed", closed_at=c.closes_at))
    assert digest(on_time, SINCE, c.closes_at + timedelta(hours=1)).text().endswith("征询已于 2026-11-30 18:00 截止。")


def test_once_revised_lists_are_published_the_workbook_has_a_sheet_of_what_changed(data: ConsultationData) -> None:
    """What changed in the list after the comments — what the county must publish with the
    feedback — was only prose in the 反馈情况说明: a clerk could not filter or check it item by item.
    Once revised lists are published the workbook has a 清单修改 sheet, a row per change (township,
    version, kind of change, item, parts before and after, what was edited, old → new); before,
    the workbook has no such sheet."""
    from surveys.diff import diff_lists
    from surveys.duty_list import DutyItem, Part
    from surveys.report import Revision

    assert "清单修改" not in openpyxl.load_workbook(io.BytesIO(build_workbook(data))).sheetnames
    old = [DutyItem(Part.BASIC, "最低生活保障申请受理", basis="《社会救助暂行办法》"),
           DutyItem(Part.BASIC, "矛盾纠纷排查化解"), DutyItem(Part.COOPERATING, "违法建设整治")]
    new = [DutyItem(Part.BASIC, "最低生活保障申请受理", basis="《社会救助暂行办法》第十一条"),
           DutyItem(Part.COOPERATING, "矛盾纠纷排查化解"), DutyItem(Part.BASIC, "河道日常巡查")]
    book = sheets(replace(data, revisions=[Revision("青山镇", "2", diff_lists(old, new))]))
    assert list(book)[-1] == "清单修改"
    rows = book["清单修改"]
    assert rows[0] == ("乡镇（街道）", "发布版本", "调整类型", "事项名称", "原所属部分", "现所属部分", "修改内容")
    assert set(rows[1:]) == {
        ("青山镇", "第 2 版", "新增", "河道日常巡查", None, "基本履职事项", None),
        ("青山镇", "第 2 版", "删除", "违法建设整治", "配合履职事项", None, None),
        ("青山镇", "第 2 版", "调整所属部分", "矛盾纠纷排查化解", "基本履职事项", "配合履职事项", None),
        ("青山镇", "第 2 版", "修改内容", "最低生活保障申请受理", "基本履职事项", "基本履职事项",
         "履职依据：《社会救助暂行办法》 → 《社会救助暂行办法》第十一条"),
    }
    english = openpyxl.load_workbook(io.BytesIO(build_workbook(
        replace(data, revisions=[Revision("青山镇", "2", diff_lists(old, new))]), "en")))
    assert english.sheetnames[-1] == "List changes" and english["List changes"]["C2"].value in (
        "Added", "Removed", "Moved to another part", "Edited")


def test_text_answers_sheet_stars_out_id_card_and_mobile_numbers_a_resident_typed(data: ConsultationData) -> None:
    data.responses.append(response(50, "青山镇", T0, T0 + timedelta(hours=1), aware="yes",
                                   say="路灯坏了，请联系我13812345678，身份证110101199003071234；+86 139-1234-5678"))
    data.responses.append(response(51, "青山镇", T0, T0 + timedelta(hours=1), aware="yes",
                                   say="2024年12月3日反映过，编号20241203001，户数1234"))
    texts = [r[2] for r in sheets(data)["文字意见"][1:]]
    assert "路灯坏了，请联系我138****5678，身份证110101************；+86 139-****-5678" in texts
    assert not any("12345678" in t or "199003071234" in t or "1234-5678" in t for t in texts)
    assert "2024年12月3日反映过，编号20241203001，户数1234" in texts  # dates and other numbers stay as typed


def test_cadres_texts_in_the_workbook_and_the_feedback_report_star_out_id_card_and_mobile_numbers(
        data: ConsultationData) -> None:
    """A cadre quoting a resident ("村民王某 13812345678 反映…") or an off-list report naming a
    contact: the workbook's comment, missing-item and off-list sheets and the 反馈情况说明 that
    quote it star the numbers out, as the 文字意见 sheet does."""
    data.comments.append(comment(8, "青山镇", BY_ID[2], "other", "村民王某13812345678反映，身份证110101199003071234",
                                 decision="adopted", reply="已核实"))
    data.comments.append(comment(9, "绿水镇", None, "missing", "联系人 139-1234-5678", decision="adopted", reply="已补",
                                 missing={"name": "山塘巡查", "part": "basic"}))
    data.offlist.append(OffListRecord(pseudonym(KEY, 952), "青山镇", "县应急局", "防汛值守", "2026-11-03", "phone",
                                      "请回电13712345678", T0))
    everything = [str(cell) for rows in sheets(data).values() for row in rows for cell in row]
    feedback = feedback_report(data)
    for text in [*everything, feedback]:
        assert "13812345678" not in text and "199003071234" not in text and "1234-5678" not in text
        assert "13712345678" not in text
    assert "村民王某138****5678反映，身份证110101************" in everything
    assert "联系人 139-****-5678" in everything and "请回电137****5678" in everything
    assert "村民王某138****5678反映" in feedback and "联系人 139-****-5678" in feedback
