"""Measures: how each KPI actual is computed from the monthly aggregates (shared spec/kpis.md §1, §3).

Every measure is one row of ``MEASURES`` — id, Japanese name, unit, precision, kind, the formula in
one line and the seed it comes from — built from *terms* over the aggregate inputs of
``aggregates.py``:

- ``flow``  Σ over the months April … *m* in which the measure counts;
- ``stock`` the value at *m*, carried forward from the latest month ≤ *m* of the same fiscal year;
- ``month`` the value of month *m* alone;
- ``months_ge1`` the number of months April … *m* whose value is ≥ 1.

A month counts for a measure when every input counts (spec/kpis.md §1 "Coverage"): feed-row
inputs when the feed-month is loaded; ``ind:`` flows when the (branch, indicator) row is present;
stocks when a value exists at the month or carries forward to it inside the fiscal year.

The national ``00`` value is Σ of the branches' numerators over Σ of their denominators (never an
average of rates); its month counts only when it counts for all 47 branches. Measures on
national-only indicators exist only for ``00``. A zero denominator gives no value (NULL).

Two measures exist for the インセンティブ制度 (issue 14; ``incentive.py`` ranks the branches on them):
- ``specific_screening_rate`` (特定健診等の実施率) divides the three screening completions by the
  insured plus the dependant eligible population. The insured population appears on two rows of
  ``screenings`` (生活習慣病予防健診 and 事業者健診データ取得), equal by the spec; it is counted once,
  from the 生活習慣病予防健診 row (a difference between the two is a warning of the feed's
  ``consistency`` check, so the number used is the one a person has already been told about).
- ``guidance_target_reduction_rate`` (特定保健指導対象者の減少率) is a stock of two indicator codes
  reported once a year, in the April file (``indicator_codes.csv`` ``report_month``): it is carried
  through the year like any stock, and a branch whose April row is missing is incomplete all year.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kenpo_pipeline.domain.calendar import fiscal_months
from kenpo_pipeline.domain.kpis.aggregates import loaded_marker
from kenpo_pipeline.domain.reference import FEED_IDS, NATIONAL_CODE, branch_codes, indicator

ROW_INPUT_FEED = {
    "benefits_rows": "benefits",
    "channel_postal": "benefits",
    "channel_counter": "benefits",
    "channel_online": "benefits",
    "ss_rows": "benefits",
    "ss_within_standard": "benefits",
    "ss_days_sum": "benefits",
    "content_rows": "claims_review",
    "content_reduced_points": "claims_review",
}


@dataclass(frozen=True)
class Term:
    mode: str  # flow | stock | month | months_ge1
    inputs: tuple[tuple[str, float], ...]  # (input, factor)


def flow(*inputs: str, factor: float = 1.0) -> Term:
    return Term("flow", tuple((i, factor) for i in inputs))


def stock(*inputs: str) -> Term:
    return Term("stock", tuple((i, 1.0) for i in inputs))


def month(*inputs: str) -> Term:
    return Term("month", tuple((i, 1.0) for i in inputs))


@dataclass(frozen=True)
class Measure:
    id: str
    name_ja: str
    unit: str
    precision: int
    kind: str
    formula: str
    source: str
    numerator: tuple[Term, ...]
    denominator: tuple[Term, ...] = ()
    national_only: bool = False
    special: str | None = None
    terms_ja: tuple[str, str] | None = None
    """(numerator, denominator) in words where the formula is not written ``A ÷ B`` (the 根拠 sheet)."""

    @property
    def is_ratio(self) -> bool:
        return bool(self.denominator)

    @property
    def scale(self) -> float:
        return 100.0 if self.unit == "%" else 1.0

    @property
    def inputs(self) -> list[str]:
        return [i for t in self.numerator + self.denominator for i, _ in t.inputs]


def _m(id, name_ja, unit, precision, kind, formula, source, numerator, denominator=(), **kw) -> Measure:
    num = numerator if isinstance(numerator, tuple) else (numerator,)
    den = denominator if isinstance(denominator, tuple) else (denominator,)
    return Measure(id, name_ja, unit, precision, kind, formula, source, num, den, **kw)


MEASURES: tuple[Measure, ...] = (
    _m("service_standard_rate", "サービススタンダード達成率", "%", 2, "flow",
       "傷病手当金・出産手当金の支給決定のうち所要日数（受付日→支払日、営業日）10日以内の割合", "seed 000 Ⅱ)② KPI 1; seed 001",
       flow("ss_within_standard"), flow("ss_rows"),
       terms_ja=("所要日数10日以内の支給決定件数（傷病手当金・出産手当金）", "支給決定件数（傷病手当金・出産手当金）")),
    _m("service_standard_mean_days", "サービススタンダード平均所要日数", "日", 2, "flow",
       "同じ決定の所要日数（営業日）の平均", "seed 001 ② KPI 2（7日以内を維持）",
       flow("ss_days_sum"), flow("ss_rows"),
       terms_ja=("所要日数（営業日）の合計（傷病手当金・出産手当金）", "支給決定件数（傷病手当金・出産手当金）")),
    _m("postal_rate", "郵送化率", "%", 1, "flow", "受付方法＝郵送の決定件数 ÷ 全決定件数", "seed 000 Ⅱ)② KPI 2",
       flow("channel_postal"), flow("benefits_rows")),
    _m("counter_rate", "窓口受付率", "%", 2, "flow", "受付方法＝窓口の決定件数 ÷ 全決定件数", "seed 001 ② KPI 3",
       flow("channel_counter"), flow("benefits_rows")),
    _m("online_rate", "電子申請率", "%", 1, "flow", "受付方法＝電子申請の決定件数 ÷ 全決定件数", "seed 001 ②（電子申請の普及）",
       flow("channel_online"), flow("benefits_rows")),
    _m("review_assessment_rate", "協会のレセプト点検の査定率", "%", 3, "flow",
       "内容点検の査定点数×10円 ÷ 医療費総額", "seed 000 Ⅱ)④ KPI 1（査定率＝協会の査定額÷協会の医療費総額）",
       flow("content_reduced_points", factor=10.0), flow("ind:medical_cost_total")),
    _m("review_assessment_rate_combined", "支払基金と合算したレセプト点検の査定率", "%", 3, "flow",
       "（内容点検の査定点数×10円＋支払基金の査定額）÷ 医療費総額", "seed 003 効果的なレセプト点検の推進 ①",
       (flow("content_reduced_points", factor=10.0), flow("ind:fund_assessment_amount")), flow("ind:medical_cost_total")),
    _m("review_amount_per_claim", "再審査レセプト1件当たり査定額", "円", 0, "flow",
       "内容点検の査定点数×10円 ÷ 内容点検の再審査件数", "seed 000 Ⅱ)④ KPI 2; seed 003 ②",
       flow("content_reduced_points", factor=10.0), flow("content_rows")),
    _m("lifestyle_screening_rate", "生活習慣病予防健診実施率", "%", 1, "flow/stock",
       "被保険者×生活習慣病予防健診の実施者数（累計）÷ 対象者数", "seed 000 Ⅱ)② KPI 1; seed 003",
       flow("completed:life"), stock("eligible:life")),
    _m("employer_data_rate", "事業者健診データ取得率", "%", 1, "flow/stock",
       "被保険者×事業者健診データ取得の取得者数（累計）÷ 対象者数", "seed 000 Ⅱ)② KPI 2; seed 003",
       flow("completed:employer"), stock("eligible:employer")),
    _m("dependant_screening_rate", "被扶養者の特定健診実施率", "%", 1, "flow/stock",
       "被扶養者×特定健診の実施者数（累計）÷ 対象者数", "seed 000 Ⅱ)② KPI 3; seed 003",
       flow("completed:dependant"), stock("eligible:dependant")),
    _m("screening_total", "健診実施者数（事業者健診データ取得者数を含む）", "人", 0, "flow",
       "生活習慣病予防健診・事業者健診データ取得・被扶養者特定健診の実施者数の合計", "seed 001 本部 ② KPI 1",
       flow("completed:life", "completed:employer", "completed:dependant")),
    _m("specific_screening_rate", "特定健診等の実施率", "%", 1, "flow/stock",
       "健診3事業の実施者数（累計）÷（被保険者＋被扶養者の対象者数。被保険者は生活習慣病予防健診の行の対象者数を1回だけ数える）",
       "issue 14 インセンティブ制度 指標1",
       flow("completed:life", "completed:employer", "completed:dependant"), stock("eligible:life", "eligible:dependant")),
    _m("insured_guidance_rate", "被保険者の特定保健指導実施率", "%", 1, "flow/stock",
       "被保険者×特定保健指導の実績評価者数（累計）÷ 対象者数", "seed 000 Ⅱ)③ KPI 1; seed 003",
       flow("completed:guid_ins"), stock("eligible:guid_ins")),
    _m("dependant_guidance_rate", "被扶養者の特定保健指導実施率", "%", 1, "flow/stock",
       "被扶養者×特定保健指導の実績評価者数（累計）÷ 対象者数", "seed 000 Ⅱ)③ KPI 2; seed 003",
       flow("completed:guid_dep"), stock("eligible:guid_dep")),
    _m("guidance_evaluated_total", "特定保健指導実績評価者数", "人", 0, "flow",
       "被保険者・被扶養者の特定保健指導実績評価者数の合計", "seed 001 本部 ③ KPI 1",
       flow("completed:guid_ins", "completed:guid_dep")),
    _m("guidance_rate_total", "特定保健指導実施率（被保険者・被扶養者計）", "%", 1, "flow/stock",
       "被保険者・被扶養者の実績評価者数の合計 ÷ 両者の対象者数の合計", "seed 002 岡山（13,423＋600）÷（41,890＋1,785）",
       flow("completed:guid_ins", "completed:guid_dep"), stock("eligible:guid_ins", "eligible:guid_dep")),
    _m("guidance_target_reduction_rate", "特定保健指導対象者の減少率", "%", 1, "stock",
       "特定保健指導の対象者のうち翌年度の健診で対象でなくなった者 ÷ 翌年度に健診を受けた者（年1回、4月分で報告）",
       "issue 14 インセンティブ制度 指標3",
       stock("ind:guidance_cohort_no_longer_target"), stock("ind:guidance_cohort_screened")),
    _m("untreated_visit_rate_10m", "健診受診月から10か月以内に医療機関を受診した者の割合", "%", 1, "flow",
       "うち10か月以内受診者 ÷ 受診勧奨対象者（前年度に健診を受けた対象者集団）", "seed 000 Ⅱ)④ KPI",
       flow("ind:untreated_visited_10m"), flow("ind:untreated_notified")),
    _m("untreated_visit_rate_3m", "受診勧奨後3か月以内に医療機関を受診した者の割合", "%", 1, "flow",
       "うち受診勧奨後3か月以内受診者 ÷ 受診勧奨対象者（FY2023以前の定義）", "seed 003 重症化予防対策の推進",
       flow("ind:untreated_visited_3m"), flow("ind:untreated_notified")),
    _m("health_declaration_offices", "健康宣言事業所数", "事業所", 0, "stock", "健康宣言事業所数（月末時点）",
       "seed 000 Ⅱ)⑤ KPI; seed 003", stock("ind:health_declaration_offices")),
    _m("generic_rate_qty", "ジェネリック医薬品使用割合（数量ベース）", "%", 1, "month",
       "当月診療分の後発医薬品数量 ÷ 後発医薬品のある先発医薬品＋後発医薬品数量", "seed 000 Ⅲ)① KPI 1; seed 001",
       month("ind:generic_qty"), month("ind:generic_eligible_qty")),
    _m("generic_rate_amount", "ジェネリック医薬品使用割合（金額ベース）", "%", 1, "month",
       "当月診療分の後発医薬品金額 ÷ 後発医薬品のある先発医薬品＋後発医薬品金額", "seed 001 本部 ① KPI 4",
       month("ind:generic_amount"), month("ind:generic_eligible_amount")),
    _m("biosimilar_share", "バイオシミラーに80%以上置き換わった成分数の割合", "%", 1, "stock",
       "80%以上置き換わった成分数 ÷ バイオシミラーのある成分数（協会全体）", "seed 000 Ⅲ)① KPI 2",
       stock("ind:biosimilar_80pct_ingredients"), stock("ind:biosimilar_ingredients"), national_only=True),
    _m("website_visits", "ホームページアクセス数", "件", 0, "flow", "ホームページアクセス数の合計（協会全体）",
       "seed 000 Ⅳ) KPI 1", flow("ind:website_visits"), national_only=True),
    _m("line_posting_months", "LINE公式アカウント 配信月数", "月", 0, "flow",
       "LINE配信数が1以上の月の数（協会全体は全支部が配信した月の数）", "seed 001 Ⅳ) KPI（毎月情報発信）",
       Term("months_ge1", (("ind:line_posts", 1.0),)), special="line_posting_months"),
    _m("committee_insured_rate", "健康保険委員委嘱事業所の被保険者数割合", "%", 1, "stock",
       "健康保険委員が委嘱されている事業所の被保険者数 ÷ 全被保険者数", "seed 000 Ⅳ) KPI 2; seed 003",
       stock("ind:committee_insured"), stock("ind:insured_total")),
    _m("committee_offices", "健康保険委員 委嘱事業所数", "事業所", 0, "stock", "健康保険委員 委嘱事業所数（月末時点）",
       "seed 000 Ⅳ) KPI 2（委嘱事業所数を対前年度以上）", stock("ind:committee_offices")),
    _m("single_bid_rate", "一般競争入札に占める一者応札案件の割合", "%", 1, "flow", "一者応札件数 ÷ 一般競争入札件数",
       "seed 000 3.Ⅱ)⑤ KPI; seed 003", flow("ind:procurement_single_bid"), flow("ind:procurement_competitive")),
    _m("single_bid_count", "一者応札件数", "件", 0, "flow", "一者応札件数の合計", "seed 003（入札件数の見込みが4件以下の場合）",
       flow("ind:procurement_single_bid")),
    _m("card_recovery_rate", "資格喪失後1か月以内の保険証回収率", "%", 2, "flow",
       "資格喪失後1か月以内の回収件数 ÷ 回収対象件数", "seed 000 Ⅱ)⑤ KPI 2; seed 003",
       flow("ind:card_recovered_1m"), flow("ind:card_loss_cases")),
    _m("receivable_collection_rate", "返納金債権回収率（診療報酬返還金（不当請求）を除く）", "%", 2, "flow",
       "当年度発生分の回収額 ÷ 調定額", "seed 000 Ⅱ)⑤ KPI 1",
       flow("ind:receivable_collected"), flow("ind:receivable_due")),
    _m("receivable_post_loss_collection_rate", "返納金債権（資格喪失後受診に係るもの）回収率", "%", 2, "flow",
       "資格喪失後受診に係る返納金債権の回収額 ÷ 調定額", "seed 003 ②",
       flow("ind:receivable_post_loss_collected"), flow("ind:receivable_post_loss_due")),
    _m("post_loss_receivable_share", "医療費総額に占める資格喪失後受診に伴う返納金の割合", "%", 3, "flow",
       "資格喪失後受診に係る返納金債権調定額 ÷ 医療費総額", "seed 002 岡山",
       flow("ind:receivable_post_loss_due"), flow("ind:medical_cost_total")),
    _m("judo_multi_frequent_rate", "柔道整復 施術箇所3部位以上かつ月15日以上の申請割合", "%", 2, "flow",
       "施術箇所3部位以上かつ月15日以上の申請件数 ÷ 柔道整復施術療養費の申請件数", "seed 003 現金給付の適正化の推進",
       flow("ind:judo_multi_frequent"), flow("ind:judo_applications")),
    _m("dependant_check_rate", "被扶養者資格確認書の提出率", "%", 1, "stock",
       "確認書提出事業所数 ÷ 被扶養者資格確認の対象事業所数", "seed 003 被扶養者資格の再確認の徹底",
       stock("ind:dependant_check_returned"), stock("ind:dependant_check_offices")),
    _m("opinion_statements", "データを活用した意見発信", "件", 0, "flow", "データを活用した意見発信の件数",
       "seed 003 地域の医療提供体制への働きかけ", flow("ind:opinion_statements")),
)

MEASURES_BY_ID = {m.id: m for m in MEASURES}


def measure(measure_id: str) -> Measure:
    try:
        return MEASURES_BY_ID[measure_id]
    except KeyError:
        raise KeyError(f"unknown measure {measure_id!r}") from None


# --- computation -------------------------------------------------------------------------------

ACTUAL_COLUMNS = ["fiscal_year", "as_of_month", "branch_code", "measure", "value", "numerator", "denominator", "months_covered", "complete"]


def _input_kind(name: str) -> tuple[str, str]:
    """(feed, kind) of an aggregate input; kind is flow_loaded | flow | stock."""
    if name in ROW_INPUT_FEED:
        return ROW_INPUT_FEED[name], "flow_loaded"
    if name.startswith("completed:"):
        return "screenings", "flow_loaded"
    if name.startswith("eligible:"):
        return "screenings", "stock"
    if name.startswith("ind:"):
        return "indicators", "stock" if indicator(name[4:]).kind == "stock" else "flow"
    raise KeyError(name)


@dataclass
class _Year:
    months: list[str]
    values: dict[tuple[str, str], np.ndarray]  # (branch, input) → 12 values, NaN where absent
    loaded: dict[str, np.ndarray] = field(default_factory=dict)  # feed → 12 booleans
    _cache: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def raw(self, branch: str, name: str) -> np.ndarray:
        return self.values.get((branch, name), np.full(len(self.months), np.nan))

    def series(self, branch: str, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(values usable per month, counts per month) of one input for one branch."""
        key = (branch, name)
        if key not in self._cache:
            feed, kind = _input_kind(name)
            raw = self.raw(branch, name)
            if kind == "flow_loaded":
                counts = self.loaded[feed].copy()
                out = (np.where(counts, np.nan_to_num(raw, nan=0.0), np.nan), counts)
            elif kind == "flow":
                out = (raw, ~np.isnan(raw))
            else:  # stock: carried forward inside this fiscal year only (one year at a time)
                idx = np.where(~np.isnan(raw), np.arange(len(raw)), -1)
                idx = np.maximum.accumulate(idx)
                carried = np.where(idx >= 0, raw[np.maximum(idx, 0)], np.nan)
                out = (carried, ~np.isnan(carried))
            self._cache[key] = out
        return self._cache[key]


def _term_values(year: _Year, branch: str, term: Term, mask: np.ndarray) -> np.ndarray:
    """The term's value as of every month of the year (NaN where a stock/month input is absent)."""
    total = np.zeros(len(year.months))
    for name, factor in term.inputs:
        values, counts = year.series(branch, name)
        if term.mode == "flow":
            total = total + factor * np.cumsum(np.where(mask, np.nan_to_num(values, nan=0.0), 0.0))
        elif term.mode == "months_ge1":
            total = total + np.cumsum(mask & (np.nan_to_num(values, nan=0.0) >= 1))
        else:  # stock | month: the value at m (carried for stocks)
            total = total + factor * np.where(counts, values, np.nan)
    return total


def _mask(year: _Year, branch: str, m: Measure) -> np.ndarray:
    mask = np.ones(len(year.months), dtype=bool)
    for name in m.inputs:
        mask &= year.series(branch, name)[1]
    return mask


def _sum_terms(year: _Year, branch: str, terms: tuple[Term, ...], mask: np.ndarray) -> np.ndarray:
    return np.sum([_term_values(year, branch, t, mask) for t in terms], axis=0)


def _coverage(m: Measure, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(months_covered, complete) as of every month."""
    if m.kind == "month":
        return mask.astype(int), mask.copy()
    covered = np.cumsum(mask)
    return covered, covered == np.arange(1, len(mask) + 1)


def _values(m: Measure, num: np.ndarray, den: np.ndarray | None) -> np.ndarray:
    if not m.is_ratio:
        return num
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((den == 0) | np.isnan(den), np.nan, num / np.where(den == 0, 1, den) * m.scale)


def _build_year(fy: int, aggregates: pd.DataFrame) -> _Year:
    months = fiscal_months(fy)
    agg = aggregates[aggregates["month"].isin(months)]
    index = {mo: i for i, mo in enumerate(months)}
    values: dict[tuple[str, str], np.ndarray] = {}
    for (branch, name), g in agg.groupby(["branch_code", "input"], sort=False):
        arr = np.full(len(months), np.nan)
        arr[[index[mo] for mo in g["month"]]] = g["value"].to_numpy(dtype=float)
        values[(branch, name)] = arr
    year = _Year(months, values)
    for feed in FEED_IDS:
        year.loaded[feed] = ~np.isnan(year.raw(NATIONAL_CODE, loaded_marker(feed)))
    return year


def as_of_months(fy: int, aggregates: pd.DataFrame) -> list[str]:
    """Months of the fiscal year with at least one loaded feed."""
    year = _build_year(fy, aggregates)
    any_loaded = np.logical_or.reduce([v for v in year.loaded.values()])
    return [mo for mo, ok in zip(year.months, any_loaded) if ok]


def compute_actuals(fy: int, aggregates: pd.DataFrame) -> pd.DataFrame:
    """Every as-of month × branch (00–47) × measure of fiscal year ``fy`` (the ``kpi_actuals`` table)."""
    year = _build_year(fy, aggregates)
    any_loaded = np.logical_or.reduce([v for v in year.loaded.values()])
    ks = [k for k in range(len(year.months)) if any_loaded[k]]
    cols: dict[str, list] = {c: [] for c in ACTUAL_COLUMNS[1:]}
    branches = branch_codes()
    as_of = [year.months[k] for k in ks]
    nan_den = np.full(len(ks), np.nan)

    def emit(m: Measure, branch: str, num: np.ndarray, den: np.ndarray | None, mask: np.ndarray) -> None:
        covered, complete = _coverage(m, mask)
        value = _values(m, num, den)
        cols["as_of_month"].extend(as_of)
        cols["branch_code"].extend([branch] * len(ks))
        cols["measure"].extend([m.id] * len(ks))
        cols["value"].append(value[ks])
        cols["numerator"].append(num[ks])
        cols["denominator"].append(den[ks] if den is not None else nan_den)
        cols["months_covered"].append(covered[ks])
        cols["complete"].append(complete[ks])

    for m in MEASURES:
        if m.national_only:
            mask = _mask(year, NATIONAL_CODE, m)
            num = _sum_terms(year, NATIONAL_CODE, m.numerator, mask)
            den = _sum_terms(year, NATIONAL_CODE, m.denominator, mask) if m.is_ratio else None
            emit(m, NATIONAL_CODE, num, den, mask)
            continue
        masks = {b: _mask(year, b, m) for b in branches}
        nums = {b: _sum_terms(year, b, m.numerator, masks[b]) for b in branches}
        dens = {b: _sum_terms(year, b, m.denominator, masks[b]) for b in branches} if m.is_ratio else None
        for b in branches:
            emit(m, b, nums[b], dens[b] if dens else None, masks[b])
        national_mask = np.logical_and.reduce([masks[b] for b in branches])
        stacked = np.vstack([nums[b] for b in branches])
        nat_num = np.where(np.isnan(stacked).all(axis=0), np.nan, np.nansum(stacked, axis=0))
        if m.special == "line_posting_months":
            posted = np.logical_and.reduce([np.nan_to_num(year.raw(b, "ind:line_posts"), nan=0.0) >= 1 for b in branches])
            nat_num = np.cumsum(posted & national_mask).astype(float)
        nat_den = None
        if dens:
            stacked = np.vstack([dens[b] for b in branches])
            nat_den = np.where(np.isnan(stacked).all(axis=0), np.nan, np.nansum(stacked, axis=0))
        emit(m, NATIONAL_CODE, nat_num, nat_den, national_mask)
    if not ks:
        return pd.DataFrame(columns=ACTUAL_COLUMNS)
    out = pd.DataFrame(
        {
            "fiscal_year": fy,
            "as_of_month": cols["as_of_month"],
            "branch_code": cols["branch_code"],
            "measure": cols["measure"],
            **{c: np.concatenate(cols[c]) for c in ("value", "numerator", "denominator", "months_covered", "complete")},
        }
    )
    out["months_covered"] = out["months_covered"].astype(int)
    out["complete"] = out["complete"].astype(bool)
    for c in ("value", "numerator", "denominator"):
        out[c] = out[c].astype("float64")
    return out[ACTUAL_COLUMNS].sort_values(["as_of_month", "branch_code", "measure"], kind="stable").reset_index(drop=True)
