"""The bot process's memory: what it imports to start. Workbooks and charts (openpyxl,
PyExcelerate, matplotlib with numpy and PIL) are loaded when a report or a digest is first
made, not at start — together they add ≈ 25 MB to every bot process's RSS
(bench/memory.py's target: < 200 MB, flat)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("openpyxl", "pyexcelerate", "matplotlib", "numpy", "PIL")


def test_starting_the_bot_loads_no_workbook_or_chart_library() -> None:
    code = (
        "import sys\n"
        "import bot.cli_run, bot.app, bot.scheduler, bot.webhook, bot.broadcaster\n"
        "import bot.routers.organizer, bot.routers.cadre, bot.routers.resident, bot.routers.common\n"
        f"print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == [], done.stdout
