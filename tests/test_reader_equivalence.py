"""The column-wise CSV reader never changes an outcome: both readers over many generated files.

Each file is a random mix (deterministic seeds) of the things the edges issue pinned: clean lines,
whole quoted fields (``"1,234"``, ``"a""b"``), stray and unbalanced quotes, quoted fields spanning
lines, blank / whitespace-only / commas-only lines (before and after the header), ``\\r\\n`` /
``\\n`` / lone ``\\r`` (mixed within a file), a BOM, CP932, lines shorter and longer than the
header, a trailing ``\\x1a``, wide Unicode, spaces, control characters, a BOM at a line's start.
``read_table`` with ``reader="auto"`` (column-wise whenever it may) must give what the row reader
gives — header, cells, row numbers, broken lines, blank count — and ``check_feed_file`` the same
loaded frame, quarantine records, per-expectation results, warnings, findings and counts (or the
same rejection).
"""

from __future__ import annotations

import random

import pandas as pd
import pytest

from kenpo_pipeline.domain.intake.feeds import FeedCheck, check_feed_file
from kenpo_pipeline.domain.intake.reading import COLUMNS, ROWS, FileRejected, read_table

HEADER = ["支部コード", "レセプト番号", "診療年月", "点検区分", "請求点数", "査定点数", "結果"]
FILES = 400  # RawTable comparisons (a few milliseconds each)
CHECKED = 14  # of which the first ones read column-wise also go through check_feed_file both ways

SAFE = ["clean", "clean", "clean", "clean", "quoted", "doubled_quote", "blank", "spaces_only", "commas_only", "short", "wide_unicode",
        "bad_value", "spaces"]
RISKY = ["stray_quote", "unbalanced", "spanning", "text_around_quotes", "long_empty", "long_value", "control", "bom_line"]


def _cell_row(rng: random.Random, i: int, encoding: str) -> list[str]:
    points = rng.choice([0, 7, 980, 12_345, 1_234_567])
    reduced = rng.choice([0, 0, 5])
    outcome = "査定" if reduced else rng.choice(["原審どおり", "返戻"])
    claim = f"R{i:05d}"
    if rng.random() < 0.2:
        claim += rng.choice(["①", "㈱", "ｱ", "Ｘ"] + (["𠮷", "😀"] if encoding != "cp932" else []))
    return [rng.choice(["01", "1", "１", "22", " 13", "47 "]), claim, rng.choice(["202403", "2024/3", "令和6年3月", "R6.3"]),
            rng.choice(["内容点検", "資格点検"]), str(points), str(reduced), outcome]


def _line(rng: random.Random, kind: str, i: int, encoding: str) -> str:
    cells = _cell_row(rng, i, encoding)
    if kind == "quoted":
        cells[4] = f'"{int(cells[4]):,}"'
        cells[6] = f'"{cells[6]}"'
    elif kind == "doubled_quote":
        cells[1] = f'"{cells[1]}""x"'
    elif kind == "blank":
        return ""
    elif kind == "spaces_only":
        return rng.choice([" ", "  \u3000"] + (["\u00a0"] if encoding != "cp932" else []))
    elif kind == "commas_only":
        return rng.choice([",,,,,,", " , ,", ",,", '"",,'])
    elif kind == "short":
        cells = cells[: rng.randint(1, 6)]
    elif kind == "wide_unicode":
        cells[1] = f"{cells[1]}{'漢字' if encoding == 'cp932' else '𩸽'}"
    elif kind == "bad_value":
        column = rng.choice([2, 4, 5])
        cells[column] = rng.choice(["abc", "-1", "2024-13", "99999999999"])
    elif kind == "spaces":
        cells = [f" {c} " for c in cells]
    elif kind == "stray_quote":
        cells[1] = f'{cells[1]}"x'
    elif kind == "unbalanced":
        cells[0] = f'"{cells[0]}'
    elif kind == "spanning":
        cells[1] = f'"{cells[1]}\nnext"'
    elif kind == "text_around_quotes":
        cells[1] = rng.choice([f'"{cells[1]}"x', f'x"{cells[1]}"', f'"{cells[1]}" ', f' "{cells[1]}"', f'"{cells[1]}"x"y"'])
    elif kind == "long_empty":
        cells += ["", ""]
    elif kind == "long_value":
        cells += ["余分"]
    elif kind == "control":
        cells[1] = f"{cells[1]}\t"
    elif kind == "bom_line" and encoding != "cp932":  # CP932 has no U+FEFF
        cells[0] = f"\ufeff{cells[0]}"
    return ",".join(cells)


def generated(seed: int, lines: int | None = None, encoding: str | None = None, risky: bool | None = None) -> tuple[str, bytes]:
    """One generated claims_review file: (name, bytes). ``lines`` data lines (else 0–30),
    ``encoding`` and ``risky`` (whether lines that make the row reader necessary may occur) are
    drawn from the seed unless given."""
    rng = random.Random(seed)
    drawn = rng.choice(["utf-8", "utf-8", "utf-8-sig", "cp932"])
    encoding = encoding or drawn
    risky = rng.random() < 0.35 if risky is None else risky
    kinds = SAFE + (RISKY if risky else [])
    out = [rng.choice(["", "  ", ",,,"]) for _ in range(rng.choice([0, 0, 0, 1, 2]))]
    out.append(",".join(rng.choice([HEADER, HEADER + [""], HEADER + ["備考"]])))
    extra_header = out[-1].endswith(("備考", ","))
    for i in range(rng.randint(0, 30) if lines is None else lines):
        line = _line(rng, rng.choice(kinds), i, encoding)
        if extra_header and rng.random() < 0.5 and line.count(",") == 6:
            line += rng.choice([",", ",メモ", ", "])
        out.append(line)
    breaks = rng.choice([["\n"], ["\r\n"], ["\r"], ["\n", "\r\n", "\r"]])
    text = "".join(line + rng.choice(breaks) for line in out)
    if rng.random() < 0.3:
        text = text.rstrip("\r\n")  # no line break after the last line
    if rng.random() < 0.15:
        text += "\x1a" + rng.choice(["", "\r\n"])
    data = text.encode("utf-8" if encoding == "utf-8-sig" else encoding)
    if encoding == "utf-8-sig":
        data = b"\xef\xbb\xbf" + data
    return f"seed {seed}", data


def _outcome(read, *args, **kwargs):
    try:
        return read(*args, **kwargs), None
    except FileRejected as exc:
        return None, str(exc)


def _padded(row: list, width: int) -> list:
    """A row as the column-wise reader holds it: a cell beyond a short line's end is ``""``."""
    return list(row) + [""] * (width - len(row))


def test_both_readers_read_every_generated_file_alike(tmp_path):
    columns, notes = 0, set()
    for seed in range(FILES):
        name, data = generated(seed)
        path = tmp_path / "claims_review" / "202404.csv"
        auto, auto_error = _outcome(read_table, path, data=data)
        rows, rows_error = _outcome(read_table, path, data=data, reader=ROWS)
        assert auto_error == rows_error, name
        if auto is None:
            continue
        assert rows.reader == ROWS and rows.columns is None, name
        if auto.reader == COLUMNS:
            columns += 1
            assert auto.reader_note == "" and auto.columns is not None and len(auto.columns) == len(auto.header), name
        else:
            notes.add(auto.reader_note)
        assert (auto.header_row, auto.header, auto.encoding) == (rows.header_row, rows.header, rows.encoding), name
        assert list(auto.row_numbers) == list(rows.row_numbers), name
        width = len(rows.header)
        expected = [_padded(r, width) for r in rows.rows] if auto.reader == COLUMNS else rows.rows
        assert [list(r) for r in auto.rows] == expected, name
        assert auto.broken == rows.broken and auto.rows_blank == rows.rows_blank and auto.rows_read == rows.rows_read, name
        assert auto.may_hold_control == rows.may_hold_control, name
    # the mix exercises both readers and each reason to fall back
    assert columns >= FILES // 2, columns
    assert any("quote character" in n for n in notes) and any("control character" in n for n in notes)
    assert any("more cells than the header" in n for n in notes)


def _same_check(a: FeedCheck, b: FeedCheck, name: str) -> None:
    pd.testing.assert_frame_equal(a.frame, b.frame, obj=name)
    assert a.quarantine == b.quarantine, name
    assert a.suite == b.suite, name
    assert (a.rows_read, a.rows_blank, a.rows_loaded, a.rows_quarantined) == (b.rows_read, b.rows_blank, b.rows_loaded, b.rows_quarantined), name
    assert (a.warnings, a.findings, a.encoding, a.file_format, a.sha256) == (b.warnings, b.findings, b.encoding, b.file_format, b.sha256), name


BIG = [(11, "utf-8"), (12, "utf-8-sig"), (13, "cp932")]  # (seed, encoding) of the files checked whole, 150 lines each


def test_both_readers_give_the_same_feed_check(tmp_path):
    """Whole checks are slow (GX), so three long files of every kind of line that reads
    column-wise (one per encoding) go through ``check_feed_file`` both ways."""
    path = tmp_path / "claims_review" / "202404.csv"
    for seed, encoding in BIG:
        name, data = generated(seed, lines=150, encoding=encoding, risky=False)
        rows_table = read_table(path, data=data, reader=ROWS)
        assert any(len(r) < len(rows_table.header) for r in rows_table.rows) and rows_table.rows_blank, name  # short and blank lines
        auto = check_feed_file(path, data=data, max_bad_row_share=1.0)
        rows = check_feed_file(path, data=data, max_bad_row_share=1.0, reader=ROWS)
        assert (auto.reader, auto.reader_note, rows.reader) == (COLUMNS, "", ROWS) and "asked for" in rows.reader_note, name
        assert auto.quarantine and auto.rows_loaded, name
        _same_check(auto, rows, name)


def test_a_rejection_for_too_many_bad_rows_is_the_same(tmp_path):
    """The bad-line share is computed alike: the same TooManyBadRows sentence."""
    path = tmp_path / "claims_review" / "202404.csv"
    name, data = generated(BIG[0][0], lines=150, encoding=BIG[0][1], risky=False)
    with pytest.raises(FileRejected) as auto:
        check_feed_file(path, data=data, max_bad_row_share=0.01)
    with pytest.raises(FileRejected) as rows:
        check_feed_file(path, data=data, max_bad_row_share=0.01, reader=ROWS)
    assert str(auto.value) == str(rows.value) and "許容される" in str(auto.value)
    assert auto.value.details == rows.value.details


LINE = "01,R1,202403,内容点検,5,0,返戻"


@pytest.mark.parametrize(
    "body,why",
    [
        (f"{LINE}\n", None),
        ('01,R1,202403,内容点検,"1,234","0",返戻\r\n', None),  # whole quoted fields; CRLF
        ('01,"R1""x",202403,内容点検,5,0,返戻\r', None),  # a doubled quote; a lone CR
        (f"\n  \n,,\n{LINE}\n\n", None),  # blank lines among the rows
        ("01,R1,202403\n", None),  # a line shorter than the header
        (f'01,R1"x,202403,内容点検,5,0,返戻\n{LINE}\n', "quote character"),  # a quote inside a field
        (f'"01,R1,202403,内容点検,5,0,返戻\n{LINE}\n', "quote character"),  # never closed
        (f'01,"R1\nR2",202403,内容点検,5,0,返戻\n{LINE}\n', "quote character"),  # a quoted field spanning lines
        (f'01,"R1" ,202403,内容点検,5,0,返戻\n', "quote character"),  # text after a closing quote
        (f'01,"R1"x,202403,内容点検,"5",0,返戻\n', "quote character"),  # … before the next quoted field
        (f'01,x"R1",202403,内容点検,5,0,返戻\n', "quote character"),  # text before an opening quote
        (f'{LINE}\n01,R1,202403,内容点検,5,0,"返戻"\x1a', "quote character"),  # a closing quote before the EOF marker
        (f"{LINE}\n{LINE},\n", "more cells than the header"),
        (f"{LINE},余分\n", "more cells than the header"),  # the first data line: pandas would make its first cell an index
        (f"{LINE},余分,もう一つ\n{LINE}\n", "more cells than the header"),  # … or its first two (a MultiIndex)
        (f"01,R1\t,202403,内容点検,5,0,返戻\n{LINE}\n", "control character"),
        (f"\ufeff{LINE}\n", "byte-order mark"),  # pandas drops a BOM at the start of what it reads
    ],
)
def test_when_the_row_reader_reads_a_csv_file(tmp_path, body, why):
    data = (",".join(HEADER) + "\n" + body).encode("utf-8")
    path = tmp_path / "claims_review" / "202404.csv"
    auto, rows = read_table(path, data=data), read_table(path, data=data, reader=ROWS)
    if why is None:
        assert (auto.reader, auto.reader_note) == (COLUMNS, "")
        assert [list(r) for r in auto.rows] == [_padded(r, len(HEADER)) for r in rows.rows]
    else:
        assert auto.reader == ROWS and why in auto.reader_note and auto.columns is None
        assert auto.rows == rows.rows
    assert list(auto.row_numbers) == list(rows.row_numbers) and auto.broken == rows.broken and auto.rows_blank == rows.rows_blank


def test_a_line_beyond_the_csv_field_limit_is_read_row_by_row(tmp_path):
    """A layout may allow lines longer than the csv module's field limit (131,072 characters);
    such a field is a broken line for the csv module, so such a file is read by it."""
    import csv
    import dataclasses

    from kenpo_pipeline.domain.reference import Limits, feed_layout

    layout = feed_layout("claims_review")
    layout = dataclasses.replace(layout, limits=Limits(max_file_bytes=layout.limits.max_file_bytes, max_columns=100, max_line_chars=400_000))
    long_id = "R" * (csv.field_size_limit() + 10)
    data = (",".join(HEADER) + f"\n{LINE}\n01,{long_id},202403,内容点検,5,0,返戻\n").encode()
    path = tmp_path / "claims_review" / "202404.csv"
    auto, rows = read_table(path, layout, data), read_table(path, layout, data, reader=ROWS)
    assert auto.reader == ROWS and "field limit" in auto.reader_note
    assert [b.row_number for b in auto.broken] == [3] and "field larger than field limit" in auto.broken[0].reason
    assert auto.broken == rows.broken and auto.rows == rows.rows == [LINE.split(",")]

