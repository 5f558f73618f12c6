"""Measures on hand-made feeds whose answers were worked out by hand (shared spec/kpis.md §1–§3)."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kenpo_pipeline.domain.kpis.aggregates import aggregate_month
from kenpo_pipeline.domain.kpis.measures import MEASURES, compute_actuals
from kenpo_pipeline.domain.reference import branch_codes, indicators


def benefits(rows):
    cols = ["branch_code", "application_id", "benefit_type", "received_on", "decided_on", "paid_on", "channel", "decision"]
    df = pd.DataFrame(rows, columns=cols)
    for c in ("received_on", "decided_on", "paid_on"):
        df[c] = pd.to_datetime(df[c])
    return df


def claims(rows):
    return pd.DataFrame(rows, columns=["branch_code", "claim_id", "service_month", "review_type", "claimed_points", "reduced_points", "outcome"])


def screenings(rows):
    return pd.DataFrame(rows, columns=["branch_code", "population", "program", "eligible", "completed"])


def inds(rows):
    return pd.DataFrame(rows, columns=["branch_code", "indicator", "value"])


def actuals(fy, months: dict[str, dict[str, pd.DataFrame]]):
    agg = pd.concat([aggregate_month(m, feeds) for m, feeds in months.items()], ignore_index=True)
    return compute_actuals(fy, agg).set_index(["as_of_month", "branch_code", "measure"])


def val(a, month, branch, measure):
    return a.loc[(month, branch, measure)]


SS = "傷病手当金"


def test_service_standard_business_days():
    # 22: received Fri 2024-04-26; Golden Week: 4/29 (Mon) holiday, 5/3–5/6 holidays.
    #     paid 2024-05-10 → business days after 4/26 up to 5/10: 4/30, 5/1, 5/2, 5/7, 5/8, 5/9, 5/10 = 7
    # 22: paid on the day of receipt → 0 days
    # 22: received Mon 6/3, paid 6/17 → exactly 10 (within the standard); paid 6/18 → 11 (not)
    # 22: 出産育児一時金 and a 不支給 row do not count for the standard, but count for channels
    rows = [
        ["22", "a", SS, "2024-04-26", "2024-05-09", "2024-05-10", "郵送", "支給"],
        ["22", "b", "出産手当金", "2024-05-10", "2024-05-10", "2024-05-10", "窓口", "支給"],
        ["22", "c", SS, "2024-04-30", "2024-05-14", "2024-05-14", "郵送", "支給"],  # 4/30→5/14: 5/1,2,7,8,9,10,13,14 = 8
        ["22", "d", "出産育児一時金", "2024-04-01", "2024-05-20", "2024-05-21", "郵送", "支給"],
        ["22", "e", SS, "2024-05-01", "2024-05-31", None, "電子申請", "不支給"],
    ]
    june = [
        ["22", "f", SS, "2024-06-03", "2024-06-17", "2024-06-17", "郵送", "支給"],
        ["22", "g", SS, "2024-06-03", "2024-06-18", "2024-06-18", "郵送", "支給"],
    ]
    a = actuals(2024, {"2024-05": {"benefits": benefits(rows)}, "2024-06": {"benefits": benefits(june)}})
    assert val(a, "2024-05", "22", "service_standard_rate")["value"] == 100.0
    assert val(a, "2024-05", "22", "service_standard_mean_days")["value"] == pytest.approx((7 + 0 + 8) / 3)
    r = val(a, "2024-06", "22", "service_standard_rate")
    assert (r["numerator"], r["denominator"]) == (4, 5) and r["value"] == pytest.approx(80.0)
    assert val(a, "2024-06", "22", "service_standard_mean_days")["numerator"] == 7 + 0 + 8 + 10 + 11
    assert val(a, "2024-05", "22", "postal_rate")["value"] == pytest.approx(60.0)
    assert val(a, "2024-05", "22", "counter_rate")["value"] == pytest.approx(20.0)
    assert val(a, "2024-05", "22", "online_rate")["value"] == pytest.approx(20.0)
    # a branch with no rows in a loaded file had no events: zero denominator → no value
    assert math.isnan(val(a, "2024-05", "13", "service_standard_rate")["value"])
    assert val(a, "2024-05", "13", "service_standard_rate")["denominator"] == 0
    # national = sums
    assert val(a, "2024-06", "00", "service_standard_rate")["value"] == pytest.approx(80.0)


def test_year_end_closure_in_processing_days():
    # received Fri 2024-12-27, paid Mon 2025-01-06: 12/28–29 weekend, 12/30–1/3 closed, 1/4–5 weekend → 1 day
    rows = [["01", "x", SS, "2024-12-27", "2025-01-06", "2025-01-06", "郵送", "支給"]]
    a = actuals(2024, {"2025-01": {"benefits": benefits(rows)}})
    assert val(a, "2025-01", "01", "service_standard_mean_days")["value"] == 1.0


def test_review_measures_use_content_review_rows_only():
    rows = [
        ["22", "1", "2024-02", "内容点検", 1000, 100, "査定"],
        ["22", "2", "2024-02", "内容点検", 500, 0, "原審どおり"],
        ["22", "3", "2024-02", "内容点検", 800, 0, "返戻"],
        ["22", "4", "2024-02", "資格点検", 900, 900, "査定"],
        ["22", "5", "2024-02", "外傷点検", 900, 50, "査定"],
    ]
    ind = inds([["22", "medical_cost_total", 1_000_000], ["22", "fund_assessment_amount", 2000]])
    a = actuals(2024, {"2024-04": {"claims_review": claims(rows), "indicators": ind}})
    assert val(a, "2024-04", "22", "review_amount_per_claim")["value"] == pytest.approx(1000 / 3)  # 100 points × 10 円 / 3 rows
    assert val(a, "2024-04", "22", "review_assessment_rate")["value"] == pytest.approx(0.1)  # 1,000 / 1,000,000 × 100
    assert val(a, "2024-04", "22", "review_assessment_rate_combined")["value"] == pytest.approx(0.3)


def test_screening_rates_flow_over_stock_with_carry_forward_inside_the_year():
    def month(eligible, completed, with_guid=True):
        rows = [["22", "被保険者", "生活習慣病予防健診", eligible, completed]]
        if with_guid:
            rows += [["22", "被保険者", "特定保健指導", 100, 5], ["22", "被扶養者", "特定保健指導", 10, 1]]
        return {"screenings": screenings(rows)}

    a = actuals(2024, {"2024-04": month(1000, 50), "2024-05": month(1010, 70, with_guid=False), "2024-06": month(1020, 80)})
    assert val(a, "2024-06", "22", "lifestyle_screening_rate")["value"] == pytest.approx(200 / 1020 * 100)
    # May had no guidance rows: 0 completions; 対象者数 carried forward from April
    g = val(a, "2024-05", "22", "guidance_rate_total")
    assert (g["numerator"], g["denominator"]) == (6, 110)
    assert val(a, "2024-06", "22", "guidance_evaluated_total")["value"] == 12
    assert val(a, "2024-06", "22", "insured_guidance_rate")["months_covered"] == 3
    assert bool(val(a, "2024-06", "22", "insured_guidance_rate")["complete"])


def test_stock_never_carries_across_fiscal_years():
    march = {"indicators": inds([["22", "health_declaration_offices", 500]])}
    april = {"indicators": inds([["13", "health_declaration_offices", 9]])}
    agg = pd.concat([aggregate_month("2024-03", march), aggregate_month("2024-04", april)])
    fy2024 = compute_actuals(2024, agg).set_index(["as_of_month", "branch_code", "measure"])
    r = fy2024.loc[("2024-04", "22", "health_declaration_offices")]
    assert math.isnan(r["value"]) and r["months_covered"] == 0 and not r["complete"]
    assert compute_actuals(2023, agg).set_index(["as_of_month", "branch_code", "measure"]).loc[("2024-03", "22", "health_declaration_offices")]["value"] == 500


def test_stock_carries_forward_inside_the_year_and_says_so():
    a = actuals(2024, {
        "2024-04": {"indicators": inds([["22", "committee_insured", 50], ["22", "insured_total", 100]])},
        "2024-05": {"indicators": inds([["22", "committee_insured", 60]])},  # insured_total carries forward
    })
    r = val(a, "2024-05", "22", "committee_insured_rate")
    assert r["value"] == pytest.approx(60.0) and r["months_covered"] == 2 and bool(r["complete"])


def test_missing_indicator_row_is_not_zero():
    a = actuals(2024, {
        "2024-04": {"indicators": inds([["22", "card_loss_cases", 100], ["22", "card_recovered_1m", 90]])},
        "2024-05": {"indicators": inds([["22", "card_loss_cases", 100]])},  # recovered missing: May is unknown
        "2024-06": {"indicators": inds([["22", "card_loss_cases", 100], ["22", "card_recovered_1m", 0]])},  # a real zero
    })
    may = val(a, "2024-05", "22", "card_recovery_rate")
    assert may["value"] == pytest.approx(90.0) and may["months_covered"] == 1 and not bool(may["complete"])
    june = val(a, "2024-06", "22", "card_recovery_rate")
    assert (june["numerator"], june["denominator"]) == (90, 200) and june["months_covered"] == 2


def test_untreated_cohort_is_the_sum_of_the_years_files():
    # the file for month m carries the cohort screened in m − 12: a year's files sum to last year's cohort
    months = {f"2024-{m:02d}": {"indicators": inds([["22", "untreated_notified", 10], ["22", "untreated_visited_10m", 3]])} for m in (4, 5, 6)}
    a = actuals(2024, months)
    r = val(a, "2024-06", "22", "untreated_visit_rate_10m")
    assert (r["numerator"], r["denominator"], r["value"]) == (9, 30, pytest.approx(30.0))


def test_zero_denominator_has_no_value():
    a = actuals(2024, {"2024-04": {"indicators": inds([["22", "procurement_competitive", 0], ["22", "procurement_single_bid", 0]])}})
    r = val(a, "2024-04", "22", "single_bid_rate")
    assert math.isnan(r["value"]) and r["denominator"] == 0
    assert val(a, "2024-04", "22", "single_bid_count")["value"] == 0


def test_month_measure_uses_the_month_alone():
    a = actuals(2024, {
        "2024-04": {"indicators": inds([["22", "generic_qty", 80], ["22", "generic_eligible_qty", 100]])},
        "2024-05": {"indicators": inds([["22", "generic_qty", 90], ["22", "generic_eligible_qty", 100]])},
    })
    assert val(a, "2024-05", "22", "generic_rate_qty")["value"] == pytest.approx(90.0)


def test_line_posting_months_and_national_only_measures():
    def month(posts):
        rows = [[b, "line_posts", posts.get(b, 1)] for b in branch_codes()] + [["00", "website_visits", 1000]]
        return {"indicators": inds(rows)}

    a = actuals(2024, {"2024-04": month({}), "2024-05": month({"22": 0}), "2024-06": month({})})
    assert val(a, "2024-06", "22", "line_posting_months")["value"] == 2
    assert val(a, "2024-06", "13", "line_posting_months")["value"] == 3
    assert val(a, "2024-06", "00", "line_posting_months")["value"] == 2  # months in which every branch posted
    assert val(a, "2024-06", "00", "website_visits")["value"] == 3000
    assert ("2024-06", "22", "website_visits") not in a.index  # national-only: no branch rows


def test_every_as_of_month_with_a_loaded_feed_has_every_branch_and_measure():
    a = compute_actuals(2024, pd.concat([aggregate_month("2024-04", {"indicators": inds([["22", "line_posts", 1]])})]))
    per_month = a.groupby("as_of_month").size()
    national_only = sum(m.national_only for m in MEASURES)
    assert per_month.to_dict() == {"2024-04": 48 * (len(MEASURES) - national_only) + national_only}


ind_codes = [i.code for i in indicators() if not i.national_only]


@settings(max_examples=15, deadline=None)
@given(st.data())
def test_national_is_the_sum_of_branch_numerators_and_denominators(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 10_000)))
    months = {}
    for m in ("2024-04", "2024-05", "2024-06"):
        rows = []
        for b in branch_codes():
            for code in ind_codes:
                if rng.random() < 0.9:
                    rows.append([b, code, float(rng.integers(0, 1000))])
        ben = [[b, f"{b}{m}{i}", SS if rng.random() < 0.5 else "療養費", f"{m}-01", f"{m}-10", f"{m}-{rng.integers(10, 28):02d}", rng.choice(["郵送", "窓口"]), "支給"]
               for b in branch_codes() for i in range(int(rng.integers(0, 3)))]
        months[m] = {"indicators": inds(rows), "benefits": benefits(ben)}
    a = actuals(2024, months).reset_index()
    for m in MEASURES:
        if m.national_only or m.special:
            continue
        for month in months:
            rows = a[(a["measure"] == m.id) & (a["as_of_month"] == month)]
            branches = rows[rows["branch_code"] != "00"]
            nat = rows[rows["branch_code"] == "00"].iloc[0]
            if branches["numerator"].isna().all():
                assert math.isnan(nat["numerator"])
            else:
                assert nat["numerator"] == pytest.approx(branches["numerator"].fillna(0).sum())
            if m.is_ratio and not branches["denominator"].isna().all():
                assert nat["denominator"] == pytest.approx(branches["denominator"].fillna(0).sum())
