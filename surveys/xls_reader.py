"""Reading an old Excel 97–2003 workbook (.xls) with python-calamine, in a child process.

calamine trusts the sector chains of the OLE container it opens: a 30 KB .xls whose sector table
was zeroed made it reserve memory until the process was killed (Rust aborts on a failed
allocation; no exception reaches Python). A draft sent to the bot must not take the bot down with
it, so the workbook is read by a child Python whose memory and CPU time are capped, and only plain
values come back (JSON, dates tagged).

`read_xls(data)` returns one of
- ("ok", [(sheet name, visible, grid, merged ranges (top, col, bottom), 0-based), …]),
- ("password",) — a workbook with a password to open it,
- ("too-big", sheet name, (rows, columns)) — its sheets span more than `max_cells` cells,
- ("corrupt", detail).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

MEMORY_LIMIT = 1 << 30  # bytes of address space for the child (a 1,500-row list needs a few MB)
CPU_SECONDS = 30
TIMEOUT = 60  # seconds of wall time (a busy machine) before the child is stopped


def read_xls(data: bytes, max_cells: int) -> tuple[Any, ...]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)  # the folder holding surveys/
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env["RUST_BACKTRACE"] = "0"
    try:
        done = subprocess.run([sys.executable, "-m", "surveys.xls_reader", str(max_cells)], input=data,
                              capture_output=True, timeout=TIMEOUT, env=env, check=False)
    except subprocess.TimeoutExpired:
        return ("corrupt", f"the reader did not finish in {TIMEOUT} s")
    if done.returncode != 0:
        last = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        return ("corrupt", f"the reader stopped (exit {done.returncode}): {last[0][:200]}")
    try:
        answer = json.loads(done.stdout, object_hook=_decode)
    except ValueError as exc:
        return ("corrupt", f"the reader's answer: {exc}"[:300])
    if answer[0] == "ok":
        return ("ok", [(name, visible, grid, [tuple(m) for m in merged]) for name, visible, grid, merged in answer[1]])
    return tuple(answer)


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$d": value.isoformat()}
    if isinstance(value, dt.time):
        return {"$t": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"$td": value.total_seconds()}
    if value == "":
        return None  # calamine's empty cell
    return value


def _decode(obj: dict[str, Any]) -> Any:
    if "$dt" in obj:
        return dt.datetime.fromisoformat(obj["$dt"])
    if "$d" in obj:
        return dt.date.fromisoformat(obj["$d"])
    if "$t" in obj:
        return dt.time.fromisoformat(obj["$t"])
    if "$td" in obj:
        return dt.timedelta(seconds=obj["$td"])
    return obj


def _child(data: bytes, max_cells: int) -> tuple[Any, ...]:
    import io

    import python_calamine as calamine

    try:
        wb = calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except calamine.PasswordError:
        return ("password",)
    except Exception as exc:  # noqa: BLE001 — calamine raises its own errors on broken files
        return ("corrupt", f"{type(exc).__name__}: {exc}"[:300])
    sheets = []
    cells = 0
    try:
        for meta in wb.sheets_metadata:
            if meta.typ != calamine.SheetTypeEnum.WorkSheet:
                continue  # a chart sheet
            ws = wb.get_sheet_by_name(meta.name)
            end = ws.end
            grid: list[list[Any]] = []
            if end is not None:
                cells += (end[0] + 1) * (end[1] + 1)
                if cells > max_cells:
                    return ("too-big", meta.name, (end[0] + 1, end[1] + 1))
                grid = [[_encode(v) for v in row] for row in ws.to_python(skip_empty_area=False)]
            merged = [(a[0], a[1], b[0]) for a, b in ws.merged_cell_ranges or ()]
            sheets.append((meta.name, meta.visible == calamine.SheetVisibleEnum.Visible, grid, merged))
    except Exception as exc:  # noqa: BLE001 — a sheet's records broken past the workbook's own
        return ("corrupt", f"{type(exc).__name__}: {exc}"[:300])
    finally:
        wb.close()
    return ("ok", sheets)


def main() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
    except (ImportError, ValueError, OSError):  # no such limits here (Windows): the timeout stays
        pass
    answer = _child(sys.stdin.buffer.read(), int(sys.argv[1]))
    sys.stdout.write(json.dumps(answer, ensure_ascii=False))


if __name__ == "__main__":
    main()
