"""Year-end freeze (確定): a published evaluation is never silently rewritten."""

import json

import dagster as dg
from openpyxl import load_workbook

from kenpo_pipeline.cli import main
from kenpo_pipeline.domain.intake.landing import find_feed_file
from kenpo_pipeline.domain.intake.sample import write_sample
from kenpo_pipeline.warehouse.store import Warehouse
import pytest

pytestmark = pytest.mark.warehouse  # runs on SQLite and on PostgreSQL (see conftest.py)


def rewrite(path, change):
    raw = path.read_bytes()
    for enc in ("utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8", "cp932"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    lines = text.splitlines()
    path.write_bytes(("\n".join([lines[0]] + [change(l) for l in lines[1:]]) + "\n").encode(enc))


@pytest.mark.sample_years  # FY2024 landed, loaded and evaluated (the workbooks come with the correction's run below)
def test_finalize_then_a_correction_shows_beside_the_published_figures(kenpo_env, capsys):
    assert main(["finalize", "--fiscal-year", "2024", "--by", "企画部", "--note", "承認済み"]) == 1  # 未達成 KPIs without 要因分析
    assert "に要因分析がありません" in capsys.readouterr().err
    assert main(["finalize", "--fiscal-year", "2024", "--by", "企画部", "--note", "承認済み", "--allow-missing-commentary"]) == 0
    assert "を第 1 版として確定しました（承認: 企画部" in capsys.readouterr().out
    wh = Warehouse(kenpo_env.warehouse_url)
    info, published = wh.latest_publication(2024)
    assert info["version"] == 1 and info["published_by"] == "企画部" and info["as_of_month"] == "2025-03"
    assert len(json.loads(info["load_ids"])["benefits"]) == 12 and len(info["catalog_sha256"]) == 64
    before = published.set_index(["branch_code", "kpi_id"])

    # a correction after publication: Tokyo's March benefits were all postal
    rewrite(find_feed_file(kenpo_env.landing, "benefits", "2025-03"), lambda l: l.replace(",窓口,", ",郵送,") if l.split(",")[0] in ("13", "１３") else l)
    assert main(["run", "--from", "2025-03", "--to", "2025-03"]) == 0
    live = wh.read_table("pdca_evaluation", fiscal_year=2024).set_index(["branch_code", "kpi_id"])
    key = ("13", "FY2024-00-02")  # 郵送化率
    assert live.loc[key, "actual_text"] != before.loc[key, "actual_text"]
    _, still = wh.latest_publication(2024)
    assert still.set_index(["branch_code", "kpi_id"]).loc[key, "actual_text"] == before.loc[key, "actual_text"]

    ws = load_workbook(kenpo_env.reports / "pdca_FY2024_13.xlsx")["KPI実績一覧表"]
    header = [ws.cell(3, c).value for c in range(1, ws.max_column + 1)]
    difference = header.index("再計算との差異") + 1  # the commentary columns follow it
    assert "公表版（第1版" in ws.cell(2, 1).value
    row = next(r for r in range(4, ws.max_row + 1) if ws.cell(r, 2).value == before.loc[key, "kpi_text"])
    assert ws.cell(row, 4).value == before.loc[key, "actual_value"]  # the published figure
    assert ws.cell(row, difference).value.startswith("再計算: 実績")

    with dg.DagsterInstance.from_config(str(kenpo_env.dagster_home)) as instance:
        mat = instance.get_latest_materialization_event(dg.AssetKey("pdca_evaluation")).asset_materialization
        assert mat.metadata["FY2024_differences_from_published"].value >= 1
        assert "再計算との差異" in mat.metadata["FY2024_national"].value  # the UI shows the published table


def test_an_in_year_evaluation_cannot_be_published(kenpo_env, capsys):
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.002, months=["2024-04", "2024-05"])
    assert main(["run", "--through", "evaluation"]) == 0
    assert main(["finalize", "--fiscal-year", "2024"]) == 2
    assert "年度途中の" in capsys.readouterr().err
