"""KPI catalogs: every shipped catalog loads and every KPI resolves; every problem is named."""

import shutil

import pytest

from kenpo_pipeline.cli import main
from kenpo_pipeline.domain.catalog import load_catalogs, require_catalogs
from kenpo_pipeline.domain.measures import MEASURES_BY_ID
from kenpo_pipeline.settings import ASSETS_DIR

CATALOGS = ASSETS_DIR / "catalogs"


def test_every_shipped_catalog_loads_and_every_kpi_resolves():
    catalogs = require_catalogs(CATALOGS)
    assert {fy: [(p.branch_code, p.plan) for p in c.plans] for fy, c in catalogs.items()} == {
        2020: [("33", "支部")],
        2021: [("33", "支部")],
        2023: [("22", "支部")],
        2024: [("00", "本部"), ("04", "支部")],
        2025: [("00", "本部"), ("04", "支部")],
    }
    for catalog in catalogs.values():
        for plan in catalog.plans:
            assert plan.source.startswith("seed 00") and plan.status in ("確定", "案")
            for kpi in plan.kpis:
                for part in kpi.parts:
                    assert part.rule == "manual" or part.measure in MEASURES_BY_ID
    national_2024 = catalogs[2024].national
    assert len(national_2024.kpis) == 18  # seed 000: the KPI一覧表 (and the same ■ KPI in the body)
    assert sum(k.scope == "association" for k in national_2024.kpis) == 3
    assert national_2024.status == "案" and national_2024.title == "令和6年度 全国健康保険協会事業計画（案）"  # seed 000's title page
    manual = [k.id for c in catalogs.values() for p in c.plans for k in p.kpis if k.rule == "manual"]
    assert sorted(manual) == ["FY2020-33-08", "FY2020-33-09", "FY2020-33-16", "FY2020-33-19", "FY2025-00-18"]


def test_stable_keys_line_years_up():
    catalogs = require_catalogs(CATALOGS)
    keys = {fy: {k.key for p in c.plans if p.branch_code in ("00", "04") for k in p.kpis} for fy, c in catalogs.items() if fy >= 2024}
    assert {"service_standard", "severe_prevention", "generic", "committee", "single_bid"} <= keys[2024] & keys[2025]


BROKEN = """fiscal_year: 2030
plans:
  - branch_code: "48"
    plan: 支部
    title: t
    source: s
    status: 確定
    kpis:
      - {id: A, key: k1, section: s, text: t, measure: no_such_measure, rule: absolute, op: ">=", value: 1}
      - {id: B, key: k2, section: s, text: t, measure: postal_rate, rule: absolute, op: ">="}
      - {id: A, key: k3, section: s, text: t, measure: postal_rate, rule: prior_year, op: ">="}
      - {id: C, key: k1, section: s, text: t, measure: postal_rate, rule: prior_year, op: "=="}
      - {id: D, key: k5, section: s, text: t, measure: postal_rate, rule: sometimes}
"""


def test_catalog_problems_name_file_kpi_and_reason(tmp_path, capsys):
    (tmp_path / "FY2030.yaml").write_text(BROKEN, encoding="utf-8")
    _, problems = load_catalogs(tmp_path)
    text = "\n".join(problems)
    assert "FY2030.yaml: 計画 48: branch_code: '48' は 00〜47 ではありません" in text
    assert "FY2030.yaml: KPI A: measure: 未知の指標です（'no_such_measure'）" in text
    assert "FY2030.yaml: KPI B: value: rule absolute には数値の value（目標値）が必要です（なし）" in text
    assert "FY2030.yaml: KPI A: id: 重複しています（計画 48 にもあります）" in text
    assert "FY2030.yaml: KPI C: key: 'k1' は同じ計画の KPI A が使っています" in text
    assert "FY2030.yaml: KPI C: op: rule prior_year には op \">=\" または \"<=\" が必要です（'=='）" in text
    assert "FY2030.yaml: KPI D: rule: 'sometimes' は absolute、prior_year、" in text
    assert len(problems) == 7
    assert main(["catalog", "check", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "未知の指標です（'no_such_measure'）" in out and "のカタログに問題が 7 件あります。" in out


def test_catalog_check_passes_on_the_shipped_catalogs_and_reads_kenpo_catalogs(tmp_path, monkeypatch, capsys):
    assert main(["catalog", "check"]) == 0
    out = capsys.readouterr().out
    assert "カタログに問題はありません。" in out and "FY2024: FY2024.yaml: 本部 00（KPI 18件、案）、支部 04（KPI 16件、確定）" in out
    shutil.copytree(CATALOGS, tmp_path / "plans")
    (tmp_path / "plans" / "FY2025_manual.yaml").write_text("entries:\n  - {kpi_id: NOPE, branch_code: '00', status: 達成}\n", encoding="utf-8")
    monkeypatch.setenv("KENPO_CATALOGS", str(tmp_path / "plans"))
    assert main(["catalog", "check"]) == 1
    assert "FY2025_manual.yaml: 1番目の入力（KPI NOPE）: kpi_id: FY2025.yaml に手入力（rule manual）のKPI 'NOPE' はありません" in capsys.readouterr().out
