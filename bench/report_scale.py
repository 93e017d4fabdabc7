"""Benchmark: reports at county scale. Seeds 100,000 respondents × 10 answers and
20,000 comments into a temporary SQLite database (and into a temporary PostgreSQL
database when one is reachable at 127.0.0.1:5432), then times, in the same run,

- load_consultation_data (responses aggregated in SQL, text answers, comments and
  off-list reports listed) + digest + build_workbook (what /export and the final
  report do), against
- plain_group_by_figures (the headline figures by SQL GROUP BY alone),

and, as a floor, PyExcelerate (with the report's writer settings) writing only the
rows the workbook must list (text answers and comments, plain values, no formatting),

and prints a table with the times (the fastest of --repeat interleaved runs of each:
this machine's speed drifts), their ratio (target ≤ 1.5×) and peak memory. It
also times the digest alone as /digest and the daily digest build it (load without
text answers or the tally per question — no answer row read — + digest), and checks,
untimed, that the headline figures of both paths are equal and that the SQL summary
equals the one computed in Python from every answer row
(`load_consultation_data(answers=True)`; skip with --no-verify).

    .venv/bin/python bench/report_scale.py [--respondents 100000] [--comments 20000]
                                           [--no-postgres] [--no-verify] [--tracemalloc]
                                           [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import resource
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pyexcelerate import Workbook
from sqlalchemy.engine import make_url

from storage.engine import make_engine, make_sessionmaker, sync_url
from storage.migrate import upgrade
from storage.models import (
    Answer,
    Comment,
    Consultation,
    ConsultationTownship,
    DutyItemRow,
    DutyListRow,
    OffListReport,
    Response,
    Township,
)
from storage.reports import load_consultation_data, plain_group_by_figures
from surveys.consultation import COMMENT_KINDS
from surveys.questionnaire import DEFAULT_QUESTIONNAIRE_PATH
from surveys.report import _Writer, build_workbook, digest, headline_figures, summarize

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CHUNK = 20_000
KINDS = COMMENT_KINDS  # the kinds cadres choose (the app's own; "missing" is seeded apart)
DECISIONS = ("adopted", "partly", "rejected", None, None)
PARTS = ("basic",) * 5 + ("cooperating",) * 3 + ("withdrawn",) * 2
CATEGORIES = ("党的建设", "经济发展", "民生服务", "平安法治", "应急管理", "乡村振兴", "生态环境", "综合保障")
RATING = """
  - id: rate
    type: item_rating
    text:
      zh_CN: 请为下面几项工作打分
      en: Please rate these duties
    allow_unsure: true
    max_items: 5
"""
NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
OPENS = NOW - timedelta(days=10)
WINDOW = (NOW - timedelta(days=1), NOW)  # the digest's: since the last one, a day ago


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed(url: str, respondents: int, n_comments: int, townships: int, items_per_list: int) -> int:
    """Bulk-insert a consultation with Core executemany; returns its id."""
    rnd = random.Random(7)
    engine = sa.create_engine(sync_url(url))
    questionnaire = DEFAULT_QUESTIONNAIRE_PATH.read_text(encoding="utf-8").rstrip() + "\n" + RATING
    with engine.begin() as conn:
        conn.execute(sa.insert(Township.__table__),
                     [{"id": t + 1, "name": f"第{t + 1}镇", "created_at": OPENS} for t in range(townships)])
        conn.execute(sa.insert(DutyListRow.__table__),
                     [{"id": t + 1, "township_id": t + 1, "version": "1", "status": "consulting",
                       "source_file": "", "created_at": OPENS} for t in range(townships)])
        items = []
        for t in range(townships):
            for n in range(items_per_list):
                items.append({"id": t * items_per_list + n + 1, "list_id": t + 1, "position": n,
                              "part": PARTS[n * len(PARTS) // items_per_list], "seq": n + 1,
                              "category": CATEGORIES[n % len(CATEGORIES)], "subcategory": "",
                              "name": f"履职事项{n + 1:03d}", "content": "", "basis": "", "county_department": "",
                              "county_duty": "", "receiving_department": "", "working_mode": "", "remarks": ""})
        conn.execute(sa.insert(DutyItemRow.__table__), items)
        cid = conn.execute(sa.insert(Consultation.__table__).values(
            title="青山县乡镇履职事项清单征求意见（压力测试）", intro="", questionnaire=questionnaire,
            opens_at=OPENS, closes_at=NOW + timedelta(days=4), status="open", settings={}, created_at=OPENS,
        )).inserted_primary_key[0]
        conn.execute(sa.insert(ConsultationTownship.__table__),
                     [{"consultation_id": cid, "township_id": t + 1, "list_id": t + 1, "code": f"bench{t:03d}"}
                      for t in range(townships)])

    needs = ("welfare", "elderly", "health", "jobs", "disputes", "safety", "environment", "housing", "roads")
    ages = ("u30", "a30_44", "a45_59", "a60_74", "a75", None)
    for start in range(0, respondents, CHUNK):
        responses, answers = [], []
        for rid in range(start + 1, min(respondents, start + CHUNK) + 1):
            tid = rid % townships + 1
            started = OPENS + timedelta(seconds=rnd.randrange(10 * 86400))
            completed = started + timedelta(minutes=rnd.randrange(2, 20)) if rnd.random() < 0.8 else None
            responses.append({"id": rid, "consultation_id": cid, "person_id": 10_000_000 + rid, "township_id": tid,
                              "started_at": started, "updated_at": completed or started,
                              "completed_at": completed})
            missing = rnd.choice(("yes", "no", "no", "unsure"))
            first = (tid - 1) * items_per_list + 1
            values: dict[str, Any] = {
                "aware": rnd.choice(("well", "some", "heard", "no")),
                "sat_welfare": rnd.choice((1, 2, 3, 4, 4, 5, 5, "unsure")),
                "sat_safety": rnd.choice((1, 2, 3, 4, 4, 5, 5, "unsure")),
                "sat_emergency": rnd.choice((1, 2, 3, 4, 5, 5, "unsure")),
                "needs": sorted(rnd.sample(needs, rnd.randint(1, 3)), key=needs.index),
                "missing": missing,
                "missing_what": "村里的河道没人管，希望乡镇定期巡查。" if missing == "yes" else None,
                "suggest": "希望办事能少跑腿，窗口多留人。" if rnd.random() < 0.2 else None,
                "age": rnd.choice(ages),
                "rate": {str(first + k): rnd.choice((1, 2, 3, 4, 5, "unsure")) for k in range(5)},
            }
            for qid, value in values.items():
                answers.append({"response_id": rid, "question_id": qid, "value": value, "answered_at": started})
        with engine.begin() as conn:
            conn.execute(sa.insert(Response.__table__), responses)
            conn.execute(sa.insert(Answer.__table__), answers)

    comments = []
    for _ in range(n_comments):
        tid = rnd.randrange(townships) + 1
        created = OPENS + timedelta(seconds=rnd.randrange(10 * 86400))
        decision = rnd.choice(DECISIONS)
        is_missing = rnd.random() < 0.05
        comments.append({
            "consultation_id": cid, "person_id": 20_000_000 + rnd.randrange(2000), "township_id": tid,
            "item_id": None if is_missing else (tid - 1) * items_per_list + rnd.randrange(items_per_list) + 1,
            "kind": "missing" if is_missing else rnd.choice(KINDS),
            "text": "该事项应由县级部门牵头，乡镇配合即可，建议调整为配合履职事项。",
            "proposed_wording": "配合县级部门做好巡查发现和信息报告" if rnd.random() < 0.3 else "",
            "missing": {"name": "河道日常巡查", "part": "basic"} if is_missing else {},
            "status": "withdrawn" if rnd.random() < 0.02 else "open", "decision": decision,
            "reply": "已按意见修改。" if decision else "", "replied_at": created + timedelta(days=1) if decision else None,
            "hidden": rnd.random() < 0.01, "created_at": created, "updated_at": created,
        })
    offlist = [{"consultation_id": cid, "person_id": 20_000_000 + n, "township_id": n % townships + 1,
                "department": f"县{('住建', '应急', '市场监管', '农业农村')[n % 4]}局", "task": f"临时排查任务{n % 37}",
                "assigned_on": "2026-11-20", "method": "document", "details": "", "created_at": OPENS}
               for n in range(500)]
    with engine.begin() as conn:
        for start in range(0, len(comments), CHUNK):
            conn.execute(sa.insert(Comment.__table__), comments[start:start + CHUNK])
        conn.execute(sa.insert(OffListReport.__table__), offlist)
    engine.dispose()
    return int(cid)


async def measure(url: str, cid: int, with_tracemalloc: bool, verify: bool, repeat: int) -> dict[str, Any]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    out: dict[str, Any] = {}
    try:
        rss_before = _rss_mb()
        for _ in range(repeat):  # interleaved; the fastest of each is kept (the machine is shared)
            async with sessions() as s:
                t = time.perf_counter()
                plain = await plain_group_by_figures(s, cid)
                best(out, "plain", time.perf_counter() - t)
            async with sessions() as s:
                t = time.perf_counter()
                data = await load_consultation_data(s, cid, "bench-key", "Asia/Shanghai", window=WINDOW)
                best(out, "load", time.perf_counter() - t)
            t = time.perf_counter()
            d = digest(data, *WINDOW)
            d.text("zh_CN")
            best(out, "digest", time.perf_counter() - t)
            t = time.perf_counter()
            xlsx = build_workbook(data)
            best(out, "workbook", time.perf_counter() - t)
            best(out, "floor", writer_floor(listed_rows(data)))
        out["xlsx_mb"] = len(xlsx) / 1e6
        out["rss_before"], out["rss_peak"] = rss_before, _rss_mb()
        out["same_figures"] = plain == headline_figures(data)
        out["texts"] = len(data.summary.texts) if data.summary else 0
        async with sessions() as s:  # untimed: the answer rows the report covers
            out["answers"] = await s.scalar(sa.select(sa.func.count()).select_from(Answer.__table__))
        async with sessions() as s:  # what /digest and the daily digest do: no text answers listed
            t = time.perf_counter()
            light = await load_consultation_data(s, cid, "bench-key", "Asia/Shanghai", window=WINDOW, texts=False,
                                                 results=False)
            digest(light, *WINDOW).text("zh_CN")
            out["digest_only"] = time.perf_counter() - t
        async with sessions() as s:  # one more GROUP BY run, after the digest's, for a fair comparison
            t = time.perf_counter()
            await plain_group_by_figures(s, cid)
            best(out, "plain", time.perf_counter() - t)
        if verify:  # untimed: the SQL summary against the one of every answer row
            async with sessions() as s:
                rows = await load_consultation_data(s, cid, "bench-key", "Asia/Shanghai", answers=True)
            out["same_summary"] = summarize(rows, WINDOW) == data.summary
            del rows
        del data, xlsx, light
        if with_tracemalloc:
            tracemalloc.start()
            async with sessions() as s:
                data = await load_consultation_data(s, cid, "bench-key", "Asia/Shanghai", window=WINDOW)
            digest(data, *WINDOW)
            build_workbook(data)
            out["py_peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()
    finally:
        await engine.dispose()
    return out


def listed_rows(data: Any) -> list[list[list[Any]]]:
    """The rows the workbook must list one by one — text answers (5 cells) and comments
    (13) — as plain values, without the summary sheets or any formatting."""
    questions = {r.question.id: r.question.text.get("zh_CN") for r in data.summary.questions}
    texts = [[a.question_id, questions.get(a.question_id, ""), a.text, a.township, a.pseudonym]
             for a in data.summary.texts]
    comments = [[c.id, c.township, c.part, c.item_name, c.kind, c.text, c.proposed_wording, c.status,
                 c.decision or "", c.reply, str(c.replied_at or ""), c.pseudonym, str(c.created_at)]
                for c in data.comments if not c.hidden]
    return [texts, comments]


def writer_floor(sheets: list[list[list[Any]]]) -> float:
    """Seconds PyExcelerate takes to write just those rows, with the report's own
    writer settings (surveys.report._Writer: chunked zip writes, fastest deflate): what
    any workbook listing them costs with this writer, before any other code of ours."""
    book = Workbook()
    book._writer = _Writer(book)
    for n, rows in enumerate(sheets):
        book.new_sheet(f"s{n}", data=rows)
    t = time.perf_counter()
    book.save(io.BytesIO())
    return time.perf_counter() - t


def best(out: dict[str, Any], key: str, seconds: float) -> None:
    out[key] = min(out.get(key, seconds), seconds)


def _postgres_reachable() -> bool:
    import socket

    u = make_url(POSTGRES_URL)
    try:
        with socket.create_connection((u.host or "127.0.0.1", u.port or 5432), timeout=1):
            return True
    except OSError:
        return False


def run(kind: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    upgrade(url)
    t = time.perf_counter()
    cid = seed(url, args.respondents, args.comments, args.townships, args.items)
    seeded = time.perf_counter() - t
    print(f"[{kind}] seeded {args.respondents:,} respondents × 10 answers, {args.comments:,} comments "
          f"in {seeded:.1f} s", flush=True)
    result = asyncio.run(measure(url, cid, args.tracemalloc, not args.no_verify, args.repeat))
    result["kind"] = kind
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--respondents", type=int, default=100_000)
    parser.add_argument("--comments", type=int, default=20_000)
    parser.add_argument("--townships", type=int, default=10)
    parser.add_argument("--items", type=int, default=300, help="items per township list")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip the untimed check of the SQL summary against every answer row")
    parser.add_argument("--tracemalloc", action="store_true", help="also measure Python's peak allocation")
    parser.add_argument("--repeat", type=int, default=3,
                        help="interleaved runs of the GROUP BY and of each report step; the fastest of each counts")
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(run("sqlite", f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", args))
    if not args.no_postgres and _postgres_reachable():
        name = f"qingdan_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(make_url(POSTGRES_URL).set(drivername="postgresql+psycopg"),
                                 isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
            results.append(run("postgres", url, args))
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    elif not args.no_postgres:
        print("PostgreSQL not reachable at", POSTGRES_URL, "- SQLite only")

    print()
    head = (f"{'db':<9}{'answers':>10}{'load s':>9}{'digest s':>10}{'xlsx s':>9}{'report s':>10}"
            f"{'GROUP BY s':>12}{'ratio':>9}{'floor s':>9}{'least':>8}{'/digest s':>11}{'xlsx MB':>9}{'RSS MB':>14}"
            f"{'same':>6}")
    print(head)
    print("-" * len(head))
    for r in results:
        report = r["load"] + r["digest"] + r["workbook"]
        rss = f"{r['rss_before']:.0f}→{r['rss_peak']:.0f}"
        same = "yes" if r["same_figures"] and r.get("same_summary", True) else "NO"
        print(f"{r['kind']:<9}{r['answers']:>10,}{r['load']:>9.2f}{r['digest']:>10.2f}{r['workbook']:>9.2f}"
              f"{report:>10.2f}{r['plain']:>12.2f}{report / r['plain']:>8.2f}×{r['floor']:>9.2f}"
              f"{(r['plain'] + r['floor']) / r['plain']:>7.2f}×{r['digest_only']:>11.2f}"
              f"{r['xlsx_mb']:>9.1f}{rss:>14}{same:>6}")
        if "py_peak_mb" in r:
            print(f"{'':<9}tracemalloc peak of load+digest+workbook: {r['py_peak_mb']:.0f} MB")
    print("\nratio = (load + digest + workbook) / GROUP BY; target ≤ 1.5×. floor = PyExcelerate writing "
          "only the rows the workbook lists (text answers, comments), unformatted; least = (GROUP BY + floor) / "
          "GROUP BY, the lowest ratio a report holding those rows could reach with this writer (its load includes "
          "the GROUP BY). /digest = load without text "
          "answers or tallies (no answer row read) + digest. same = headline figures equal (and, unless --no-verify, the SQL summary equals "
          "the one of every answer row). RSS: process max RSS before → after the report (includes seeding).")
    print(json.dumps([{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in results]))


if __name__ == "__main__":
    main()
