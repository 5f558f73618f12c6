"""根拠 (issue 15 §3), the pure part: an evaluation row traced to kpi_actuals and feed_loads."""

import pandas as pd

from kenpo_pipeline.domain.reporting.evidence import evidence_for, evidence_markdown, feeds_of, labels_of
from kenpo_pipeline.domain.kpis.measures import measure


def actuals():
    rows = []
    for month, num, den in (("2024-04", 1000, 200000), ("2024-05", 2500, 200000), ("2024-06", 123456, 199123)):
        rows.append([2024, month, "22", "lifestyle_screening_rate", num / den * 100, num, den, 3, True])
        rows.append([2024, month, "00", "lifestyle_screening_rate", 61.5, 10 * num, 16 * den, 3, True])
    return pd.DataFrame(rows, columns=["fiscal_year", "as_of_month", "branch_code", "measure", "value", "numerator", "denominator", "months_covered", "complete"])


def loads():
    rows = [
        [1, "screenings", "2024-04", "/srv/landing/screenings/202404.csv", "a" * 64, "loaded"],
        [2, "screenings", "2024-05", "/srv/landing/screenings/202405.csv", "b" * 64, "superseded"],
        [3, "screenings", "2024-05", "/srv/landing/screenings/202405.csv", "c" * 64, "loaded"],
        [4, "screenings", "2024-06", "/srv/landing/screenings/202406.csv", "d" * 64, "loaded"],
        [5, "screenings", "2024-07", "/srv/landing/screenings/202407.csv", "e" * 64, "loaded"],  # after the judged month
        [6, "benefits", "2024-06", "/srv/landing/benefits/202406.csv", "f" * 64, "loaded"],  # another feed
    ]
    return pd.DataFrame(rows, columns=["load_id", "feed", "month", "path", "sha256", "status"])


def test_a_branch_rate_is_its_numerator_over_its_denominator_with_the_loads_behind_it():
    row = {"fiscal_year": 2024, "branch_code": "22", "kpi_id": "FY2024-22-01", "kpi_text": "生活習慣病予防健診実施率を64.0%以上", "measure": "lifestyle_screening_rate",
           "judgement_month": "2024-06", "as_of_month": "2024-07"}
    ev = evidence_for(row, actuals(), loads())
    assert (ev.numerator, ev.denominator) == (123456, 199123)
    assert ev.numerator_label.endswith("実施者数（累計）") and ev.denominator_label == "対象者数"
    assert ev.quotient_text == "123,456 ／ 199,123 × 100 ＝ 62.0%"
    assert round(ev.numerator / ev.denominator * 100, 1) == round(ev.value, 1) == 62.0
    assert ev.national_value == 61.5
    assert list(ev.monthly["対象月（累計）"]) == ["令和6年4月", "令和6年5月", "令和6年6月"]
    assert list(ev.loads["load_id"]) == [1, 3, 4] and list(ev.loads["ファイル"]) == ["202404.csv", "202405.csv", "202406.csv"]
    assert list(ev.loads["SHA-256（先頭）"]) == ["a" * 12, "c" * 12, "d" * 12]
    md = evidence_markdown(ev).replace("\\", "")  # Markdown escapes punctuation
    assert "123,456" in md and "199,123" in md and "全国値" in md and "/srv/landing" not in md


def test_measure_feeds_and_words():
    assert feeds_of(measure("review_assessment_rate")) == ["claims_review", "indicators"]
    assert labels_of(measure("postal_rate")) == ("受付方法＝郵送の決定件数", "全決定件数")
    assert evidence_for({"measure": "", "fiscal_year": 2024, "branch_code": "00"}, actuals(), loads()) is None


def test_every_ratio_measure_names_its_numerator_and_denominator_in_words():
    """The 根拠 sheet never prints the generic （分子）/（分母）: each ratio has its own words."""
    from kenpo_pipeline.domain.kpis.measures import MEASURES

    for m in (m for m in MEASURES if m.is_ratio):
        num, den = labels_of(m)
        assert num and den and "（分子）" not in num and "（分母）" not in den, m.id
    assert labels_of(measure("service_standard_rate")) == ("所要日数10日以内の支給決定件数（傷病手当金・出産手当金）", "支給決定件数（傷病手当金・出産手当金）")
