"""The workbooks as they print: the national and one branch workbook written by the real pipeline,
rendered to PDF by LibreOffice (A4, the workbook's own page set-up) and read back with pdftotext and
pdfinfo. LibreOffice, poppler-utils and the Calibri-metric font Carlito are installed by
``.ci/ensure-office`` (called by ``make test``), the CJK font by ``.ci/ensure-browser``."""

import math
import re
import shutil
import subprocess

import dagster as dg
import pytest
from openpyxl import load_workbook

from conftest import dagster_resources
from kenpo_pipeline.defs.incentive import incentive_ranking
from kenpo_pipeline.defs.reports import action_plan_view, pdca_workbooks
from kenpo_pipeline.domain.reporting.workbook import monthly_sheet
from kenpo_pipeline.warehouse.store import Warehouse

# One worker builds the pipeline and renders the two workbooks once; its tests read the PDFs.
pytestmark = pytest.mark.xdist_group("printing")

SCOPES = {"00": "pdca_FY2024.xlsx", "22": "pdca_FY2024_22.xlsx"}
TITLES = {"00": "令和6年度 KPI実績一覧表（協会全体）", "22": "令和6年度 KPI実績一覧表（静岡支部）"}
CONVERT_TIMEOUT = 900  # seconds: LibreOffice's first start on a busy 2-core machine is slow


def _tools() -> None:
    missing = [t for t in ("soffice", "pdftotext", "pdfinfo") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: run .ci/ensure-office (make test does)")


@pytest.fixture(scope="session")  # session, not module: a worker may run another module's tests in between
def printed(tmp_path_factory, sample_years_snapshot):
    """The sample years (conftest.build_sample_years: FY2023–FY2024 loaded and evaluated), the FY2024
    workbooks of 協会全体 and 静岡 written, then both converted to PDF in one LibreOffice run with a
    private profile (parallel runs do not share one)."""
    import shutil as files

    from kenpo_pipeline.settings import load_settings

    _tools()
    home = tmp_path_factory.mktemp("kenpo")
    files.copytree(sample_years_snapshot[0], home, dirs_exist_ok=True)
    settings = load_settings({"KENPO_HOME": str(home), "KENPO_LANDING_SETTLE_SECONDS": "0"})
    with dg.instance_for_test(temp_dir=str(home / "dagster")) as instance:
        dg.materialize([incentive_ranking, action_plan_view, pdca_workbooks], instance=instance, resources=dagster_resources(settings),
                       partition_key="2024", run_config={"ops": {"pdca_workbooks": {"config": {"branches": list(SCOPES)}}}})
    out = home / "pdf"
    profile = home / "lo-profile"
    books = [settings.reports / name for name in SCOPES.values()]
    run = subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{profile}", "--headless", "--norestore", "--convert-to", "pdf", "--outdir", str(out),
         *map(str, books)],
        capture_output=True, text=True, timeout=CONVERT_TIMEOUT,
    )
    pdfs = {code: out / name.replace(".xlsx", ".pdf") for code, name in SCOPES.items()}
    assert all(p.exists() for p in pdfs.values()), f"LibreOffice wrote no PDF: {run.stdout}\n{run.stderr}"
    return Warehouse(settings.warehouse_url), {code: settings.reports / name for code, name in SCOPES.items()}, pdfs


def page_count(pdf) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def pages(pdf, layout: bool = True) -> list[str]:
    """The text of each page (pdftotext separates pages with a form feed)."""
    args = ["pdftotext", *(["-layout"] if layout else []), str(pdf), "-"]
    text = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return text.split("\f")[: page_count(pdf)]


def sheet_of(page: str, names: list[str]) -> str:
    """The sheet a page belongs to: the page header's right-hand text (the header is the page's first line)."""
    first = next(line for line in page.splitlines() if line.strip())
    return next(n for n in names if first.rstrip().endswith(n))


def flat(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize("scope", list(SCOPES))
def test_every_page_has_the_header_and_footer(printed, scope):
    """Header: the workbook's title and the sheet; footer: 作成日時, データ基準月, 再計算 and 「N / M ページ」."""
    _, books, pdfs = printed
    texts = pages(pdfs[scope])
    n = len(texts)
    names = [ws.title for ws in load_workbook(books[scope]).worksheets if ws.sheet_state == "visible"]
    assert n >= len(names)
    seen = set()
    for i, page in enumerate(texts, start=1):
        lines = [line for line in page.splitlines() if line.strip()]
        header, footer = flat(lines[0]), flat(lines[-1])
        assert header.startswith(flat(TITLES[scope])), (i, lines[0])
        seen.add(sheet_of(page, names))
        assert re.search(r"作成日時：\d{4}-\d{2}-\d{2}\d{2}:\d{2}（日本時間）", footer), (i, lines[-1])
        assert f"{i}/{n}ページ" in footer, (i, lines[-1])
        assert "データ基準月：令和7年3月" in footer and "再計算（未公表）" in footer, (i, lines[-1])
    assert seen == set(names)  # every sheet printed, each page under its own sheet's name


@pytest.mark.parametrize("scope", list(SCOPES))
def test_the_kpi_table_prints_on_at_most_two_pages_in_japanese(printed, scope):
    wh, books, pdfs = printed
    texts = pages(pdfs[scope])
    names = [ws.title for ws in load_workbook(books[scope]).worksheets if ws.sheet_state == "visible"]
    kpi_pages = [t for t in texts if sheet_of(t, names) == "KPI実績一覧表"]
    evaluation = wh.read_table("pdca_evaluation", fiscal_year=2024, branch_code=scope)
    assert 5 < len(evaluation) <= 20 and 1 <= len(kpi_pages) <= 2
    text = flat("".join(kpi_pages))
    assert TITLES[scope].replace(" ", "") in text and "具体的施策" in text and "達成状況" in text  # Japanese, not tofu
    assert text.count("達成") >= (evaluation["status"].isin(["達成", "未達成"])).sum()


def test_every_kpi_rows_actual_is_printed_whole(printed):
    """Every actual of the KPI table is in the PDF whole (e.g. 148,467,435件 with its unit)."""
    wh, books, pdfs = printed
    for scope in SCOPES:
        names = [ws.title for ws in load_workbook(books[scope]).worksheets if ws.sheet_state == "visible"]
        raw = [t for t, laid in zip(pages(pdfs[scope], layout=False), pages(pdfs[scope])) if sheet_of(laid, names) == "KPI実績一覧表"]
        text = flat("".join(raw))
        evaluation = wh.read_table("pdca_evaluation", fiscal_year=2024, branch_code=scope)
        # a KPI judged on two measures prints one value per line (「51.3%、」 / 「278,441事業所」): each whole
        assert [a for a in evaluation["actual_text"] if any(flat(part) not in text for part in str(a).split("、"))] == []


@pytest.mark.parametrize("scope", list(SCOPES))
def test_monthly_charts_are_never_split(printed, scope):
    """月次推移 prints on exactly the pages of its grid (one per manual break, plus one): no chart
    is cut by an automatic break and nothing spills to the right. Each chart lies within its page's
    rows, and each page shows the wording of its own KPIs."""
    wh, books, pdfs = printed
    wb = load_workbook(books[scope])
    ws = wb[monthly_sheet.TITLE]
    breaks = sorted(b.id for b in ws.row_breaks.brk)
    expected = len(breaks) + 1
    charts = len(ws._charts)
    evaluation = wh.read_table("pdca_evaluation", fiscal_year=2024, branch_code=scope)
    assert charts == (evaluation["measure"].fillna("") != "").sum() > 5
    assert math.ceil(charts / monthly_sheet.PER_PAGE) <= expected <= charts  # two to a page, one where the wording is long
    bounds = [0, *breaks, ws.max_row]  # page k holds rows bounds[k]+1 … bounds[k+1]
    for chart in ws._charts:
        top = chart.anchor._from.row + 1  # 1-based
        height_pt = chart.anchor.ext.height / 12700  # EMU → points (as read back, the anchor holds the size)
        rows, bottom = 0.0, top
        while rows < height_pt:
            rows += ws.row_dimensions[bottom].height or 15
            bottom += 1
        page = next(k for k in range(len(bounds) - 1) if bounds[k] < top <= bounds[k + 1])
        assert bottom - 1 <= bounds[page + 1], f"chart at row {top} runs past its page's last row {bounds[page + 1]}"
    names = [s.title for s in wb.worksheets if s.sheet_state == "visible"]
    texts = [t for t in pages(pdfs[scope]) if sheet_of(t, names) == monthly_sheet.TITLE]
    assert len(texts) == expected
    titles = [(r, ws.cell(r, 1).value) for r in range(2, ws.max_row + 1) if ws.cell(r, 1).font.bold and ws.cell(r, 1).value]
    for r, title in titles:
        page = next(k for k in range(len(bounds) - 1) if bounds[k] < r <= bounds[k + 1])
        assert flat(title)[:12] in flat(texts[page]), (r, title)


def test_national_generic_kpi_charts_the_count_of_branches(printed):
    """「全支部で80%以上」 is judged on a count of branches: its chart plots the branches achieving
    against the 47, and the count in March is the KPI sheet's."""
    wh, books, pdfs = printed
    ws = load_workbook(books["00"])[monthly_sheet.TITLE]
    generic = wh.read_table("pdca_evaluation", fiscal_year=2024, branch_code="00").set_index("kpi_key").loc["generic"]
    row = next(r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value == generic["kpi_text"])
    assert [ws.cell(row + 1, c).value for c in (1, 2, 3)] == ["月", "達成支部数（支部）", "目標"]
    march = row + 1 + 12
    assert ws.cell(march, 1).value == "3月" and f"{int(ws.cell(march, 2).value)}支部" == generic["actual_text"]
    assert ws.cell(march, 3).value == 47
    assert flat("達成支部数（支部）") in flat("".join(pages(pdfs["00"])))
