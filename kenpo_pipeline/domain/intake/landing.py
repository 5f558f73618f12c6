"""The landing area: ``<landing>/<feed>/<YYYYMM>.csv|xlsx`` (shared spec/feeds.md "Files") and its
contract (README "How a month is loaded").

- **Names.** :func:`parse_feed_filename` is the one parser of feed file names (used by the scan, the
  landing sensor, a load and ``kenpo validate``): the folder is the feed id, the name is the month
  ``YYYYMM`` with the suffix ``.csv`` or ``.xlsx`` (any case). The name is read after Unicode NFKC, so
  a name typed with full-width digits (``２０２４０９.csv``) is the month 2024-09 like ``202409.csv``
  (and both together are two files for one month). Only ASCII digits count after NFKC.
- **Ignored names.** Names starting with ``.`` or ``~$`` and names ending ``.tmp``, ``.part``,
  ``.partial``, ``.crdownload`` or ``.filepart`` are work files of copy tools, browsers and Excel:
  they are not feeds, not problems, and never looked at.
- **Complete and stable.** A file is taken only once it has not been modified for the settle time
  (``KENPO_LANDING_SETTLE_SECONDS``): its modification time is at least that old. Its bytes are then
  read once; the file is stat-ed before and after the read and must be unchanged (size,
  modification time, inode), and those same bytes are hashed and parsed. A file that is younger than
  the settle time, or changed while it was read, is *not ready* (:class:`FileNotReady`): never
  rejected, never loaded, nothing recorded; it is taken on a later run or sensor tick.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from kenpo_pipeline.domain import calendar
from kenpo_pipeline.domain.intake.reading import FileRejected
from kenpo_pipeline.domain.reference import FEED_IDS

FEED_SUFFIXES = (".csv", ".xlsx")
IGNORED_PREFIXES = (".", "~$")
IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".filepart")
_NAME = re.compile(r"(\d{4})(\d{2})", re.ASCII)
LAYOUT_HINT = "<landing>/<feed>/<YYYYMM>.csv|xlsx"


# --- names ---------------------------------------------------------------------------------------


def is_ignored_name(name: str) -> bool:
    """A work file of a copy tool, browser or Excel (never a feed, never a problem)."""
    lowered = unicodedata.normalize("NFKC", name).lower()
    return name.startswith(IGNORED_PREFIXES) or lowered.startswith(IGNORED_PREFIXES) or lowered.endswith(IGNORED_SUFFIXES)


def month_of_name(path: Path | str) -> str:
    """The month a feed file's name stands for: ``202404.csv`` (or ``２０２４０４.csv``) → ``"2024-04"``.

    The suffix must be ``.csv`` or ``.xlsx`` and the stem a real ``YYYYMM`` month after NFKC;
    anything else rejects the file (:class:`FileRejected`, with the reason in Japanese)."""
    path = Path(path)
    name = unicodedata.normalize("NFKC", path.name)
    stem, dot, suffix = name.rpartition(".")
    if not dot or f".{suffix.lower()}" not in FEED_SUFFIXES:
        shown = f".{suffix}" if dot else "（拡張子なし）"
        raise FileRejected(path, f"拡張子 '{shown}' のファイルはフィードではありません（.csv と .xlsx のみ）")
    m = _NAME.fullmatch(stem)
    if not m or not 1 <= int(m[2]) <= 12:
        raise FileRejected(path, f"ファイル名 '{Path(path.name).stem}' は実在する年月ではありません（YYYYMM の形式、例: 202404）")
    return calendar.month_key(int(m[1]), int(m[2]))


def feed_of_folder(path: Path | str) -> str:
    """The feed a file belongs to: the name of its folder, one of the feed ids."""
    feed = Path(path).parent.name
    if feed not in FEED_IDS:
        raise FileRejected(path, f"フォルダー '{feed}' はフィードではありません（{'、'.join(FEED_IDS)} のいずれか）")
    return feed


def parse_feed_filename(path: Path | str) -> tuple[str, str]:
    """``<landing>/benefits/202404.csv`` → ``("benefits", "2024-04")`` — the one parser of feed file
    names. Raises :class:`FileRejected` with a Japanese reason when the folder is no feed or the name
    is no feed-month."""
    return feed_of_folder(path), month_of_name(path)


# --- the landing area --------------------------------------------------------------------------


def _feed_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not is_ignored_name(p.name))


def candidate_files(landing: Path, feed: str, month: str) -> list[Path]:
    """Every file in the feed's folder whose name stands for ``month`` (ignored names excluded)."""
    folder = Path(landing) / feed
    if not folder.is_dir():
        return []
    out = []
    for p in _feed_files(folder):
        try:
            if month_of_name(p) == month:
                out.append(p)
        except FileRejected:
            continue
    return out


def find_feed_file(landing: Path, feed: str, month: str) -> Path | None:
    """The one file for the feed-month, ``None`` when there is none; two files is an error."""
    files = candidate_files(landing, feed, month)
    if len(files) > 1:
        raise FileRejected(
            files[0].parent / f"{month.replace('-', '')}.*",
            f"{month} のファイルが {len(files)} 個あり（{'、'.join(p.name for p in files)}）、1 か月に 1 ファイルだけのため、どれも読み込みません",
        )
    return files[0] if files else None


@dataclass
class LandingScan:
    months: dict[str, set[str]] = field(default_factory=dict)  # feed → months with a file
    files: dict[tuple[str, str], list[Path]] = field(default_factory=dict)
    problems: list[tuple[Path, str]] = field(default_factory=list)  # files that are not feed-months
    ignored: list[Path] = field(default_factory=list)  # work files (see is_ignored_name)

    @property
    def all_months(self) -> list[str]:
        return sorted(set().union(*self.months.values())) if self.months else []


def scan_landing(landing: Path) -> LandingScan:
    scan = LandingScan(months={feed: set() for feed in FEED_IDS})
    landing = Path(landing)
    if not landing.is_dir():
        return scan
    for entry in sorted(landing.iterdir()):
        if is_ignored_name(entry.name):
            scan.ignored.append(entry)
            continue
        if not entry.is_dir():
            scan.problems.append((entry, f"ファイルはフィードのフォルダーに置いてください（{LAYOUT_HINT}）"))
            continue
        if entry.name not in FEED_IDS:
            scan.problems.append((entry, f"フォルダー '{entry.name}' はフィードではありません（{'、'.join(FEED_IDS)} のいずれか）"))
            continue
        for f in sorted(entry.iterdir()):
            if not f.is_file():
                continue
            if is_ignored_name(f.name):
                scan.ignored.append(f)
                continue
            try:
                feed, month = parse_feed_filename(f)
            except FileRejected as exc:
                scan.problems.append((f, exc.reason))
                continue
            scan.months[feed].add(month)
            scan.files.setdefault((feed, month), []).append(f)
    return scan


# --- complete and stable -----------------------------------------------------------------------


class FileNotReady(Exception):
    """The file is still being written (or changed while it was read): not loaded, not rejected."""

    def __init__(self, path: Path | str, reason: str, seconds_left: float = 0.0):
        self.path = str(path)
        self.reason = reason
        self.seconds_left = seconds_left
        super().__init__(f"{self.path} は書き込み中のため読み込みませんでした（{reason}）")


def settle_seconds_left(st: os.stat_result, settle_seconds: float, now: float | None = None) -> float:
    """How long the file must still stay unchanged before it counts as complete (0: it does)."""
    now = time.time() if now is None else now
    return max(0.0, settle_seconds - (now - st.st_mtime))


def _not_settled(path: Path, st: os.stat_result, settle_seconds: float, now: float) -> FileNotReady:
    age = now - st.st_mtime
    left = settle_seconds_left(st, settle_seconds, now)
    if age < -1:
        return FileNotReady(
            path, f"更新時刻が現在より {-age:.0f} 秒先です。{settle_seconds:g} 秒間変化がないことを確かめるまで待ちます（時計のずれも確認してください）", left
        )
    return FileNotReady(path, f"最後の変更から {max(age, 0):.0f} 秒です。{settle_seconds:g} 秒間変化がなくなってから読み込みます", left)


def check_settled(path: Path | str, settle_seconds: float, now: float | None = None) -> os.stat_result:
    """The file's stat when it has been unchanged for ``settle_seconds``; else :class:`FileNotReady`."""
    path = Path(path)
    st = os.stat(path)
    now = time.time() if now is None else now
    if settle_seconds_left(st, settle_seconds, now) > 0:
        raise _not_settled(path, st, settle_seconds, now)
    return st


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_size, a.st_mtime_ns, a.st_ino, a.st_dev) == (b.st_size, b.st_mtime_ns, b.st_ino, b.st_dev)


CHANGED_WHILE_READ = "読み込みの間にファイルが変更されました"


def read_settled(path: Path | str, settle_seconds: float) -> bytes:
    """The file's bytes, read once, when it is complete and stable (see the module docstring):
    unchanged for ``settle_seconds`` before the read and unchanged by the read. Otherwise
    :class:`FileNotReady`. ``OSError`` (missing, unreadable) propagates."""
    path = Path(path)
    before = check_settled(path, settle_seconds)
    with open(path, "rb") as f:
        data = f.read()
    after = os.stat(path)
    if not _same(before, after) or len(data) != before.st_size:
        raise FileNotReady(path, CHANGED_WHILE_READ, settle_seconds)
    return data


def sha256_settled(path: Path | str, settle_seconds: float) -> tuple[str, os.stat_result]:
    """SHA-256 of a complete and stable file, streamed (the landing sensor: no copy in memory), with
    the stat it was taken at; :class:`FileNotReady` under the same rules as :func:`read_settled`."""
    path = Path(path)
    before = check_settled(path, settle_seconds)
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            n += len(chunk)
    after = os.stat(path)
    if not _same(before, after) or n != before.st_size:
        raise FileNotReady(path, CHANGED_WHILE_READ, settle_seconds)
    return h.hexdigest(), after


def not_ready_message(exc: FileNotReady, current: dict | None) -> str:
    """What a person reads about a file that is not ready: nothing was loaded, what stays."""
    if current:
        return f"{exc}。現在の取込（load {current['load_id']}）をそのまま使います。"
    return f"{exc}。この月にはまだ取込がありません。書き込みが終わってから、もう一度実行してください。"
