"""An independent computation of every measure straight from the feed rows (no aggregates, no
numpy cumsums): plain loops over the parsed files, written from shared spec/kpis.md alone. Used
to check ``kpi_actuals``."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import holidays

from kenpo_pipeline.domain.calendar import fiscal_months

_JP = holidays.Japan(years=range(2015, 2035))


def is_business_day(d: dt.date) -> bool:
    closed = (d.month == 12 and d.day >= 29) or (d.month == 1 and d.day <= 3)
    return d.weekday() < 5 and d not in _JP and not closed


def business_days(received: dt.date, paid: dt.date) -> int:
    n, d = 0, received
    while d < paid:
        d += dt.timedelta(days=1)
        n += is_business_day(d)
    return n


PROGRAMS = {("被保険者", "生活習慣病予防健診"): "life", ("被保険者", "事業者健診データ取得"): "employer", ("被扶養者", "特定健診"): "dependant",
            ("被保険者", "特定保健指導"): "guid_ins", ("被扶養者", "特定保健指導"): "guid_dep"}


def compute(fy: int, frames: dict[tuple[str, str], "pd.DataFrame"], branches: list[str]) -> dict:
    """frames: (feed, month) → the parsed rows of a loaded file. Returns {(as_of, branch, measure): (value, num, den, covered, complete)}."""
    months = fiscal_months(fy)
    loaded = {(f, m) for (f, m) in frames}
    # per month, per branch: plain dictionaries of what the files say
    flows = defaultdict(float)  # (month, branch, name) → sum
    present = set()  # (month, branch, indicator code) with a row
    ind_value = {}
    eligible = {}
    for (feed, m), df in frames.items():
        for r in df.to_dict("records"):
            b = r["branch_code"]
            if feed == "benefits":
                flows[(m, b, "rows")] += 1
                flows[(m, b, "ch:" + r["channel"])] += 1
                if r["benefit_type"] in ("傷病手当金", "出産手当金") and r["decision"] == "支給":
                    days = business_days(r["received_on"].date(), r["paid_on"].date())
                    flows[(m, b, "ss")] += 1
                    flows[(m, b, "ss_ok")] += days <= 10
                    flows[(m, b, "ss_days")] += days
            elif feed == "claims_review" and r["review_type"] == "内容点検":
                flows[(m, b, "content")] += 1
                flows[(m, b, "reduced_yen")] += 10 * r["reduced_points"]
            elif feed == "screenings":
                key = PROGRAMS[(r["population"], r["program"])]
                flows[(m, b, "done:" + key)] += r["completed"]
                eligible[(m, b, key)] = r["eligible"]
            elif feed == "indicators":
                present.add((m, b, r["indicator"]))
                ind_value[(m, b, r["indicator"])] = r["value"]

    def stock_at(getter, b, key, k):
        for j in range(k, -1, -1):
            v = getter(months[j], b, key)
            if v is not None:
                return v
        return None

    def ind_at(m, b, code):
        return ind_value.get((m, b, code))

    def elig_at(m, b, key):
        return eligible.get((m, b, key))

    out = {}
    measures = _definitions()
    for name, spec in measures.items():
        scope = ["00"] if spec.get("national_only") else branches
        for k, m_as_of in enumerate(months):
            if not any((f, m_as_of) in loaded for f in ("benefits", "claims_review", "screenings", "indicators")):
                continue
            results = {}
            for b in scope:
                counted = [j for j in range(k + 1) if spec["counts"](months[j], b, j, loaded, present, stock_at, ind_at, elig_at)]
                num, den = spec["value"](counted, k, b, months, flows, ind_at, elig_at, stock_at)
                if spec.get("kind") == "month":
                    covered, complete = int(k in counted), k in counted
                else:
                    covered, complete = len(counted), len(counted) == k + 1
                results[b] = (num, den, covered, complete, counted)
            for b, (num, den, covered, complete, _) in results.items():
                out[(m_as_of, b, name)] = (_ratio(spec, num, den), num, den, covered, complete)
            if not spec.get("national_only"):
                nums = [r[0] for r in results.values() if r[0] is not None]
                dens = [r[1] for r in results.values() if r[1] is not None]
                nat_counted = set.intersection(*[set(r[4]) for r in results.values()])
                num = sum(nums) if nums else None
                den = (sum(dens) if dens else None) if spec.get("ratio", True) else None
                if name == "line_posting_months":
                    num = float(sum(1 for j in nat_counted if all((ind_at(months[j], b, "line_posts") or 0) >= 1 for b in branches)))
                if spec.get("kind") == "month":
                    covered, complete = int(k in nat_counted), k in nat_counted
                else:
                    covered, complete = len(nat_counted), len(nat_counted) == k + 1
                out[(m_as_of, "00", name)] = (_ratio(spec, num, den), num, den, covered, complete)
    return out


def _ratio(spec, num, den):
    if not spec.get("ratio", True):
        return num
    if num is None or den is None or den == 0:
        return None
    return num / den * (100 if spec.get("pct", True) else 1)


def _definitions():
    def loaded_counts(*feeds):
        return lambda m, b, j, loaded, present, stock_at, ind_at, elig_at: all((f, m) in loaded for f in feeds)

    def ind_counts(*codes, stocks=(), screening=False):
        def f(m, b, j, loaded, present, stock_at, ind_at, elig_at):
            ok = all((m, b, c) in present for c in codes)
            ok = ok and all(stock_at(ind_at, b, c, j) is not None for c in stocks)
            if screening:
                ok = ok and ("screenings", m) in loaded
            return ok
        return f

    def flow_sum(*names):
        return lambda counted, k, b, months, flows: sum(flows.get((months[j], b, n), 0.0) for j in counted for n in names)

    def ind_sum(code):
        return lambda counted, k, b, months, ind_at: sum(ind_at(months[j], b, code) for j in counted)

    def rowratio(num_names, den_names, pct=True):
        return {"value": lambda counted, k, b, months, flows, ind_at, elig_at, stock_at: (flow_sum(*num_names)(counted, k, b, months, flows), flow_sum(*den_names)(counted, k, b, months, flows)), "pct": pct}

    defs = {
        "service_standard_rate": {**rowratio(["ss_ok"], ["ss"]), "counts": loaded_counts("benefits")},
        "service_standard_mean_days": {**rowratio(["ss_days"], ["ss"], pct=False), "counts": loaded_counts("benefits")},
        "postal_rate": {**rowratio(["ch:郵送"], ["rows"]), "counts": loaded_counts("benefits")},
        "counter_rate": {**rowratio(["ch:窓口"], ["rows"]), "counts": loaded_counts("benefits")},
        "online_rate": {**rowratio(["ch:電子申請"], ["rows"]), "counts": loaded_counts("benefits")},
        "review_amount_per_claim": {**rowratio(["reduced_yen"], ["content"], pct=False), "counts": loaded_counts("claims_review")},
    }

    def with_ind(num_row, den_code, extra_num_code=None):
        def value(counted, k, b, months, flows, ind_at, elig_at, stock_at):
            num = flow_sum(num_row)(counted, k, b, months, flows)
            if extra_num_code:
                num += ind_sum(extra_num_code)(counted, k, b, months, ind_at)
            return num, ind_sum(den_code)(counted, k, b, months, ind_at)
        return value

    def claims_and(*codes):
        def f(m, b, j, loaded, present, stock_at, ind_at, elig_at):
            return ("claims_review", m) in loaded and all((m, b, c) in present for c in codes)
        return f

    defs["review_assessment_rate"] = {"value": with_ind("reduced_yen", "medical_cost_total"), "counts": claims_and("medical_cost_total")}
    defs["review_assessment_rate_combined"] = {"value": with_ind("reduced_yen", "medical_cost_total", "fund_assessment_amount"), "counts": claims_and("medical_cost_total", "fund_assessment_amount")}

    def screening(done_keys, elig_keys, ratio=True):
        def counts(m, b, j, loaded, present, stock_at, ind_at, elig_at):
            return ("screenings", m) in loaded and all(stock_at(elig_at, b, e, j) is not None for e in elig_keys)

        def value(counted, k, b, months, flows, ind_at, elig_at, stock_at):
            num = flow_sum(*[f"done:{d}" for d in done_keys])(counted, k, b, months, flows)
            if not ratio:
                return num, None
            dens = [stock_at(elig_at, b, e, k) for e in elig_keys]
            return num, (None if any(d is None for d in dens) else float(sum(dens)))
        return {"value": value, "counts": counts, "ratio": ratio}

    defs["lifestyle_screening_rate"] = screening(["life"], ["life"])
    defs["employer_data_rate"] = screening(["employer"], ["employer"])
    defs["dependant_screening_rate"] = screening(["dependant"], ["dependant"])
    defs["screening_total"] = screening(["life", "employer", "dependant"], [], ratio=False)
    # 特定健診等の実施率: the insured eligible population once (the 生活習慣病予防健診 row), plus the dependants'
    defs["specific_screening_rate"] = screening(["life", "employer", "dependant"], ["life", "dependant"])
    defs["insured_guidance_rate"] = screening(["guid_ins"], ["guid_ins"])
    defs["dependant_guidance_rate"] = screening(["guid_dep"], ["guid_dep"])
    defs["guidance_evaluated_total"] = screening(["guid_ins", "guid_dep"], [], ratio=False)
    defs["guidance_rate_total"] = screening(["guid_ins", "guid_dep"], ["guid_ins", "guid_dep"])

    def flow_ratio(num_code, den_code, pct=True):
        return {"value": lambda counted, k, b, months, flows, ind_at, elig_at, stock_at: (ind_sum(num_code)(counted, k, b, months, ind_at), ind_sum(den_code)(counted, k, b, months, ind_at)),
                "counts": ind_counts(num_code, den_code), "pct": pct}

    def flow_total(code, national_only=False):
        return {"value": lambda counted, k, b, months, flows, ind_at, elig_at, stock_at: (ind_sum(code)(counted, k, b, months, ind_at), None),
                "counts": ind_counts(code), "ratio": False, "national_only": national_only}

    def stock_ratio(num_code, den_code, national_only=False):
        def value(counted, k, b, months, flows, ind_at, elig_at, stock_at):
            n, d = stock_at(ind_at, b, num_code, k), stock_at(ind_at, b, den_code, k)
            return n, d
        return {"value": value, "counts": ind_counts(stocks=(num_code, den_code)), "national_only": national_only}

    def stock_total(code):
        return {"value": lambda counted, k, b, months, flows, ind_at, elig_at, stock_at: (stock_at(ind_at, b, code, k), None),
                "counts": ind_counts(stocks=(code,)), "ratio": False}

    def month_ratio(num_code, den_code):
        return {"value": lambda counted, k, b, months, flows, ind_at, elig_at, stock_at: (ind_at(months[k], b, num_code), ind_at(months[k], b, den_code)),
                "counts": ind_counts(num_code, den_code), "kind": "month"}

    defs.update({
        "untreated_visit_rate_10m": flow_ratio("untreated_visited_10m", "untreated_notified"),
        "untreated_visit_rate_3m": flow_ratio("untreated_visited_3m", "untreated_notified"),
        "health_declaration_offices": stock_total("health_declaration_offices"),
        "generic_rate_qty": month_ratio("generic_qty", "generic_eligible_qty"),
        "generic_rate_amount": month_ratio("generic_amount", "generic_eligible_amount"),
        "biosimilar_share": stock_ratio("biosimilar_80pct_ingredients", "biosimilar_ingredients", national_only=True),
        "website_visits": flow_total("website_visits", national_only=True),
        "line_posting_months": {"value": lambda counted, k, b, months, flows, ind_at, elig_at, stock_at: (float(sum(1 for j in counted if ind_at(months[j], b, "line_posts") >= 1)), None),
                                "counts": ind_counts("line_posts"), "ratio": False},
        "committee_insured_rate": stock_ratio("committee_insured", "insured_total"),
        "committee_offices": stock_total("committee_offices"),
        "single_bid_rate": flow_ratio("procurement_single_bid", "procurement_competitive"),
        "single_bid_count": flow_total("procurement_single_bid"),
        "card_recovery_rate": flow_ratio("card_recovered_1m", "card_loss_cases"),
        "receivable_collection_rate": flow_ratio("receivable_collected", "receivable_due"),
        "receivable_post_loss_collection_rate": flow_ratio("receivable_post_loss_collected", "receivable_post_loss_due"),
        "post_loss_receivable_share": flow_ratio("receivable_post_loss_due", "medical_cost_total"),
        "judo_multi_frequent_rate": flow_ratio("judo_multi_frequent", "judo_applications"),
        "dependant_check_rate": stock_ratio("dependant_check_returned", "dependant_check_offices"),
        # 特定保健指導対象者の減少率: two counts reported once a year (April), carried like any stock
        "guidance_target_reduction_rate": stock_ratio("guidance_cohort_no_longer_target", "guidance_cohort_screened"),
        "opinion_statements": flow_total("opinion_statements"),
    })
    return defs
