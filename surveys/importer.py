"""Reading an organizer's draft duty list from an Excel workbook or a CSV file.

`read_duty_list` never raises: whatever arrives (a real draft, a Word file renamed
.xlsx, a photo, half a download) comes back as an `ImportResult` whose problems say
what is wrong and where (file, sheet, 1-based row, the column header as written).

Import is all-or-nothing: when any error is found `items` is empty, and the
problems list every error found, so the organizer can fix the file in one pass.
Warnings (an ignored column, a skipped notes sheet) do not stop the import.

What is understood:
- `.xlsx` workbooks, one sheet per part (sheet names such as 基本履职事项/配合/收回 or 取消),
  or one sheet with a part column (部分/类型/事项类型/清单类型), or one sheet with
  section rows ("一、基本履职事项") between the parts; title rows above the header;
  merged cells (a merged category applies to every row it covers); blank rows;
  category heading rows ("（一）党的建设"); formulas (their cached value); dates.
- CSV in UTF-8, UTF-8 with BOM, GB18030/GBK, UTF-16 with BOM (Excel's "Unicode
  text"), or whatever charset-normalizer can vouch for; comma, tab or semicolon. CSV keeps
  a merged cell's value on its first row only, so there a blank part or category cell
  takes the value of the row above.
- Header variants in Chinese and English, insensitive to case, white space and
  full-width forms.

- Old Excel 97–2003 workbooks (.xls), read with python-calamine in a child process (see
  surveys.xls_reader) and then as an .xlsx is: the same sheets, hidden sheets skipped, merged
  cells, dates and numbers. calamine does not tell which rows are hidden (an .xls's hidden rows
  are read with no warning), nor a formula's text or a cell's Excel error (both read as blank).
  A WPS .et file is read when it is an .xls inside (calamine opens it).

Not read, each refused with the steps to save it as .xlsx: a WPS 表格 .et in WPS's own format, a
workbook with a password to open it, a damaged .xls, a Word document.

The file type is decided by content, not by the name.

A workbook's parts are read as a stream before openpyxl builds them, so that a small file
cannot make it build billions of cells (a stray cell in XFD1048576, a merged range over the
whole sheet) or millions of styles: such a workbook is refused with a problem saying why.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from surveys.duty_list import DutyItem, Part
from surveys.i18n import LOCALES
from surveys.problems import Problem, Severity, has_errors

MAX_FILE_BYTES = 50 * 1024 * 1024  # a 1,500-row draft is well under 1 MB
MAX_UNZIPPED_BYTES = 400 * 1024 * 1024  # guards against zip bombs
# ... and so does the inflation of each member (Apache POI's rule): real workbooks' parts inflate
# 2–25-fold, a part of blanks a thousandfold (a few hundred KB reading as 400 MB, held in memory)
MAX_INFLATE_RATIO = 100
INFLATE_CHECKED_FROM = 1024 * 1024  # (a small part may inflate as it likes)
#: Cells the sheets of one workbook may span, each sheet counted from A1 to its farthest cell
#: (50,000 rows × 20 columns): openpyxl builds a cell object for each of them, so two cells
#: far apart (A1 and XFD1048576) in a 5 KB file would cost it billions.
MAX_CELLS = 1_000_000
#: XML elements in a workbook's other parts (styles, comments, drawings…), together: openpyxl
#: builds each of them too. Excel allows 64,000 cell formats; a list needs a few dozen.
MAX_PART_ELEMENTS = 500_000
MAX_CELL_CHARS = 5_000
MAX_DATA_ROWS = 50_000  # per file; real first-pass inventories reach ~1,500
HEADER_SCAN_ROWS = 10
MAX_SEQ = 2**31 - 1  # a 序号 is stored in a 32-bit INTEGER column
MAX_PROBLEMS = 200  # of one kind of error, beyond which the rest are summarised

# --- headers -------------------------------------------------------------------

#: Exact header spellings (after `_norm_header`) and the field each one fills.
#: "part" is the part column of a single-sheet list.
_HEADER_EXACT: dict[str, str] = {}


def _add_headers(field_name: str, *spellings: str) -> None:
    for s in spellings:
        _HEADER_EXACT[_norm_header_raw(s)] = field_name


def _norm_header_raw(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"\s+", "", text)
    return text.strip(":*").replace("_", "")


_add_headers("seq", "序号", "编号", "序", "no.", "no", "seq", "#", "number", "item no.", "sn")
_add_headers("category", "领域", "类别", "一级类别", "一级分类", "分类", "事项类别", "所属领域", "category")
_add_headers("subcategory", "二级类别", "二级分类", "二级领域", "子类", "subcategory", "sub-category")
_add_headers("name", "事项名称", "名称", "事项", "履职事项", "履职事项名称", "职责事项", "item", "name", "item name",
             "duty item", "duty")
_add_headers("content", "具体内容", "乡镇职责", "乡镇(街道)职责", "乡镇(街道)配合职责", "配合职责",
             "乡镇配合职责", "街道职责", "事项内容", "职责内容", "content", "township duty",
             "township role")
_add_headers("basis", "履职依据", "依据", "法律政策依据", "理由", "依据/理由", "依据理由", "收回依据",
             "basis", "legal basis")
_add_headers("county_department", "对应上级部门", "县级部门", "牵头部门", "对应上级(县级)部门",
             "对应县级部门", "上级部门", "县直部门", "county department", "lead department",
             "department", "countydepartment")
_add_headers("county_duty", "上级部门职责", "县级部门职责", "县直部门职责", "county duty",
             "department duty", "countyduty")
_add_headers("receiving_department", "承接部门", "receiving department", "receiver", "taken over by",
             "receivingdepartment")
_add_headers("working_mode", "收回后工作方式", "工作方式", "working mode", "workingmode")
_add_headers("remarks", "备注", "remarks", "remark", "notes", "note")
_add_headers("part", "部分", "类型", "事项类型", "清单类型", "所属部分", "清单部分", "part", "type")

# Looser rules for headers not spelled exactly as above, tried in order.
_HEADER_FUZZY: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"二级.*(类别|分类|领域)"), "subcategory"),
    (re.compile(r"依据|理由"), "basis"),
    (re.compile(r"承接"), "receiving_department"),
    (re.compile(r"工作方式|收回后.*方式"), "working_mode"),
    (re.compile(r"备注"), "remarks"),
    (re.compile(r"部门.*职责"), "county_duty"),
    (re.compile(r"(乡镇|街道|配合).*职责|具体内容|内容"), "content"),
    (re.compile(r"事项名称"), "name"),  # "上级部门收回事项名称": the item, not a department
    (re.compile(r"收回.*部门"), "receiving_department"),  # the department that takes the duty back
    (re.compile(r"部门|(牵头|责任|主管)单位"), "county_department"),  # 牵头单位/责任单位: the lead department
    (re.compile(r"类别|领域|分类"), "category"),
    (re.compile(r"名称"), "name"),
    (re.compile(r"序号|编号"), "seq"),
)


#: A column of the county departments that assist the lead one ("配合部门", "协办单位"): beside the
#: lead department's column it is not read (alone it is the department the township works with)
_ASSISTING = re.compile(r"(配合|协办|协助|协同)(部门|单位)")
#: A column of the numbers items had in an earlier draft or list ("原序号", "原清单编号"): beside the
#: 序号 column it is not read (alone it is the only number there is)
_OLD_NUMBER = re.compile(r"^(原|旧|原始|原清单|原来)(清单)?(序号|编号)$")


def header_field(text: object) -> str | None:
    """The item field a column header stands for, or None."""
    if not isinstance(text, str):
        return None
    key = _norm_header_raw(text)
    if not key or len(key) > 40:
        return None
    if key in _HEADER_EXACT:
        return _HEADER_EXACT[key]
    for pattern, field_name in _HEADER_FUZZY:
        if pattern.search(key):
            return field_name
    return None


# --- parts ---------------------------------------------------------------------

_PART_WORDS: tuple[tuple[re.Pattern[str], Part], ...] = (
    (re.compile(r"收回|取消|withdrawn|withdrawal|taken ?back"), Part.WITHDRAWN),  # drafts name it 取消 too
    (re.compile(r"配合|cooperat|co-operat|assist"), Part.COOPERATING),
    (re.compile(r"基本|basic"), Part.BASIC),
)


def part_from_text(text: object) -> Part | None:
    """基本履职事项/基本/配合/上级部门收回事项/收回/basic/... → the Part."""
    if not isinstance(text, str):
        return None
    key = unicodedata.normalize("NFKC", text).lower().strip()
    if not key:
        return None
    if key in {p.value for p in Part}:
        return Part(key)
    # The leading words name the part: "基本履职事项清单（不含收回事项）" is the basic part, so a
    # bracketed aside is read only when nothing outside it names a part, and the earliest word wins.
    for candidate in (_ASIDE.sub(" ", key), key):
        found = [(m.start(), part) for pattern, part in _PART_WORDS if (m := pattern.search(candidate))]
        if found:
            return min(found, key=lambda hit: hit[0])[1]
    return None


_ASIDE = re.compile(r"[(（][^()（）]*[)）]")


_SECTION_PART = re.compile(r"(基本履职事项|配合履职事项|收回事项|取消事项|basic|cooperating|withdrawn)", re.I)
_PART_HEADING = re.compile(r"^(乡镇|街道)?(基本履职事项|配合履职事项|(上级部门)?收回事项|取消事项)(清单)?$")
_ENUM_PREFIX = re.compile(r"^\s*([(（]?[一二三四五六七八九十\d]+[)）]?[、.．,，\s]*)")
_CN_ENUM = re.compile(r"^[(（]?[一二三四五六七八九十]+[)）]?[、.．]?$")  # "（一）", "二、": a heading's number
#: A note typed in a row of its own ("注：1.本清单…", "说明：…", "填表说明:"): neither an item nor a heading
_NOTE = re.compile(r"^(注|备注|附注|说明|填表说明|注意事项)\s*\d*\s*[:：]")
#: A total row ("合计", "小计：12", "共 46 项", "（共46项）"): neither an item nor a category heading
_TOTAL = re.compile(
    r"^[(（]?\s*(本(部分|类|清单)|以上|上述)?\s*(合\s*计|小\s*计|总\s*计|共\s*计|总\s*数|共|total|subtotal)"
    r"\s*[:：]?\s*(共\s*)?(\d+\s*[项条个]?)?\s*[)）]?\s*[。.]?$",
    re.I,
)
#: "共" or "总数" with no count in the cell: a total only when the count stands beside it ("总数" | 46);
#: alone in a row it is no total (合计/小计/总计/共计 alone are)
_BARE_COUNT_WORD = re.compile(
    r"^[(（]?\s*(本(部分|类|清单)|以上|上述)?\s*(共|总\s*数)\s*[:：]?\s*[)）]?\s*[。.]?$")
_COUNT_SUFFIX = re.compile(r"[(（]\s*(共\s*)?\d+\s*项\s*[)）]\s*$")


def _heading_text(text: str) -> str:
    """"（一）党的建设（12项）" → "党的建设"."""
    text = _COUNT_SUFFIX.sub("", text.strip())
    return _ENUM_PREFIX.sub("", text, count=1).strip()


# --- result --------------------------------------------------------------------


@dataclass(slots=True)
class ImportResult:
    """The items read from one file and the problems found on the way."""

    items: list[DutyItem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    file: str = ""
    #: "xlsx", "xls" (or "et": an .xls named .et), or the text encoding a CSV file was read in ("utf-8", "gb18030", …)
    encoding: str | None = None
    #: Per sheet (None for a CSV file), each item field's column header as the drafter wrote it, so
    #: that the lint names a column as the import does ("履职依据", not "basis")
    columns: dict[str | None, dict[str, str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no error was found (warnings allowed)."""
        return not has_errors(self.problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    def render(self, locale: str | None = None) -> list[str]:
        """Each problem as one line of text, in `locale`."""
        return [p.render(locale) for p in self.problems]


class _Collector:
    """Problems of one import, all carrying the file name."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self._counts: dict[str, int] = {}
        self._severities: dict[str, Severity] = {}
        self.encoding: str | None = None
        self.columns: dict[str | None, dict[str, str]] = {}

    def add(self, severity: Severity, rule: str, *, sheet: str | None = None, row: int | None = None,
            column: str | None = None, part: Part | None = None, **params: Any) -> None:
        n = self._counts.get(rule, 0) + 1
        self._counts[rule] = n
        self._severities[rule] = severity
        if n > MAX_PROBLEMS:
            return
        if column is not None:
            params.setdefault("column", column)
        self.problems.append(Problem(severity, rule, params=params, part=part.value if part else None,
                                     sheet=sheet, row=row, column=column, file=self.file))

    def error(self, rule: str, **kw: Any) -> None:
        self.add(Severity.ERROR, rule, **kw)

    def warning(self, rule: str, **kw: Any) -> None:
        self.add(Severity.WARNING, rule, **kw)

    def finish(self) -> None:
        for rule, n in self._counts.items():
            if n > MAX_PROBLEMS:
                first = next(p for p in self.problems if p.rule == rule)
                self.problems.append(_more_problems(first, n - MAX_PROBLEMS, self.file))


def _more_problems(first: Problem, count: int, file: str | None) -> Problem:
    """The line standing for `count` problems not listed of the kind of `first` (the first of them
    listed): as grave as they are, so that warnings do not stop the import."""
    like = {loc: _gist(first.message(loc), 60 if loc == "en" else 30) for loc in LOCALES}
    return Problem(first.severity, "import.more-problems", params={"rule": first.rule, "count": count, "like": like},
                   file=file)


def capped(problems: list[Problem], file: str | None = None) -> list[Problem]:
    """`problems` with at most MAX_PROBLEMS of each rule, the rest of each summarised in one line
    (as the import's own problems are): a list whose basis column is empty throughout gets one
    screen, not ten thousand lines."""
    counts: dict[str, int] = {}
    kept: list[Problem] = []
    for p in problems:
        counts[p.rule] = counts.get(p.rule, 0) + 1
        if counts[p.rule] <= MAX_PROBLEMS:
            kept.append(p)
    for rule, n in counts.items():
        if n > MAX_PROBLEMS:
            kept.append(_more_problems(next(p for p in kept if p.rule == rule), n - MAX_PROBLEMS, file))
    return kept


def _gist(text: str, limit: int) -> str:
    text = text.rstrip("。.")
    return text if len(text) <= limit else text[:limit - 1] + "…"


# --- entry point ---------------------------------------------------------------


def read_duty_list(source: Path | bytes, filename: str | None = None,
                   locale: str | None = None) -> ImportResult:
    """Read a draft duty list from a path or from the bytes of an upload.

    `filename` names the file in problems (default: the path's name, or "upload").
    `locale` is accepted for symmetry with the other readers: problems are
    rendered in the reader's language later, with `Problem.message(locale)`.
    Never raises.
    """
    if filename is None:
        filename = source.name if isinstance(source, Path) else "upload"
    out = _Collector(filename)
    items: list[DutyItem] = []
    try:
        data = _read_source(source, out)
        if data is not None:
            items = _read_bytes(data, filename, out)
    except Exception as exc:  # noqa: BLE001 — the contract is: never raise
        out.error("import.internal", detail=f"{type(exc).__name__}: {exc}"[:300])
        items = []
    out.finish()
    result = ImportResult(items=items, problems=out.problems, file=filename, encoding=out.encoding,
                          columns=out.columns)
    if not result.ok:
        result.items = []
    return result


def _read_source(source: Path | bytes, out: _Collector) -> bytes | None:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        try:
            size = Path(source).stat().st_size
            if size > MAX_FILE_BYTES:
                out.error("import.file-too-large", size_mb=round(size / 1048576, 1),
                          limit_mb=MAX_FILE_BYTES // 1048576)
                return None
            data = Path(source).read_bytes()
        except OSError as exc:
            out.error("import.unreadable", detail=str(exc)[:300])
            return None
    if len(data) > MAX_FILE_BYTES:
        out.error("import.file-too-large", size_mb=round(len(data) / 1048576, 1),
                  limit_mb=MAX_FILE_BYTES // 1048576)
        return None
    return data


_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"%PDF", "PDF"),
    (b"Rar!", "RAR"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"\x1f\x8b", "gzip"),
    (b"BM", "BMP"),
    (b"RIFF", "RIFF (WebP/WAV/AVI)"),
    (b"{\\rtf", "RTF"),
)


def _read_bytes(data: bytes, filename: str, out: _Collector) -> list[DutyItem]:
    if not data.strip(b" \t\r\n\x00\xef\xbb\xbf"):
        out.error("import.empty-file")
        return []
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return _read_zip(data, filename, out)
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):  # OLE: old Excel, encrypted, WPS or old Word
        if filename.lower().endswith((".doc", ".wps")):
            out.error("import.word-document")
        elif "EncryptedPackage".encode("utf-16-le") in data[:1 << 20]:  # an .xlsx with a password to open it
            out.error("import.encrypted-workbook")
        else:  # old Excel 97–2003 (.xls), or WPS 表格's .et where python-calamine can read it
            return _read_xls(data, filename, out)
        return []
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            out.error("import.not-a-table", kind=kind)
            return []
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html", b"<table", b"<?xml", b"<meta")):
        out.error("import.not-a-table", kind="HTML/XML")
        return []
    text = _decode(data, out)
    if text is None:
        return []
    if filename.lower().endswith((".xlsx", ".xlsm", ".xls")):
        out.warning("import.extension-mismatch", actual="CSV")
    return _read_csv_text(text, filename, out)


# --- workbooks -----------------------------------------------------------------


def _zip_kind(names: set[str]) -> str:
    if "word/document.xml" in names:
        return "Word (.docx)"
    if "ppt/presentation.xml" in names:
        return "PowerPoint (.pptx)"
    if "content.xml" in names and "mimetype" in names:
        return "OpenDocument (.ods/.odt)"
    return "ZIP"


class _TooBig(Exception):
    """A workbook part holds more than openpyxl should be asked to build."""


class _PartScan:
    """One XML part of a workbook read as a stream (expat, which refuses entity expansion
    bombs), counting what openpyxl would build from it. Parts are told apart by their root
    element, as openpyxl reads whatever the workbook's relationships point at."""

    def __init__(self, cells_left: int, elements_left: int) -> None:
        self.kind: str | None = None  # the root element: worksheet, sst, workbook, Relationships…
        self.cells_left = cells_left
        self.elements_left = elements_left
        self.rows = self.columns = 0  # a worksheet's farthest row and column, merged ranges included
        self.row = self.column = 0  # the cell being read (cells may omit their reference)
        self.cells = 0  # worksheet cells, shared strings
        self.elements = 0
        self.farthest = "A1"
        self.formula = False
        self.sheet_rels: list[str] = []  # workbook: the relationship id of each sheet, in order
        self.targets: dict[str, str] = {}  # Relationships: id → internal target

    def feed(self, src: Any) -> None:
        from xml.parsers import expat

        from openpyxl.utils.cell import coordinate_to_tuple, get_column_letter, range_boundaries

        self._cell, self._letter, self._range = coordinate_to_tuple, get_column_letter, range_boundaries
        parser = expat.ParserCreate()
        parser.StartElementHandler = self._start
        while chunk := src.read(1 << 20):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        local = name.rpartition(":")[2]
        if self.kind is None:
            self.kind = local
        self.elements += 1
        if self.kind == "worksheet":
            if local == "c":
                self.cells += 1
                try:
                    self.row, self.column = self._cell(attrs["r"])
                except (KeyError, ValueError, TypeError):
                    self.column += 1
                self._reach(self.row, self.column)
            elif local == "row":
                self.row = int(attrs["r"]) if attrs.get("r", "").isdigit() else self.row + 1
                self.column = 0
            elif local == "mergeCell":
                try:
                    _, _, max_col, max_row = self._range(attrs.get("ref", ""))
                except (ValueError, TypeError):
                    return
                if max_row and max_col:
                    self._reach(max_row, max_col)
            elif local == "f":
                self.formula = True
            if self.rows * self.columns > self.cells_left or self.cells > self.cells_left \
                    or self.elements > 5 * self.cells_left:
                self.farthest = f"{self._letter(min(max(self.columns, 1), 18278))}{self.rows}"
                raise _TooBig
        elif self.kind == "sst":
            self.cells += local == "si"
            if self.cells > self.cells_left:  # every string a cell uses is in a cell
                raise _TooBig
        elif self.elements > self.elements_left:
            raise _TooBig
        elif local == "sheet" and self.kind == "workbook":
            self.sheet_rels.append(next((v for k, v in attrs.items() if k.endswith(":id")), ""))
        elif local == "Relationship" and attrs.get("TargetMode") != "External":
            self.targets[attrs.get("Id", "")] = attrs.get("Target", "")

    def _reach(self, row: int, column: int) -> None:
        self.rows = max(self.rows, row)
        self.columns = max(self.columns, column)


def _scan_parts(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], out: _Collector) -> bool | None:
    """Reads every XML part once before openpyxl does: refuses a workbook whose sheets span
    more than MAX_CELLS cells (each time the workbook lists a sheet: two entries may name one
    part) or whose other parts hold more than MAX_PART_ELEMENTS elements, and says whether a
    sheet holds a formula. None when refused (reported)."""
    import posixpath
    from xml.parsers import expat

    spans: dict[str, int] = {}  # worksheet part → cells it spans
    cells = elements = 0
    formula = False
    workbook: tuple[str, _PartScan] | None = None
    rels: dict[str, dict[str, str]] = {}
    for info in infos:  # by content, not name: openpyxl reads whatever the relationships name
        if info.is_dir():
            continue
        scan = _PartScan(MAX_CELLS - cells, MAX_PART_ELEMENTS - elements)
        try:
            with zf.open(info) as src:
                scan.feed(src)
        except _TooBig:
            if scan.kind == "worksheet":
                out.error("import.sheet-too-big", cell=scan.farthest, limit=MAX_CELLS)
            else:
                out.error("import.workbook-too-complex", member=info.filename[:80], limit=MAX_PART_ELEMENTS)
            return None
        except expat.ExpatError:
            continue  # not XML (a picture), or openpyxl meets the same error if it reads the part
        if scan.kind == "worksheet":
            spans[info.filename] = scan.rows * scan.columns
            cells += max(scan.rows * scan.columns, scan.cells)
            formula = formula or scan.formula
        elif scan.kind == "sst":
            cells += scan.cells
        else:
            elements += scan.elements
            if scan.kind == "workbook" and workbook is None:
                workbook = (info.filename, scan)
            elif scan.kind == "Relationships":
                rels[info.filename] = scan.targets
    if workbook is not None:  # each sheet the workbook lists is built anew, even from a part listed before
        folder, name = posixpath.split(workbook[0])
        targets = rels.get(posixpath.join(folder, "_rels", f"{name}.rels"), {})
        total = 0
        for rel_id in workbook[1].sheet_rels:
            target = targets.get(rel_id, "")
            part = target[1:] if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
            total += spans.get(part, 0)
            if total > MAX_CELLS:
                out.error("import.workbook-too-complex", member=workbook[0][:80], limit=MAX_CELLS)
                return None
    return formula


def _read_zip(data: bytes, filename: str, out: _Collector) -> list[DutyItem]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            names = {i.filename for i in infos}
            if "xl/workbook.xml" not in names:
                if "word/document.xml" in names:  # a Word table: copied into a sheet, not "saved as"
                    out.error("import.word-document")
                else:
                    out.error("import.not-a-table", kind=_zip_kind(names))
                return []
            if sum(i.file_size for i in infos) > MAX_UNZIPPED_BYTES:
                out.error("import.file-too-large", size_mb=round(sum(i.file_size for i in infos) / 1048576, 1),
                          limit_mb=MAX_UNZIPPED_BYTES // 1048576)
                return []
            bomb = next((i for i in infos if i.file_size > INFLATE_CHECKED_FROM
                         and i.file_size > MAX_INFLATE_RATIO * max(i.compress_size, 1)), None)
            unpacked, packed = sum(i.file_size for i in infos), sum(i.compress_size for i in infos)
            if bomb is None and infos and unpacked > INFLATE_CHECKED_FROM and unpacked > MAX_INFLATE_RATIO * max(packed, 1):
                bomb = max(infos, key=lambda i: i.file_size)  # (the bomb split into small parts)
                ratio = unpacked // max(packed, 1)
            elif bomb is not None:
                ratio = bomb.file_size // max(bomb.compress_size, 1)
            if bomb is not None:
                out.error("import.zip-bomb", member=bomb.filename[:80], ratio=ratio, limit=MAX_INFLATE_RATIO)
                return []
            has_formulas = _scan_parts(zf, infos, out)
            if has_formulas is None:
                return []
            bad = zf.testzip() if len(data) < 5 * 1024 * 1024 else None
            if bad is not None:
                out.error("import.corrupt-file", detail=f"bad member {bad}")
                return []
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        out.error("import.corrupt-file", detail=str(exc)[:300])
        return []
    except Exception as exc:  # noqa: BLE001 — zlib and friends raise their own errors
        out.error("import.corrupt-file", detail=f"{type(exc).__name__}: {exc}"[:300])
        return []

    import openpyxl  # imported lazily: CSV-only callers need not pay for it

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    except Exception as exc:  # noqa: BLE001 — openpyxl raises many kinds on broken files
        out.error("import.corrupt-file", detail=f"{type(exc).__name__}: {exc}"[:300])
        return []
    out.encoding = "xlsx"
    formulas: dict[str, dict[tuple[int, int], str]] = {}
    if has_formulas:
        formulas = _formula_cells(data)
    if filename.lower().endswith(".csv"):
        out.warning("import.extension-mismatch", actual="Excel (.xlsx)")

    sheets: list[_Table] = []
    for ws in wb.worksheets:
        if ws.sheet_state != "visible":  # an old version or helper data, put out of sight
            if _non_empty(ws.iter_rows(values_only=True)):
                out.warning("import.hidden-sheet-skipped", sheet=ws.title)
            continue
        grid = [[ExcelError(c.value) if c.data_type == "e" else c.value for c in r] for r in ws.iter_rows()] \
            if ws.max_row else []
        merged = _fill_merged(grid, ((rng.min_row - 1, rng.min_col - 1, rng.max_row - 1)
                                     for rng in ws.merged_cells.ranges))
        hidden = {r for r, dim in ws.row_dimensions.items() if dim.hidden and r <= len(grid)}
        sheets.append(_Table(ws.title, grid, formulas.get(ws.title, {}), merged=merged, hidden_rows=hidden))
    wb.close()
    return _read_tables(sheets, filename, out)


def _fill_merged(grid: list[list[Any]], ranges: Iterable[tuple[int, int, int]]) -> dict[tuple[int, int], int]:
    """Gives each cell below the top of a merged range (top row, column, bottom row; 0-based,
    inclusive) the range's value, as Excel shows it; returns those cells → the range's top row."""
    merged: dict[tuple[int, int], int] = {}
    for top, col, bottom in ranges:
        if top >= len(grid):
            continue
        value = grid[top][col] if col < len(grid[top]) else None
        for r in range(top + 1, min(bottom + 1, len(grid))):
            row = grid[r]
            if col < len(row):
                row[col] = value
                merged[(r, col)] = top
    return merged


def _read_xls(data: bytes, filename: str, out: _Collector) -> list[DutyItem]:
    """An Excel 97–2003 workbook (.xls), or a WPS .et that is one inside, read with python-calamine
    (in a child process: see surveys.xls_reader) and then as an .xlsx is. What calamine does not
    tell: which rows are hidden (they are read, with no warning), a formula's text (one without a
    cached value reads as blank) and a cell's Excel error (#N/A reads as blank)."""
    from openpyxl.utils.cell import get_column_letter

    from surveys.xls_reader import read_xls

    wps = filename.lower().endswith((".et", ".ett"))
    answer = read_xls(data, MAX_CELLS)
    if answer[0] == "password":
        out.error("import.encrypted-workbook")
        return []
    if answer[0] == "too-big":
        _, sheet, (rows, cols) = answer
        out.error("import.sheet-too-big", sheet=sheet, cell=f"{get_column_letter(min(cols, 18278))}{rows}",
                  limit=MAX_CELLS)
        return []
    if answer[0] != "ok":
        if wps:  # WPS's own format, not an .xls inside: saved as .xlsx in WPS
            out.error("import.wps-et")
        else:
            out.error("import.xls-corrupt", detail=str(answer[1:])[:300])
        return []
    out.encoding = "et" if wps else "xls"
    if filename.lower().endswith((".xlsx", ".xlsm", ".csv")):
        out.warning("import.extension-mismatch", actual="Excel 97–2003 (.xls)")
    sheets: list[_Table] = []
    for name, visible, grid, ranges in answer[1]:
        if not visible:  # an old version or helper data, put out of sight
            if _non_empty(grid):
                out.warning("import.hidden-sheet-skipped", sheet=name)
            continue
        merged = _fill_merged(grid, ranges)
        sheets.append(_Table(name, grid, {}, merged=merged))
    return _read_tables(sheets, filename, out)


def _formula_cells(data: bytes) -> dict[str, dict[tuple[int, int], str]]:
    """Formula text by (row, col), 1-based, per sheet — for formulas without a
    cached value, which data_only reads as empty."""
    import openpyxl

    found: dict[str, dict[tuple[int, int], str]] = {}
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    try:
        for ws in wb.worksheets:
            cells: dict[tuple[int, int], str] = {}
            for row in ws.iter_rows():
                for cell in row:
                    v = getattr(cell, "value", None)
                    if isinstance(v, str) and v.startswith("="):
                        cells[(cell.row, cell.column)] = v
                    elif v is not None and type(v).__name__ in ("ArrayFormula", "DataTableFormula"):
                        cells[(cell.row, cell.column)] = str(getattr(v, "text", "") or "=")
            found[ws.title] = cells
    finally:
        wb.close()
    return found


# --- CSV -----------------------------------------------------------------------


def _plausible(text: str) -> bool:
    """Decoded text that a person typed: no control characters, next to no
    private-use or unassigned code points."""
    odd = 0
    for ch in text[:200_000]:
        if ch in "\t\r\n":
            continue
        cat = unicodedata.category(ch)
        if cat == "Cc":
            return False
        if cat in ("Co", "Cn", "Cs"):
            odd += 1
    return odd <= max(2, len(text) // 1000)


def _decode(data: bytes, out: _Collector) -> str | None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
            if _plausible(text):
                out.encoding = "utf-16"
                return text
        except UnicodeDecodeError:
            pass
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _plausible(text):
            if encoding == "utf-8-sig" and not data.startswith(b"\xef\xbb\xbf"):
                encoding = "utf-8"
            out.encoding = encoding
            return text
    if b"\x00" not in data:
        try:
            from charset_normalizer import from_bytes

            best = from_bytes(data).best()
        except Exception:  # noqa: BLE001
            best = None
        if best is not None and best.encoding and best.chaos < 0.1:
            text = str(best)
            if _plausible(text):
                out.warning("import.guessed-encoding", encoding=best.encoding)
                out.encoding = best.encoding
                return text
    out.error("import.unknown-encoding")
    return None


def _read_csv_text(text: str, filename: str, out: _Collector) -> list[DutyItem]:
    sample = text[:8192]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",\t;").delimiter
    except csv.Error:
        delimiter = ","
    # Only the delimiter is guessed: Excel and WPS quote with '"' whatever the file holds, and
    # a quote character guessed from the text (ASCII ' around a term: '一网通办') dropped
    # those quotes and split cells that Excel had put in "…" at their commas.
    if text.count(delimiter) + text.count("\n") > MAX_CELLS:
        # the grid would hold each cell and each (blank) row: 40 MB of line breaks made 40 million
        out.error("import.csv-too-big", limit=MAX_CELLS)
        return []
    reader = csv.reader(io.StringIO(text, newline=""), csv.excel, delimiter=delimiter)
    grid: list[list[Any]] = []
    filled = 0
    try:
        for record in reader:
            if not any(v.strip() for v in record):
                grid.append([])  # blank rows keep their place: problems name rows by number
                continue
            filled += 1
            if filled > MAX_DATA_ROWS + HEADER_SCAN_ROWS + 1000:
                out.error("import.too-many-rows", limit=MAX_DATA_ROWS)
                return []
            grid.append(list(record))
    except csv.Error as exc:
        out.error("import.csv-malformed", row=reader.line_num, detail=str(exc)[:200])
        return []
    hint = Path(filename).stem
    return _read_tables([_Table(None, grid, {}, hint=hint)], filename, out)


# --- tables (a sheet, or a CSV file) -------------------------------------------


@dataclass(slots=True)
class _Table:
    name: str | None  # the sheet name; None for CSV
    grid: list[list[Any]]
    formulas: dict[tuple[int, int], str]
    hint: str | None = None  # a file name that may tell the part
    # (row, column), 0-based, of the cells below the top of a merged range (filled with its
    # value) → the range's top row
    merged: dict[tuple[int, int], int] = field(default_factory=dict)
    hidden_rows: set[int] = field(default_factory=set)  # 1-based rows hidden (or filtered out) in Excel


class ExcelError(str):
    """A cell whose formula failed in Excel (#N/A, #REF!, …): its error code."""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        if "\r" in value:  # a line break inside a quoted CSV cell, written CRLF ("\r\n") or as old Macs did
            value = value.replace("\r\n", "\n").replace("\r", "\n")
        return value.strip()
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value).strip()


#: Fields that are a name, not a text of several lines: a line break typed in the cell (Alt+Enter,
#: to wrap a long name in its column) is only where the drafter's column was too narrow.
_ONE_LINE_FIELDS = frozenset({"name", "category", "subcategory", "county_department", "receiving_department",
                              "working_mode"})
_LINE_BREAK = re.compile(r"[ \t\u3000]*[\r\n]+[ \t\u3000\r\n]*")
_WIDE = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f\u201c\u201d\u2018\u2019\u2014\u2026]")


def _one_line(text: str) -> str:
    """"矛盾纠纷排查化解\n与人民调解" → "矛盾纠纷排查化解与人民调解"; between two Latin letters or digits
    the line break becomes one space ("Item\nname" → "Item name")."""
    if "\n" not in text and "\r" not in text:
        return text

    def join(m: re.Match[str]) -> str:
        before, after = text[m.start() - 1:m.start()], text[m.end():m.end() + 1]
        return "" if _WIDE.match(before) or _WIDE.match(after) else " "

    return _LINE_BREAK.sub(join, text)


def _seq(value: Any) -> int | None | str:
    """An int, None for blank, or the text when it is not a whole number."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else repr(value)
    text = unicodedata.normalize("NFKC", _text(value)).rstrip(".、")
    if not text:
        return None
    if text.isdecimal():
        return int(text)
    if (whole := re.fullmatch(r"(\d+)\.0+", text)) is not None:  # "1.0": a number cell saved as a float's text
        return int(whole[1])
    if (bracketed := re.fullmatch(r"\(?\s*(\d+)\s*\)", text)) is not None:  # "（1）", "2）"
        return int(bracketed[1])
    return text


def _read_tables(tables: Sequence[_Table], filename: str, out: _Collector) -> list[DutyItem]:
    items: list[DutyItem] = []
    several = sum(1 for t in tables if _non_empty(t.grid)) > 1
    for table in tables:
        if not _non_empty(table.grid):
            continue
        items.extend(_read_table(table, several, out))
        if len(items) > MAX_DATA_ROWS:
            out.error("import.too-many-rows", limit=MAX_DATA_ROWS)
            return []
    if not items and not has_errors(out.problems):
        out.error("import.no-items")
    return items


def _non_empty(grid: Iterable[list[Any]]) -> bool:
    return any(_text(v) for row in grid for v in row)


def _find_header(grid: list[list[Any]]) -> tuple[int, dict[int, str]] | None:
    """The index of the row that matches the most known headers, and the field
    of each matched column."""
    best: tuple[int, dict[int, str]] | None = None
    for r, row in enumerate(grid[:HEADER_SCAN_ROWS]):
        cols = {c: f for c, v in enumerate(row) if (f := header_field(v))}
        if len(set(cols.values())) >= 2 and (best is None or len(set(cols.values())) > len(set(best[1].values()))):
            best = (r, cols)
    return best


def _read_table(table: _Table, several: bool, out: _Collector) -> list[DutyItem]:
    sheet = table.name
    grid = table.grid
    found = _find_header(grid)
    sheet_part = part_from_text(sheet) if sheet else part_from_text(table.hint)
    if found is None:
        if several and sheet_part is None:
            out.warning("import.sheet-skipped", sheet=sheet)
        else:
            out.error("import.no-header", sheet=sheet, rows=HEADER_SCAN_ROWS)
        return []
    hr, matched = found
    header_row = grid[hr]

    # Title rows above the header may name the part ("一、基本履职事项清单").
    title_part = None
    for row in grid[:hr]:
        for v in row:
            if isinstance(v, str) and _SECTION_PART.search(unicodedata.normalize("NFKC", v)):
                title_part = title_part or part_from_text(v)

    columns: dict[str, int] = {}
    seen_text: dict[str, int] = {}
    ok = True
    for c, raw in enumerate(header_row):
        label = _text(raw)
        if not label:
            continue
        key = _norm_header_raw(label)
        if key in seen_text:
            out.error("import.duplicate-column", sheet=sheet, row=hr + 1, column=label)
            ok = False
            continue
        seen_text[key] = c
        f = matched.get(c)
        if f is None:
            out.warning("import.unknown-column", sheet=sheet, row=hr + 1, column=label)
            continue
        if f == "category" and "category" in columns and "subcategory" not in columns:
            f = "subcategory"
        if f == "county_department" and f in columns and (
                _ASSISTING.search(key) or _ASSISTING.search(_norm_header_raw(_text(header_row[columns[f]])))):
            # "牵头部门" beside "配合部门": the lead department is the one; those assisting it are not read
            lead, assisting = (c, columns[f]) if _ASSISTING.search(_norm_header_raw(_text(header_row[columns[f]]))) \
                else (columns[f], c)
            columns[f] = lead
            out.warning("import.assisting-departments-column", sheet=sheet, row=hr + 1,
                        column=_text(header_row[assisting]), lead=_text(header_row[lead]))
            continue
        if f == "seq" and f in columns and (
                _OLD_NUMBER.match(key) or _OLD_NUMBER.match(_norm_header_raw(_text(header_row[columns[f]])))):
            # "原序号" beside "序号": the number in the draft before (kept to trace it), not this list's
            current, old = (c, columns[f]) if _OLD_NUMBER.match(_norm_header_raw(_text(header_row[columns[f]]))) \
                else (columns[f], c)
            columns[f] = current
            out.warning("import.old-number-column", sheet=sheet, row=hr + 1, column=_text(header_row[old]),
                        current=_text(header_row[current]))
            continue
        if f in columns:
            other = _text(header_row[columns[f]])
            out.error("import.conflicting-columns", sheet=sheet, row=hr + 1, column=label, other=other)
            ok = False
            continue
        columns[f] = c
    if "name" not in columns:
        out.error("import.missing-column", sheet=sheet, row=hr + 1)
        ok = False
    if not ok:
        return []

    part_col = columns.pop("part", None)
    default_part = sheet_part or title_part
    if part_col is None and default_part is None and not _has_section_rows(grid, hr, columns):
        out.error("import.unknown-sheet-part" if sheet is not None else "import.unknown-file-part", sheet=sheet)
        return []

    labels = {f: _text(header_row[c]) for f, c in columns.items()}
    out.columns[sheet] = dict(labels)
    if "receiving_department" not in labels and "county_department" in labels:
        # a withdrawn item's only department column names who takes it back (see below)
        out.columns[sheet]["receiving_department"] = labels["county_department"]
    part_label = _text(header_row[part_col]) if part_col is not None else None
    header_keys = [_norm_header_raw(_text(v)) for v in header_row]
    name_col = columns["name"]
    current_part = default_part
    listed_part: Part | None = None  # the last part named in the part column
    heading = ""
    named: tuple[Part, str] | None = None  # the category last typed in a row since the heading, with its part
    items: list[DutyItem] = []
    mapped = list(columns.values()) + ([part_col] if part_col is not None else [])
    header_width = max(c for c, v in enumerate(header_row) if _text(v)) + 1
    for r in range(hr + 1, len(grid)):
        row = grid[r]
        rownum = r + 1
        texts = [_text(v) for v in row]
        filled = [c for c, t in enumerate(texts) if t]
        pending = [c for c in mapped if (rownum, c + 1) in table.formulas and row[c] is None]
        if not filled and not pending:
            continue  # a blank row
        own = [c for c in filled if (r, c) not in table.merged]
        if not pending and not (texts[name_col] if name_col < len(texts) else "") and (
                not own or (len(own) == 1 and isinstance(_seq(row[own[0]]), int))):
            # nothing of its own but a cell merged down from above (a category over rows left for
            # items to come), and maybe a number typed ahead: a blank row, as it is without the merge
            continue
        if len(filled) >= 2 and all(
            _norm_header_raw(texts[c]) == header_keys[c] for c in mapped if c < len(texts)
        ):
            continue  # the header repeated (e.g. after a section row)
        if len(filled) == 1 and not pending and _NOTE.match(unicodedata.normalize("NFKC", texts[filled[0]])):
            if filled[0] == name_col:  # it would have been an item: say that it is not
                out.warning("import.note-row-skipped", sheet=sheet, row=rownum, text=_gist(texts[name_col], 40))
            continue
        totals = [c for c in filled if _TOTAL.match(unicodedata.normalize("NFKC", texts[c]).strip())]
        if totals and len(filled) == len(totals) and all(
                _BARE_COUNT_WORD.match(unicodedata.normalize("NFKC", texts[c]).strip()) for c in totals):
            totals = []  # "共" / "总数" with no count anywhere in the row: not a total
        if totals and not pending and all(c in totals or isinstance(_seq(row[c]), int) for c in filled):
            # "合计" / "共 46 项" (maybe with the count beside it): read as a heading it became the
            # category of every item after it
            out.warning("import.total-row-skipped", sheet=sheet, row=rownum, text=_gist(texts[totals[0]], 40))
            continue
        if len(filled) == 1 and not pending and filled[0] == name_col and _PART_HEADING.match(
                _heading_text(unicodedata.normalize("NFKC", texts[name_col]))):
            current_part = part_from_text(texts[name_col])  # "二、配合履职事项" typed in the name column
            listed_part, heading, named = None, "", None
            continue
        seq_col = columns.get("seq")
        # a heading row is told by the cells typed in it: a category merged down over it from the
        # rows above (B3:B9 "党的建设" with "（二）民生服务" in row 5) is no cell of its own; a row
        # under a name merged down over it is the same item's next row, no heading
        nameless = not (texts[name_col] if name_col < len(texts) else "")
        if (len(own) == 2 and not pending and seq_col in own
                and _CN_ENUM.match(unicodedata.normalize("NFKC", texts[seq_col]))):
            # "（一）" in the 序号 column and "党的建设" (or "基本履职事项") beside it: a heading, not an item
            text = texts[next(c for c in own if c != seq_col)]
            if len(text) <= MAX_CELL_CHARS:
                heading_part = part_from_text(text) if _PART_HEADING.match(
                    _heading_text(unicodedata.normalize("NFKC", text))) else None
                if heading_part is not None:
                    current_part = heading_part
                    listed_part, heading, named = None, "", None
                else:
                    heading, named = _heading_text(text), None
                continue
        if len(own) == 1 and nameless and not pending and own[0] != name_col:
            only = own[0]
            text = texts[only]
            if isinstance(_seq(row[only]), int):
                continue  # a pre-numbered empty row
            if len(text) <= MAX_CELL_CHARS:
                if _SECTION_PART.search(unicodedata.normalize("NFKC", text)) and part_from_text(text):
                    current_part = part_from_text(text)
                    listed_part, heading, named = None, "", None
                else:
                    heading, named = _heading_text(text), None  # a category heading row: "（一）党的建设"
                continue

        values: dict[str, Any] = {}
        row_ok = True
        extra = [t for t in texts[header_width:] if t]
        if sheet is None and extra:
            # a CSV row wider than its header: a comma in a cell left unquoted, and every
            # cell after it in the wrong column
            out.error("import.extra-cells", row=rownum, count=len(extra), value=extra[0][:40])
            continue
        for f, c in columns.items():
            raw = row[c] if c < len(row) else None
            if raw is None and (rownum, c + 1) in table.formulas:
                out.error("import.formula-without-value", sheet=sheet, row=rownum, column=labels[f],
                          formula=table.formulas[(rownum, c + 1)][:80])
                row_ok = False
                continue
            if isinstance(raw, ExcelError):
                out.error("import.excel-error", sheet=sheet, row=rownum, column=labels[f], value=str(raw)[:20])
                row_ok = False
                continue
            text = texts[c] if c < len(texts) else ""
            if len(text) > MAX_CELL_CHARS:
                out.error("import.cell-too-long", sheet=sheet, row=rownum, column=labels[f],
                          length=len(text), limit=MAX_CELL_CHARS)
                row_ok = False
                continue
            if f == "seq":
                seq = _seq(raw)
                if isinstance(seq, str):
                    out.warning("import.bad-seq", sheet=sheet, row=rownum, column=labels[f], value=seq[:40])
                    seq = None
                elif seq is not None and abs(seq) > MAX_SEQ:
                    out.warning("import.seq-too-large", sheet=sheet, row=rownum, column=labels[f],
                                value=str(seq)[:40])
                    seq = None
                values["seq"] = seq
            else:
                values[f] = _one_line(text) if f in _ONE_LINE_FIELDS else text
        part = current_part
        if part_col is not None:
            raw_part = texts[part_col] if part_col < len(texts) else ""
            if raw_part:
                part = listed_part = part_from_text(raw_part)
            elif sheet is None:  # a merged part cell saved as CSV keeps its value on its first row
                # only: the part named above (since the last section row), before the title's
                part = listed_part or current_part
            else:
                part = current_part or listed_part
            if part is None:
                out.error("import.unknown-part", sheet=sheet, row=rownum, column=part_label,
                          value=raw_part[:40])
                row_ok = False
        elif part is None:
            out.error("import.unknown-sheet-part" if sheet is not None else "import.unknown-file-part", sheet=sheet,
                      row=rownum)
            row_ok = False
        if not row_ok or part is None:
            continue
        if values.get("category"):
            named = (part, values["category"])
        elif heading:
            # typed once per group below the heading (as a merged cell saved unmerged looks): the
            # category named above since the heading, else the heading's
            values["category"] = named[1] if named is not None and named[0] == part else heading
        if sheet is None and items and items[-1].part == part:
            # CSV keeps a merged category cell's value on its first row only: blanks below it are the same
            above = items[-1]
            if "category" in columns and not values.get("category"):
                values["category"] = above.category
            if "subcategory" in columns and not values.get("subcategory") and values.get("category") == above.category:
                values["subcategory"] = above.subcategory
        if part == Part.WITHDRAWN and "receiving_department" not in columns and values.get("county_department"):
            # a withdrawn part's only department column ("上级部门", "收回部门") names who takes it back
            values["receiving_department"] = values.pop("county_department")
        top = table.merged.get((r, name_col))
        if top is not None and items and items[-1].row == top + 1 and items[-1].part == part:
            # one item over several rows (its name merged down them): one item, texts joined
            items[-1] = _joined(items[-1], values, {f for f, c in columns.items() if (r, c) in table.merged})
            continue
        items.append(DutyItem(part=part, sheet=sheet, row=rownum, **values))
        if len(items) > MAX_DATA_ROWS:
            out.error("import.too-many-rows", sheet=sheet, row=rownum, limit=MAX_DATA_ROWS)
            return []
    hidden = sorted({i.row for i in items if i.row in table.hidden_rows})
    if hidden:  # what the drafter saw in Excel left them out: say that they are in
        rows = "、".join(map(str, hidden[:10])) + ("…" if len(hidden) > 10 else "")
        out.warning("import.hidden-rows", sheet=sheet, rows=rows, count=len(hidden))
    # A part whose department column is missing altogether: one error naming the column, not
    # one per item (the lint's "names no department") that never says what is missing.
    for needs, rule, fields in ((Part.COOPERATING, "import.department-column-missing", ("county_department",)),
                                (Part.WITHDRAWN, "import.receiver-column-missing",
                                 ("receiving_department", "county_department"))):
        n = sum(1 for i in items if i.part == needs)
        if n and not any(f in columns for f in fields):
            out.error(rule, sheet=sheet, row=hr + 1, part=needs, count=n)
    return items


def _joined(item: DutyItem, values: dict[str, Any], merged: set[str]) -> DutyItem:
    """`item` with the texts of one more of its rows: each field not merged over the
    rows gets the row's text on a line of its own (when new to it)."""
    more: dict[str, Any] = {}
    for f, value in values.items():
        if f in merged or f == "seq" or not isinstance(value, str) or not value:
            continue
        old = getattr(item, f)
        if value not in old.split("\n"):
            more[f] = f"{old}\n{value}" if old else value
    return dataclasses.replace(item, **more) if more else item


def _has_section_rows(grid: list[list[Any]], hr: int, columns: dict[str, int]) -> bool:
    """Whether a single sheet carries its parts as section rows ("二、配合履职事项")."""
    for row in grid[hr + 1:]:
        texts = [t for t in (_text(v) for v in row) if t]
        if len(texts) == 2 and _CN_ENUM.match(unicodedata.normalize("NFKC", texts[0])):
            texts = texts[1:]  # "二、" in the 序号 column, "配合履职事项" beside it
        if len(texts) == 1 and _SECTION_PART.search(unicodedata.normalize("NFKC", texts[0])):
            return True
    return False
