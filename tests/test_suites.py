"""The GX suites in expectations/: complete, annotated, and guarded against silent drops."""

import json
import shutil

import pytest

from kenpo_pipeline.domain.intake.suites import SuiteError, build_suite, load_suite_json
from kenpo_pipeline.domain.reference import FEED_IDS, feed_layout
from kenpo_pipeline.settings import EXPECTATIONS_DIR


@pytest.mark.parametrize("feed", FEED_IDS)
def test_every_suite_builds_every_expectation(feed):
    raw = load_suite_json(feed)
    suite = build_suite(feed)
    assert len(suite.expectations) == len(raw["expectations"]) > 5
    for e in raw["expectations"]:
        assert {"rule", "blame", "reason_ja"} <= set(e["meta"])
        assert e["meta"]["rule"].startswith(f"{feed}.")


@pytest.mark.parametrize("feed", FEED_IDS)
def test_every_required_column_has_a_not_null_rule(feed):
    raw = load_suite_json(feed)
    not_null = {e["kwargs"]["column"] for e in raw["expectations"] if e["type"] == "expect_column_values_to_not_be_null" and "row_condition" not in e["kwargs"]}
    assert not_null == {c.canonical for c in feed_layout(feed).columns if c.required}


def test_unknown_expectation_type_is_detected_not_dropped(tmp_path):
    for feed in FEED_IDS:
        shutil.copy(EXPECTATIONS_DIR / f"{feed}.json", tmp_path / f"{feed}.json")
    raw = json.loads((tmp_path / "benefits.json").read_text(encoding="utf-8"))
    raw["expectations"].append({"type": "expect_column_values_to_be_magical", "kwargs": {"column": "x"}, "meta": {"rule": "r", "blame": "x", "reason_ja": "r"}})
    (tmp_path / "benefits.json").write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(SuiteError, match="declared but GX built"):
        build_suite("benefits", tmp_path)


def test_no_suite_uses_an_expectation_gx_evaluates_row_by_row():
    # GX's pandas implementation of expect_column_pair_values_to_be_in_set walks the rows (iterrows)
    for feed in FEED_IDS:
        assert all(e["type"] != "expect_column_pair_values_to_be_in_set" for e in load_suite_json(feed)["expectations"])


def test_a_suite_reads_its_expectations_columns_and_the_names_in_its_row_conditions():
    from kenpo_pipeline.domain.intake.suites import suite_columns

    benefits = suite_columns(load_suite_json("benefits"))
    # paid_on's rules only apply where decision is 支給 / 不支給: decision is read for the condition
    assert {"decided_on", "_received_floor", "_paid_ceiling", "paid_on", "decision"} <= benefits
    claims = suite_columns(load_suite_json("claims_review"))
    assert "outcome" in claims and "service_month" in claims and "_service_month_start" in claims
    screenings = suite_columns(load_suite_json("screenings"))
    assert "_population_program" in screenings and "被保険者" not in screenings  # a quoted value is no column
    indicators = suite_columns(load_suite_json("indicators"))
    assert "_value_max_text" not in indicators and "_bounded_by" not in indicators  # only the reasons read these


def test_validating_many_months_keeps_no_result_in_the_context():
    import pandas as pd

    from kenpo_pipeline.domain.intake.suites import _context, validate_frame

    frame = pd.DataFrame({"branch_code": ["01", "99"], "indicator": ["insured_total", "insured_total"], "value": [10.0, -1.0]})
    frame["_bound_value"] = float("nan")
    frame["_value_max"] = 1e15
    for _ in range(3):
        outcome = validate_frame("indicators", frame, {})
        assert not outcome.errors and set(outcome.unexpected) == {1}
    results = _context().validation_results_store
    assert not list(results.list_keys())
