"""The verdicts of a feed-month's three checks — a pure function of the month's outcome
(domain/intake/checks.py), on real files parsed and validated by the code a load uses."""

import json

import pytest

from conftest import HEADERS, write_csv
from kenpo_pipeline.domain.intake.checks import (
    ACCEPTED,
    CONSISTENCY,
    LOAD_ID,
    ROW_RULES,
    Bullets,
    Json,
    Severity,
    Table,
    check_description,
    feed_month_verdicts,
)
from kenpo_pipeline.domain.intake.feeds import TooManyBadRows, check_feed_file
from kenpo_pipeline.domain.intake.status import OUTCOME_KEY, FeedMonthOutcome, FeedMonthStatus
from kenpo_pipeline.domain.reference import FEED_IDS

GOOD = ["22", "X", "傷病手当金", "2024-04-01", "2024-04-10", "2024-04-12", "郵送", "支給"]
BAD = ["22", "X", "見舞金", "2024-04-01", "2024-04-10", "2024-04-12", "郵送", "支給"]  # 給付種別 not in the set


def rows(n, bad=0):
    return [GOOD[:1] + [f"G{i}"] + GOOD[2:] for i in range(n)] + [BAD[:1] + [f"B{i}"] + BAD[2:] for i in range(bad)]


def benefits(tmp_path, n, bad=0, share=0.5):
    path = write_csv(tmp_path / "benefits" / "202404.csv", HEADERS["benefits"], rows(n, bad))
    return check_feed_file(path, "benefits", "2024-04", max_bad_row_share=share)


def outcome(status, **fields):
    return FeedMonthOutcome("benefits", "2024-04", FeedMonthStatus(status), fields.pop("message", "理由の文"), **fields)


def by_name(verdicts):
    assert [v.check for v in verdicts] == [ACCEPTED, ROW_RULES, CONSISTENCY]
    return {v.check: v for v in verdicts}


def test_a_clean_load_passes_all_three_with_japanese_descriptions_and_text_ids(tmp_path):
    from kenpo_pipeline.domain.intake.sample import write_sample

    write_sample(tmp_path, 2024, 2024, scale=0.002, feeds=("benefits",), months=["2024-04"])
    check = check_feed_file(tmp_path / "benefits" / "202404.csv", "benefits", "2024-04")
    n = check.rows_loaded
    v = by_name(feed_month_verdicts(outcome("loaded", load_id=7, rows_read=n, rows_loaded=n, sha256="a" * 64), check))
    assert all(x.passed and x.evaluated for x in v.values())
    assert v[ACCEPTED].severity is Severity.ERROR and v[ACCEPTED].blocking and not v[ROW_RULES].blocking
    assert v[ACCEPTED].description == f"2024-04（令和6年4月）: 取込済（{n:,} 行を取り込み）。"
    assert v[ROW_RULES].description.endswith("すべての行が行ルールを満たしました。")
    assert v[CONSISTENCY].description.endswith("整合性の問題はありません。")
    # identifiers are text (the UI plots numbers as a time series), counts are numbers
    for x in v.values():
        assert x.metadata[LOAD_ID] == "7" and x.metadata["対象月"] == "2024-04（令和6年4月）"
    assert v[ROW_RULES].metadata["読込行数"] == n and v[ROW_RULES].metadata["隔離行数"] == 0
    # the run report's record rides on the accepted check
    assert FeedMonthOutcome.from_json(json.loads(json.dumps(v[ACCEPTED].metadata[OUTCOME_KEY].value))).load_id == 7
    # the expectation table: Japanese headers, every reason with its placeholders filled in
    table = v[ROW_RULES].metadata["期待値の結果"]
    assert isinstance(table, Table) and list(table.frame.columns) == ["ルール", "種類", "列", "結果", "違反行数", "対象行数", "理由"]
    assert not table.frame["理由"].str.contains(r"[{}]").any()
    assert "令和6年4月" in " ".join(table.frame["理由"])  # 「決定日がファイルの対象月（令和6年4月）の外です」


def test_quarantined_rows_fail_row_rules_with_warn_and_list_them(tmp_path):
    check = benefits(tmp_path, 40, bad=2)
    v = by_name(feed_month_verdicts(outcome("loaded", load_id=8, rows_read=42, rows_loaded=40, rows_quarantined=2), check))
    assert v[ACCEPTED].passed and v[ACCEPTED].description.endswith("（40 行を取り込み、隔離 2 行）。")
    assert (v[ROW_RULES].passed, v[ROW_RULES].severity) == (False, Severity.WARN)
    listed = v[ROW_RULES].metadata["隔離した行"]
    assert list(listed.frame["行"]) == [42, 43] and set(listed.frame["値"]) == {"見舞金"} and listed.more == ""
    assert v[ROW_RULES].description == "2024-04（令和6年4月）: 2 行を隔離し、残り 40 行を取り込みました。"


def test_a_rejection_fails_the_gate_and_row_rules_and_never_fails_the_check_that_did_not_run(tmp_path):
    with pytest.raises(TooManyBadRows) as rejected:
        benefits(tmp_path, 5, bad=5, share=0.1)
    o = outcome("rejected", message=str(rejected.value), load_id=3, rows_read=20, rows_loaded=20)  # load 3 stays current
    v = by_name(feed_month_verdicts(o, rejected.value.check))
    assert (v[ACCEPTED].passed, v[ACCEPTED].severity) == (False, Severity.ERROR)
    assert v[ACCEPTED].metadata["理由"] == str(rejected.value) and v[ACCEPTED].metadata["状態"] == "却下"
    assert "前回の取込（load 3）のまま" in v[ACCEPTED].description
    assert (v[ROW_RULES].passed, v[ROW_RULES].severity, v[ROW_RULES].load_id) == (False, Severity.ERROR, None)
    assert v[ROW_RULES].metadata[LOAD_ID] == "—"  # the rejected file's rows were never a load
    c = v[CONSISTENCY]
    assert (c.passed, c.severity, c.evaluated, c.load_id) == (True, Severity.WARN, False, 3)
    assert c.description == "2024-04（令和6年4月）: 未実施 — 今回のファイルが却下されたため確認していません。この月のデータは前回の取込（load 3）のまま変わりません。"


def test_a_missing_month_with_no_data_fails_only_the_gate(tmp_path):
    o = outcome("missing", message="landing/benefits に 202404.csv|xlsx がありません")
    v = by_name(feed_month_verdicts(o, None))
    assert not v[ACCEPTED].passed and v[ACCEPTED].metadata[LOAD_ID] == "—"
    for name in (ROW_RULES, CONSISTENCY):
        assert (v[name].passed, v[name].evaluated, v[name].severity) == (True, False, Severity.WARN)
        assert "ファイルが未着のため確認していません。この月のデータはまだありません。" in v[name].description
        assert v[name].metadata["実施"] == "いいえ（今回は未実施）"


def test_an_unchanged_file_passes_the_gate_and_describes_its_load(tmp_path):
    o = outcome("unchanged", load_id=5, rows_read=12, rows_loaded=10, rows_quarantined=2)
    v = by_name(feed_month_verdicts(o, None))
    assert v[ACCEPTED].passed and "load 5 と同じファイル" in v[ACCEPTED].description
    # what is known of load 5: two quarantined rows (WARN); it did not run again
    assert (v[ROW_RULES].passed, v[ROW_RULES].severity, v[ROW_RULES].evaluated, v[ROW_RULES].load_id) == (False, Severity.WARN, False, 5)
    assert v[ROW_RULES].metadata["隔離行数"] == 2
    assert (v[CONSISTENCY].passed, v[CONSISTENCY].evaluated) == (True, False)


@pytest.mark.parametrize("status", [s.value for s in FeedMonthStatus])
def test_only_a_check_that_ran_can_fail_with_error_and_ids_are_never_numbers(status):
    loaded = status in ("loaded", "unchanged")
    v = feed_month_verdicts(outcome(status, load_id=4 if loaded else None), None)
    for x in v:
        if not x.evaluated:
            assert x.severity is Severity.WARN
        assert not isinstance(x.metadata[LOAD_ID], int)
        assert all(isinstance(val, (str, int, Table, Bullets, Json)) for val in x.metadata.values())
    assert v[0].passed == (status in ("loaded", "unchanged"))


def test_consistency_findings_are_listed_and_warn(tmp_path):
    from kenpo_pipeline.domain.intake.sample import write_sample

    write_sample(tmp_path, 2024, 2024, scale=0.002, feeds=("screenings",), months=["2024-04"])
    path = tmp_path / "screenings" / "202404.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [lines[0]] + [l for l in lines[1:] if not l.startswith(("22,", "２２,"))]  # 静岡 has no rows
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    check = check_feed_file(path, "screenings", "2024-04")
    v = by_name(feed_month_verdicts(FeedMonthOutcome("screenings", "2024-04", FeedMonthStatus.LOADED, "取込", load_id=1), check))
    c = v[CONSISTENCY]
    assert (c.passed, c.severity, c.evaluated) == (False, Severity.WARN, True)
    assert c.metadata["所見数"] >= 1 and any("静岡" in f for f in c.metadata["所見"].items)


def test_every_feed_has_three_japanese_check_descriptions():
    for feed in FEED_IDS:
        texts = [check_description(name, feed) for name in (ACCEPTED, ROW_RULES, CONSISTENCY)]
        assert all(t.isascii() is False and "{" not in t for t in texts)
    assert "expectations/benefits.json" in check_description(ROW_RULES, "benefits")


def test_identifiers_in_the_metadata_are_text_never_a_series_the_ui_plots(tmp_path):
    """Issue 12 §14: the UI plots every numeric metadata entry over time (its Plots tab); a load's
    取込ID is an identifier, so the month's materialization and its checks carry it as text, and
    the only numbers are counts."""
    import dagster as dg

    from kenpo_pipeline.defs.feeds import check_evaluation, month_metadata
    from kenpo_pipeline.warehouse.loading import MonthResult

    check = check_feed_file(write_csv(tmp_path / "benefits" / "202404.csv", HEADERS["benefits"], rows(200, bad=1)))
    current = {"load_id": 4711, "sha256": check.sha256, "path": str(tmp_path / "benefits" / "202404.csv"), "rows_read": 201,
               "rows_loaded": 200, "rows_quarantined": 1}
    result = MonthResult("benefits", "2024-04", "loaded", "取り込みました。", check=check, current=current)
    meta = month_metadata(result)
    assert isinstance(meta["load_id"], dg.TextMetadataValue) and meta["load_id"].value == "4711"
    numbers = {k for k, v in meta.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert numbers == {"rows_read", "rows_loaded", "rows_quarantined", "dagster/row_count"}
    with dg.DagsterInstance.ephemeral() as instance:
        for verdict in feed_month_verdicts(result.report(), check):
            evaluation = check_evaluation(instance, dg.AssetKey("benefits"), "2024-04", verdict, None)
            assert isinstance(evaluation.metadata[LOAD_ID], dg.TextMetadataValue) and evaluation.metadata[LOAD_ID].value == "4711"
