"""Reading a landed feed file into header + rows, with the row numbers a person sees.

File-level problems raise :class:`FileRejected` with one English sentence naming the file and the
reason (shared spec/feeds.md "File errors").
"""

from __future__ import annotations

import csv
import hashlib
import io
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from kenpo_pipeline.domain.values import normalise_text


class FileRejected(Exception):
    """The whole file is rejected; ``str(exc)`` is one sentence naming the file and the reason."""

    def __init__(self, path: Path | str, reason: str, details: list[str] | None = None):
        self.path = str(path)
        self.reason = reason
        self.details = details or []
        super().__init__(f"{self.path} was rejected: {reason}.")


@dataclass
class RawTable:
    path: Path
    file_format: str  # csv | xlsx
    encoding: str | None  # utf-8, utf-8-sig, cp932 (CSV only)
    header_row: int
    header: list[object]
    rows: list[list[object]]
    row_numbers: list[int]


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def decode_csv_bytes(data: bytes, path: Path) -> tuple[str, str]:
    """Detect UTF-8 (with or without BOM) or CP932; anything else rejects the file."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise FileRejected(path, f"it starts with a UTF-8 byte order mark but is not valid UTF-8 (byte {exc.start + 3})") from exc
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileRejected(path, "it is encoded in UTF-16, but feeds must be UTF-8 or CP932 (Shift_JIS)")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932"), "cp932"
    except UnicodeDecodeError as exc:
        raise FileRejected(
            path, f"its encoding is neither UTF-8 nor CP932 (Shift_JIS): undecodable bytes at offset {exc.start}"
        ) from exc


def _is_blank(cells: list[object]) -> bool:
    """Every cell empty after NFKC + trim. Text with a non-space character is never blank (NFKC maps
    no character to nothing or to a space that ``str.strip`` keeps), so a row of data is settled
    without normalising it."""
    for c in cells:
        if isinstance(c, str):
            if c.strip():
                return False
        elif normalise_text(c) is not None:
            return False
    return True


def _split_header(records) -> tuple[int, list[object] | None, list[list[object]], list[int]]:
    """From (row number, cells) pairs: skip blank rows; the first non-blank one is the header."""
    header: list[object] | None = None
    header_row = 0
    rows: list[list[object]] = []
    numbers: list[int] = []
    for number, cells in records:
        if not cells:
            continue
        first = cells[0]
        if not (isinstance(first, str) and first.strip()) and _is_blank(cells):  # most rows: settled by the first cell
            continue
        if header is None:
            header, header_row = cells, number
        else:
            rows.append(cells)
            numbers.append(number)
    return header_row, header, rows, numbers


def _read_csv(path: Path, data: bytes | None = None) -> RawTable:
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise FileRejected(path, f"it could not be read ({exc.strerror or exc})") from exc
    if not data.strip():
        raise FileRejected(path, "the file is empty")
    text, encoding = decode_csv_bytes(data, path)
    if "\x00" in text:
        raise FileRejected(path, "it contains NUL bytes and is not a text CSV file")
    reader = csv.reader(io.StringIO(text, newline=""))

    def records():
        previous_line = 0
        for record in reader:
            first_line = previous_line + 1  # a quoted field may span lines: count from its first
            previous_line = reader.line_num
            yield first_line, record

    try:
        header_row, header, rows, numbers = _split_header(records())
    except csv.Error as exc:
        raise FileRejected(path, f"it is not a well-formed CSV file near line {reader.line_num} ({exc})") from exc
    if header is None:
        raise FileRejected(path, "the file is empty")
    return RawTable(path, "csv", encoding, header_row, header, rows, numbers)


def _read_xlsx(path: Path, data: bytes | None = None) -> RawTable:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path if data is None else io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise FileRejected(path, f"it could not be opened as an Excel .xlsx workbook ({type(exc).__name__}: {exc})") from exc
    try:
        if not wb.worksheets:
            raise FileRejected(path, "the workbook has no worksheet")
        ws = wb.worksheets[0]
        header_row, header, rows, numbers = _split_header(enumerate((list(v) for v in ws.iter_rows(values_only=True)), start=1))
    finally:
        wb.close()
    if header is None:
        raise FileRejected(path, "the first worksheet is empty")
    return RawTable(path, "xlsx", None, header_row, header, rows, numbers)


def read_table(path: Path, data: bytes | None = None) -> RawTable:
    """Header + rows of a feed file; ``data``: its bytes when already read (the file is then not
    opened again, ``path`` only names it)."""
    path = Path(path)
    suffix = unicodedata.normalize("NFKC", path.suffix).lower()
    if suffix == ".csv":
        return _read_csv(path, data)
    if suffix == ".xlsx":
        return _read_xlsx(path, data)
    raise FileRejected(path, f"'{suffix}' files are not feeds (only .csv and .xlsx are accepted)")
