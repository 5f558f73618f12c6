"""Catalogs at the edges (issue 10, class 6): `kenpo catalog check` never crashes, whatever the file
holds; every problem is one Japanese sentence naming the file, the plan or KPI and the field; the
evaluation runs the same validation first and fails with those sentences, never a traceback.

Each case named in the issue is reproduced from the shipped FY2024 catalog with one change; a
property test then feeds random bytes, random YAML structures and random edits of the shipped
catalog to the checker and to the CLI.
"""

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import dagster_resources
from kenpo_pipeline.cli import main
from kenpo_pipeline.domain.kpis.catalog import CatalogError, load_catalogs, require_catalogs
from kenpo_pipeline.domain.kpis.judgement import evaluate
from kenpo_pipeline.settings import ASSETS_DIR

CATALOGS = ASSETS_DIR / "catalogs"
SHIPPED = (CATALOGS / "FY2024.yaml").read_text(encoding="utf-8")
KPI_07 = "KPI FY2024-00-07"  # 生活習慣病予防健診実施率を61.7%以上とする (absolute, value 61.7)
NO_ACTUALS = pd.DataFrame(columns=["fiscal_year", "as_of_month", "branch_code", "measure", "value", "numerator", "denominator", "months_covered", "complete"])


def variant(old: str, new: str, text: str = SHIPPED) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


BELL_IN_TEXT = variant("text: 生活習慣病予防健診実施率を61.7%以上とする", 'text: "生活習慣病予防健診実施率を61.7%以上とする\\x07"')


def check(folder: Path, name: str, content: str | bytes) -> list[str]:
    """Write one catalog file into an empty folder and return the problems found."""
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    catalogs, problems = load_catalogs(folder)
    assert all(isinstance(p, str) and p.startswith("FY20") for p in problems)
    if problems:
        assert 2024 not in catalogs  # a catalog with a problem is never used
        with pytest.raises(CatalogError):
            require_catalogs(folder)
    return problems


CASES = {
    # encoding
    "cp932": (SHIPPED.encode("cp932"), "FY2024.yaml: 文字コードが UTF-8 ではありません（1行目）。CP932（Shift_JIS）で保存されているようです。UTF-8 で保存し直してください"),
    "latin1": ("fiscal_year: 2024\n# caf\xe9\n".encode("latin-1"), "FY2024.yaml: 文字コードが UTF-8 ではありません（2行目）"),
    # structure
    "plan not a mapping": (variant("plans:\n", "plans:\n  - 本部の計画\n"), "FY2024.yaml: 1番目の計画: 「項目: 値」の形（マッピング）ではありません（'本部の計画'）"),
    "KPI not a mapping": (variant("    kpis:\n", "    kpis:\n      - 生活習慣病予防健診\n"), "FY2024.yaml: 計画 00 の1番目のKPI: 「項目: 値」の形（マッピング）ではありません（'生活習慣病予防健診'）"),
    "part not a mapping": (variant("          - {measure: committee_offices, rule: prior_year, op: \">=\"}", "          - committee_offices"),
                           "FY2024.yaml: KPI FY2024-00-17: parts[2]: 「項目: 値」の形（マッピング）ではありません（'committee_offices'）"),
    "plans not a list": ("fiscal_year: 2024\nplans: 本部\n", "FY2024.yaml: plans: 「- 」で始まる行の並び（リスト）ではありません（'本部'）"),
    "kpis a mapping": ("fiscal_year: 2024\nplans:\n  - {branch_code: '00', plan: 本部, status: 確定, kpis: {id: x}}\n",
                       "FY2024.yaml: 計画 00: kpis: 「- 」で始まる行の並び（リスト）ではありません（マッピング）"),
    "top-level list": ("- fiscal_year: 2024\n", "FY2024.yaml: fiscal_year と plans を持つ「項目: 値」の形（マッピング）ではありません（リスト）"),
    "empty file": ("", "FY2024.yaml: fiscal_year と plans を持つ「項目: 値」の形（マッピング）ではありません（なし）"),
    "non-text key": (variant("        value: 61.7\n", "        value: 61.7\n        1: x\n"), f"FY2024.yaml: {KPI_07}: 1: 項目名が文字列ではありません"),
    "unknown field": (variant("        value: 61.7\n", "        vaule: 61.7\n"), f"FY2024.yaml: {KPI_07}: vaule: この項目は使えません（書き間違いではありませんか）"),
    "missing field": (variant("        text: 生活習慣病予防健診実施率を61.7%以上とする\n", ""), f"FY2024.yaml: {KPI_07}: text: 必須の項目がありません"),
    "empty text": (variant("text: 生活習慣病予防健診実施率を61.7%以上とする", "text: ''"), f"FY2024.yaml: {KPI_07}: text: 空です"),
    # numbers
    "nan": (variant("value: 61.7", "value: .nan"), f"FY2024.yaml: {KPI_07}: value: 数値ではありません（.nan）"),
    "inf": (variant("value: 61.7", "value: .inf"), f"FY2024.yaml: {KPI_07}: value: 数値ではありません（.inf）"),
    "overflowing float": (variant("value: 61.7", "value: 1.0e+400"), f"FY2024.yaml: {KPI_07}: value: 数値ではありません（.inf）"),
    "huge integer": (variant("value: 61.7", "value: " + "9" * 40), f"FY2024.yaml: {KPI_07}: value: 数値が大きすぎます（" + "9" * 40 + "）"),
    "integer of 5,000 digits": (variant("value: 61.7", "value: " + "9" * 5000), "FY2024.yaml: YAMLとして読めない値があります"),
    "quoted number": (variant("value: 61.7", "value: '61.7'"), f"FY2024.yaml: {KPI_07}: value: 数値ではありません（'61.7'）"),
    "boolean number": (variant("value: 61.7", "value: yes"), f"FY2024.yaml: {KPI_07}: value: 数値ではありません（true）"),
    "date as number": (variant("value: 61.7", "value: 2024-04-01"), f"FY2024.yaml: {KPI_07}: value: 数値ではありません（日付 2024-04-01）"),
    "impossible date": (variant("value: 61.7", "value: 2024-13-45"), "FY2024.yaml: YAMLとして読めない値があります（month must be in 1..12）"),
    "nan baseline": (variant("value: 61.7", "value: 61.7\n        baseline: -.inf"), f"FY2024.yaml: {KPI_07}: baseline: 数値ではありません（-.inf）"),
    "precision out of range": (variant("value: 61.7", "value: 61.7\n        display_precision: 400"),
                               f"FY2024.yaml: {KPI_07}: display_precision: 小数点以下の桁数（0〜6）ではありません（400）"),
    "judgement precision": (variant("judgement_precision: exact", "judgement_precision: exactly"),
                            "FY2024.yaml: KPI FY2024-00-01: judgement_precision: 小数点以下の桁数（0〜6）または exact ではありません（'exactly'）"),
    "boolean count": ("fiscal_year: 2024\nplans:\n  - branch_code: '00'\n    plan: 本部\n    status: 確定\n    kpis:\n"
                      "      - {id: k, key: k, section: s, text: t, measure: single_bid_rate, rule: small_count, op: '<=', value: 20, small_threshold: true, small_max_count: 1}\n",
                      "FY2024.yaml: KPI k: small_threshold: 0以上の整数ではありません（true）"),
    "fiscal year": (variant("fiscal_year: 2024", "fiscal_year: 2023"), "FY2024.yaml: fiscal_year: 2023 がファイル名（FY2024）と一致しません"),
    "fiscal year text": (variant("fiscal_year: 2024", "fiscal_year: 令和6年度"), "FY2024.yaml: fiscal_year: 年度（2024 のような2000〜2100の整数）ではありません（'令和6年度'）"),
    "branch code number": (variant('branch_code: "04"', "branch_code: 04"), "FY2024.yaml: 2番目の計画: branch_code: 4 は文字列ではありません。\"04\" のように引用符で囲んだ2桁で書いてください"),
    "本部 plan of a branch": (variant('branch_code: "04"\n    plan: 支部', 'branch_code: "04"\n    plan: 本部'),
                            "FY2024.yaml: 計画 04: plan: 本部の計画は branch_code \"00\"、支部の計画は \"01\"〜\"47\" です"),
    "judgement month": (variant("value: 61.7", "value: 61.7\n        judgement_month: 13"), f"FY2024.yaml: {KPI_07}: judgement_month: 月（\"03\" のような01〜12）ではありません（13）"),
    "parts without all_of": (variant("value: 61.7", "value: 61.7\n        parts: []"), f"FY2024.yaml: {KPI_07}: parts: parts は rule all_of のときだけ書きます"),
    # texts
    "control character in a KPI text": (BELL_IN_TEXT,
                                         f"FY2024.yaml: {KPI_07}: text: 制御文字など使えない文字（U+0007）が含まれています。取り除いてください"),
    "NUL in a section": (variant("section: 2. 戦略的保険者機能の一層の発揮 Ⅱ）健康づくり ②特定健診実施率・事業者健診データ取得率等の向上\n        text: 生活習慣病",
                                 'section: "Ⅱ）健康づくり\\0"\n        text: 生活習慣病'),
                         f"FY2024.yaml: {KPI_07}: section: 制御文字など使えない文字（U+0000）が含まれています。取り除いてください"),
    "newline in a target text": (variant("target_text: 100%", 'target_text: "100%\\n以上"'),
                                 "FY2024.yaml: KPI FY2024-00-01: target_text: 改行（U+000A）が含まれています。1行で書いてください"),
    "escape in a title": (variant("title: 令和6年度 全国健康保険協会事業計画（案）", 'title: "令和6年度\\e[31m"'),
                          "FY2024.yaml: 計画 00: title: 制御文字など使えない文字（U+001B）が含まれています。取り除いてください"),
    "lone surrogate in a reference": (variant("reference: 56.4%", 'reference: "\\uD800"'),
                                      f"FY2024.yaml: {KPI_07}: reference: 制御文字など使えない文字（U+D800）が含まれています。取り除いてください"),
    "list as text": (variant("text: 生活習慣病予防健診実施率を61.7%以上とする", "text: [a, b]"), f"FY2024.yaml: {KPI_07}: text: 文字列ではありません（リスト）"),
    "raw control character": (variant("以上とする\n", "以上とする\x07\n"), "FY2024.yaml: 制御文字など使えない文字（U+0007）が含まれています（"),
    # YAML constructs
    "billion laughs": ("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\nfiscal_year: 2024\nplans: [*d]\n",
                       "FY2024.yaml: YAMLのアンカー・エイリアス（& と *）は使えません。同じ内容でもそれぞれの場所に書いてください（1行目 4列）"),
    "alias of a KPI": (variant("      - id: FY2024-00-07\n", "      - &seven\n        id: FY2024-00-07\n"), "FY2024.yaml: YAMLのアンカー・エイリアス（& と *）は使えません"),
    "merge key": (variant("        value: 61.7\n", "        value: 61.7\n        <<: {op: '>='}\n"), "FY2024.yaml: YAMLのマージキー（<<）は使えません"),
    "duplicate top-level key": (variant("fiscal_year: 2024\n", "fiscal_year: 2024\nfiscal_year: 2025\n"), "FY2024.yaml: 同じ項目 'fiscal_year' が同じ場所に2回書かれています（11行目 1列）"),
    "duplicate KPI key": (variant("        value: 61.7\n", "        value: 61.7\n        value: 6.17\n"), "FY2024.yaml: 同じ項目 'value' が同じ場所に2回書かれています（"),
    "deep nesting": ("fiscal_year: 2024\nplans: " + "[" * 5000 + "]" * 5000 + "\n", "FY2024.yaml: 入れ子が深すぎます（20段まで）"),
    "syntax error": (variant("        value: 61.7\n", "        value: 61.7\n      op: [\n"), "FY2024.yaml: YAMLとして読めません（85行目 7列）: 字下げが揃っていません"),
    "unclosed quote": (variant("value: 61.7", "value: '61.7"), "FY2024.yaml: YAMLとして読めません（84行目 16列）: 引用符が閉じていません"),
    "tab indentation": (variant("        value: 61.7\n", "\tvalue: 61.7\n"), "FY2024.yaml: YAMLとして読めません（84行目 1列）: ここで使えない文字（タブ、@、` など）があります（字下げは半角スペース）"),
    "python tag": (variant("value: 61.7", "value: !!python/object/apply:os.system ['true']"),
                   "FY2024.yaml: YAMLとして読めません（84行目 16列）: 使えないタグ（! で始まる指定）があります"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_problem_is_one_japanese_sentence_naming_file_kpi_and_field(tmp_path, case):
    content, expected = CASES[case]
    problems = check(tmp_path / "catalogs", "FY2024.yaml", content)
    assert any(p.startswith(expected) for p in problems), problems
    for p in problems:
        assert "\n" not in p and "Traceback" not in p and "Error" not in p


def test_a_utf8_file_with_a_byte_order_mark_is_read(tmp_path):
    assert check(tmp_path / "catalogs", "FY2024.yaml", b"\xef\xbb\xbf" + SHIPPED.encode("utf-8")) == []


def test_a_file_too_large_to_be_a_catalog_is_refused_before_reading(tmp_path):
    problems = check(tmp_path / "catalogs", "FY2024.yaml", SHIPPED + "#" * (6 * 1024 * 1024) + "\n")
    assert problems == [f"FY2024.yaml: ファイルが大きすぎます（{len(SHIPPED.encode()) + 6 * 1024 * 1024 + 1:,}バイト。カタログは5MBまで）"]


def test_every_problem_of_a_file_is_listed_at_once(tmp_path):
    text = variant("value: 61.7", "value: .nan")
    text = variant("text: 一般競争入札に占める一者応札案件の割合について、15%以下とする", 'text: "\\x01"', text)
    text = variant('branch_code: "04"', 'branch_code: "48"', text)
    problems = check(tmp_path / "catalogs", "FY2024.yaml", text)
    assert problems == [
        f"FY2024.yaml: {KPI_07}: value: 数値ではありません（.nan）",
        "FY2024.yaml: KPI FY2024-00-18: text: 制御文字など使えない文字（U+0001）が含まれています。取り除いてください",
        "FY2024.yaml: 計画 48: branch_code: '48' は 00〜47 ではありません",
    ]


MANUAL_CASES = {
    "cp932": ("entries:\n  - {kpi_id: FY2025-00-18, branch_code: '00', status: 達成, actual_text: 実施済み}\n".encode("cp932"),
              "FY2025_manual.yaml: 文字コードが UTF-8 ではありません（2行目）。CP932（Shift_JIS）で保存されているようです。"),
    "entry not a mapping": ("entries:\n  - FY2025-00-18 達成\n", "FY2025_manual.yaml: 1番目の入力（KPI ?）: 「項目: 値」の形（マッピング）ではありません（'FY2025-00-18 達成'）"),
    "entries not a list": ("entries: 達成\n", "FY2025_manual.yaml: entries: 「- 」で始まる行の並び（リスト）ではありません（'達成'）"),
    "not a mapping": ("- 達成\n", "FY2025_manual.yaml: entries を持つ「項目: 値」の形（マッピング）ではありません（リスト）"),
    "status": ("entries:\n  - {kpi_id: FY2025-00-18, branch_code: '00', status: 済}\n",
               "FY2025_manual.yaml: 1番目の入力（KPI FY2025-00-18）: status: '済' は 達成、未達成、未入力 のいずれでもありません"),
    "control character": ("entries:\n  - {kpi_id: FY2025-00-18, branch_code: '00', status: 達成, evidence: \"a\\x1fb\"}\n",
                          "FY2025_manual.yaml: 1番目の入力（KPI FY2025-00-18）: evidence: 制御文字など使えない文字（U+001F）"),
    "number as text": ("entries:\n  - {kpi_id: FY2025-00-18, branch_code: '00', status: 達成, actual_text: .nan}\n",
                       "FY2025_manual.yaml: 1番目の入力（KPI FY2025-00-18）: actual_text: 文字列ではありません（.nan）"),
    "duplicate entry": ("entries:\n  - {kpi_id: FY2025-00-18, branch_code: '00', status: 達成}\n  - {kpi_id: FY2025-00-18, branch_code: '00', status: 未達成}\n",
                        "FY2025_manual.yaml: 2番目の入力（KPI FY2025-00-18）: 同じKPI・支部（00）の入力がすでにあります"),
    "duplicate key": ("entries:\n  - kpi_id: FY2025-00-18\n    kpi_id: FY2025-00-17\n", "FY2025_manual.yaml: 同じ項目 'kpi_id' が同じ場所に2回書かれています（3行目 5列）"),
    "alias": ("x: &e {kpi_id: FY2025-00-18, branch_code: '00', status: 達成}\nentries: [*e]\n", "FY2025_manual.yaml: YAMLのアンカー・エイリアス"),
}


@pytest.mark.parametrize("case", list(MANUAL_CASES))
def test_manual_entries_problems(tmp_path, case):
    content, expected = MANUAL_CASES[case]
    folder = tmp_path / "catalogs"
    folder.mkdir()
    shutil.copy(CATALOGS / "FY2025.yaml", folder)
    problems = check(folder, "FY2025_manual.yaml", content)
    assert any(p.startswith(expected) for p in problems), problems
    assert all(p.startswith("FY2025_manual.yaml: ") for p in problems)


def test_manual_entries_are_checked_even_when_the_catalog_has_problems(tmp_path):
    folder = tmp_path / "catalogs"
    folder.mkdir()
    (folder / "FY2025.yaml").write_text(variant("fiscal_year: 2025", "fiscal_year: 2025\nnote: x", (CATALOGS / "FY2025.yaml").read_text(encoding="utf-8")), encoding="utf-8")
    (folder / "FY2025_manual.yaml").write_text("entries:\n  - {kpi_id: FY2025-00-17, branch_code: '00', status: 達成}\n", encoding="utf-8")
    _, problems = load_catalogs(folder)
    assert problems == [
        "FY2025.yaml: note: この項目は使えません（書き間違いではありませんか）",
        "FY2025_manual.yaml: 1番目の入力（KPI FY2025-00-17）: kpi_id: FY2025.yaml に手入力（rule manual）のKPI 'FY2025-00-17' はありません",
    ]


def test_the_cli_lists_the_problems_in_japanese_and_exits_1(tmp_path):
    """The command as a planner runs it, in its own process: no traceback, exit 1, the sentences."""
    folder = tmp_path / "catalogs"
    folder.mkdir()
    (folder / "FY2024.yaml").write_bytes(SHIPPED.encode("cp932"))
    (folder / "FY2025.yaml").write_text(variant("fiscal_year: 2025\n", "fiscal_year: 2025\nplans: []\n", "fiscal_year: 2025\n"), encoding="utf-8")
    (folder / "FY2023.yaml").write_text("fiscal_year: 2023\nplans:\n  - 静岡支部\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "kenpo_pipeline", "catalog", "check", str(folder)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and done.stderr == ""
    assert done.stdout.splitlines() == [
        "FY2025: FY2025.yaml: ",
        "  ✗ FY2023.yaml: 1番目の計画: 「項目: 値」の形（マッピング）ではありません（'静岡支部'）",
        "  ✗ FY2024.yaml: 文字コードが UTF-8 ではありません（1行目）。CP932（Shift_JIS）で保存されているようです。UTF-8 で保存し直してください",
        f"{folder} のカタログに問題が 2 件あります。",
    ]


# -- the property: nothing crashes the checker ------------------------------------------------------

FIELDS = ["fiscal_year", "plans", "branch_code", "plan", "title", "source", "status", "kpis", "id", "key", "section", "text",
          "scope", "measure", "rule", "op", "value", "baseline", "target_text", "reference", "display_precision",
          "judgement_precision", "judgement_month", "parts", "small_threshold", "small_max_count", "expected_tenders",
          "entries", "kpi_id", "actual_text", "evidence"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**400), max_value=10**400), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20), st.sampled_from(["00", "04", "48", "本部", "支部", "確定", "案", "absolute", "all_of", "small_count", "manual",
                                            "prior_year", ">=", "<=", "exact", "per_branch", "postal_rate", "達成", "未入力", "03"]),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 1, 1)),
)
structures = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=5), st.integers()), children, max_size=6)),
    max_leaves=30,
)
catalog_shaped = st.fixed_dictionaries(
    {"fiscal_year": st.one_of(st.just(2024), scalars),
     "plans": st.lists(st.fixed_dictionaries({"branch_code": st.one_of(st.just("00"), scalars), "plan": st.one_of(st.just("本部"), scalars),
                                              "status": st.one_of(st.just("確定"), scalars),
                                              "kpis": st.lists(st.dictionaries(st.sampled_from(FIELDS), structures, max_size=12), max_size=3)},
                                             optional={"title": structures}), max_size=2)},
    optional={"note": structures},
)


def dumped(data) -> str:
    try:
        return yaml.safe_dump(data, allow_unicode=True)
    except Exception:  # noqa: BLE001 - a structure PyYAML cannot write (e.g. a lone surrogate): write its repr instead
        return repr(data)


edits = st.lists(
    st.tuples(st.integers(min_value=0, max_value=len(SHIPPED)), st.integers(min_value=0, max_value=8),
              st.text(alphabet=st.sampled_from(list(":-[]{}&*!|>'\"#%@`,? \n\t0123456789.naife\\x\x07<")), max_size=6)),
    min_size=1, max_size=3,
)


def edited(changes) -> str:
    text = SHIPPED
    for at, cut, insert in changes:
        text = text[:at] + insert + text[at + cut:]
    return text


def assert_checked(folder: Path, name: str, data: bytes) -> None:
    for f in folder.glob("*"):
        f.unlink()
    (folder / name).write_bytes(data)
    catalogs, problems = load_catalogs(folder)
    assert isinstance(catalogs, dict) and isinstance(problems, list)
    assert all(isinstance(p, str) and p.startswith(("FY2024.yaml: ", "FY2024_manual.yaml: ")) and "\n" not in p for p in problems), problems
    if not problems:  # a catalog that passes the check can be evaluated
        for fy, catalog in catalogs.items():
            table, _ = evaluate(fy, catalog, NO_ACTUALS, None, f"{fy + 1}-03")
            assert set(table["status"]) <= {"達成", "未達成", "判定不能"}


SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])


@SETTINGS
@given(data=st.one_of(st.binary(max_size=400), st.builds(lambda s: s.encode("utf-8", "surrogatepass"), st.text(max_size=200))))
def test_random_bytes_never_crash_the_checker(tmp_path, data):
    assert_checked(tmp_path, "FY2024.yaml", data)


@SETTINGS
@given(data=st.one_of(structures, catalog_shaped))
def test_random_yaml_structures_never_crash_the_checker(tmp_path, data):
    assert_checked(tmp_path, "FY2024.yaml", dumped(data).encode("utf-8", "surrogatepass"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(changes=edits)
def test_random_edits_of_the_shipped_catalog_never_crash_the_checker_or_the_evaluation(tmp_path, changes):
    assert_checked(tmp_path, "FY2024.yaml", edited(changes).encode("utf-8", "surrogatepass"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.one_of(structures, st.fixed_dictionaries({"entries": st.lists(st.dictionaries(st.sampled_from(FIELDS), structures, max_size=6), max_size=3)})))
def test_random_manual_entries_never_crash_the_checker(tmp_path, data):
    (tmp_path / "FY2024.yaml").write_text(SHIPPED, encoding="utf-8")
    (tmp_path / "FY2024_manual.yaml").write_bytes(dumped(data).encode("utf-8", "surrogatepass"))
    catalogs, problems = load_catalogs(tmp_path)
    assert all(isinstance(p, str) and p.startswith("FY2024_manual.yaml: ") and "\n" not in p for p in problems), problems
    assert (2024 in catalogs) == (not problems)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=200), st.builds(dumped, catalog_shaped).map(lambda s: s.encode("utf-8", "surrogatepass"))))
def test_kenpo_catalog_check_exits_0_or_1_on_anything(tmp_path, capsys, data):
    folder = tmp_path / "c"
    folder.mkdir(exist_ok=True)
    (folder / "FY2024.yaml").write_bytes(data)
    assert main(["catalog", "check", str(folder)]) in (0, 1)
    out = capsys.readouterr().out
    assert out.endswith(("カタログに問題はありません。\n", "件あります。\n"))


# -- the evaluation refuses a broken catalog with the same sentences --------------------------------


@pytest.mark.warehouse
@pytest.mark.parametrize("asset", ["pdca_evaluation", "pdca_workbooks", "action_plan_view"])
def test_a_broken_catalog_fails_the_run_with_the_problems_in_japanese(kenpo_env, dagster_instance, monkeypatch, tmp_path, asset):
    from kenpo_pipeline.defs.evaluation import pdca_evaluation
    from kenpo_pipeline.defs.reports import action_plan_view, pdca_workbooks
    from kenpo_pipeline.settings import load_settings

    folder = tmp_path / "plans"
    shutil.copytree(CATALOGS, folder)
    (folder / "FY2024.yaml").write_text(variant("value: 61.7", "value: .nan"), encoding="utf-8")
    (folder / "FY2025_manual.yaml").write_bytes((CATALOGS / "FY2025_manual.yaml").read_text(encoding="utf-8").encode("cp932"))
    monkeypatch.setenv("KENPO_CATALOGS", str(folder))
    settings_ = load_settings()
    assets = {"pdca_evaluation": pdca_evaluation, "pdca_workbooks": pdca_workbooks, "action_plan_view": action_plan_view}
    partition = {} if asset == "action_plan_view" else {"partition_key": "2024"}
    result = dg.materialize([assets[asset]], instance=dagster_instance, resources=dagster_resources(settings_), raise_on_error=False, **partition)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert len(failures) == 1
    data = failures[0].event_specific_data
    expected = [f"FY2024.yaml: {KPI_07}: value: 数値ではありません（.nan）",
                "FY2025_manual.yaml: 文字コードが UTF-8 ではありません（1行目）。CP932（Shift_JIS）で保存されているようです。UTF-8 で保存し直してください"]
    description = data.user_failure_data.description
    first_line = description.splitlines()[0]
    assert first_line.startswith("KPIカタログに問題が 2 件あるため実行できません（") and all(p in first_line for p in expected)
    assert data.error.message.strip().splitlines()[0].endswith(first_line)  # what `kenpo run` / `kenpo report` print
    assert "Traceback" not in description and "File \"" not in data.error.message
    assert data.error.cause is None  # no chained CatalogError traceback under it
    problems_md = data.user_failure_data.metadata["problems"].value
    assert "数値ではありません（\\.nan）" in problems_md
    assert len(dagster_instance.get_runs()) == 1  # not retried
    assert not list(settings_.reports.glob("*.xlsx"))


def test_kenpo_report_prints_the_catalog_problem(kenpo_env, monkeypatch, tmp_path, capsys):
    folder = tmp_path / "plans"
    shutil.copytree(CATALOGS, folder)
    (folder / "FY2024.yaml").write_text(BELL_IN_TEXT, encoding="utf-8")
    monkeypatch.setenv("KENPO_CATALOGS", str(folder))
    assert main(["report", "--fiscal-year", "2024", "--branch", "00"]) == 1
    err = capsys.readouterr().err
    assert f"KPIカタログに問題が 1 件あるため実行できません（{folder}。" in err
    assert f"FY2024.yaml: {KPI_07}: text: 制御文字など使えない文字（U+0007）が含まれています。取り除いてください" in err
    assert "Traceback" not in err
