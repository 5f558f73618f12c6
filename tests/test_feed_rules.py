"""Every row rule sends exactly the offending rows to quarantine (shared spec/feeds.md)."""

import pytest

from conftest import HEADERS, write_csv
from kenpo_pipeline.domain.intake.feeds import TooManyBadRows, check_feed_file
from kenpo_pipeline.domain.reference import branch_codes, indicators


def quarantined(check):
    return {q.row_number: q for q in check.quarantine}


# --- benefits ---------------------------------------------------------------------------------

GOOD_BENEFIT = ["22", "X", "傷病手当金", "2024-04-01", "2024-04-10", "2024-04-12", "郵送", "支給"]


def benefits_with(tmp_path, bad_rows):
    rows = [GOOD_BENEFIT[:1] + [f"G{i}"] + GOOD_BENEFIT[2:] for i in range(10)]
    rows += bad_rows
    return check_feed_file(write_csv(tmp_path / "benefits" / "202404.csv", HEADERS["benefits"], rows), max_bad_row_share=1.0)


@pytest.mark.parametrize(
    "row,column,reason",
    [
        (["48", "B", "傷病手当金", "2024-04-01", "2024-04-10", "2024-04-12", "郵送", "支給"], "支部コード", "支部コードが01～47ではありません"),
        (["", "B", "傷病手当金", "2024-04-01", "2024-04-10", "2024-04-12", "郵送", "支給"], "支部コード", "必須項目の支部コードが空です"),
        (["22", "", "傷病手当金", "2024-04-01", "2024-04-10", "2024-04-12", "郵送", "支給"], "申請番号", "必須項目の申請番号が空です"),
        (["22", "B", "育児休業給付", "2024-04-01", "2024-04-10", "2024-04-12", "郵送", "支給"], "給付種別", "給付種別が定められた種別"),
        (["22", "B", "傷病手当金", "2024-04-11", "2024-04-10", "2024-04-12", "郵送", "支給"], "受付日", "受付日が決定日より後です"),
        (["22", "B", "傷病手当金", "2022-04-09", "2024-04-10", "2024-04-12", "郵送", "支給"], "受付日", "受付日が決定日の2年より前です"),
        (["22", "B", "傷病手当金", "2024-03-01", "2024-03-29", "2024-04-01", "郵送", "支給"], "決定日", "決定日がファイルの対象月（令和6年4月）の外です"),
        (["22", "B", "傷病手当金", "2024-04-01", "2024-04-10", "", "郵送", "支給"], "支払日", "決定区分が支給なのに支払日が空です"),
        (["22", "B", "傷病手当金", "2024-04-01", "2024-04-10", "2024-04-12", "郵送", "不支給"], "支払日", "決定区分が不支給なのに支払日が入っています"),
        (["22", "B", "傷病手当金", "2024-04-01", "2024-04-10", "2024-04-09", "郵送", "支給"], "支払日", "支払日が決定日より前です"),
        (["22", "B", "傷病手当金", "2024-04-01", "2024-04-10", "2024-05-12", "郵送", "支給"], "支払日", "支払日が決定日から31日を超えています"),
        (["22", "B", "傷病手当金", "2024-04-01", "2024-04-10", "2024-04-12", "FAX", "支給"], "受付方法", "受付方法が郵送・窓口・電子申請のいずれでもありません"),
        (["22", "B", "傷病手当金", "2024-04-01", "2024-04-10", "2024-04-12", "郵送", "保留"], "決定区分", "決定区分が支給・不支給のいずれでもありません"),
        (["22", "B", "傷病手当金", "2024-02-30", "2024-04-10", "2024-04-12", "郵送", "支給"], "受付日", "存在しない日付です"),
        (["22", "B", "傷病手当金", "平成31年5月1日", "2024-04-10", "2024-04-12", "郵送", "支給"], "受付日", "平成の期間外"),
    ],
)
def test_benefits_row_rules(tmp_path, row, column, reason):
    check = benefits_with(tmp_path, [row])
    q = quarantined(check)
    assert list(q) == [12], "exactly the offending row (line 12) is quarantined"
    assert q[12].column_name == column
    assert reason in q[12].reason
    assert check.rows_loaded == 10 and check.rows_read == 11


def test_benefits_boundaries_are_accepted(tmp_path):
    rows = [
        ["22", "B1", "傷病手当金", "2022-04-10", "2024-04-10", "2024-05-11", "郵送", "支給"],  # exactly 2 years, exactly 31 days
        ["22", "B2", "傷病手当金", "2024-04-30", "2024-04-30", "2024-04-30", "窓口", "支給"],  # same day receipt/decision/payment
        ["22", "B3", "療養費", "2024-04-01", "2024-04-01", "", "電子申請", "不支給"],
    ]
    check = benefits_with(tmp_path, rows)
    assert check.quarantine == [] and check.rows_loaded == 13


def test_duplicate_application_ids_quarantine_every_row_with_that_key(tmp_path):
    rows = [GOOD_BENEFIT[:1] + ["DUP"] + GOOD_BENEFIT[2:]] * 3
    check = benefits_with(tmp_path, rows)
    assert sorted(quarantined(check)) == [12, 13, 14]
    assert all("申請番号がファイル内で重複しています" in q.reason for q in check.quarantine)


def test_quarantine_record_keeps_the_original_row(tmp_path):
    import json

    check = benefits_with(tmp_path, [["22", "B", "傷病手当金", "R6.4.11", "2024-04-10", "2024-04-12", "郵送", "支給"]])
    record = json.loads(check.quarantine[0].record)
    assert record["受付日"] == "R6.4.11" and record["申請番号"] == "B"
    assert check.quarantine[0].value == "R6.4.11"
    assert check.quarantine[0].rules == "benefits.received_on.not_after_decided"


# --- claims_review ----------------------------------------------------------------------------

GOOD_CLAIM = ["22", "X", "202402", "内容点検", "1000", "100", "査定"]


def claims_with(tmp_path, bad_rows):
    rows = [GOOD_CLAIM[:1] + [f"G{i}"] + GOOD_CLAIM[2:] for i in range(10)] + bad_rows
    return check_feed_file(write_csv(tmp_path / "claims_review" / "202404.csv", HEADERS["claims_review"], rows), max_bad_row_share=1.0)


@pytest.mark.parametrize(
    "row,column,reason",
    [
        (["0", "C", "202402", "内容点検", "1000", "100", "査定"], "支部コード", "支部コードが01～47ではありません"),
        (["22", "C", "202405", "内容点検", "1000", "100", "査定"], "診療年月", "診療年月がファイルの対象月（令和6年4月）より後です"),
        (["22", "C", "201903", "内容点検", "1000", "100", "査定"], "診療年月", "診療年月がファイルの対象月の5年より前です"),
        (["22", "C", "", "内容点検", "1000", "100", "査定"], "診療年月", "必須項目の診療年月が空です"),
        (["22", "C", "令和元年4月", "内容点検", "1000", "100", "査定"], "診療年月", "令和の期間外"),
        (["22", "C", "202402", "事前点検", "1000", "100", "査定"], "点検区分", "点検区分が内容点検・資格点検・外傷点検のいずれでもありません"),
        (["22", "C", "202402", "内容点検", "-1", "0", "原審どおり"], "請求点数", "請求点数が0未満です"),
        (["22", "C", "202402", "内容点検", "1000", "-5", "原審どおり"], "査定点数", "査定点数が0未満です"),
        (["22", "C", "202402", "内容点検", "1000", "1001", "査定"], "査定点数", "査定点数が請求点数を超えています"),
        (["22", "C", "202402", "内容点検", "1000", "0", "却下"], "結果", "結果が査定・原審どおり・返戻のいずれでもありません"),
        (["22", "C", "202402", "内容点検", "1000", "0", "査定"], "査定点数", "結果が査定なのに査定点数が0です"),
        (["22", "C", "202402", "内容点検", "1000", "10", "返戻"], "査定点数", "結果が査定ではないのに査定点数が0より大きいです"),
        (["22", "C", "202402", "内容点検", "10.5", "0", "返戻"], "請求点数", "整数ではありません"),
    ],
)
def test_claims_review_row_rules(tmp_path, row, column, reason):
    check = claims_with(tmp_path, [row])
    q = quarantined(check)
    assert list(q) == [12]
    assert column in q[12].column_name.split("、")
    assert reason in q[12].reason


def test_claims_boundaries(tmp_path):
    rows = [
        ["22", "C1", "201904", "内容点検", "1000", "1000", "査定"],  # exactly 5 years before; reduced == claimed
        ["22", "C2", "202404", "資格点検", "0", "0", "返戻"],  # the file's own month; zero points
        ["22", "C3", "H31.4", "外傷点検", "500", "0", "原審どおり"],
    ]
    check = claims_with(tmp_path, rows)
    assert check.quarantine == []
    assert check.frame["service_month"].tolist()[-3:] == ["2019-04", "2024-04", "2019-04"]


def test_duplicate_claim_ids(tmp_path):
    check = claims_with(tmp_path, [["22", "G3", "202402", "内容点検", "10", "0", "返戻"]])
    assert sorted(quarantined(check)) == [5, 12]


# --- screenings -------------------------------------------------------------------------------

PROGRAMS = [("被保険者", "生活習慣病予防健診"), ("被保険者", "事業者健診データ取得"), ("被扶養者", "特定健診"), ("被保険者", "特定保健指導"), ("被扶養者", "特定保健指導")]


def screening_rows(codes=None, eligible=1000):
    rows = []
    for code in codes or branch_codes():
        for pop, prog in PROGRAMS:
            e = eligible if prog != "特定保健指導" else 200
            rows.append([code, pop, prog, e, 10])
    return rows


def screenings_with(tmp_path, rows):
    return check_feed_file(write_csv(tmp_path / "screenings" / "202404.csv", HEADERS["screenings"], rows), max_bad_row_share=1.0)


def test_screenings_clean_file(tmp_path):
    check = screenings_with(tmp_path, screening_rows())
    assert check.rows_loaded == 235 and check.quarantine == [] and check.findings == []


@pytest.mark.parametrize(
    "row,column,reason",
    [
        (["22", "被扶養者", "生活習慣病予防健診", 10, 1], "事業", "区分と事業の組み合わせが定められたものではありません"),
        (["22", "本人", "特定健診", 10, 1], "区分", "区分が被保険者・被扶養者のいずれでもありません"),
        (["22", "被保険者", "がん検診", 10, 1], "事業", "事業が定められたもの"),
        (["22", "被保険者", "特定保健指導", -1, 1], "対象者数", "対象者数が0未満です"),
        (["22", "被保険者", "特定保健指導", 10, -2], "実施者数", "実施者数が0未満です"),
        (["99", "被保険者", "特定保健指導", 10, 1], "支部コード", "支部コードが01～47ではありません"),
    ],
)
def test_screenings_row_rules(tmp_path, row, column, reason):
    rows = [r for r in screening_rows() if not (r[0] == "22" and (r[1], r[2]) == (row[1], row[2]))]
    rows.append(row)
    check = screenings_with(tmp_path, rows)
    last_line = len(rows) + 1
    assert [q.row_number for q in check.quarantine] == [last_line]
    assert column in check.quarantine[0].column_name.split("、") and reason in check.quarantine[0].reason


def test_screenings_duplicate_key_quarantines_both_rows(tmp_path):
    rows = screening_rows()
    rows.append(["01", "被保険者", "生活習慣病予防健診", 1000, 99])
    check = screenings_with(tmp_path, rows)
    assert [q.row_number for q in check.quarantine] == [2, 237]
    assert all("重複" in q.reason for q in check.quarantine)


def test_screenings_cross_row_findings(tmp_path):
    rows = [r for r in screening_rows() if r[0] != "47"]  # a branch missing entirely
    rows = [r for r in rows if not (r[0] == "13" and r[2] == "特定健診")]  # a program missing for a branch
    for r in rows:
        if r[0] == "22" and r[2] == "事業者健診データ取得":
            r[3] = 999  # eligible populations disagree
    check = screenings_with(tmp_path, rows)
    assert check.quarantine == []  # all rows load; these are warnings
    messages = {f.branch_code: f.message for f in check.findings}
    assert set(messages) == {"47", "13", "22"}
    assert "ファイルに1行もありません" in messages["47"]
    assert "被扶養者×特定健診" in messages["13"] and "前月の値を引き継ぎます" in messages["13"]
    assert "1,000" in messages["22"] and "999" in messages["22"] and "静岡支部" in messages["22"]


# --- indicators -------------------------------------------------------------------------------


def indicator_rows():
    rows = []
    for ind in indicators():
        codes = ["00"] if ind.national_only else branch_codes()
        base = {"insured_total": 100000, "committee_insured": 50000}.get(ind.code, 100)
        if ind.bounded_by:
            base = 50
        for code in codes:
            rows.append([code, ind.code, base])
    return rows


def indicators_with(tmp_path, rows):
    return check_feed_file(write_csv(tmp_path / "indicators" / "202404.csv", HEADERS["indicators"], rows), max_bad_row_share=1.0)


def test_indicators_clean_file(tmp_path):
    check = indicators_with(tmp_path, indicator_rows())
    assert check.quarantine == [] and check.findings == []
    national = sum(i.national_only for i in indicators())
    assert check.rows_loaded == (len(indicators()) - national) * 47 + national


@pytest.mark.parametrize(
    "change,column,reason",
    [
        (("22", "insured_total", 0), "値", "全被保険者数が0以下です"),
        (("22", "line_posts", -1), "値", "値が0未満です"),
        (("22", "card_recovered_1m", 101), "値", "内数（card_recovered_1m）の値が総数（card_loss_cases）の値を超えています"),
        (("00", "biosimilar_80pct_ingredients", 101), "値", "内数（biosimilar_80pct_ingredients）の値が総数（biosimilar_ingredients）"),
        (("22", "generic_qty", 100.5), "値", "総数（generic_eligible_qty）"),
        (("22", "committee_insured", 100001), "値", "総数（insured_total）"),
        (("22", "line_posts", "many"), "値", "数値として読めません"),
    ],
)
def test_indicator_value_rules_quarantine_the_offending_row(tmp_path, change, column, reason):
    rows = indicator_rows()
    idx = next(i for i, r in enumerate(rows) if r[0] == change[0] and r[1] == change[1])
    rows[idx] = list(change)
    check = indicators_with(tmp_path, rows)
    assert [q.row_number for q in check.quarantine] == [idx + 2]
    assert check.quarantine[0].column_name == column and reason in check.quarantine[0].reason


def test_bound_quarantines_only_the_subordinate_row(tmp_path):
    rows = indicator_rows()
    total = next(i for i, r in enumerate(rows) if r[0] == "22" and r[1] == "procurement_competitive")
    sub = next(i for i, r in enumerate(rows) if r[0] == "22" and r[1] == "procurement_single_bid")
    rows[total][2] = 3
    rows[sub][2] = 4
    check = indicators_with(tmp_path, rows)
    assert [q.row_number for q in check.quarantine] == [sub + 2]
    loaded = check.frame.set_index(["branch_code", "indicator"])["value"]
    assert loaded[("22", "procurement_competitive")] == 3


def test_the_suite_knows_every_indicator_code():
    import json
    from pathlib import Path

    suite = json.loads(Path("expectations/indicators.json").read_text(encoding="utf-8"))
    rule = next(e for e in suite["expectations"] if e["meta"]["rule"] == "indicators.indicator.values")
    assert rule["kwargs"]["value_set"] == [i.code for i in indicators()]


def test_the_guidance_cohort_counts_are_bounded_like_every_subordinate(tmp_path):
    """特定保健指導対象者の減少率's うち count may not exceed its total (the data-driven within_total rule)."""
    rows = indicator_rows()
    total = next(i for i, r in enumerate(rows) if r[0] == "22" and r[1] == "guidance_cohort_screened")
    sub = next(i for i, r in enumerate(rows) if r[0] == "22" and r[1] == "guidance_cohort_no_longer_target")
    rows[total][2], rows[sub][2] = 1000, 1001
    check = indicators_with(tmp_path, rows)
    assert [q.row_number for q in check.quarantine] == [sub + 2]
    assert "内数（guidance_cohort_no_longer_target）の値が総数（guidance_cohort_screened）の値を超えています" in check.quarantine[0].reason


def test_a_once_a_year_indicator_is_expected_only_in_its_month(tmp_path):
    annual = {i.code for i in indicators() if i.report_month is not None}
    assert annual == {"guidance_cohort_screened", "guidance_cohort_no_longer_target"}
    assert {i.report_month for i in indicators() if i.code in annual} == {"04"}
    may = [r for r in indicator_rows() if r[1] not in annual]
    check = check_feed_file(write_csv(tmp_path / "indicators" / "202405.csv", HEADERS["indicators"], may), max_bad_row_share=1.0)
    assert check.quarantine == [] and check.findings == []  # May does not carry them: nothing to report
    april = [r for r in indicator_rows() if not (r[0] == "13" and r[1] == "guidance_cohort_screened")]
    check = indicators_with(tmp_path, april)
    messages = [f.message for f in check.findings]
    assert any(m.startswith("guidance_cohort_screenedがありません（支部コード 13）") and "年に1回（4月分のファイルで）報告する指標" in m
               for m in messages), messages


def test_subordinate_without_its_total_loads_with_a_warning(tmp_path):
    rows = [r for r in indicator_rows() if not (r[0] == "22" and r[1] == "card_loss_cases")]
    check = indicators_with(tmp_path, rows)
    assert check.quarantine == []
    assert ("22", "card_recovered_1m") in set(zip(check.frame["branch_code"], check.frame["indicator"]))
    msgs = [f.message for f in check.findings]
    assert any("card_recovered_1mを読み込みましたが、その総数card_loss_casesがファイルにありません" in m for m in msgs)
    assert any(m.startswith("card_loss_casesがありません（支部コード 22）") for m in msgs)


def test_a_quarantined_total_does_not_bound_its_subordinate(tmp_path):
    rows = indicator_rows()
    idx = next(i for i, r in enumerate(rows) if r[0] == "22" and r[1] == "insured_total")
    rows[idx][2] = 0  # invalid total (must be > 0): quarantined
    check = indicators_with(tmp_path, rows)
    assert [q.row_number for q in check.quarantine] == [idx + 2]
    assert ("22", "committee_insured") in set(zip(check.frame["branch_code"], check.frame["indicator"]))
    assert any("committee_insuredを読み込みましたが、その総数insured_totalがファイルにありません" in f.message for f in check.findings)


@pytest.mark.parametrize(
    "row,column,reason",
    [
        (["00", "line_posts", 1], "支部コード", "支部コード00（協会全体）は全国のみの指標にしか使えません"),
        (["22", "website_visits", 1], "支部コード", "全国のみの指標（website_visits）は支部コード00で報告します"),
        (["22", "unknown_code", 1], "指標コード", "指標コードが定められたものではありません"),
        (["48", "line_posts", 1], "支部コード", "支部コードが00～47ではありません"),
    ],
)
def test_indicator_code_rules(tmp_path, row, column, reason):
    rows = indicator_rows() + [row]
    check = indicators_with(tmp_path, rows)
    assert [q.row_number for q in check.quarantine] == [len(rows) + 1]
    assert check.quarantine[0].column_name == column and reason in check.quarantine[0].reason


def test_indicator_duplicate_key(tmp_path):
    rows = indicator_rows() + [["22", "line_posts", 2]]
    check = indicators_with(tmp_path, rows)
    first = next(i for i, r in enumerate(rows) if r[0] == "22" and r[1] == "line_posts")
    assert [q.row_number for q in check.quarantine] == [first + 2, len(rows) + 1]


# --- too many bad rows --------------------------------------------------------------------------


def test_too_many_bad_rows_rejects_the_file(tmp_path):
    rows = [GOOD_BENEFIT[:1] + [f"G{i}"] + GOOD_BENEFIT[2:] for i in range(98)]
    rows += [["22", "B1", "傷病手当金", "2024-04-01", "2024-04-10", "2024-04-12", "FAX", "支給"]]  # 1 of 99 = 1.01%
    rows += [["22", "B2", "傷病手当金", "2024-04-01", "2024-04-10", "2024-04-12", "FAX", "支給"]]
    path = write_csv(tmp_path / "benefits" / "202404.csv", HEADERS["benefits"], rows)
    with pytest.raises(TooManyBadRows) as exc:
        check_feed_file(path)
    assert "データ行100行のうち2行（2.0%）" in str(exc.value) and str(path) in str(exc.value)
    assert exc.value.details[0].startswith("100行目 受付方法")
    # exactly at the limit is still a load
    check = check_feed_file(path, max_bad_row_share=0.02)
    assert check.rows_quarantined == 2 and check.rows_loaded == 98
