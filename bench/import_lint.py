"""Benchmark: import and lint a 2,000-item draft workbook (and the same list as a
GBK CSV), then diff it against a revised version. Prints a small table of
times and items per second.

    .venv/bin/python bench/import_lint.py [--items 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from surveys.diff import diff_lists
from surveys.duty_list import DutyItem, Part
from surveys.importer import read_duty_list
from surveys.lint import lint
from surveys.samples.make_samples import build_sample_items, write_csv, write_xlsx

T = TypeVar("T")


def make_items(n: int) -> list[DutyItem]:
    """`n` items shaped like the 青山镇 sample (same parts, categories and
    bases), with distinct names and continuous numbering per part."""
    base = build_sample_items()
    items: list[DutyItem] = []
    seqs = {p: 0 for p in Part}
    for i in range(n):
        model = base[i % len(base)]
        seqs[model.part] += 1
        items.append(replace(model, name=f"{model.name}（{i // len(base) + 1}）", seq=seqs[model.part]))
    # keep each part contiguous, as a workbook has one sheet per part
    return sorted(items, key=lambda it: list(Part).index(it.part))


def best_of(repeat: int, fn: Callable[[], T]) -> tuple[float, T]:
    best = float("inf")
    result: T
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n, repeat = args.items, args.repeat
    items = make_items(n)
    revised = [replace(i, basis=i.basis + "（修订）") if k % 10 == 0 else i for k, i in enumerate(items)][:-50]

    rows: list[tuple[str, float, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        xlsx, csv_path = Path(tmp) / "draft.xlsx", Path(tmp) / "draft.csv"
        t, _ = best_of(1, lambda: write_xlsx(items, xlsx))
        rows.append(("write xlsx (openpyxl)", t, n))
        write_csv(items, csv_path, "gbk")
        t, result = best_of(repeat, lambda: read_duty_list(xlsx))
        assert result.ok and len(result.items) == n, result.render()[:5]
        rows.append(("import xlsx", t, n))
        t, csv_result = best_of(repeat, lambda: read_duty_list(csv_path))
        assert csv_result.ok and len(csv_result.items) == n
        rows.append(("import csv (GBK)", t, n))
        t, problems = best_of(repeat, lambda: lint(result.items))
        rows.append(("lint", t, n))
        t, diff = best_of(repeat, lambda: diff_lists(items, revised))
        rows.append(("diff", t, n))
        t, summary = best_of(repeat, lambda: diff.summary("zh_CN"))
        rows.append(("diff summary", t, n))
        size_kb = xlsx.stat().st_size / 1024

    print(f"{n} items (workbook {size_kb:.0f} KB), best of {repeat}; lint found {len(problems)} problems; "
          f"diff: {len(diff.changed)} changed, {len(diff.removed)} removed; summary {len(summary)} chars")
    print(f"{'step':<24}{'seconds':>10}{'items/s':>12}")
    for name, seconds, count in rows:
        rate = count / seconds if seconds else float("inf")
        print(f"{name:<24}{seconds:>10.3f}{rate:>12,.0f}")


if __name__ == "__main__":
    main()
