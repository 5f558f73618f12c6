"""The three checks of a feed-month, and their verdicts: a pure function of what a load attempt
decided (shared spec/feeds.md "Checks"). No Dagster here: ``defs/feeds.py`` turns the verdicts
into Dagster check evaluations, one per check and month.

- ``accepted`` (blocking): the gate. Passes when the month's file loaded (quarantined rows included)
  or is unchanged; fails with ERROR when the month is unusable (rejected, missing, still being
  written).
- ``row_rules``: the feed's GX suite, expectation by expectation. Passes when no row broke a rule;
  fails with WARN when rows went to quarantine (the month still loads); fails with ERROR when the
  file was rejected for too many bad rows.
- ``consistency``: the cross-row rules GX cannot express (missing branches, subordinate rows without
  their total, …). WARN only.

A check that could not run on this attempt (the file was rejected before its rows were read, is
missing or still being written; ``row_rules`` and ``consistency`` of an unchanged file) is *not
evaluated* (``evaluated=False``): its verdict describes the load the month still holds
(``load_id``), from what is known of it (``row_rules``: that load's quarantined rows), and is never
an ERROR; with no load, or nothing known (``consistency``), it passes and says 未実施. The
orchestration layer shows instead the verdict the check gave that same load, when it has one (see
``defs/feeds.py``).

Metadata values are plain data: ``str`` (text — identifiers such as a load id are text, never
numbers a UI would plot), ``int`` (counts), :class:`Table`, :class:`Bullets`, :class:`Json`,
:class:`FilePath`; labels are Japanese, except :data:`OUTCOME_KEY` (read by the run report).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pandas as pd

from kenpo_pipeline.domain.calendar import month_label
from kenpo_pipeline.domain.intake.feeds import FeedCheck
from kenpo_pipeline.domain.intake.status import OUTCOME_KEY, FeedMonthOutcome, FeedMonthStatus
from kenpo_pipeline.domain.reference import feed_layout

ACCEPTED = "accepted"
ROW_RULES = "row_rules"
CONSISTENCY = "consistency"
CHECK_NAMES = (ACCEPTED, ROW_RULES, CONSISTENCY)
QUARANTINE_LISTED = 20
"""Quarantined rows listed in the ``row_rules`` metadata (all are in the warehouse's ``quarantine``)."""

LOAD_ID = "取込ID"
"""The metadata label of the load a verdict describes (text)."""
EVALUATED = "実施"
NOT_EVALUATED_TEXT = "いいえ（今回は未実施）"


class Severity(StrEnum):
    ERROR = "ERROR"
    WARN = "WARN"


@dataclass(frozen=True)
class Table:
    """A table shown as (escaped) Markdown; ``more`` is a line after it (e.g. "…ほか 12 行")."""

    frame: pd.DataFrame
    more: str = ""


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Json:
    value: Any


@dataclass(frozen=True)
class FilePath:
    path: str


@dataclass(frozen=True)
class CheckVerdict:
    check: str
    passed: bool
    severity: Severity
    description: str  # Japanese, one or two sentences
    metadata: dict[str, Any] = field(default_factory=dict)
    evaluated: bool = True  # False: the check could not run on this attempt (never a failure)
    load_id: int | None = None  # the load whose data the verdict describes (None: the month has none)

    @property
    def blocking(self) -> bool:
        return is_blocking(self.check)


def is_blocking(check: str) -> bool:
    return check == ACCEPTED


def check_description(check: str, feed: str) -> str:
    """The Japanese description of a feed's check (what the UI shows beside its name)."""
    name = feed_layout(feed).name_ja
    return {
        ACCEPTED: f"{name} のその月のファイルが受け入れられたか（却下・未着・書込中で不合格）。下流の更新はこのチェックの合格を待ちます。",
        ROW_RULES: f"{name} の行ルール（Great Expectations スイート expectations/{feed}.json）。違反行は隔離し、多すぎる場合はファイルを却下します。",
        CONSISTENCY: f"{name} の行をまたぐ整合性（支部・項目の欠落など）。警告のみです。",
    }[check]


def feed_month_verdicts(outcome: FeedMonthOutcome, check: FeedCheck | None) -> list[CheckVerdict]:
    """The verdicts of ``accepted``, ``row_rules`` and ``consistency`` for one feed-month attempt.

    ``outcome`` is what the attempt decided (its load fields describe the load now current for the
    month, which a rejection leaves in place); ``check`` the parsed and validated file, when the
    attempt got that far (a load, or a rejection for too many bad rows)."""
    return [_accepted(outcome), _row_rules(outcome, check), _consistency(outcome, check)]


def _head(outcome: FeedMonthOutcome) -> dict[str, Any]:
    return {"対象月": month_label(outcome.month), LOAD_ID: _id(outcome.load_id)}


def _id(load_id: int | None) -> str:
    return "—" if load_id is None else str(load_id)


def _kept(outcome: FeedMonthOutcome) -> str:
    if outcome.load_id is None:
        return "この月のデータはまだありません。"
    return f"この月のデータは前回の取込（load {outcome.load_id}）のまま変わりません。"


def _accepted(outcome: FeedMonthOutcome) -> CheckVerdict:
    status = outcome.status
    meta = {
        **_head(outcome),
        "状態": status.label_ja,
        "SHA-256": outcome.sha256 or "—",
        OUTCOME_KEY: Json(outcome.to_json()),
    }
    label = month_label(outcome.month)
    if status is FeedMonthStatus.LOADED:
        q = f"、隔離 {outcome.rows_quarantined:,} 行" if outcome.rows_quarantined else ""
        desc = f"{label}: 取込済（{outcome.rows_loaded:,} 行を取り込み{q}）。"
    elif status is FeedMonthStatus.UNCHANGED:
        desc = f"{label}: 変更なし（前回の取込 load {outcome.load_id} と同じファイルです）。"
    else:
        meta["理由"] = outcome.message
        desc = f"{label}: {status.label_ja} — {outcome.message} {_kept(outcome)}"
    return CheckVerdict(ACCEPTED, status.ok, Severity.ERROR, desc, meta, load_id=outcome.load_id)


def _expectations(check: FeedCheck) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "ルール": e.rule,
                "種類": e.expectation_type,
                "列": ", ".join(e.columns),
                "結果": "✅" if e.success else "❌",
                "違反行数": e.unexpected_count,
                "対象行数": e.element_count,
                "理由": e.reason_ja,
            }
            for e in check.suite.expectations
        ],
        columns=["ルール", "種類", "列", "結果", "違反行数", "対象行数", "理由"],
    )


def _row_rules(outcome: FeedMonthOutcome, check: FeedCheck | None) -> CheckVerdict:
    label = month_label(outcome.month)
    if check is None:
        if outcome.load_id is None:
            return _not_evaluated(ROW_RULES, outcome)
        q = outcome.rows_quarantined
        meta = {**_head(outcome), EVALUATED: NOT_EVALUATED_TEXT, "隔離行数": q}
        if outcome.status is FeedMonthStatus.UNCHANGED:
            desc = f"{label}: 変更なし（load {outcome.load_id} と同じファイル）。その取込の隔離行は {q:,} 行です。"
        else:
            desc = f"{label}: 今回のファイルは{outcome.status.label_ja}のため行ルールを確認していません。{_kept(outcome)}その隔離行は {q:,} 行です。"
        return CheckVerdict(ROW_RULES, q == 0, Severity.WARN, desc, meta, evaluated=False, load_id=outcome.load_id)
    rejected = outcome.status is FeedMonthStatus.REJECTED
    described = None if rejected else outcome.load_id  # a rejected file's rows were never a load
    meta: dict[str, Any] = {
        "対象月": month_label(outcome.month),
        LOAD_ID: _id(described),
        "スイート": check.suite.suite_name,
        "期待値の結果": Table(_expectations(check)),
        "不合格の期待値数": sum(not e.success for e in check.suite.expectations),
        "読込行数": check.rows_read,
        "隔離行数": check.rows_quarantined,
        "期待値ごと": Json(
            {e.rule: {"success": e.success, "unexpected_count": e.unexpected_count, "element_count": e.element_count} for e in check.suite.expectations}
        ),
    }
    if check.quarantine:
        listed = pd.DataFrame(
            [{"行": q.row_number, "列": q.column_name, "値": q.value, "理由": q.reason} for q in check.quarantine[:QUARANTINE_LISTED]]
        )
        more = check.rows_quarantined - QUARANTINE_LISTED
        meta["隔離した行"] = Table(listed, f"…ほか {more:,} 行" if more > 0 else "")
    if rejected:
        meta["理由"] = outcome.message
        desc = f"{label}: 却下 — {outcome.message} {_kept(outcome)}"
        return CheckVerdict(ROW_RULES, False, Severity.ERROR, desc, meta, load_id=None)
    if check.quarantine:
        desc = f"{label}: {check.rows_quarantined:,} 行を隔離し、残り {check.rows_loaded:,} 行を取り込みました。"
        return CheckVerdict(ROW_RULES, False, Severity.WARN, desc, meta, load_id=outcome.load_id)
    return CheckVerdict(ROW_RULES, True, Severity.WARN, f"{label}: すべての行が行ルールを満たしました。", meta, load_id=outcome.load_id)


def _consistency(outcome: FeedMonthOutcome, check: FeedCheck | None) -> CheckVerdict:
    if check is None or outcome.status is not FeedMonthStatus.LOADED:
        return _not_evaluated(CONSISTENCY, outcome)
    label = month_label(outcome.month)
    findings = check.findings
    meta: dict[str, Any] = {**_head(outcome), "所見数": len(findings)}
    if findings:
        meta["所見"] = Bullets(tuple(f.message for f in findings))
        desc = f"{label}: 整合性の所見が {len(findings)} 件あります（行は取り込み済み）。"
    else:
        desc = f"{label}: 整合性の問題はありません。"
    return CheckVerdict(CONSISTENCY, not findings, Severity.WARN, desc, meta, load_id=outcome.load_id)


def _not_evaluated(name: str, outcome: FeedMonthOutcome) -> CheckVerdict:
    status = outcome.status
    why = {
        FeedMonthStatus.UNCHANGED: f"前回の取込（load {outcome.load_id}）と同じファイルのため再確認していません。",
        FeedMonthStatus.REJECTED: "今回のファイルが却下されたため確認していません。",
        FeedMonthStatus.MISSING: "ファイルが未着のため確認していません。",
        FeedMonthStatus.NOT_READY: "ファイルが書込中のため確認していません。",
    }.get(status, "確認していません。")
    kept = "" if status is FeedMonthStatus.UNCHANGED else _kept(outcome)
    meta = {**_head(outcome), EVALUATED: NOT_EVALUATED_TEXT, "未実施の理由": why}
    desc = f"{month_label(outcome.month)}: 未実施 — {why}{kept}"
    return CheckVerdict(name, True, Severity.WARN, desc, meta, evaluated=False, load_id=outcome.load_id)
