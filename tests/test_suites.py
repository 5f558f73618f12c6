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
