"""Feeds that carry Shizuoka's (22) FY2022 and FY2023 figures of seed 003's KPI実績一覧表 exactly.

Only branch 22 has rows (every other branch simply has no events). Flows are split over the
twelve months; stocks are the same every month; the generic-drug share is set in March.
"""

from __future__ import annotations

import datetime as dt

from conftest import HEADERS, write_csv
from kenpo_pipeline.domain.calendar import add_business_days, business_days_in_month, fiscal_months

FIGURES = {
    2022: dict(postal=986, reduced=661_500, fund=65_000, judo=54, returned=9_410, recovered=8_900, post_loss=642_900, visited_3m=110,
               declaration=6_407, committee=65_400, generic=824, tenders=100, single=10,
               screening={"生活習慣病予防健診": (420_000, 283_920), "事業者健診データ取得": (420_000, 24_780), "特定健診": (95_000, 25_460),
                          "被保険者特定保健指導": (55_000, 9_295), "被扶養者特定保健指導": (3_000, 369)}),
    2023: dict(postal=987, reduced=713_500, fund=1_905_000, judo=54, returned=8_940, recovered=8_412, post_loss=622_500, visited_3m=107,
               declaration=6_766, committee=68_300, generic=842, tenders=119, single=10,
               screening={"生活習慣病予防健診": (429_567, 298_998), "事業者健診データ取得": (429_567, 15_464), "特定健診": (92_363, 25_123),
                          "被保険者特定保健指導": (56_754, 10_045), "被扶養者特定保健指導": (3_000, 561)}),
}


def split(total: int, parts: int = 12) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def write_shizuoka(landing, fy: int) -> None:
    f = FIGURES[fy]
    months = fiscal_months(fy)
    rows_per_month = split(1000)
    postal_left = f["postal"]
    reduced_rows = [f["reduced"] // 1000 + (1 if i < f["reduced"] % 1000 else 0) for i in range(1000)]
    claim_i = 0
    flows = {k: split(v) for k, v in dict(
        medical_cost_total=2_000_000_000, fund_assessment_amount=f["fund"], judo_applications=10_000, judo_multi_frequent=f["judo"],
        card_loss_cases=10_000, card_recovered_1m=f["recovered"], receivable_post_loss_due=1_000_000,
        receivable_post_loss_collected=f["post_loss"], untreated_notified=1_000, untreated_visited_3m=f["visited_3m"],
        untreated_visited_10m=300, procurement_competitive=f["tenders"], procurement_single_bid=f["single"]).items()}
    screening_done = {k: split(v[1]) for k, v in f["screening"].items()}
    for i, month in enumerate(months):
        ym = month.replace("-", "")
        days = business_days_in_month(month)
        benefits = []
        for j in range(rows_per_month[i]):
            decided = days[j % len(days)]
            received = add_business_days(decided, -5)
            channel = "郵送" if postal_left > 0 else "窓口"
            postal_left -= 1
            benefits.append(["22", f"B{ym}{j:04d}", "傷病手当金", received.isoformat(), decided.isoformat(), decided.isoformat(), channel, "支給"])
        write_csv(landing / "benefits" / f"{ym}.csv", HEADERS["benefits"], benefits)
        claims = []
        for j in range(rows_per_month[i]):
            claims.append(["22", f"C{ym}{j:04d}", f"{fy}03" if month.endswith("-04") else ym, "内容点検", 2000, reduced_rows[claim_i], "査定"])
            claim_i += 1
        write_csv(landing / "claims_review" / f"{ym}.csv", HEADERS["claims_review"], claims)
        screenings = []
        for key, (eligible, _) in f["screening"].items():
            population = "被扶養者" if key in ("特定健診", "被扶養者特定保健指導") else "被保険者"
            program = "特定保健指導" if "特定保健指導" in key else key
            screenings.append(["22", population, program, eligible, screening_done[key][i]])
        write_csv(landing / "screenings" / f"{ym}.csv", HEADERS["screenings"], screenings)
        inds = [["22", code, values[i]] for code, values in flows.items()]
        inds += [["22", "dependant_check_offices", 10_000], ["22", "dependant_check_returned", f["returned"]],
                 ["22", "health_declaration_offices", f["declaration"]], ["22", "insured_total", 100_000],
                 ["22", "committee_insured", f["committee"]], ["22", "committee_offices", 5_000],
                 ["22", "generic_eligible_qty", 1_000], ["22", "generic_qty", f["generic"] if month.endswith("-03") else 800],
                 ["22", "opinion_statements", 1 if month.endswith("-10") else 0]]
        write_csv(landing / "indicators" / f"{ym}.csv", HEADERS["indicators"], inds)


__all__ = ["write_shizuoka", "dt"]
