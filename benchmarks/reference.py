"""The reference: the floor's parse, rules and aggregation in DuckDB (a near-physical bound).

    python benchmarks/reference.py LANDING MONTH OUT.duckdb

Same inputs, rules and outputs as floor.py, expressed in SQL: read_csv with every column as text,
the row rules as boolean columns, business days from a calendar table (weekends, Japanese holidays,
12/29–1/3) with a running count, the per-branch aggregates, and the loaded rows, quarantine and
aggregates written to a DuckDB file. DuckDB is a development dependency of the benchmark only.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import duckdb
import holidays

BRANCHES = ", ".join(f"'{i:02d}'" for i in range(1, 48))


def main(argv: list[str]) -> int:
    landing, month, out = Path(argv[0]), argv[1], Path(argv[2])
    ym, year = month.replace("-", ""), int(month[:4])
    days = {d for y in range(year - 1, year + 2) for d in holidays.country_holidays("JP", years=y)}
    for y in range(year - 1, year + 2):
        days |= {dt.date(y, 12, 29), dt.date(y, 12, 30), dt.date(y, 12, 31), dt.date(y, 1, 1), dt.date(y, 1, 2), dt.date(y, 1, 3)}
    con = duckdb.connect(str(out))
    con.execute("SET threads TO 2")
    con.execute("CREATE TEMP TABLE hol AS SELECT unnest(?::DATE[]) AS d", [sorted(days)])
    con.execute(f"""
        CREATE TEMP TABLE cal AS
        SELECT d, sum(bd) OVER (ORDER BY d ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
        FROM (SELECT range::DATE AS d,
                     CASE WHEN dayofweek(range) IN (0, 6) OR range::DATE IN (SELECT d FROM hol) THEN 0 ELSE 1 END AS bd
              FROM range(DATE '{year - 1}-01-01', DATE '{year + 2}-01-01', INTERVAL 1 DAY))""")
    start = f"DATE '{month}-01'"
    f = lambda feed: str(landing / feed / f"{ym}.csv")  # noqa: E731
    con.execute(f"""
        CREATE OR REPLACE TABLE benefits_raw AS
        SELECT row_number() OVER () + 1 AS source_row, "支部コード" AS branch_code, "申請番号" AS application_id,
               "給付種別" AS benefit_type, try_strptime("受付日", '%Y-%m-%d')::DATE AS received_on,
               try_strptime("決定日", '%Y-%m-%d')::DATE AS decided_on, try_strptime(nullif("支払日", ''), '%Y-%m-%d')::DATE AS paid_on,
               "受付方法" AS channel, "決定区分" AS decision, "支払日" AS paid_text
        FROM read_csv('{f("benefits")}', all_varchar = true, header = true)""")
    con.execute(f"""
        CREATE OR REPLACE TABLE benefits_checked AS
        SELECT *, concat_ws(';',
            CASE WHEN branch_code NOT IN ({BRANCHES}) THEN 'branch' END,
            CASE WHEN received_on IS NULL OR decided_on IS NULL OR (paid_text <> '' AND paid_on IS NULL) THEN 'dates' END,
            CASE WHEN decided_on < {start} OR decided_on > last_day({start}) THEN 'decided_in_month' END,
            CASE WHEN received_on > decided_on THEN 'order' END,
            CASE WHEN (decision = '支給' AND (paid_on IS NULL OR paid_on < decided_on OR paid_on > decided_on + 31))
                   OR (decision = '不支給' AND paid_on IS NOT NULL) THEN 'payment' END,
            CASE WHEN benefit_type NOT IN ('傷病手当金','出産手当金','出産育児一時金','埋葬料','高額療養費','療養費','海外療養費','その他')
                   OR channel NOT IN ('郵送','窓口','電子申請') OR decision NOT IN ('支給','不支給') THEN 'values' END,
            CASE WHEN count(*) OVER (PARTITION BY application_id) > 1 THEN 'unique' END) AS reasons
        FROM benefits_raw""")
    con.execute(f"""
        CREATE OR REPLACE TABLE claims_checked AS
        WITH raw AS (
            SELECT row_number() OVER () + 1 AS source_row, "支部コード" AS branch_code, "レセプト番号" AS claim_id,
                   try_strptime("診療年月", '%Y%m')::DATE AS service_month, "点検区分" AS review_type,
                   try_cast("請求点数" AS BIGINT) AS claimed_points, try_cast("査定点数" AS BIGINT) AS reduced_points, "結果" AS outcome
            FROM read_csv('{f("claims_review")}', all_varchar = true, header = true))
        SELECT *, concat_ws(';',
            CASE WHEN branch_code NOT IN ({BRANCHES}) THEN 'branch' END,
            CASE WHEN claimed_points IS NULL OR reduced_points IS NULL OR claimed_points < 0 OR reduced_points < 0
                   OR reduced_points > claimed_points THEN 'numbers' END,
            CASE WHEN service_month IS NULL OR service_month > {start} OR service_month < {start} - INTERVAL 5 YEAR THEN 'service_month' END,
            CASE WHEN review_type NOT IN ('内容点検','資格点検','外傷点検') OR outcome NOT IN ('査定','原審どおり','返戻') THEN 'values' END,
            CASE WHEN (outcome = '査定') <> (reduced_points > 0) THEN 'outcome' END,
            CASE WHEN count(*) OVER (PARTITION BY claim_id) > 1 THEN 'unique' END) AS reasons
        FROM raw""")
    con.execute(f"""
        CREATE OR REPLACE TABLE screenings AS
        SELECT "支部コード" AS branch_code, "区分" AS population, "事業" AS program,
               try_cast(replace("対象者数", ',', '') AS BIGINT) AS eligible, try_cast(replace("実施者数", ',', '') AS BIGINT) AS completed
        FROM read_csv('{f("screenings")}', all_varchar = true, header = true)""")
    con.execute(f"""
        CREATE OR REPLACE TABLE indicators AS
        SELECT "支部コード" AS branch_code, "指標コード" AS indicator, try_cast(replace("値", ',', '') AS DOUBLE) AS value
        FROM read_csv('{f("indicators")}', all_varchar = true, header = true)""")
    con.execute(f"""
        CREATE OR REPLACE TABLE monthly_aggregates AS
        WITH b AS (SELECT * FROM benefits_checked WHERE reasons = ''),
             ss AS (SELECT b.branch_code, c2.before - c1.before AS days FROM b
                    JOIN cal c1 ON c1.d = b.received_on JOIN cal c2 ON c2.d = b.paid_on
                    WHERE benefit_type IN ('傷病手当金','出産手当金') AND decision = '支給' AND paid_on IS NOT NULL),
             c AS (SELECT * FROM claims_checked WHERE reasons = '' AND review_type = '内容点検')
        SELECT '{month}' AS month, branch_code, 'benefits_rows' AS input, count(*)::DOUBLE AS value FROM b GROUP BY ALL
        UNION ALL SELECT '{month}', branch_code, 'channel_' || CASE channel WHEN '郵送' THEN 'postal' WHEN '窓口' THEN 'counter' ELSE 'online' END,
               count(*) FROM b GROUP BY ALL
        UNION ALL SELECT '{month}', branch_code, 'ss_rows', count(*) FROM ss GROUP BY ALL
        UNION ALL SELECT '{month}', branch_code, 'ss_within_standard', count(*) FROM ss WHERE days <= 10 GROUP BY ALL
        UNION ALL SELECT '{month}', branch_code, 'ss_days_sum', sum(days) FROM ss GROUP BY ALL
        UNION ALL SELECT '{month}', branch_code, 'content_rows', count(*) FROM c GROUP BY ALL
        UNION ALL SELECT '{month}', branch_code, 'content_reduced_points', sum(reduced_points) FROM c GROUP BY ALL
        UNION ALL SELECT '{month}', branch_code, 'completed:' || program, sum(completed) FROM screenings GROUP BY ALL
        UNION ALL SELECT '{month}', branch_code, 'ind:' || indicator, sum(value) FROM indicators GROUP BY ALL""")
    con.execute("CREATE OR REPLACE TABLE quarantine AS SELECT 'benefits' AS feed, source_row, reasons FROM benefits_checked WHERE reasons <> '' "
                "UNION ALL SELECT 'claims_review', source_row, reasons FROM claims_checked WHERE reasons <> ''")
    summary = {}
    for feed, table in (("benefits", "benefits_checked"), ("claims_review", "claims_checked")):
        loaded, quarantined = con.execute(f"SELECT count(*) FILTER (reasons = ''), count(*) FILTER (reasons <> '') FROM {table}").fetchone()
        summary[feed] = {"rows_loaded": loaded, "rows_quarantined": quarantined}
    names = ["benefits_rows", "channel_postal", "channel_counter", "channel_online", "ss_rows", "ss_within_standard", "ss_days_sum",
             "content_rows", "content_reduced_points"]
    totals = dict(con.execute(f"SELECT input, sum(value) FROM monthly_aggregates WHERE input IN ({', '.join(repr(n) for n in names)}) GROUP BY input").fetchall())
    summary["benefits"]["aggregates"] = {k: float(v) for k, v in totals.items() if not k.startswith("content")}
    summary["claims_review"]["aggregates"] = {k: float(v) for k, v in totals.items() if k.startswith("content")}
    con.close()
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
