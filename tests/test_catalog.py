"""KPI catalogs: every shipped catalog loads and every KPI resolves; every problem is named."""

import shutil

import pytest

from kenpo_pipeline.cli import main
from kenpo_pipeline.domain.kpis.catalog import load_action_plans, load_catalogs, require_action_plans, require_catalogs
from kenpo_pipeline.domain.kpis.measures import MEASURES_BY_ID
from kenpo_pipeline.settings import ASSETS_DIR

CATALOGS = ASSETS_DIR / "catalogs"


def test_every_shipped_catalog_loads_and_every_kpi_resolves():
    catalogs = require_catalogs(CATALOGS)
    assert {fy: [(p.branch_code, p.plan) for p in c.plans] for fy, c in catalogs.items()} == {
        2020: [("33", "支部")],
        2021: [("00", "本部"), ("33", "支部")],
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
    assert sorted(manual) == ["FY2020-33-08", "FY2020-33-09", "FY2020-33-16", "FY2020-33-19", "FY2021-00-09", "FY2021-00-18", "FY2025-00-18"]


# seed 002, reference section: every ■ KPI of the two columns, in order — (key, 5th Action Plan, FY2021 national plan)
SEED_002_REFERENCE = [
    ("service_standard", "absolute ≥ 100", "absolute ≥ 100"),
    ("postal_rate", "absolute ≥ 96", "absolute ≥ 95"),
    ("review_assessment_rate", "prior_year ≥", "prior_year ≥"),
    ("review_amount_per_claim", "prior_year ≥", "prior_year ≥"),
    ("judo_multi_frequent", "prior_year ≤", "prior_year ≤"),
    ("card_recovery", "prior_year ≥", "prior_year ≥"),
    ("receivable_collection", "prior_year ≥", "prior_year ≥"),
    ("dependant_check", "absolute ≥ 94", "absolute ≥ 92.7"),
    ("my_number_registration", "manual", "manual"),
    ("lifestyle_screening", "absolute ≥ 63.9", "absolute ≥ 58.5"),
    ("employer_data", "absolute ≥ 9.6", "absolute ≥ 8.5"),
    ("dependant_screening", "absolute ≥ 35", "absolute ≥ 31.3"),
    ("insured_guidance", "absolute ≥ 36.4", "absolute ≥ 25"),
    ("dependant_guidance", "absolute ≥ 10", "absolute ≥ 8"),
    ("severe_prevention", "absolute ≥ 13.1", "absolute ≥ 11.8"),
    ("health_declaration", "absolute ≥ 70000", "absolute ≥ 57000"),
    ("committee", "absolute ≥ 50", "absolute ≥ 46"),
    ("generic", "branch_floor ≥ 80", "manual"),
    ("opinion", "done", "done"),
    ("single_bid", "absolute ≤ 20", "absolute ≤ 20"),
]


def _rule(kpi) -> str:
    part = kpi.parts[0]
    op = {">=": "≥", "<=": "≤"}.get(part.op or "", "")
    if kpi.rule == "branch_floor":
        op = "≥"
    value = "" if part.value is None else f" {part.value:g}"
    return f"{kpi.rule} {op}{value}".strip() if op else kpi.rule


def test_seed_002_reference_section_fy2021_national_plan_and_5th_action_plan():
    fy2021 = require_catalogs(CATALOGS)[2021]
    national = fy2021.national
    assert (national.plan, national.status, national.title) == ("本部", "案", "令和3年度事業計画(案)")
    assert [(k.key, _rule(k)) for k in national.kpis] == [(key, fy) for key, _, fy in SEED_002_REFERENCE]
    assert [k.id for k in national.kpis] == [f"FY2021-00-{i:02d}" for i in range(1, 21)]
    by_key = {k.key: k for k in national.kpis}
    assert [k.key for k in national.kpis if k.scope == "association"] == ["health_declaration"]
    assert by_key["review_assessment_rate"].parts[0].measure == "review_assessment_rate_combined"  # 支払基金と合算
    assert by_key["receivable_collection"].parts[0].measure == "receivable_post_loss_collection_rate"  # 資格喪失後受診に係るものに限る
    assert by_key["service_standard"].parts[0].judgement_precision == "exact"
    assert by_key["postal_rate"].text == "② 現金給付等の申請に係る郵送化率を95%以上とする"
    assert fy2021.plan_for("33").status == "案" and len(fy2021.plan_for("33").kpis) == 18  # Okayama keeps its own plan
    assert {(e.kpi_id, e.branch_code, e.status) for e in fy2021.manual.values()} == {("FY2021-00-09", "00", "未入力"), ("FY2021-00-18", "00", "未入力")}

    plans = require_action_plans(CATALOGS)
    assert [(p.name, p.years, p.status) for p in plans] == [
        ("第5期保険者機能強化アクションプラン", (2021, 2022, 2023), "案"),
        ("第6期保険者機能強化アクションプラン", (2024, 2025, 2026), "案"),
    ]
    fifth, sixth = plans
    assert [(k.key, _rule(k)) for k in fifth.kpis] == [(key, ap) for key, ap, _ in SEED_002_REFERENCE]
    assert fifth.kpis[1].text == "② 現金給付等の申請に係る郵送化率を96%以上とする" and fifth.source.startswith("seed 002")
    assert [k.key for k in fifth.kpis_for("13")] == [k for k, _, _ in SEED_002_REFERENCE if k != "health_declaration"]
    assert sixth.kpis == () and sixth.source.startswith("seed 004")  # seed 004 names the 6th plan's KPI一覧 without its contents


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
    assert "FY2021: FY2021.yaml: 本部 00（KPI 20件、案）、支部 33（KPI 18件、案）" in out
    assert "FY2021〜FY2023: AP5.yaml: 第5期保険者機能強化アクションプラン（KPI 20件、案）" in out
    assert "FY2024〜FY2026: AP6.yaml: 第6期保険者機能強化アクションプラン（KPI 0件、案）" in out
    assert "✗" not in out
    shutil.copytree(CATALOGS, tmp_path / "plans")
    (tmp_path / "plans" / "FY2025_manual.yaml").write_text("entries:\n  - {kpi_id: NOPE, branch_code: '00', status: 達成}\n", encoding="utf-8")
    monkeypatch.setenv("KENPO_CATALOGS", str(tmp_path / "plans"))
    assert main(["catalog", "check"]) == 1
    assert "FY2025_manual.yaml: 1番目の入力（KPI NOPE）: kpi_id: FY2025.yaml に手入力（rule manual）のKPI 'NOPE' はありません" in capsys.readouterr().out


def test_action_plan_file_problems_are_named_and_stop_the_catalogs(tmp_path, capsys):
    shutil.copytree(CATALOGS, tmp_path / "plans")
    folder = tmp_path / "plans"
    text = (CATALOGS / "AP5.yaml").read_text(encoding="utf-8")
    (folder / "AP5.yaml").write_text(text.replace("last_fiscal_year: 2023", "last_fiscal_year: 2024").replace("value: 96\n", "vaule: 96\n"), encoding="utf-8")
    (folder / "AP7.yaml").write_text("name: 第7期\nstatus: 確定\nfirst_fiscal_year: 2027\nlast_fiscal_year: 2026\nkpis:\n"
                                      "  - {id: X, key: k, section: s, text: t, rule: manual}\n  - {id: X, key: k, section: s, text: t, rule: manual}\n",
                                      encoding="utf-8")
    plans, problems = load_action_plans(folder)
    assert problems == [
        "AP5.yaml: KPI AP5-02: value: rule absolute には数値の value（目標値）が必要です（なし）",
        "AP5.yaml: KPI AP5-02: vaule: この項目は使えません（書き間違いではありませんか）",
        "AP7.yaml: last_fiscal_year: 2026 は first_fiscal_year（2027）から6年度以内の年度ではありません",
        "AP7.yaml: KPI X: id: 重複しています",
        "AP7.yaml: KPI X: key: 'k' は同じ計画の KPI X が使っています",
    ]
    assert [p.path.name for p in plans] == ["AP6.yaml"]
    (folder / "AP5.yaml").write_text(text.replace("last_fiscal_year: 2023", "last_fiscal_year: 2024"), encoding="utf-8")
    (folder / "AP7.yaml").unlink()
    _, problems = load_catalogs(folder)  # the whole folder is checked: an Action Plan's problem stops the evaluation too
    assert problems == ["AP6.yaml: first_fiscal_year: 期間（FY2024〜FY2026）が AP5.yaml（第5期保険者機能強化アクションプラン）の期間と重なります"]
    assert main(["catalog", "check", str(folder)]) == 1
    assert "  ✗ AP6.yaml: first_fiscal_year: 期間（FY2024〜FY2026）が AP5.yaml" in capsys.readouterr().out


@pytest.mark.parametrize("content,problem", [
    (b"- a\n- b\n", "AP9.yaml: name、first_fiscal_year、last_fiscal_year と kpis を持つ「項目: 値」の形（マッピング）ではありません（リスト）"),
    ("name: 第9期\nstatus: 案\n".encode("cp932"), "AP9.yaml: 文字コードが UTF-8 ではありません（1行目）。CP932（Shift_JIS）で保存されているようです。UTF-8 で保存し直してください"),
    (b"name: &a x\n", "AP9.yaml: YAMLのアンカー・エイリアス（& と *）は使えません。同じ内容でもそれぞれの場所に書いてください（1行目 7列）"),
    (b"name: x\nstatus: \xe7\xa2\xba\xe5\xae\x9a\nfirst_fiscal_year: '2030'\nlast_fiscal_year: 2032\n",
     "AP9.yaml: first_fiscal_year: 年度（2024 のような2000〜2100の整数）ではありません（'2030'）"),
    (b"name: x\nstatus: \xe7\xa2\xba\xe5\xae\x9a\nfirst_fiscal_year: 2030\nlast_fiscal_year: 2032\nkpis: {id: a}\n",
     "AP9.yaml: kpis: 「- 」で始まる行の並び（リスト）ではありません（マッピング）"),
])
def test_a_broken_action_plan_file_is_a_problem_not_a_traceback(tmp_path, capsys, content, problem):
    (tmp_path / "AP9.yaml").write_bytes(content)
    _, problems = load_catalogs(tmp_path)
    assert problems == [problem]
    assert main(["catalog", "check", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"  ✗ {problem}" in out and "Traceback" not in out


def test_libyaml_reads_every_shipped_catalog_exactly_as_the_strict_loader():
    import yaml

    from kenpo_pipeline.domain.kpis.catalog import _FALLBACK, _CatalogLoader, _load_fast
    from kenpo_pipeline.settings import REPO_ROOT

    files = sorted((REPO_ROOT / "assets" / "catalogs").rglob("*.yaml"))
    assert len(files) > 10
    for path in files:
        text = path.read_text(encoding="utf-8")
        fast = _load_fast(text)
        assert fast is not _FALLBACK, path.name
        assert fast == yaml.load(text, Loader=_CatalogLoader), path.name  # noqa: S506


def test_what_libyaml_might_accept_differently_goes_to_the_strict_loader():
    from kenpo_pipeline.domain.kpis.catalog import _FALLBACK, MAX_NESTING, _load_fast

    assert _load_fast("a: &x 1\nb: *x\n") is _FALLBACK  # anchors and aliases: refused by the strict loader
    assert _load_fast("a: 1\na: 2\n") is _FALLBACK  # a duplicate key
    assert _load_fast("<<: {a: 1}\n") is _FALLBACK  # a merge key
    assert _load_fast("a: [1,\n") is _FALLBACK  # a syntax error: the strict loader says where
    assert _load_fast("a: \x07\n") is _FALLBACK  # a character PyYAML's reader refuses
    assert _load_fast("a: " + "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1) + "\n") is _FALLBACK
    assert _load_fast("fiscal_year: 2024\nplans: []\n") == {"fiscal_year": 2024, "plans": []}
