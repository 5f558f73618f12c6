"""One feed-month status type and one picture of every feed × month (domain/intake/status.py)."""

import pandas as pd

from kenpo_pipeline.domain.intake.status import FeedMonthStatus, LoadStatus, feed_month_picture, picture_grid, picture_symbol


def _loads(rows):
    cols = ["load_id", "feed", "month", "path", "sha256", "rows_read", "rows_loaded", "rows_quarantined", "rows_blank", "status",
            "reason", "loaded_at", "warnings"]
    return pd.DataFrame([dict(zip(cols, r)) for r in rows], columns=cols)


def test_the_picture_tells_loaded_rejected_with_the_load_kept_and_missing():
    loads = _loads([
        (1, "benefits", "2024-04", "b/202404.csv", "a" * 64, 10, 9, 1, 0, "superseded", None, "t", "[]"),
        (2, "benefits", "2024-04", "b/202404.csv", "b" * 64, 10, 10, 0, 0, "loaded", None, "t", '["w1", "w2"]'),
        (3, "benefits", "2024-05", "b/202405.csv", "c" * 64, 10, 8, 2, 1, "loaded", None, "t", "[]"),
        (4, "benefits", "2024-05", "b/202405.csv", "d" * 64, 50, 0, 50, 0, "rejected", "ヘッダーに必須の列がありません", "t", None),
        (5, "screenings", "2024-04", "s/202404.csv", "e" * 64, 5, 0, 5, 0, "rejected", "ファイルが空です", "t", None),
    ])
    quarantine = pd.DataFrame({"feed": ["benefits"] * 3, "month": ["2024-05"] * 3, "reason": ["a", "a", "b"]})
    p = feed_month_picture(loads, quarantine, ["2024-04", "2024-05"], ["benefits", "screenings"]).set_index(["feed", "month"])
    assert p.loc[("benefits", "2024-04"), "status"] == FeedMonthStatus.LOADED
    assert p.loc[("benefits", "2024-04"), "load_id"] == 2 and p.loc[("benefits", "2024-04"), "warnings"] == 2
    # the latest attempt was rejected: the month shows rejected, and the earlier good load stays current
    assert p.loc[("benefits", "2024-05"), "status"] == FeedMonthStatus.REJECTED
    assert p.loc[("benefits", "2024-05"), "load_id"] == 4 and p.loc[("benefits", "2024-05"), "current_load_id"] == 3
    assert p.loc[("benefits", "2024-05"), "reason"] == "ヘッダーに必須の列がありません"
    # rejected and nothing loaded before
    assert p.loc[("screenings", "2024-04"), "status"] == FeedMonthStatus.REJECTED
    assert pd.isna(p.loc[("screenings", "2024-04"), "current_load_id"])
    assert p.loc[("screenings", "2024-05"), "status"] == FeedMonthStatus.MISSING


def test_quarantine_reasons_and_the_grid_symbols():
    loads = _loads([(1, "benefits", "2024-04", "p", "s", 10, 7, 3, 0, "loaded", None, "t", "[]")])
    quarantine = pd.DataFrame({"feed": ["benefits"] * 3, "month": ["2024-04"] * 3, "reason": ["日付", "日付", "種別"]})
    p = feed_month_picture(loads, quarantine, ["2024-04", "2024-05"], ["benefits"])
    assert p.iloc[0]["top_reasons"] == "日付（2）；種別（1）"
    grid = picture_grid(p, ["benefits"])
    assert list(grid["benefits"]) == ["△ 3", "－"]
    assert picture_symbol("loaded", 0) == "○" and picture_symbol("rejected", None) == "×"


def test_status_words_are_the_one_vocabulary():
    assert [s.value for s in LoadStatus] == ["loaded", "rejected", "superseded"]
    assert {s: s.label_ja for s in FeedMonthStatus} == {
        FeedMonthStatus.LOADED: "取込済", FeedMonthStatus.UNCHANGED: "変更なし", FeedMonthStatus.REJECTED: "却下",
        FeedMonthStatus.MISSING: "未着", FeedMonthStatus.NOT_READY: "書込中", FeedMonthStatus.NOT_LOADED: "未読込",
    }
    assert FeedMonthStatus.UNCHANGED.ok and not FeedMonthStatus.NOT_READY.ok and not FeedMonthStatus.NOT_LOADED.ok


def test_a_feed_month_outcome_round_trips_through_check_metadata_json():
    import json

    from kenpo_pipeline.domain.intake.status import FeedMonthOutcome

    o = FeedMonthOutcome("benefits", "2024-04", FeedMonthStatus.NOT_READY, "書き込み中のため読み込みませんでした。", load_id=12, rows_read=3)
    back = FeedMonthOutcome.from_json(json.loads(json.dumps(o.to_json(), ensure_ascii=False)))
    assert back == o and back.status is FeedMonthStatus.NOT_READY and not back.status.ok


def test_months_before_the_first_file_or_not_over_are_blank_and_not_missing():
    """Issue 12 §12: a feed × month grid counts 未着 only from the first month any file arrived (a
    demo from 2024-06 does not show April and May as missing) through the last month that is over."""
    from kenpo_pipeline.domain.intake.status import first_data_month, status_counts

    loads = _loads([
        (1, "benefits", "2024-06", "p", "s", 10, 9, 1, 0, "loaded", None, "t", "[]"),
        (2, "screenings", "2024-07", "p", "s", 10, 0, 0, 0, "rejected", "空", "t", None),
        (3, "screenings", None, "p", "s", 0, 0, 0, 0, "rejected", "ファイル名が月ではありません", "t", None),
    ])
    assert first_data_month(loads) == "2024-06" and first_data_month(loads.iloc[0:0]) is None
    months = ["2024-04", "2024-05", "2024-06", "2024-07", "2024-08", "2024-09"]
    p = feed_month_picture(loads, None, months, ["benefits", "screenings"])
    grid = picture_grid(p, ["benefits", "screenings"], first_month="2024-06", last_month="2024-08", blank_unexpected=True)
    assert grid.loc["2024-04"].tolist() == ["", ""] and grid.loc["2024-05"].tolist() == ["", ""]
    assert grid.loc["2024-06"].tolist() == ["△ 1", "－"] and grid.loc["2024-07"].tolist() == ["－", "×"]
    assert grid.loc["2024-08"].tolist() == ["－", "－"] and grid.loc["2024-09"].tolist() == ["", ""]  # September is not over
    assert status_counts(p, "2024-06", "2024-08") == {"取込済": 1, "うち隔離行あり": 1, "却下": 1, "未着": 4}
    assert status_counts(p, None) == {"取込済": 0, "うち隔離行あり": 0, "却下": 0, "未着": 0}  # nothing arrived: nothing expected
