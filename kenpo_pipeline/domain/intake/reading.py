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
- **Two CSV readers, one outcome.** The common file is read column-wise by pandas' C parser
  (:func:`_read_csv_columns`: one object array per header position, a physical line number per
  record); the csv module reads row by row (:func:`_read_csv_rows`) whenever the C parser's result
  could differ from it, decided before parsing by cheap checks on the text (:func:`_why_rows`): a
  control character, a quote character that is not part of a whole quoted field on one line, a
  line longer than the csv module's field limit; and after it: a data line with more cells than
  the header, a byte-order mark where pandas would drop it. Both give the same header, cells, row
  numbers, blank count and broken lines (a line with fewer cells than the header: its missing cells
  are ``""`` column-wise and absent row-wise, which every later step reads alike);
  ``RawTable.reader`` and ``reader_note`` say which reader ran and why.
- **Excel.** The sheet a person sees: the active sheet, which must be visible. Any other sheet
  (visible, hidden or very hidden) whose first non-empty row is the feed's header makes the file
  ambiguous and rejects it naming the sheets; other sheets are ignored with a warning naming them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kenpo_pipeline.domain.reference import DEFAULT_LIMITS, FeedLayout, Limits
from kenpo_pipeline.domain.intake.values import control_reason, normalise_header, normalise_text, shown_text

UNCLOSED_QUOTE = "引用符（\"）が閉じられていません"
WARN_NAMES_SHOWN = 5  # a warning listing names shows this many, then the count

# Which reader read a file (``RawTable.reader``, ``FeedCheck.reader``; developer-facing).
COLUMNS = "columns"  # CSV: pandas' C parser, column-wise
ROWS = "rows"  # CSV: the csv module, row by row; Excel: openpyxl, sheet row by sheet row
READERS = ("auto", COLUMNS, ROWS)  # what a caller may ask for (``columns`` still falls back when it must)


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


class ColumnRows(Sequence):
    """The rows of a column-wise table, each built when asked for (a quarantined row's record, a
    test): row ``i`` is ``[column[i] for column in columns]``."""

    def __init__(self, columns: list[np.ndarray]):
        self.columns = columns

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return [c[i] for c in self.columns]


@dataclass
class RawTable:
    path: Path
    file_format: str  # csv | xlsx
    encoding: str | None  # utf-8, utf-8-sig, cp932 (CSV only)
    header_row: int
    header: list[object]
    rows: Sequence[list[object]]  # a list of cell lists, or ColumnRows over ``columns``
    row_numbers: Sequence[int]  # physical line (sheet row) of each row, increasing
    broken: list[BrokenLine] = field(default_factory=list)
    rows_blank: int = 0  # blank lines / sheet rows (before and after the header), not data
    sheet: str | None = None  # the worksheet read (Excel)
    warnings: list[str] = field(default_factory=list)
    sha256: str = ""
    may_hold_control: bool = True  # False when the CSV text has no control character at all
    # Column-wise (the C parser): one object array of str per header position, aligned with
    # ``row_numbers``; no row has more cells than the header. None when read row by row.
    columns: list[np.ndarray] | None = None
    reader: str = ROWS  # COLUMNS or ROWS
    reader_note: str = ""  # why the row reader read a CSV file (English, for developers)

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
    """A trailing DOS end-of-file byte (``\\x1a``, possibly followed by a line break) is a marker.
    (Only the end is looked at: no copy of a text without one.)"""
    end = len(text)
    while end and text[end - 1] in "\r\n":
        end -= 1
    if end and text[end - 1] == "\x1a":
        return text[:end].rstrip("\x1a")
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


def _physical_lines(text: str) -> list[str]:
    """The lines of the text with their line breaks: ``\\r\\n``, ``\\n`` and a lone ``\\r`` only."""
    return io.StringIO(text, newline="").readlines()


def _check_line_lengths(path: Path, lines: list[str], limits: Limits) -> None:
    if lines and max(map(len, lines)) > limits.max_line_chars:
        for number, line in enumerate(lines, start=1):
            length = len(line.rstrip("\r\n"))
            if length > limits.max_line_chars:
                raise FileRejected(path, f"{number}行目の長さ（{length:,}文字）が上限（{limits.max_line_chars:,}文字）を超えています")


def _longest_line_bytes(data: bytes) -> int:
    """An upper bound of the longest line's length in characters: the longest run of bytes between
    two ``\\n`` (a line's ``\\r``, a BOM or the end-of-file marker only add to it; in UTF-8 and CP932
    a character is at least one byte and ``\\n`` never occurs inside one)."""
    breaks = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 0x0A)
    if not len(breaks):
        return len(data)
    inner = int(np.diff(breaks).max()) - 1 if len(breaks) > 1 else 0
    return max(int(breaks[0]), inner, len(data) - int(breaks[-1]) - 1)


_FIELD_EDGE = np.zeros(256, dtype=bool)
_FIELD_EDGE[[0x2C, 0x0A, 0x0D]] = True  # the bytes a field ends or begins next to: comma, line breaks


def _quotes_are_whole_fields(body: np.ndarray) -> bool:
    """Whether every ``"`` of the file (``body``: its bytes after a BOM) belongs to a whole quoted
    field on one line: an opening quote at the start of a field (the file's or a line's start, or
    after a comma), a content without a line break in which a quote is doubled, and a closing quote
    at the end of the field (a comma, a line break or the file's end). Such fields read the same in
    the csv module and pandas' C parser (``"1,234"`` → ``1,234``, ``"a""b"`` → ``a"b``), and every
    record is one physical line.

    Vectorised on the bytes (in UTF-8 and CP932 the bytes of ``"``, ``,``, ``\\r`` and ``\\n``
    never occur inside a multi-byte character): taken in pairs, the quotes delimit the quoted
    pieces, which must hold no line break; between one pair's closing quote and the next pair's
    opening quote there is either nothing (a doubled quote) or a field edge after the one and
    before the other. (A trailing end-of-file marker after a closing quote fails this: row reader.)"""
    quotes = np.flatnonzero(body == 0x22)
    if len(quotes) % 2:
        return False
    if not len(quotes):
        return True
    opening, closing = quotes[0::2], quotes[1::2]
    breaks = np.flatnonzero((body == 0x0A) | (body == 0x0D))
    if (np.searchsorted(breaks, opening) != np.searchsorted(breaks, closing)).any():  # a line break inside
        return False
    edge_before = (opening == 0) | _FIELD_EDGE[body[np.maximum(opening - 1, 0)]]
    edge_after = (closing == len(body) - 1) | _FIELD_EDGE[body[np.minimum(closing + 1, len(body) - 1)]]
    between = (opening[1:] == closing[:-1] + 1) | (edge_after[:-1] & edge_before[1:])
    return bool(edge_before[0] and edge_after[-1] and between.all())


def _why_rows(body: np.ndarray, control: bool, longest: int) -> str | None:
    """Why the C parser's result could differ from the csv module's for this file (``body``: its
    bytes after a BOM), in English for the developer log; None when it cannot."""
    if control:
        return "the file holds a control character (C0 or DEL): the csv module reads it row by row"
    if longest > csv.field_size_limit():
        return f"a line may be longer than the csv module's field limit ({csv.field_size_limit():,} characters)"
    if not _quotes_are_whole_fields(body):
        return "a quote character that is not part of a whole quoted field on one line (stray, unbalanced, spanning lines, or inside a field)"
    return None


def _read_csv_columns(
    path: Path, text: str, encoding: str, limits: Limits, same: bytes | None = None, bom: int = 0
) -> tuple[RawTable | None, str | None]:
    """The column-wise read of a text :func:`_why_rows` found nothing against (line breaks already
    ``\\n``, no control character, every quote in a whole quoted field on one line): each physical
    line is one record. The lines up to the header go through the csv module one by one (blank
    lines counted, the header's column limit); the rest goes to pandas' C parser with one column per
    header cell, every cell as text, blank lines kept — so record *i* is physical line header + 1 + *i*.
    ``same``: the file's bytes when, after ``bom`` bytes, they are ``text`` in UTF-8: the C parser
    then reads them as they are, without encoding the text again.
    Returns (table, None), or (None, why) when the file must be read row by row after all."""
    out = _Rows(path, limits)
    pos = number = 0
    while out.header is None and pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        number += 1
        out.take(number, next(csv.reader([text[pos:end]]), []))
        pos = end + 1
    if out.header is None:
        raise FileRejected(path, "ファイルが空です")
    width = len(out.header)
    if text.startswith("\ufeff", pos):
        return None, "the line after the header begins with a byte-order mark (pandas would drop it)"
    rest = pos < len(text)
    if rest:
        # the data lines' bytes: a slice of the file's own when they are the text in UTF-8
        body = same[bom + len(text[:pos].encode("utf-8")) :] if same is not None else text[pos:].encode("utf-8")
        try:
            frame = pd.read_csv(
                io.BytesIO(body), encoding="utf-8", engine="c", header=None, names=list(range(width)),
                dtype=object, na_filter=False, keep_default_na=False, skip_blank_lines=False,
            )
        except pd.errors.ParserError:  # a line after the first is wider than the header
            return None, "a data line has more cells than the header"
        if not isinstance(frame.index, pd.RangeIndex):  # the first is: pandas made its leading cells an index
            return None, "a data line has more cells than the header"
        columns = [frame[k].to_numpy(dtype=object) for k in range(width)]
    else:
        columns = [np.empty(0, dtype=object) for _ in range(width)]
    numbers = np.arange(out.header_row + 1, out.header_row + 1 + len(columns[0]), dtype=np.int64)
    # Blank lines: a line whose first cell has a non-space character is a row (as _Rows.take
    # settles it); the first column has few distinct values, so each is looked at once.
    codes, uniques = pd.factorize(columns[0])
    blank_first = np.array([not u.strip() for u in uniques], dtype=bool)
    maybe = np.flatnonzero(blank_first[codes]) if len(uniques) else []
    blank = [i for i in maybe if _is_blank([c[i] for c in columns])]
    if blank:
        keep = np.ones(len(numbers), dtype=bool)
        keep[blank] = False
        columns = [c[keep] for c in columns]
        numbers = numbers[keep]
    return RawTable(
        path, "csv", encoding, out.header_row, out.header, ColumnRows(columns), numbers,
        rows_blank=out.blank + len(blank), may_hold_control=False, columns=columns, reader=COLUMNS,
    ), None


def _read_csv_rows(path: Path, lines: list[str], encoding: str, limits: Limits, control: bool, has_quote: bool) -> RawTable:
    """The row-wise read: the whole text through ``csv.reader`` tracking line numbers; a record
    spanning lines, an unpaired quote or a line the reader refuses is re-read line by line.
    ``has_quote``: whether the text holds a ``"`` (most files have none: then no line needs a second look)."""
    out = _Rows(path, limits)

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
        broken=out.broken, rows_blank=out.blank, may_hold_control=control,
    )


def _read_csv(path: Path, data: bytes, limits: Limits, reader: str = "auto") -> RawTable:
    """``reader``: ``auto`` (or ``columns``) reads column-wise whenever that gives the row reader's
    result, ``rows`` always row by row (tests and benchmarks compare the two)."""
    if not data.strip():
        raise FileRejected(path, "ファイルが空です")
    decoded, encoding = decode_csv_bytes(data, path)
    if "\x00" in decoded:
        raise FileRejected(path, "NULバイトを含んでおり、テキストのCSVファイルではありません")
    text = _strip_eof_marker(decoded)
    control = _has_control(data)
    longest = _longest_line_bytes(data)
    lines = None
    if longest > limits.max_line_chars:  # possibly too long: the exact count, in characters
        lines = _physical_lines(text)
        _check_line_lengths(path, lines, limits)
    if reader == ROWS:
        why = "the row reader was asked for"
    else:
        # one line break for the columns reader, which splits on \n only (the row reader keeps the text)
        same_breaks = text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text
        why = _why_rows(np.frombuffer(data, dtype=np.uint8)[3 if encoding == "utf-8-sig" else 0 :], control, longest)
        if why is None:
            unchanged = same_breaks is decoded and encoding in ("utf-8", "utf-8-sig")  # the bytes are the text
            table, why = _read_csv_columns(
                path, same_breaks, encoding, limits, same=data if unchanged else None, bom=3 if encoding == "utf-8-sig" else 0
            )
            if table is not None:
                return table
        del same_breaks
    table = _read_csv_rows(path, lines if lines is not None else _physical_lines(text), encoding, limits, control, '"' in text)
    table.reader_note = why
    return table


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


def read_table(path: Path | str, layout: FeedLayout | None = None, data: bytes | None = None, reader: str = "auto") -> RawTable:
    """Read a feed file once (or parse ``data``, its bytes, without opening it), within the
    layout's limits; ``sha256`` is of exactly the bytes parsed. ``reader`` (CSV): ``auto`` reads
    column-wise whenever that gives the row reader's result, ``rows`` always row by row."""
    if reader not in READERS:
        raise ValueError(f"reader must be one of {READERS}, not {reader!r}")
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
            table = _read_csv(path, data, limits, reader)
        else:
            header_names = {normalise_header(c.name) for c in layout.columns} if layout is not None else None
            table = _read_xlsx(path, data, limits, header_names)
    except FileRejected as exc:
        exc.sha256 = sha
        raise
    table.sha256 = sha
    return table
