"""Text that reaches the UI or a workbook stays text (issue 10, class 7).

- Markdown metadata: a feed cell ``![a](http://host/x)`` once reached the UI's Markdown (preview,
  quarantine lists) and made the operator's browser fetch the URL. Every ``MetadataValue.md`` now
  goes through ``domain/reporting/markdown.py``. Proved with a CommonMark renderer (markdown-it-py) on the
  helper, on the metadata a real month's load leaves in a real Dagster instance, and in a real
  browser: the Dagster UI opens that metadata while a local HTTP server counts requests to the
  address in the feed's cells; there must be none.
- Workbooks: text beginning with ``=``, ``+``, ``-``, ``@``, tab or CR carries Excel's quote prefix,
  and characters a worksheet cannot hold are replaced visibly instead of crashing the write.
"""

import csv
import html
import io
import os
import re
import shutil
import signal
import subprocess
import threading
import unicodedata
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from openpyxl import Workbook, load_workbook

from conftest import dagster_resources
from test_ui_browser import BIN, CHROMIUM, CHROMIUM_ARGS, Servers, _free_port, _open, _wait
from kenpo_pipeline.domain.reporting import markdown
from kenpo_pipeline.domain.reporting.workbook import put_text

RENDERER = MarkdownIt("commonmark").enable("table")  # what a GitHub-flavoured renderer does with tables


def rendered(md: str) -> str:
    return RENDERER.render(md)


def visible_text(html_text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", html_text)).replace(markdown.WORD_JOINER, "")


def only_table_and_text_tags(html_text: str) -> bool:
    tags = {t.lower() for t in re.findall(r"</?([a-zA-Z0-9]+)", html_text)}
    return tags <= {"table", "thead", "tbody", "tr", "th", "td", "p", "ul", "li", "em"}


PAYLOADS = [
    "![a](http://127.0.0.1:9/x)",
    '<img src="http://127.0.0.1:9/y">',
    "| x |",
    "<script>alert(1)</script>",
    "[link](javascript:alert(1))",
    "**bold** _it_ `code` ~~s~~",
    "# heading",
    "> quote",
    "1. item",
    "- item",
    "line\nbreak\r\nand\ttab",
    "back\\slash \\| \\*",
    "&amp; &lt;b&gt;",
    "<http://127.0.0.1:9/auto>",
    "www.example.com http://127.0.0.1:9/bare",
    "[ref]: http://127.0.0.1:9/ref",
    "x\x00y\x1b[31m\u202eevil\u200b",
]


def literal(text: str) -> str:
    """What a reader sees of ``text`` in a cell: controls and line breaks as spaces, spaces collapsed."""
    return " ".join("".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") else c for c in text).split())


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_table_cell_renders_as_its_literal_text(payload):
    out = rendered(markdown.table(pd.DataFrame({"値": [payload], payload: ["ok"]})))
    assert only_table_and_text_tags(out), out
    cells = [literal(visible_text(c)) for c in re.findall(r"<t[dh]>(.*?)</t[dh]>", out, re.S)]
    assert cells == ["値", literal(payload), literal(payload), "ok"]  # `|` split no cell, nothing became markup


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_bullet_renders_as_its_literal_text(payload):
    out = rendered(markdown.bullets([payload, "次"]))
    assert only_table_and_text_tags(out), out
    items = [literal(visible_text(i)) for i in re.findall(r"<li>(.*?)</li>", out, re.S)]
    assert items == [literal(payload), "次"]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=markdown.MAX_CELL_CHARS), st.text(max_size=10))
def test_any_text_renders_literally_in_one_cell(text, header):
    out = rendered(markdown.table(pd.DataFrame({"a": [text], "b": [header]})))
    assert only_table_and_text_tags(out), out
    cells = [literal(visible_text(c)) for c in re.findall(r"<td>(.*?)</td>", out, re.S)]
    assert cells == [literal(text), literal(header)]


def test_cells_rows_and_items_are_capped():
    long = "あ" * 5000
    md = markdown.table(pd.DataFrame({"c": [long] * 500}))
    assert len(md) < 60_000 and md.count("\n") == 2 + markdown.MAX_ROWS + 1  # header, rule, rows, blank line, note
    assert md.endswith("…ほか 300 行") and ("あ" * markdown.MAX_CELL_CHARS + "…") in md and "あ" * (markdown.MAX_CELL_CHARS + 1) not in md
    assert markdown.bullets(range(5), max_items=2) == "- 0\n- 1\n- …ほか 3 件"
    assert markdown.table(pd.DataFrame()) == "_(なし)_" and markdown.bullets([]) == "_(なし)_"


def test_numbers_missing_values_and_the_index():
    frame = pd.DataFrame({"件数": [3.0, None], "率": [61.7, 1.5]}, index=pd.Index(["本部", "支部"], name="plan"))
    assert markdown.table(frame, index=True) == "| plan | 件数 | 率 |\n|---|---|---|\n| 本部 | 3 | 61\\.7 |\n| 支部 |  | 1\\.5 |"


def test_catalog_texts_in_the_evaluation_tables_are_escaped():
    from kenpo_pipeline.domain.reporting.presentation import branch_matrix_markdown, evaluation_markdown

    row = {"branch_code": "00", "kpi_order": 1, "kpi_key": "![k](http://127.0.0.1:9/k)", "section": "<img src=http://127.0.0.1:9/s>",
           "kpi_text": "![t](http://127.0.0.1:9/t)", "target_text": "| 60% |", "actual_text": "=1+1", "status": "達成",
           "prior_year_text": "", "reason": "[r](http://127.0.0.1:9/r)"}
    table = pd.DataFrame([row, {**row, "branch_code": "04"}])
    for md in (evaluation_markdown(table), branch_matrix_markdown(table)):
        out = rendered(md)
        assert only_table_and_text_tags(out) and "127.0.0.1" in visible_text(out), out


# -- a real month's metadata in a real Dagster instance, and the browser ----------------------------


class Counter(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server's name
        Counter.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")  # session, not module: a worker may run another module's tests in between
def bait():
    """A local HTTP server that counts every request made to it."""
    Counter.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Counter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def payloads(url: str) -> dict[str, str]:
    return {"image": f"![a]({url}/x)", "html": f'<img src="{url}/y">', "pipe": "| x |", "header": f"![h]({url}/h)"}


@pytest.fixture(scope="session")  # session, not module: a worker may run another module's tests in between
def loaded_month(tmp_path_factory, bait):
    """May 2024's benefits file with the payloads in a header, in cells that load and in cells that
    are quarantined, materialized into a Dagster instance on disk (the one the webserver opens)."""
    from kenpo_pipeline.defs.feeds import feed_assets
    from kenpo_pipeline.domain.intake.sample import write_sample
    from kenpo_pipeline.settings import load_settings

    home = tmp_path_factory.mktemp("escaping") / "kenpo"
    env = {"KENPO_HOME": str(home), "KENPO_MAX_BAD_ROW_SHARE": "0.5", "KENPO_LANDING_SETTLE_SECONDS": "0"}
    settings_ = load_settings(env)
    write_sample(settings_.landing, 2024, 2024, scale=0.002, feeds=("benefits",), months=["2024-05"])
    path = settings_.landing / "benefits" / "202405.csv"
    raw = path.read_bytes()
    encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else ("utf-8" if _is_utf8(raw) else "cp932")
    rows = list(csv.reader(io.StringIO(raw.decode(encoding))))
    header, data = rows[0], [r for r in rows[1:] if r]
    p = payloads(bait)
    first = data[0]
    bad = [
        [first[0], p["image"], *first[2:]],  # a valid row whose 申請番号 is the image: loads, in the preview
        [first[0], p["html"], *first[2:]],
        [first[0], "X-PIPE", p["pipe"], *first[3:]],  # 給付種別 not in the set: quarantined, the value listed
        [first[0], "X-HTML", first[2], first[3], first[4], first[5], p["html"], first[7]],  # 受付方法 not in the set
    ]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow([*header, p["header"]])  # an unknown column: ignored with a warning naming it
    w.writerows([[*r, ""] for r in [*bad, *data[1:]]])
    path.write_bytes(out.getvalue().encode("utf-8"))
    (home / "dagster").mkdir(parents=True)
    shutil.copy(Path(__file__).parent.parent / "dagster.yaml", home / "dagster" / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    result = dg.materialize([a for a in feed_assets if a.key.path == ["benefits"]], instance=instance,
                            resources=dagster_resources(settings_), partition_key="2024-05", raise_on_error=False)
    assert result.success
    yield home, instance, result.run_id, p
    instance.dispose()


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def test_the_month_metadata_in_the_instance_is_escaped(loaded_month, bait):
    _, instance, run_id, p = loaded_month
    mat = instance.get_latest_materialization_event(dg.AssetKey("benefits")).asset_materialization
    checks = {e.dagster_event.event_specific_data.check_name: e.dagster_event.event_specific_data
              for e in instance.all_logs(run_id) if e.dagster_event and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"}
    row_rules = checks["row_rules"]
    assert row_rules.metadata["隔離行数"].value == 2
    markdowns = {
        "preview": mat.metadata["preview"].value,
        "warnings": mat.metadata["warnings"].value,
        "quarantined_rows": row_rules.metadata["隔離した行"].value,
        "expectations": row_rules.metadata["期待値の結果"].value,
    }
    for name, md in markdowns.items():
        out = rendered(md)
        assert only_table_and_text_tags(out), (name, out)  # no <img>, no <a>, no raw HTML
    assert p["image"] in visible_text(rendered(markdowns["preview"])) and p["html"] in visible_text(rendered(markdowns["preview"]))
    assert p["header"] in visible_text(rendered(markdowns["warnings"]))
    listed = visible_text(rendered(markdowns["quarantined_rows"]))
    assert p["pipe"] in listed and p["html"] in listed
    assert Counter.hits == []


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
def test_the_ui_shows_the_payloads_as_text_and_fetches_nothing(loaded_month, bait):
    """The Dagster UI on the month's instance: the materialization's metadata (rendered in place) and
    the row_rules check's Markdown (behind "[Show Markdown]") show the cells as text; no link, no
    image, and not one request to the address in the cells."""
    from playwright.sync_api import sync_playwright

    from kenpo_pipeline.settings import REPO_ROOT

    home, _, _, p = loaded_month
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (.ci/ensure-browser)", pytrace=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KENPO_", "DAGSTER_"))}
    env.update(KENPO_HOME=str(home), DAGSTER_HOME=str(home / "dagster"), GX_ANALYTICS_ENABLED="False", KENPO_MAX_BAD_ROW_SHARE="0.5")
    port = _free_port()
    log = open(home / "webserver.log", "w")
    proc = subprocess.Popen([str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
                            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    s = Servers(home, env, port)
    try:
        _wait(lambda: s.graphql("{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }")
              ["workspaceOrError"]["locationEntries"][0]["loadStatus"] == "LOADED", 180, "the webserver and its code location")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                # the month's materialization: preview and warnings are rendered in the metadata table
                page = _open(browser, f"{s.url}/assets/benefits?view=events&partition=2024-05")
                _wait(lambda: "不明な列" in page.inner_text("body"), 120, "the materialization's metadata")
                events = shown_text(page, page.locator("body"), bait)
                # the row_rules check: the quarantined rows and the expectation table, each in a dialog
                page = _open(browser, f"{s.url}/assets/benefits?view=checks&checkDetail=row_rules")
                links = page.get_by_text("[Show Markdown]", exact=True)
                _wait(lambda: links.count() == 2, 120, "the row_rules check's two Markdown entries")
                dialogs = []
                for i in range(links.count()):
                    links.nth(i).click()
                    dialog = page.get_by_role("dialog")
                    dialog.wait_for(timeout=60_000)
                    dialogs.append(shown_text(page, dialog, bait))
                    page.keyboard.press("Escape")
                    dialog.wait_for(state="hidden", timeout=60_000)
                page.screenshot(path=str(home / "escaping-checks.png"))
            finally:
                browser.close()
        assert p["image"] in events and p["html"] in events and p["header"] in events
        quarantined = next(d for d in dialogs if d.startswith("隔離した行"))
        assert p["pipe"] in quarantined and p["html"] in quarantined
        assert Counter.hits == []  # the browser fetched nothing from the address in the cells
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def shown_text(page, where, bait: str) -> str:
    """The text ``where`` shows, once images (there must be none) have had time to load; and proof
    that nothing in it links or points to ``bait``."""
    page.wait_for_timeout(1000)
    assert where.locator(f'img[src*="{bait}"], a[href*="{bait}"], [srcset*="{bait}"]').count() == 0
    assert where.locator("a[href^='mailto:']").count() == 0
    return where.inner_text().replace(markdown.WORD_JOINER, "")


# -- workbook cells -------------------------------------------------------------------------------


def test_formula_like_text_gets_the_quote_prefix_and_unwritable_characters_are_replaced(tmp_path):
    values = ["=HYPERLINK(\"http://x\")", "+81 3", "-1", "@SUM(A1)", "\tx", "\rx", "＝1+1", "ok", "a=b", "", "a\x07b\x00c", "\ud800z", "x" * 40_000, 61.7]
    wb = Workbook()
    ws = wb.active
    for i, v in enumerate(values, start=1):
        put_text(ws.cell(i, 1), v)
    path = tmp_path / "t.xlsx"
    wb.save(path)
    ws = load_workbook(path).active
    got = [(ws.cell(i, 1).value, ws.cell(i, 1).data_type, bool(ws.cell(i, 1).quotePrefix)) for i in range(1, len(values) + 1)]
    assert got[:7] == [("=HYPERLINK(\"http://x\")", "s", True), ("+81 3", "s", True), ("-1", "s", True), ("@SUM(A1)", "s", True),
                       ("\tx", "s", True), ("\nx", "s", True), ("＝1+1", "s", True)]  # XML reads a lone CR back as LF
    assert got[7:9] == [("ok", "s", False), ("a=b", "s", False)] and got[9][0] is None and not got[9][2]  # "" reads back as an empty cell
    assert got[10] == ("a\ufffdb\ufffdc", "s", False) and got[11] == ("\ufffdz", "s", False)
    assert len(got[12][0]) == 32767 and got[12][0].endswith("…") and got[13] == ("61.7", "s", False)
    with zipfile.ZipFile(path) as z:  # in the file itself: the cell is a string whose style has quotePrefix="1"
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
        styles = z.read("xl/styles.xml").decode()
    a1 = re.search(r'<c r="A1"[^>]*>', sheet).group(0)
    assert 't="inlineStr"' in a1 or 't="s"' in a1
    xfs = re.findall(r"<xf [^>]*>", styles.split("<cellXfs")[1])
    assert 'quotePrefix="1"' in xfs[int(re.search(r's="(\d+)"', a1).group(1))]
    a8 = re.search(r'<c r="A8"[^>]*>', sheet).group(0)
    assert 's="' not in a8 or 'quotePrefix="1"' not in xfs[int(re.search(r's="(\d+)"', a8).group(1))]
