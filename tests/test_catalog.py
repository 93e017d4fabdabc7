"""The locale catalog is complete: zh_CN and en hold the same keys, every key the code
names literally exists, and every message formats with the fields it uses."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

import bot.texts  # noqa: F401  (registers bot/locales)

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("surveys", "bot")
# ctx.t("key") and gettext("key"): calls naming a full key (helpers that add a prefix are not matched)
KEY_CALL = re.compile(r"""(?:\.t|\bgettext)\(\s*["']([a-z][a-z0-9_.-]+)["']""")


def _catalog(package: str, locale: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for po in sorted((ROOT / package / "locales" / locale / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as fh:
            for msg in read_po(fh, locale=locale):
                if msg.id:
                    assert str(msg.id) not in out, f"{po.name}: {msg.id} defined twice"
                    out[str(msg.id)] = str(msg.string)
    return out


@pytest.mark.parametrize("package", PACKAGES)
def test_chinese_and_english_have_the_same_keys(package):
    zh, en = _catalog(package, "zh_CN"), _catalog(package, "en")
    assert sorted(set(zh) - set(en)) == []
    assert sorted(set(en) - set(zh)) == []
    assert all(v.strip() for v in zh.values()) and all(v.strip() for v in en.values())


@pytest.mark.parametrize("package", PACKAGES)
def test_both_languages_use_the_same_placeholders(package):
    zh, en = _catalog(package, "zh_CN"), _catalog(package, "en")

    def fields(text: str) -> set[str]:
        return {name.split("[")[0] for _, name, _, _ in string.Formatter().parse(text) if name}

    def plural_marks_ok(text: str, own: set[str]) -> bool:  # "{n_s}" needs its "{n}" (surveys.i18n)
        return all(f[:-2] in own for f in own if f.endswith("_s"))

    def base(text: str) -> set[str]:
        return {f for f in fields(text) if not f.endswith("_s")}

    mismatched = [k for k in zh if k in en and (base(zh[k]) != base(en[k])
                                                  or not plural_marks_ok(en[k], fields(en[k])))]
    assert mismatched == []


def test_every_literal_key_in_the_code_is_in_the_catalog():
    known = set()
    for package in PACKAGES:
        known |= set(_catalog(package, "zh_CN"))
    missing = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for key in KEY_CALL.findall(path.read_text(encoding="utf-8")):
                if "." in key and key not in known and not key.endswith("."):
                    missing.append(f"{path.relative_to(ROOT)}: {key}")
    assert missing == []


def test_english_plurals_follow_the_number():
    from surveys.i18n import gettext

    assert gettext("cadre.items", "en", part="P", category="C", n=1, page=1, pages=1).startswith("<b>P · C</b>\n1 item,")
    assert "\n2 items," in gettext("cadre.items", "en", part="P", category="C", n=2, page=1, pages=1)
    assert gettext("cli.lint-total", "en", errors=1, warnings=0) == "Checked: 1 error, 0 warnings."
    assert gettext("cli.lint-total", "zh_CN", errors=1, warnings=0) == "检查完毕：1 个错误，0 个提示。"


def test_every_flow_key_is_used():
    """The flow's texts are named whole (gettext("flow.summary.line")) or by their error
    (_error("too-many") is "flow.too-many"); a key named neither way is dead weight a
    translator keeps up for nothing (flow.button.done said 选好了 where the button says 完成)."""
    code = "".join((ROOT / package).joinpath(path).read_text(encoding="utf-8")
                   for package, path in (("surveys", "flow.py"), ("bot", "routers/resident.py")))
    named = set(re.findall(r"""["'](flow\.[a-z0-9_.-]+)["']""", code))
    named |= {f"flow.{key}" for key in re.findall(r"""_error\(\s*["']([a-z0-9_.-]+)["']""", code)}
    unused = sorted(key for key in _catalog("surveys", "zh_CN") if key.startswith("flow.") and key not in named)
    assert unused == []


def test_a_comment_not_answered_yet_is_named_the_same_in_every_output():
    """The workbook said 未答复, the 反馈情况说明 尚未答复, the organizer's /comments filter 未答复
    and its cards 待答复 (English: "Unanswered" beside "Not yet answered"): one state, one name —
    尚未答复 / "unanswered" (short enough for the /comments filter's two-button row) — wherever
    the organizer reads it."""
    zh = {**_catalog("surveys", "zh_CN"), **_catalog("bot", "zh_CN")}
    en = {**_catalog("surveys", "en"), **_catalog("bot", "en")}
    assert [k for k, v in zh.items() if re.search("(?<!尚)未答复", v)] == []
    assert [k for k, v in en.items() if re.search(r"\b[Nn]ot (?:yet )?answered\b",
                                                  re.sub(r"\{\w+\}", "", v))] == []
    for key in ("report.decision.none", "organizer.f-unanswered", "comment.decision.open"):
        assert zh[key] == "尚未答复", key
        assert en[key].lower() == "unanswered", key


def test_a_named_list_version_reads_as_its_name_and_a_number_as_第_n_版() -> None:
    # "第 修订稿 版", "青山镇，第 2026修订稿 版": the templates wrapped every version in 第 … 版
    from surveys.i18n import gettext, version_label

    assert version_label("2") == "第 2 版" and version_label("2", "en") == "version 2"
    assert version_label("修订稿") == "“修订稿”" and version_label("2026修订稿") == "“2026修订稿”"
    assert version_label("征求意见后") == "“征求意见后”版" and version_label("修订稿", "en") == "“修订稿”"
    said = gettext("cli.imported", "zh_CN", township="青山镇", version="2026修订稿", list_id=3)
    assert said == "已导入：青山镇，“2026修订稿”（清单编号 3）。"
    assert gettext("cli.imported", "zh_CN", township="青山镇", version="2", list_id=3) == "已导入：青山镇，第 2 版（清单编号 3）。"
    assert gettext("cli.imported", "en", township="青山镇", version="2", list_id=3) == \
        "Imported: 青山镇, version 2 (list id 3)."
    for loc in ("zh_CN", "en"):
        for key in ("cli.list-head", "organizer.township-version", "scheduler.changes",
                    "report.feedback.changes-township", "conflict.consulted-vs"):
            text = gettext(key, loc, township="青山镇", version="修订稿", list_id=1, status="", title="t",
                           summary="", n=1, url="", other=2, other_version="3", id=1)
            assert "第 修订稿 版" not in text and "version 修订稿" not in text and "修订稿" in text, (key, text)


def test_a_list_version_reads_as_each_language_says_it_from_the_catalog():
    """A version is a number (第 2 版 / version 2) or a name (“修订稿”; “征求意见后”版 where the name
    does not say 版/稿/本) — one helper, its words in the catalog, used by every output."""
    from surveys.i18n import version_label

    assert [version_label("2", loc) for loc in ("zh_CN", "en")] == ["第 2 版", "version 2"]
    assert [version_label(v, "zh_CN") for v in ("修订稿", "2026修订稿", "征求意见后")] == \
        ["“修订稿”", "“2026修订稿”", "“征求意见后”版"]
    assert version_label("征求意见后", "en") == "“征求意见后”"
    zh = _catalog("surveys", "zh_CN")
    assert zh["version.number"] == "第 {n} 版" and "published-version" not in " ".join(_catalog("bot", "zh_CN"))
