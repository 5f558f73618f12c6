"""The ``kenpo`` command line's vocabulary, declared as data: every command with its one-line
summary, description, examples and arguments (all Japanese), the exit codes, and the parser built
from them. ``cli.py`` maps each command to the function that runs it.
"""

from __future__ import annotations

import argparse
import re
from typing import Callable

from kenpo_pipeline.domain.calendar import parse_fiscal_year
from kenpo_pipeline.domain.reference import FEED_IDS

EXIT_CODES = """終了コード:
  0    成功（run・demo: すべて読み込み、隔離した行もありません）
  1    問題があった: 却下・未着・書き込み中・隔離、データのない年度、カタログの問題、倉庫に書き込めない など
       （1 件 1 文で表示。run は読み込めるものをすべて読み込んでいます）
  2    使い方・設定の誤り
  130  Ctrl-C（SIGINT）で中止 ／ 143  SIGTERM で中止（途中の月は取り消し、それ以降の run は開始しません）"""

_ARGPARSE_JA = {
    "usage: ": "使い方: ", "positional arguments": "引数", "options": "オプション", "show this help message and exit": "このヘルプを表示して終了します",
    "the following arguments are required: %s": "次の引数が必要です: %s", "unrecognized arguments: %s": "不明な引数です: %s",
    "invalid choice: %(value)r (choose from %(choices)s)": "選べない値です: %(value)r（%(choices)s のいずれか）",
    "argument %(argument_name)s: %(message)s": "引数 %(argument_name)s: %(message)s", "expected one argument": "値が必要です",
    "invalid %(type)s value: %(value)r": "%(value)r は正しい値ではありません", "%(prog)s: error: %(message)s\n": "%(prog)s: エラー: %(message)s\n",
}
argparse._ = lambda text: _ARGPARSE_JA.get(text, text)  # argparse's own words in Japanese (it looks `_` up at each call)


def month(value: str) -> str:
    m = re.fullmatch(r"(\d{4})-?(\d{2})", value.strip())
    if not m or not 1 <= int(m[2]) <= 12:
        raise argparse.ArgumentTypeError(f"月は YYYY-MM の形で指定してください（例: 2024-04。指定値: {value!r}）")
    return f"{m[1]}-{m[2]}"


def fiscal_year(value: str) -> int:
    try:
        return parse_fiscal_year(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


FISCAL_YEAR = (("--fiscal-year",), dict(type=fiscal_year, required=True, metavar="年度", help="年度: 2024、FY2024、令和6、令和6年度 のいずれの形でも"))


def _branch(default: str):
    return (("--branch",), dict(metavar="支部コード", help=f"00（協会全体）または支部コード 01〜47（省略時: {default}）"))


def _default(flag: str, kind, value):
    return ((flag,), dict(type=kind, default=value, help=f"（既定: {value}）"))


COMMANDS: dict[str, tuple[str, str, str, list]] = {  # name → (summary, description, examples, arguments)
    "run": (
        "ランディング領域の月を読み込み、KPI実績・評価・ワークブックまで計算します",
        "ランディング領域（<フィード>/<YYYYMM>.csv|xlsx）の月を Dagster で読み込みます（年度ごとに 1 つの run）。\n"
        "続いて、読み込んだ月の年度の KPI実績・評価・データ品質・ワークブックと、その次の年度の評価（前年度と比べるため）を、\n"
        "資産グラフの依存関係どおりの順に計算します。却下・未着の月があっても、読み込めるものはすべて読み込みます。\n"
        "書き込み中のファイルは、変化がなくなるまで待ちます（最大で落ち着き時間の 6 倍）。",
        "  kenpo run                                  ランディング領域にある月をすべて\n"
        "  kenpo run --from 2024-04 --to 2025-03      令和6年度の12か月\n"
        "  kenpo run --from 2023-04 --to 2024-03 --force   検証ルールを変えたあと、1 年度を読み込み直す\n"
        "  kenpo run --through actuals                KPI実績まで（評価とワークブックは作らない）",
        [
            (("--landing",), dict(metavar="フォルダー", help="ランディング領域（省略時: $KENPO_LANDING）")),
            (("--from",), dict(dest="from_month", type=month, metavar="YYYY-MM", help="最初の月（省略時: ファイルのある最初の月）")),
            (("--to",), dict(dest="to_month", type=month, metavar="YYYY-MM", help="最後の月（省略時: ファイルのある最後の月）")),
            (("--force",), dict(action="store_true", help="チェックサムが変わっていないファイルも読み込み直します（検証ルールを変えたあとなど）")),
            (("--through",), dict(choices=["actuals", "evaluation", "reports"], default="reports",
                                  help="月のあとにどこまで計算するか: actuals = KPI実績、evaluation = ＋評価とデータ品質、reports = ＋ワークブックと3か年表示（既定）")),
        ],
    ),
    "demo": (
        "サンプルデータ（FY2022〜FY2024）を作って読み込み、評価を表示します",
        "サンプルのフィードをランディング領域に書き出し、すべての月と年度を Dagster で計算し、ワークブックを書き出して、\n"
        "最後の年度の協会全体の評価を表示します。既定の倉庫（$KENPO_HOME/warehouse.db）以外では --force が必要です。",
        "  kenpo demo\n  kenpo demo --scale 0.05 --from-fy 2023 --to-fy 2024",
        [
            (("--force",), dict(action="store_true", help="既定以外の倉庫（KENPO_WAREHOUSE_URL）でも実行します")),
            _default("--scale", float, 0.02), _default("--seed", int, 1), _default("--from-fy", int, 2022), _default("--to-fy", int, 2024),
        ],
    ),
    "show": (
        "ある年度・ある範囲（協会全体または支部）の評価を表示します",
        "倉庫にある評価（pdca_evaluation）を、ワークブックの KPI実績一覧表・UI と同じ言葉と記号で表示します。",
        "  kenpo show --fiscal-year 2024                協会全体\n"
        "  kenpo show --fiscal-year 令和6年度 --branch 22   静岡支部\n"
        "  kenpo show --fiscal-year FY2023 --branch 33",
        [FISCAL_YEAR, _branch("00 協会全体")],
    ),
    "report": (
        "年度の PDCA ワークブックを書き出します",
        "年度の PDCA ワークブック（協会全体 pdca_FY2024.xlsx、支部 pdca_FY2024_22.xlsx）を Dagster で書き出します。\n"
        "その年度のデータがまだないとき、KPIカタログに問題があるときは、そのことを 1 文で伝えて何も書き出しません（終了コード 1）。",
        "  kenpo report --fiscal-year 2024                     協会全体と全47支部\n"
        "  kenpo report --fiscal-year 令和6 --branch 22         静岡支部だけ\n"
        "  kenpo report --fiscal-year FY2024 --out /tmp/pdca",
        [FISCAL_YEAR, _branch("協会全体と全47支部"), (("--out",), dict(metavar="フォルダー", help="書き出し先（省略時: $KENPO_REPORTS）"))],
    ),
    "finalize": (
        "年度末の評価を確定版として記録します（確定）",
        "承認された年度末（3月時点）の評価を、確定版として記録します（誰が・いつ・どの取込とカタログに基づくか）。\n"
        "あとで修正があって評価が再計算されても、確定版は書き換わりません。",
        "  kenpo finalize --fiscal-year 2024 --by 企画部 --note \"第3回 運営委員会で承認\"",
        [FISCAL_YEAR, (("--by",), dict(metavar="名前", help="承認した人・部署（省略時: 実行した利用者）")),
         (("--note",), dict(metavar="メモ", help="承認した会議など")),
         (("--allow-missing-commentary",), dict(action="store_true", help="要因分析のない未達成のKPIがあっても確定します（省略時は一覧を示して確定しません）"))],
    ),
    "comments": ("自己評価・要因分析（ワークブックの記入欄）", "ワークブックの記入欄（実施内容・自己評価・要因分析・今後の取組）のコマンドです。",
                 "  kenpo comments import pdca_FY2024_22.xlsx", []),
    "comments import": (
        "ワークブックに記入した自己評価・要因分析を取り込みます",
        "kenpo report で書き出したワークブックの KPI実績一覧表 の記入欄を読み、変わった記入を新しい版として保存します（以前の版も残ります）。\n"
        "このパイプラインが書き出したブックであること（年度・範囲・KPI）を確かめてから取り込みます。\n"
        "ブックを書き出したあとに別のファイルから同じKPIの記入が更新されていたときは、新しい記入を上書きせず、その KPI を一覧で示します（終了コード 1）。\n"
        "取り込んだ記入は、以後に書き出すすべてのワークブックに表示されます。",
        "  kenpo comments import pdca_FY2024_22.xlsx --by 静岡支部企画総務グループ\n  kenpo comments import 戻り/*.xlsx",
        [(("files",), dict(nargs="+", metavar="ファイル.xlsx")), (("--by",), dict(metavar="名前", help="記入した人・部署（省略時: 実行した利用者）"))],
    ),
    "backtest": (
        "年度途中の見込みが年度末の実績をどれだけ当てたかを表示します",
        "終わった年度について、各月時点の年度末見込みと実際の年度末の値の誤差（全支部 × 全指標の中央値と90パーセンタイル）を表示します。",
        "  kenpo backtest --fiscal-year 2023",
        [FISCAL_YEAR],
    ),
    "validate": (
        "フィードのファイルを、読み込むときと同じ検査にかけます（読み込みはしません）",
        "提出前のファイルを、読み込みと同じコード・同じメッセージで検査します。倉庫には何も書き込みません。\n"
        "却下されるファイルはその理由を、隔離される行は 行・列・値・理由 を表示します。",
        "  kenpo validate landing/screenings/202404.csv\n"
        "  kenpo validate --feed benefits 現金給付_4月.csv\n"
        "  kenpo validate --all landing/benefits/*.csv\n"
        "  kenpo validate landing/benefits/202406.csv --out 差戻し_202406.xlsx",
        [
            (("files",), dict(nargs="+", metavar="ファイル")),
            (("--feed",), dict(choices=list(FEED_IDS), help="フィード（ファイルが <フィード>/ フォルダーにないとき）")),
            (("--all",), dict(action="store_true", help="隔離される行をすべて表示します（省略時: 20 行まで）")),
            (("--max-bad-row-share",), dict(type=float, metavar="割合", help="却下となる違反行の割合（省略時: $KENPO_MAX_BAD_ROW_SHARE、既定 0.01）")),
            (("--out",), dict(metavar="ファイル.xlsx", help="差戻しリスト（行・列・送られた値・理由）を Excel に書き出します（複数ファイルのときはフォルダー）")),
        ],
    ),
    "errors": (
        "支部の差戻しリスト（取り込まれなかった行と却下されたファイル）を書き出します",
        "ある支部の、年度内の現在の取込で隔離された行（フィード・月・ファイル・行・列・送られた値・理由）と、\n"
        "その月のファイル単位の却下を、新しい月から並べた Excel（errors_FY<年度>_<支部>.xlsx）に書き出します。\n"
        "差戻し行か却下があれば終了コード 1 です。",
        "  kenpo errors --branch 22                       最新の年度\n"
        "  kenpo errors --branch 22 --fiscal-year 2024 --out /share/差戻し",
        [(("--branch",), dict(required=True, metavar="支部コード", help="00（協会全体: すべての行）または支部コード 01〜47")),
         (("--fiscal-year",), dict(type=fiscal_year, metavar="年度", help="年度（省略時: 取込のある最新の年度）")),
         (("--out",), dict(metavar="フォルダー", help="書き出し先（省略時: $KENPO_REPORTS/errors）"))],
    ),
    "sample": (
        "本物に近いサンプルのフィードを書き出します",
        "4 フィード・全月・全47支部のサンプルファイルを書き出します。--scale 1.0 で全国規模の件数です。",
        "  kenpo sample --out /tmp/landing --from-fy 2023 --to-fy 2024\n"
        "  kenpo sample --out /tmp/big --from-fy 2024 --to-fy 2024 --scale 1.0 --months 2024-04",
        [
            (("--out",), dict(metavar="フォルダー", help="書き出し先（省略時: ランディング領域）")),
            _default("--from-fy", int, 2022), _default("--to-fy", int, 2024), _default("--scale", float, 0.05), _default("--seed", int, 1),
            (("--months",), dict(type=lambda v: [month(m) for m in v.split(",")], metavar="YYYY-MM,…", help="年度のうちこの月だけ（カンマ区切り）")),
        ],
    ),
    "catalog": ("KPIカタログ", "KPIカタログ（事業計画の目標）と手入力ファイルのコマンドです。", "  kenpo catalog check", []),
    "catalog check": (
        "KPIカタログと手入力ファイルを検査します（何も実行しません）",
        "KPIカタログ（FY<年度>.yaml）と手入力（FY<年度>_manual.yaml）、アクションプランを、評価と同じ方法で検査し、\n"
        "問題をすべて（ファイル・計画またはKPI・項目・理由）表示します。",
        "  kenpo catalog check\n  kenpo catalog check /share/kpi-catalogs",
        [(("folder",), dict(nargs="?", metavar="フォルダー", help="カタログのフォルダー（省略時: $KENPO_CATALOGS）"))],
    ),
    "db": ("倉庫のスキーマ（マイグレーション）", "倉庫のスキーマ（Alembic のマイグレーション）のコマンドです。", "  kenpo db upgrade\n  kenpo db current", []),
    "db upgrade": (
        "$KENPO_WAREHOUSE_URL の倉庫を最新のスキーマにします（空のデータベースも）",
        "マイグレーションを適用して、倉庫を最新のスキーマにします。",
        "  kenpo db upgrade\n  KENPO_WAREHOUSE_URL=postgresql+psycopg://kenpo@db/kenpo kenpo db upgrade",
        [(("--revision",), dict(default="head", help="このリビジョンまで（既定: 最新）"))],
    ),
    "db current": ("倉庫のスキーマのリビジョンを表示します（古いときは終了コード 1）", "倉庫のスキーマのリビジョンを表示します。", "  kenpo db current", []),
    "db history": ("マイグレーションの一覧（古い順）", "マイグレーションを古い順に表示します。", "  kenpo db history", []),
    "ui": (
        "Dagster の UI（dagster dev）をこのインスタンスで起動します",
        "Dagster の UI とデーモン（センサー・スケジュール・自動実行）を起動します。途中で終わった run は、起動の前に片付けます。",
        "  kenpo ui\n  kenpo ui --port 3001",
        [_default("--host", str, "127.0.0.1"), _default("--port", int, 3000)],
    ),
}
DESCRIPTION = ("kenpo-pipeline: 協会けんぽの月次フィードを Dagster で読み込み・検証し、KPI実績を計算して事業計画に対する達成状況を評価します。\n"
               "各コマンドの説明・例・終了コードは  kenpo <コマンド> --help  で表示されます。")


def build_parser(handlers: dict[str, Callable]) -> argparse.ArgumentParser:
    """The parser of every command in ``COMMANDS``; ``handlers`` maps a command ("db upgrade") to
    the function that runs it (``args.func``)."""
    formatter = argparse.RawDescriptionHelpFormatter
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="失敗したときにトレースバック（開発者向けの詳細）も表示します")
    parser = argparse.ArgumentParser(prog="kenpo", description=DESCRIPTION, epilog=EXIT_CODES, formatter_class=formatter)
    groups = {"": parser.add_subparsers(dest="command", required=True, title="コマンド", metavar="<コマンド>")}
    for name, (summary, description, examples, arguments) in COMMANDS.items():
        parent, _, leaf = name.rpartition(" ")
        command = groups[parent].add_parser(leaf, help=summary, description=description, epilog=f"例:\n{examples}\n\n{EXIT_CODES}",
                                            parents=[common], formatter_class=formatter)
        for flags, options in arguments:
            command.add_argument(*flags, **options)
        if name in handlers:
            command.set_defaults(func=handlers[name])
        else:
            groups[name] = command.add_subparsers(dest=f"{leaf}_command", required=True, title="コマンド", metavar="<コマンド>")
    return parser
