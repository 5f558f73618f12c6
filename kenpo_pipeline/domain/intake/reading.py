"""Reading a landed feed file into header + rows, with the row numbers a person sees.

File-level problems raise :class:`FileRejected` with one Japanese sentence naming the file and the
reason (shared spec/feeds.md "File errors").

- **Read once.** The file's bytes are read once (or handed in by the caller as ``data``); the
  SHA-256 and the parse come from those same bytes.
- **Limits first.** The feed layout's ``limits`` (file size, physical line length, header columns)
  are checked before any heavy work, each rejecting the file with the limit in the reason.
- **Physical lines (CSV).** No field of any feed spans lines, so every physical line is accounted
  for on its own: a data line is either a row or a broken line (quarantined with its reason), a
  blank line is counted separately, and ``data lines = rows + broken`` always. The whole text is
  parsed with ``csv.reader`` tracking line numbers; a record that spans k > 1 physical lines (a
  stray ``"``) is re-parsed line by line, each alone, so a stray quote costs only its own line and
  the lines after it load normally. ``\\r\\n``, ``\\n`` and a lone ``\\r`` all end a line; a DOS
  end-of-file byte (``\\x1a``) at the very end is a marker, not a row.
- **Excel.** The sheet a person sees: the active sheet, which must be visible. Any other sheet
  (visible, hidden or very hidden) whose first non-empty row is the feed's header makes the file
  ambiguous and rejects it naming the sheets; other sheets are ignored with a warning naming them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from kenpo_pipeline.domain.reference import DEFAULT_LIMITS, FeedLayout, Limits
from kenpo_pipeline.domain.intake.values import control_reason, normalise_header, normalise_text, shown_text

UNCLOSED_QUOTE = "引用符（\"）が閉じられていません"
WARN_NAMES_SHOWN = 5  # a warning listing names shows this many, then the count


def rejection_sentence(path: Path | str, reason: str) -> str:
    """The one sentence a person reads for a rejected file."""
    return f"{path} を却下しました：{reason}。"


class FileRejected(Exception):
    """The whole file is rejected; ``str(exc)`` is one sentence naming the file and the reason
    (``exc.reason`` is the bare reason, without the closing 。)."""

    def __init__(self, path: Path | str, reason: str, details: list[str] | None = None, sha256: str = ""):
        self.path = str(path)
        self.reason = reason.rstrip("。")
        self.details = details or []
        self.sha256 = sha256  # of the bytes that were rejected, when they were read
        super().__init__(rejection_sentence(self.path, self.reason))

    def __reduce__(self):
        """Pickled whole (a check run in an intake worker raises it again in the step): the same
        sentence, and every attribute — path, reason, details, sha256, a subclass's own."""
        return (_restore_rejection, (type(self), self.args, dict(self.__dict__)))


def _restore_rejection(cls: type, args: tuple, state: dict) -> "FileRejected":
    exc = Exception.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


@dataclass(frozen=True)
class BrokenLine:
    """A physical data line that is not a row: quarantined whole with its reason."""

    row_number: int
    text: str  # the line as written, without its line break
    reason: str  # Japanese


@dataclass
class RawTable:
    path: Path
    file_format: str  # csv | xlsx
    encoding: str | None  # utf-8, utf-8-sig, cp932 (CSV only)
    header_row: int
    header: list[object]
    rows: list[list[object]]
    row_numbers: list[int]
    broken: list[BrokenLine] = field(default_factory=list)
    rows_blank: int = 0  # blank lines / sheet rows (before and after the header), not data
    sheet: str | None = None  # the worksheet read (Excel)
    warnings: list[str] = field(default_factory=list)
    sha256: str = ""
    may_hold_control: bool = True  # False when the CSV text has no control character at all

    @property
    def rows_read(self) -> int:
        """Data lines (sheet rows) read: rows + broken lines; blank ones are not counted."""
        return len(self.rows) + len(self.broken)

    @property
    def where_header(self) -> str:
        line = f"{self.header_row}行目"
        return f"シート「{self.sheet}」の{line}" if self.sheet else line


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_file_size(path: Path | str, size: int, layout: FeedLayout | None) -> None:
    """Reject a file larger than its feed's ``limits.max_file_bytes`` (before it is read)."""
    limit = (layout.limits if layout is not None else DEFAULT_LIMITS).max_file_bytes
    if size > limit:
        raise FileRejected(path, f"ファイルサイズ（{size:,}バイト）が上限（{limit:,}バイト）を超えています")


def decode_csv_bytes(data: bytes, path: Path) -> tuple[str, str]:
    """Detect UTF-8 (with or without BOM) or CP932; anything else rejects the file."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise FileRejected(path, f"UTF-8のBOMで始まっていますが、UTF-8として正しくありません（{exc.start + 3}バイト目）") from exc
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileRejected(path, "UTF-16で保存されています。フィードはUTF-8またはCP932（Shift_JIS）で保存してください")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932"), "cp932"
    except UnicodeDecodeError as exc:
        raise FileRejected(path, f"文字コードがUTF-8でもCP932（Shift_JIS）でもありません（{exc.start}バイト目に読めないバイトがあります）") from exc


def _is_blank(cells: list[object]) -> bool:
    """Every cell empty after NFKC + trim. Text with a non-space character is never blank (NFKC maps
    no character to nothing or to a space that ``str.strip`` keeps), so a row of data is settled
    without normalising it. A cell of control characters that ``str.strip`` counts as space (tab,
    U+001C–U+001F) is not blank: the row is read, and its control character is a row error."""
    for c in cells:
        if isinstance(c, str):
            if c.strip() or (c and control_reason(c)):
                return False
        elif normalise_text(c) is not None:
            return False
    return True


def names_list(names: list[str], shown: int = WARN_NAMES_SHOWN, width: int = 40) -> str:
    """``a、b、c ほか12,340個`` — a bounded list for a message (each name cut at ``width``)."""
    head = "、".join(shown_text(n, width) for n in names[:shown])
    return head + (f" ほか{len(names) - shown:,}個" if len(names) > shown else "")


class _Rows:
    """Collects (row number, cells) in file order: blank lines counted, the first non-blank one is
    the header (checked against the column limit), the others are data rows."""

    def __init__(self, path: Path, limits: Limits, sheet: str | None = None):
        self.path, self.limits, self.sheet = path, limits, sheet
        self.header: list[object] | None = None
        self.header_row = 0
        self.rows: list[list[object]] = []
        self.numbers: list[int] = []
        self.broken: list[BrokenLine] = []
        self.blank = 0

    def _where(self, number: int) -> str:
        return f"シート「{self.sheet}」の{number}行目" if self.sheet else f"{number}行目"

    def take(self, number: int, cells: list[object]) -> None:
        if not cells:
            self.blank += 1
            return
        first = cells[0]
        if not (isinstance(first, str) and first.strip()) and _is_blank(cells):  # most rows: settled by the first cell
            self.blank += 1
            return
        if self.header is not None:
            self.rows.append(cells)
            self.numbers.append(number)
            return
        width = len(cells)
        while width and _is_blank(cells[width - 1 : width]):
            width -= 1
        if width > self.limits.max_columns:
            raise FileRejected(self.path, f"ヘッダー（{self._where(number)}）の列数（{width:,}）が上限（{self.limits.max_columns:,}）を超えています")
        self.header, self.header_row = cells, number

    def take_broken(self, number: int, text: str, reason: str) -> None:
        if self.header is None:
            raise FileRejected(self.path, f"ヘッダー（{self._where(number)}）の{reason}")
        self.broken.append(BrokenLine(number, text, reason))


# --- CSV -----------------------------------------------------------------------------------------


def _strip_eof_marker(text: str) -> str:
    """A trailing DOS end-of-file byte (``\\x1a``, possibly followed by a line break) is a marker."""
    stripped = text.rstrip("\r\n")
    if stripped.endswith("\x1a"):
        return stripped.rstrip("\x1a")
    return text


def _has_control(data: bytes) -> bool:
    """Whether any C0 control character or DEL other than the line breaks (and a trailing
    end-of-file marker) is in the file: one pass in C over the bytes (in UTF-8 and CP932 these bytes
    never occur inside a multi-byte character). Most files have none, and then no cell needs a
    check."""
    stripped = data.rstrip(b"\r\n")
    if stripped.endswith(b"\x1a"):
        data = stripped.rstrip(b"\x1a")
    return len(data.translate(None, _CONTROL_BYTES)) != len(data)


_CONTROL_BYTES = bytes([c for c in range(0x20) if c not in (0x0A, 0x0D)] + [0x7F])


def _line_alone(line: str) -> tuple[list[str] | None, str | None]:
    """One physical line parsed on its own: (cells, None), or (None, reason) when the line ends
    inside a quoted field (an unclosed ``"``)."""
    reader = csv.reader((line, "\n"))
    try:
        cells = next(reader, [])
    except csv.Error as exc:
        return None, f"CSVの行として読めません（{exc}）"
    if reader.line_num > 1:  # it went on to the sentinel line: the quote never closed
        return None, UNCLOSED_QUOTE
    return cells, None


def _read_csv(path: Path, data: bytes, limits: Limits) -> RawTable:
    if not data.strip():
        raise FileRejected(path, "ファイルが空です")
    text, encoding = decode_csv_bytes(data, path)
    if "\x00" in text:
        raise FileRejected(path, "NULバイトを含んでおり、テキストのCSVファイルではありません")
    text = _strip_eof_marker(text)
    lines = io.StringIO(text, newline="").readlines()  # splits on \r\n, \n and a lone \r only
    if lines and max(map(len, lines)) > limits.max_line_chars:
        for number, line in enumerate(lines, start=1):
            length = len(line.rstrip("\r\n"))
            if length > limits.max_line_chars:
                raise FileRejected(path, f"{number}行目の長さ（{length:,}文字）が上限（{limits.max_line_chars:,}文字）を超えています")
    out = _Rows(path, limits)
    has_quote = '"' in text  # most files have none: then no line needs a second look

    def one_by_one(first: int, last: int) -> None:
        """Lines ``first``…``last`` were read as one record (or broke the reader): each alone."""
        for number in range(first, last + 1):
            line = lines[number - 1]
            cells, reason = (None, UNCLOSED_QUOTE) if line.count('"') % 2 else _line_alone(line)
            if reason:
                out.take_broken(number, line.rstrip("\r\n"), reason)
            else:
                out.take(number, cells)

    take = out.take
    reader = csv.reader(lines)
    previous = 0
    while True:
        try:
            for record in reader:
                number = reader.line_num
                if number == previous + 1 and not (has_quote and lines[number - 1].count('"') % 2):
                    take(number, record)
                else:  # a record spanning physical lines (no field of a feed does), or an unpaired quote
                    one_by_one(previous + 1, number)
                previous = number
            break
        except csv.Error as exc:  # e.g. a field beyond csv's size limit after a stray quote
            if reader.line_num <= previous:  # no line consumed: cannot happen, never loop on it
                raise FileRejected(path, f"{previous + 1}行目をCSVとして読めません（{exc}）") from exc
            one_by_one(previous + 1, reader.line_num)
            previous = reader.line_num
    if out.header is None:
        raise FileRejected(path, "ファイルが空です")
    return RawTable(
        path, "csv", encoding, out.header_row, out.header, out.rows, out.numbers,
        broken=out.broken, rows_blank=out.blank, may_hold_control=_has_control(data),
    )


# --- Excel ---------------------------------------------------------------------------------------

_STATE_JA = {"hidden": "非表示", "veryHidden": "完全に非表示（veryHidden）"}


def _sheet_label(ws) -> str:
    state = getattr(ws, "sheet_state", "visible")
    return f"「{ws.title}」" + (f"（{_STATE_JA.get(state, state)}）" if state != "visible" else "")


def _first_row(ws) -> list[object] | None:
    """The first non-empty row of a worksheet (its stored dimensions not trusted)."""
    ws.reset_dimensions()
    for row in ws.iter_rows(values_only=True):
        if row and not _is_blank(list(row)):
            return list(row)
    return None


def _read_xlsx(path: Path, data: bytes, limits: Limits, header_names: set[str] | None) -> RawTable:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # a corrupt workbook can fail in many ways (zip, XML, styles)
        raise FileRejected(path, f"Excelブック（.xlsx）として開けません（{type(exc).__name__}: {shown_text(str(exc), 120)}）") from exc
    try:
        if not wb.worksheets:
            raise FileRejected(path, "ブックにワークシートがありません")
        active = wb.active
        if active is None or active not in wb.worksheets:
            name = f"「{active.title}」" if active is not None else ""
            raise FileRejected(path, f"表示中のシート{name}がワークシートではありません（読み込むシートを表示した状態で保存してください）")
        if getattr(active, "sheet_state", "visible") != "visible":
            raise FileRejected(path, f"表示中のシート{_sheet_label(active)}が非表示になっています（読み込むシートを表示した状態で保存してください）")
        warnings: list[str] = []
        others = [s for s in wb._sheets if s is not active]
        if header_names:
            data_sheets, ignored = [], []
            for ws in others:
                first = _first_row(ws) if ws in wb.worksheets else None
                names = {normalise_header(c) for c in first or []}
                (data_sheets if header_names <= names else ignored).append(ws)
            if data_sheets:
                raise FileRejected(
                    path,
                    f"表示中のシート「{active.title}」のほかに、シート{'、'.join(_sheet_label(s) for s in data_sheets)}にもフィードのヘッダーがあり、"
                    "どのシートを読み込むか決められません（データのシートを1つだけにしてください）",
                )
            if ignored:
                warnings.append(f"フィードのヘッダーがないシートを読み込みませんでした：{names_list([_sheet_label(s) for s in ignored])}")
        active.reset_dimensions()  # never trust the stored dimensions: a wrong one would cut rows
        out = _Rows(path, limits, sheet=active.title)
        number = 0
        try:
            for number, row in enumerate(active.iter_rows(values_only=True), start=1):
                if len(row) > limits.max_columns and not _is_blank(list(row[limits.max_columns :])):
                    raise FileRejected(path, f"シート「{active.title}」の{number}行目の列数（{len(row):,}）が上限（{limits.max_columns:,}）を超えています")
                out.take(number, list(row))
        except FileRejected:
            raise
        except Exception as exc:  # a cell the XML reader cannot convert
            raise FileRejected(path, f"シート「{active.title}」の{number + 1}行目付近を読めません（{type(exc).__name__}: {shown_text(str(exc), 120)}）") from exc
    finally:
        wb.close()
    if out.header is None:
        raise FileRejected(path, f"シート「{active.title}」が空です")
    return RawTable(
        path, "xlsx", None, out.header_row, out.header, out.rows, out.numbers,
        rows_blank=out.blank, sheet=active.title, warnings=warnings,
    )


# --- entry point -----------------------------------------------------------------------------------


def read_table(path: Path | str, layout: FeedLayout | None = None, data: bytes | None = None) -> RawTable:
    """Read a feed file once (or parse ``data``, its bytes, without opening it), within the
    layout's limits; ``sha256`` is of exactly the bytes parsed."""
    path = Path(path)
    suffix = unicodedata.normalize("NFKC", path.suffix).lower()  # as the landing's file names are read
    if suffix not in (".csv", ".xlsx"):
        raise FileRejected(path, f"「{suffix}」のファイルはフィードではありません（受け付けるのは .csv と .xlsx だけです）")
    limits = layout.limits if layout is not None else DEFAULT_LIMITS
    if data is None:
        try:
            check_file_size(path, path.stat().st_size, layout)
            data = path.read_bytes()
        except OSError as exc:
            raise FileRejected(path, f"ファイルを読めません（{exc.strerror or exc}）") from exc
    check_file_size(path, len(data), layout)
    sha = hashlib.sha256(data).hexdigest()
    try:
        if suffix == ".csv":
            table = _read_csv(path, data, limits)
        else:
            header_names = {normalise_header(c.name) for c in layout.columns} if layout is not None else None
            table = _read_xlsx(path, data, limits, header_names)
    except FileRejected as exc:
        exc.sha256 = sha
        raise
    table.sha256 = sha
    return table
