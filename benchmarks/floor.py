"""The floor: one feed-month loaded the plainest competent way — pandas, no orchestration, no GX.

    python benchmarks/floor.py LANDING MONTH OUT.sqlite

Reads the four files of MONTH (UTF-8 CSV, ISO dates: the format of the benchmark month), applies the
same row rules as the expectation suites (required cells, value sets, ranges, date order, payment
within 31 days, 査定 ⇔ 査定点数 > 0, unique keys), counts business
days with numpy's busday_count (Japanese holidays + 12/29–1/3), aggregates the month per branch the
way ``domain/kpis/aggregates.py`` does, and writes the loaded rows, the quarantined rows and the
aggregates to SQLite in one transaction. It prints one JSON line: rows read/loaded/quarantined per
feed and the aggregates' checksums, which the harness compares with the pipeline's.

It deliberately skips what a production loader must do and this script does not: encoding and
format detection, era dates, full-width digits, Excel files, per-row Japanese reasons, load
history, idempotence, partial failure, observability.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import sys
from pathlib import Path

import holidays
import numpy as np
import pandas as pd

BRANCHES = [f"{i:02d}" for i in range(1, 48)]
BENEFITS = {"支部コード": "branch_code", "申請番号": "application_id", "給付種別": "benefit_type", "受付日": "received_on",
            "決定日": "decided_on", "支払日": "paid_on", "受付方法": "channel", "決定区分": "decision"}
CLAIMS = {"支部コード": "branch_code", "レセプト番号": "claim_id", "診療年月": "service_month", "点検区分": "review_type",
          "請求点数": "claimed_points", "査定点数": "reduced_points", "結果": "outcome"}
SCREENINGS = {"支部コード": "branch_code", "区分": "population", "事業": "program", "対象者数": "eligible", "実施者数": "completed"}
INDICATORS = {"支部コード": "branch_code", "指標コード": "indicator", "値": "value"}
BENEFIT_TYPES = {"傷病手当金", "出産手当金", "出産育児一時金", "埋葬料", "高額療養費", "療養費", "海外療養費", "その他"}
CHANNELS = {"郵送": "postal", "窓口": "counter", "電子申請": "online"}
DECISIONS = {"支給", "不支給"}
REVIEW_TYPES = {"内容点検", "資格点検", "外傷点検"}
OUTCOMES = {"査定", "原審どおり", "返戻"}


def holiday_array(years: range) -> np.ndarray:
    days = {d for y in years for d in holidays.country_holidays("JP", years=y)}
    for y in years:
        days |= {dt.date(y, 12, 29), dt.date(y, 12, 30), dt.date(y, 12, 31), dt.date(y, 1, 1), dt.date(y, 1, 2), dt.date(y, 1, 3)}
    return np.array(sorted(days), dtype="datetime64[D]")


def read(path: Path, columns: dict[str, str]) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    df = df.rename(columns={c: c.strip() for c in df.columns})[list(columns)].rename(columns=columns)
    df.insert(0, "source_row", np.arange(2, len(df) + 2))
    return df


def split(df: pd.DataFrame, bad: pd.Series, feed: str, reasons: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    q = df.loc[bad, ["source_row"]].assign(feed=feed, reason=reasons[bad].values)
    return df.loc[~bad], q


def date(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, format="%Y-%m-%d", errors="coerce")


def benefits(path: Path, month: str, hol: np.ndarray):
    df = read(path, BENEFITS)
    rec, dec, paid = date(df.received_on), date(df.decided_on), date(df.paid_on)
    start = pd.Timestamp(f"{month}-01")
    end = start + pd.offsets.MonthEnd(0)
    reasons = pd.Series("", index=df.index)
    checks = {
        "branch": ~df.branch_code.isin(BRANCHES),
        "required": (df[["application_id", "benefit_type", "received_on", "decided_on", "channel", "decision"]] == "").any(axis=1),
        "dates": rec.isna() | dec.isna() | ((df.paid_on != "") & paid.isna()),
        "decided_in_month": (dec < start) | (dec > end),
        "order": rec > dec,
        "payment": ((df.decision == "支給") & (paid.isna() | (paid < dec) | (paid > dec + pd.Timedelta(days=31))))
        | ((df.decision == "不支給") & paid.notna()),
        "values": ~df.benefit_type.isin(BENEFIT_TYPES) | ~df.channel.isin(CHANNELS) | ~df.decision.isin(DECISIONS),
        "unique": df.application_id.duplicated(keep=False),
    }
    for name, mask in checks.items():
        reasons = reasons.where(~mask, reasons + name + ";")
    good, q = split(df, reasons != "", "benefits", reasons)
    good = good.assign(month=month, received_on=rec[good.index].dt.date, decided_on=dec[good.index].dt.date, paid_on=paid[good.index].dt.date)
    ss = good[good.benefit_type.isin(["傷病手当金", "出産手当金"]) & (good.decision == "支給") & good.paid_on.notna()]
    days = np.busday_count(ss.received_on.values.astype("datetime64[D]"), ss.paid_on.values.astype("datetime64[D]"), holidays=hol)
    ss = ss.assign(days=days)
    agg = pd.DataFrame(index=pd.Index(BRANCHES, name="branch_code"))
    agg["benefits_rows"] = good.groupby("branch_code").size()
    for ja, key in CHANNELS.items():
        agg[f"channel_{key}"] = good[good.channel == ja].groupby("branch_code").size()
    agg["ss_rows"] = ss.groupby("branch_code").size()
    agg["ss_within_standard"] = ss[ss.days <= 10].groupby("branch_code").size()
    agg["ss_days_sum"] = ss.groupby("branch_code").days.sum()
    return good, q, agg.fillna(0)


def claims(path: Path, month: str):
    df = read(path, CLAIMS)
    claimed = pd.to_numeric(df.claimed_points, errors="coerce")
    reduced = pd.to_numeric(df.reduced_points, errors="coerce")
    svc = pd.to_datetime(df.service_month, format="%Y%m", errors="coerce")
    start = pd.Timestamp(f"{month}-01")
    reasons = pd.Series("", index=df.index)
    checks = {
        "branch": ~df.branch_code.isin(BRANCHES),
        "numbers": claimed.isna() | reduced.isna() | (claimed < 0) | (reduced < 0) | (reduced > claimed),
        "service_month": svc.isna() | (svc > start) | (svc < start - pd.DateOffset(years=5)),
        "values": ~df.review_type.isin(REVIEW_TYPES) | ~df.outcome.isin(OUTCOMES),
        "outcome": (df.outcome == "査定") != (reduced > 0),
        "unique": df.claim_id.duplicated(keep=False),
    }
    for name, mask in checks.items():
        reasons = reasons.where(~mask, reasons + name + ";")
    good, q = split(df, reasons != "", "claims_review", reasons)
    good = good.assign(month=month, claimed_points=claimed[good.index].astype("int64"), reduced_points=reduced[good.index].astype("int64"))
    content = good[good.review_type == "内容点検"]
    agg = pd.DataFrame(index=pd.Index(BRANCHES, name="branch_code"))
    agg["content_rows"] = content.groupby("branch_code").size()
    agg["content_reduced_points"] = content.groupby("branch_code").reduced_points.sum()
    return good, q, agg.fillna(0)


def screenings(path: Path, month: str):
    df = read(path, SCREENINGS)
    eligible = pd.to_numeric(df.eligible.str.replace(",", ""), errors="coerce")
    completed = pd.to_numeric(df.completed.str.replace(",", ""), errors="coerce")
    bad = ~df.branch_code.isin(BRANCHES) | completed.isna() | (completed < 0) | (eligible < 0) | ~df.population.isin(["被保険者", "被扶養者"]) | df.duplicated(["branch_code", "population", "program"], keep=False)
    reasons = pd.Series("rules;", index=df.index)
    good, q = split(df, bad, "screenings", reasons)
    good = good.assign(month=month, eligible=eligible[good.index], completed=completed[good.index])
    agg = good.pivot_table(index="branch_code", columns="program", values="completed", aggfunc="sum").add_prefix("completed:")
    return good, q, agg.reindex(BRANCHES).fillna(0)


def indicators(path: Path, month: str):
    df = read(path, INDICATORS)
    value = pd.to_numeric(df.value.str.replace(",", ""), errors="coerce")
    bad = ~df.branch_code.isin(BRANCHES + ["00"]) | value.isna() | (value < 0) | df.duplicated(["branch_code", "indicator"], keep=False)
    good, q = split(df, bad, "indicators", pd.Series("rules;", index=df.index))
    good = good.assign(month=month, value=value[good.index])
    agg = good.pivot_table(index="branch_code", columns="indicator", values="value", aggfunc="sum").add_prefix("ind:")
    return good, q, agg


def main(argv: list[str]) -> int:
    landing, month, out = Path(argv[0]), argv[1], Path(argv[2])
    ym = month.replace("-", "")
    year = int(month[:4])
    hol = holiday_array(range(year - 1, year + 2))
    results = {
        "benefits": benefits(landing / "benefits" / f"{ym}.csv", month, hol),
        "claims_review": claims(landing / "claims_review" / f"{ym}.csv", month),
        "screenings": screenings(landing / "screenings" / f"{ym}.csv", month),
        "indicators": indicators(landing / "indicators" / f"{ym}.csv", month),
    }
    con = sqlite3.connect(out)
    con.execute("PRAGMA journal_mode=WAL")
    summary = {}
    with con:
        for feed, (good, q, agg) in results.items():
            good.to_sql(feed, con, if_exists="replace", index=False, chunksize=20_000)
            q.to_sql("quarantine", con, if_exists="append", index=False)
            long = agg.reset_index().melt(id_vars="branch_code", var_name="input", value_name="value").assign(month=month)
            long.to_sql("monthly_aggregates", con, if_exists="append", index=False)
            summary[feed] = {"rows_loaded": len(good), "rows_quarantined": len(q),
                             "aggregates": {k: float(v) for k, v in agg.sum().items() if not k.startswith(("ind:", "completed:"))}}
    con.close()
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
