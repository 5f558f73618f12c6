"""KPI catalogs: what each fiscal year's plans target (shared spec/kpis.md §4, §6).

One YAML file per fiscal year (``FY2024.yaml``) in the catalog folder (``KENPO_CATALOGS``, default
``assets/catalogs``), edited by planning staff when a new 事業計画 is approved; KPIs no feed can
measure (rule ``manual``) take their status from ``FY2024_manual.yaml`` beside it. One file per
保険者機能強化アクションプラン (``AP5.yaml``) gives the plan's period and its own (plan-end) KPIs, in
the same vocabulary and with the same keys as the yearly plans, for the three-year view. One file
per fiscal year in the subfolder ``incentive/`` (``incentive/FY2024.yaml``) gives the インセンティブ
制度's scoring of that year's results: its indicators (each a measure), their weights, the weights
of level and improvement, and the number of rewarded branches — the association's to set.

Loading never raises on a bad file: every problem is returned as one Japanese sentence naming the
file, the plan or KPI, and the field (``kenpo catalog check``; the evaluation refuses to run on any).
The file is read as strict UTF-8 with a YAML loader that refuses anchors and aliases (a
"billion laughs" file), duplicate keys, merge keys and deep nesting; its content is then validated
by pydantic models (``CatalogFile`` → ``PlanModel`` → ``KpiModel`` → ``PartModel``, ``ManualFile``,
``ActionPlanFile`` and ``IncentiveFile`` → ``IncentiveIndicatorModel``) whose field validators reject wrong types, NaN/inf, out-of-range numbers and
control characters in any text. The rest of the pipeline sees the frozen dataclasses ``Catalog``,
``Plan``, ``Kpi``, ``Part``, ``ManualEntry``, ``ActionPlan`` and ``IncentiveScheme`` built from the
validated models.
"""

from __future__ import annotations

import codecs
import datetime as dt
import functools
import hashlib
import math
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Callable, ClassVar, Optional

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, ValidationInfo, field_validator

from kenpo_pipeline.domain.kpis.measures import MEASURES_BY_ID

RULES = ("absolute", "prior_year", "branch_floor", "all_of", "small_count", "every_month", "done", "manual")
PART_RULES = tuple(r for r in RULES if r != "all_of")
OPS = (">=", "<=")
PLANS = ("本部", "支部")
SCOPES = ("per_branch", "association")
STATUSES = ("確定", "案")
MANUAL_STATUSES = ("達成", "未達成", "未入力")
VALID_BRANCHES = {f"{i:02d}" for i in range(0, 48)}

RULES_NEEDING_MEASURE = ("absolute", "prior_year", "branch_floor", "small_count", "every_month", "done")
RULES_NEEDING_OP = ("absolute", "prior_year", "small_count")
RULES_NEEDING_VALUE = ("absolute", "branch_floor", "small_count")

MAX_FILE_BYTES = 5 * 1024 * 1024  # a catalog is a few dozen KB; anything near this is not a catalog
MAX_NESTING = 20  # file → plans → plan → kpis → kpi → parts → part is 7 levels
MAX_PRECISION = 6  # decimals a KPI may be displayed or judged at
MAX_COUNT = 1_000_000_000  # small_threshold, small_max_count, expected_tenders
MAX_NUMBER = 1e15  # |value|, |baseline|: far beyond any target, well inside exact float integers
YEARS = (2000, 2100)
MAX_ACTION_PLAN_YEARS = 6  # an Action Plan runs three years; twice that is a typo
INCENTIVE_FOLDER = "incentive"  # the インセンティブ制度's scoring files, inside the catalog folder
BRANCH_COUNT = 47
MAX_INCENTIVE_INDICATORS = 20  # the association ranks on five; four times that is not a scheme
MAX_WEIGHT = 1000.0
BETTER = ("higher", "lower")


def _folder_fingerprint(folder: Path) -> str | None:
    """A digest of every file a catalog folder's loaders read (its top-level files and ``incentive/``):
    names and contents (size and modification time for a file too large to be a catalog). ``None``
    when the folder cannot be listed: the loaders then report it themselves."""
    digest = hashlib.blake2b(digest_size=16)
    try:
        for sub in (folder, folder / INCENTIVE_FOLDER):
            if not sub.is_dir():
                continue
            for path in sorted(sub.iterdir()):
                if path.name.startswith(".") or not path.is_file():
                    continue
                stat = path.stat()
                digest.update(str(path.relative_to(folder)).encode() + b"\0")
                if stat.st_size > MAX_FILE_BYTES:
                    digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
                else:
                    digest.update(path.read_bytes())
                digest.update(b"\0")
    except OSError:
        return None
    return digest.hexdigest()


_LOADED: dict[tuple[str, str], tuple[str, tuple]] = {}
_LOADED_LOCK = threading.Lock()


def _reuse_while_unchanged(load: Callable[[Path], tuple]) -> Callable[[Path], tuple]:
    """Parse a catalog folder once per process while its files are unchanged (every step of a run,
    and every run of a long-lived process, reads the same folder; parsing it is most of a small
    step's time). The key is the folder's content, so an edited catalog is read again at once.
    Callers get their own containers; the catalogs in them are not modified by anyone."""

    @functools.wraps(load)
    def loader(folder: Path) -> tuple:
        folder = Path(folder)
        fingerprint = _folder_fingerprint(folder)
        if fingerprint is None:
            return load(folder)
        key = (load.__name__, str(folder.resolve()))
        with _LOADED_LOCK:
            hit = _LOADED.get(key)
        if hit is None or hit[0] != fingerprint:
            hit = (fingerprint, load(folder))
            with _LOADED_LOCK:
                _LOADED[key] = hit
        found, problems = hit[1]
        return type(found)(found), list(problems)

    return loader


class CatalogError(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


# -- the objects the rest of the pipeline uses ------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One judged rule on one measure (a KPI has one part, or several under ``all_of``)."""

    rule: str
    measure: str | None = None
    op: str | None = None
    value: float | None = None
    baseline: float | None = None
    target_text: str | None = None
    display_precision: int | None = None
    judgement_precision: int | str | None = None  # decimals, or "exact"
    small_threshold: int | None = None
    small_max_count: int | None = None
    expected_tenders: int | None = None


@dataclass(frozen=True)
class Kpi:
    id: str
    key: str
    section: str
    text: str
    rule: str
    scope: str
    parts: tuple[Part, ...]
    reference: str | None = None
    judgement_month: str | None = None  # "MM"; March when absent


@dataclass(frozen=True)
class Plan:
    branch_code: str
    plan: str  # 本部 | 支部
    title: str
    source: str
    status: str
    kpis: tuple[Kpi, ...]


@dataclass(frozen=True)
class ManualEntry:
    kpi_id: str
    branch_code: str
    status: str
    actual_text: str
    evidence: str


@dataclass
class Catalog:
    fiscal_year: int
    path: Path
    plans: tuple[Plan, ...]
    manual: dict[tuple[str, str], ManualEntry] = field(default_factory=dict)

    def plan_for(self, branch_code: str) -> Plan | None:
        for p in self.plans:
            if p.branch_code == branch_code:
                return p
        return None

    @property
    def national(self) -> Plan | None:
        return self.plan_for("00")


@dataclass(frozen=True)
class ActionPlan:
    """A 保険者機能強化アクションプラン: its period and its own KPIs (targets for the plan's end,
    seed 004: プラン終了時（３年後）を見据えたKPI設定), keyed like the yearly plans' KPIs."""

    name: str
    title: str
    source: str
    status: str
    years: tuple[int, ...]
    kpis: tuple[Kpi, ...]
    path: Path

    def kpis_for(self, branch_code: str) -> list[Kpi]:
        """The KPIs shown for a scope: all of them for ``00``, the ``per_branch`` ones for a branch."""
        return [k for k in self.kpis if branch_code == "00" or k.scope == "per_branch"]


@dataclass(frozen=True)
class IncentiveIndicator:
    """One indicator of the インセンティブ制度: a measure, scored by deviation score on its level (実績)
    and on its improvement over the previous year (伸び)."""

    key: str
    name: str
    measure: str
    weight: float  # the indicator's weight in the total
    level_weight: float  # weight of the level's deviation score inside the indicator
    improvement_weight: float  # weight of the improvement's deviation score inside the indicator
    better: str = "higher"  # higher | lower: which way is better


@dataclass(frozen=True)
class IncentiveScheme:
    """How one fiscal year's results are scored (``incentive/FY<year>.yaml``): set by the association."""

    fiscal_year: int
    path: Path
    title: str
    source: str
    status: str
    rewarded_branches: int
    indicators: tuple[IncentiveIndicator, ...]


# -- reading the YAML -------------------------------------------------------------------------------


class _Refused(yaml.YAMLError):
    """A construct the catalog loader does not accept; ``reason`` is the Japanese sentence."""

    def __init__(self, reason: str, mark: yaml.Mark | None):
        self.reason, self.mark = reason, mark
        super().__init__(reason)


class _StrictMappings:
    """No merge keys and no duplicate keys in a mapping (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: set = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise _Refused("YAMLのマージキー（<<）は使えません", key_node.start_mark)
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:  # an unhashable key: PyYAML's own error follows
                    continue
                if duplicate:
                    raise _Refused(f"同じ項目 {_show(key)} が同じ場所に2回書かれています", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _CatalogLoader(_StrictMappings, yaml.SafeLoader):
    """PyYAML's safe loader, stricter: no anchors or aliases (so no "billion laughs" expansion), no
    merge keys, no duplicate keys (PyYAML keeps the last one silently), bounded nesting."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused("YAMLのアンカー・エイリアス（& と *）は使えません。同じ内容でもそれぞれの場所に書いてください", event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                raise _Refused(f"入れ子が深すぎます（{MAX_NESTING}段まで）", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_FAST = yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else None
_FALLBACK = object()


if _FAST is not None:

    class _FastCatalogLoader(_StrictMappings, _FAST):
        """libyaml's parser with the same constructor checks: ten times faster on a valid catalog."""


def _depth(node) -> int:
    depth, stack = 0, [(node, 1)]
    while stack:
        n, d = stack.pop()
        depth = max(depth, d)
        if isinstance(n, yaml.SequenceNode):
            stack.extend((v, d + 1) for v in n.value)
        elif isinstance(n, yaml.MappingNode):
            stack.extend(x for k, v in n.value for x in ((k, d + 1), (v, d + 1)))
    return depth


def _load_fast(text: str) -> Any:
    """The content of a plainly valid catalog file through libyaml, or ``_FALLBACK`` whenever the
    strict pure-Python loader must decide (it gives the exact problem and where): a file that could
    hold an anchor or alias (``&``, ``*``), a character PyYAML's reader refuses, nesting near the
    limit, or any error at all."""
    if _FAST is None or "&" in text or "*" in text or yaml.reader.Reader.NON_PRINTABLE.search(text):
        return _FALLBACK
    try:
        loader = _FastCatalogLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            if _depth(node) > MAX_NESTING:
                return _FALLBACK
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except Exception:  # noqa: BLE001 - the strict loader reports it
        return _FALLBACK


_YAML_PROBLEMS = (  # PyYAML's wording → what a planner should look at
    ("mapping values are not allowed", "ここに「項目: 値」は書けません（字下げか「:」の位置の誤り）"),
    ("that cannot start any token", "ここで使えない文字（タブ、@、` など）があります（字下げは半角スペース）"),
    ("could not find expected ':'", "「:」がありません"),
    ("while scanning a quoted scalar", "引用符が閉じていません"),
    ("found unexpected end of stream", "ファイルが途中で終わっています（引用符やかっこの閉じ忘れ）"),
    ("expected <block end>", "字下げが揃っていません"),
    ("while parsing a flow", "かっこ（[ ] や { }）の対応が取れていません"),
    ("could not determine a constructor", "使えないタグ（! で始まる指定）があります"),
    ("undefined tag handle", "使えないタグ（! で始まる指定）があります"),
    ("found unhashable key", "項目名にリストやマッピングは使えません"),
)


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    said = f"{exc.context or ''} {exc.problem or ''}".strip()
    for english, japanese in _YAML_PROBLEMS:
        if english in said:
            return japanese
    return f"書式の誤り（{said[:100]}）"


def _at(mark: yaml.Mark | None) -> str:
    return f"（{mark.line + 1}行目 {mark.column + 1}列）" if mark is not None else ""


def read_yaml(path: Path) -> tuple[Any, list[str]]:
    """The file's content, or the problems that prevent reading it (never raises)."""
    name = path.name
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, [f"{name}: ファイルが大きすぎます（{size:,}バイト。カタログは{MAX_FILE_BYTES // 1024 // 1024}MBまで）"]
        data = path.read_bytes()
    except OSError as exc:
        return None, [f"{name}: 読み込めません（{exc.strerror or type(exc).__name__}）"]
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        try:
            data.decode("cp932")
            guess = "CP932（Shift_JIS）で保存されているようです。"
        except UnicodeDecodeError:
            guess = ""
        return None, [f"{name}: 文字コードが UTF-8 ではありません（{line}行目）。{guess}UTF-8 で保存し直してください"]
    content = _load_fast(text)
    if content is not _FALLBACK:
        return content, []
    try:
        return yaml.load(text, Loader=_CatalogLoader), []  # noqa: S506 - a SafeLoader subclass
    except _Refused as exc:
        return None, [f"{name}: {exc.reason}{_at(exc.mark)}"]
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1 if isinstance(exc.position, int) else None
        char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else "?"
        return None, [f"{name}: 制御文字など使えない文字（{char}）が含まれています" + (f"（{line}行目）" if line else "")]
    except yaml.MarkedYAMLError as exc:
        opened = (exc.context or "").startswith(("while scanning a quoted", "while parsing a flow")) and exc.context_mark
        mark = exc.context_mark if opened else exc.problem_mark or exc.context_mark  # an unclosed quote: where it opened
        return None, [f"{name}: YAMLとして読めません{_at(mark)}: {_yaml_problem(exc)}"]
    except yaml.YAMLError as exc:
        return None, [f"{name}: YAMLとして読めません: {exc}"]
    except (ValueError, OverflowError, TypeError) as exc:  # e.g. an impossible date 2024-13-45, an int of 5,000 digits
        return None, [f"{name}: YAMLとして読めない値があります（{str(exc)[:100]}）"]
    except RecursionError:
        return None, [f"{name}: 入れ子が深すぎます"]


# -- field validators (every message in Japanese) ---------------------------------------------------


def _show(v: Any) -> str:
    """A value as a planner would recognise it from the YAML, short."""
    if v is None:
        return "なし"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return ".nan"
        if math.isinf(v):
            return ".inf" if v > 0 else "-.inf"
        return repr(v)
    if isinstance(v, int):
        if v.bit_length() > 4000:  # str() refuses ints beyond 4,300 digits
            return "桁数の大きすぎる整数"
        digits = str(v)
        return digits if len(digits) <= 40 else f"{digits[:20]}…（{len(digits)}桁）"
    if isinstance(v, str):
        return repr(v if len(v) <= 40 else v[:40] + "…")
    if isinstance(v, dict):
        return "マッピング"
    if isinstance(v, (list, tuple, set)):
        return "リスト"
    if isinstance(v, (dt.date, dt.datetime)):
        return f"日付 {v.isoformat()}"
    if isinstance(v, bytes):
        return "バイナリ"
    return type(v).__name__


def _bad_character(s: str) -> str | None:
    for c in s:
        if unicodedata.category(c) in ("Cc", "Cs") or c in ("\ufffe", "\uffff"):
            if c in "\n\r\t":
                return f"{'タブ' if c == chr(9) else '改行'}（U+{ord(c):04X}）が含まれています。1行で書いてください"
            return f"制御文字など使えない文字（U+{ord(c):04X}）が含まれています。取り除いてください"
    return None


def _text(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"文字列ではありません（{_show(v)}）")
    if problem := _bad_character(v):
        raise ValueError(problem)
    return v


def _required_text(v: Any) -> str:
    s = _text(v)
    if not s.strip():
        raise ValueError("空です")
    return s


def _reference(v: Any) -> str:
    """A figure printed for information only: a number is taken as written."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        _number(v)  # finite, and not absurdly large
        return str(v)
    return _text(v)


def _number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"数値ではありません（{_show(v)}）")
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"数値ではありません（{_show(v)}）")
    if abs(v) > MAX_NUMBER:
        raise ValueError(f"数値が大きすぎます（{_show(v)}）")
    return float(v)


def _count(v: Any, limit: int = MAX_COUNT) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"0以上の整数ではありません（{_show(v)}）")
    if not 0 <= v <= limit:
        raise ValueError(f"0〜{limit:,}の整数ではありません（{_show(v)}）")
    return v


def _precision(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_PRECISION:
        raise ValueError(f"小数点以下の桁数（0〜{MAX_PRECISION}）ではありません（{_show(v)}）")
    return v


def _judgement_precision(v: Any) -> int | str:
    if v == "exact" and isinstance(v, str):
        return v
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_PRECISION:
        raise ValueError(f"小数点以下の桁数（0〜{MAX_PRECISION}）または exact ではありません（{_show(v)}）")
    return v


def _branch_code(v: Any) -> str:
    if isinstance(v, int) and not isinstance(v, bool):
        raise ValueError(f"{_show(v)} は文字列ではありません。\"04\" のように引用符で囲んだ2桁で書いてください")
    s = _text(v)
    if s not in VALID_BRANCHES:
        raise ValueError(f"{_show(s)} は 00〜47 ではありません")
    return s


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if not isinstance(v, str) or v not in options:
            raise ValueError(f"{_show(v)} は {'、'.join(options)} のいずれでもありません")
        return v

    return check


def _judgement_month(v: Any) -> str:
    if isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 12:
        return f"{v:02d}"
    if isinstance(v, str) and re.fullmatch(r"0[1-9]|1[0-2]", v):
        return v
    raise ValueError(f"月（\"03\" のような01〜12）ではありません（{_show(v)}）")


def _fiscal_year(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not YEARS[0] <= v <= YEARS[1]:
        raise ValueError(f"年度（2024 のような{YEARS[0]}〜{YEARS[1]}の整数）ではありません（{_show(v)}）")
    return v


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else check(v)


def _list(v: Any) -> Any:
    """An empty YAML entry (``kpis:``) is an empty list; anything else is left to the list check."""
    return [] if v is None else v


Text = Annotated[str, BeforeValidator(_text)]
RequiredText = Annotated[str, BeforeValidator(_required_text)]
OptionalText = Annotated[Optional[str], BeforeValidator(_optional(_text))]
OptionalNumber = Annotated[Optional[float], BeforeValidator(_optional(_number))]
OptionalCount = Annotated[Optional[int], BeforeValidator(_optional(_count))]
BranchCode = Annotated[str, BeforeValidator(_branch_code)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=True)


class PartModel(_Strict):
    """One rule on one measure: a KPI's own fields, or one entry of an ``all_of`` KPI's parts."""

    ALLOWED_RULES: ClassVar[tuple[str, ...]] = PART_RULES

    rule: str
    measure: OptionalText = None
    op: OptionalText = None
    value: OptionalNumber = None
    baseline: OptionalNumber = None
    target_text: OptionalText = None
    display_precision: Annotated[Optional[int], BeforeValidator(_optional(_precision))] = None
    judgement_precision: Annotated[Optional[int | str], BeforeValidator(_optional(_judgement_precision))] = None
    small_threshold: OptionalCount = None
    small_max_count: OptionalCount = None
    expected_tenders: OptionalCount = None

    @field_validator("rule", mode="before")
    @classmethod
    def _rule_known(cls, v: Any) -> str:
        return _choice(cls.ALLOWED_RULES)(v)

    @field_validator("measure")
    @classmethod
    def _measure_known(cls, v: str | None, info: ValidationInfo) -> str | None:
        rule = info.data.get("rule")
        if v is None:
            if rule in RULES_NEEDING_MEASURE:
                raise ValueError(f"rule {rule} には measure（指標）が必要です")
            return None
        if v not in MEASURES_BY_ID:
            raise ValueError(f"未知の指標です（{_show(v)}）")
        return v

    @field_validator("op")
    @classmethod
    def _op_known(cls, v: str | None, info: ValidationInfo) -> str | None:
        rule = info.data.get("rule")
        if v is None and rule not in RULES_NEEDING_OP:
            return None
        if v not in OPS:
            need = f"rule {rule} には " if rule in RULES_NEEDING_OP else ""
            raise ValueError(f"{need}op \">=\" または \"<=\" が必要です（{_show(v)}）")
        return v

    @field_validator("value")
    @classmethod
    def _value_present(cls, v: float | None, info: ValidationInfo) -> float | None:
        rule = info.data.get("rule")
        if v is None and rule in RULES_NEEDING_VALUE:
            raise ValueError(f"rule {rule} には数値の value（目標値）が必要です（なし）")
        return v

    @field_validator("small_threshold", "small_max_count")
    @classmethod
    def _small_count_complete(cls, v: int | None, info: ValidationInfo) -> int | None:
        if v is None and info.data.get("rule") == "small_count":
            raise ValueError(f"rule small_count には0以上の整数の {info.field_name} が必要です（なし）")
        return v

    def to_part(self) -> Part:
        return Part(
            rule=self.rule, measure=self.measure, op=self.op, value=self.value, baseline=self.baseline,
            target_text=self.target_text, display_precision=self.display_precision,
            judgement_precision=self.judgement_precision, small_threshold=self.small_threshold,
            small_max_count=self.small_max_count, expected_tenders=self.expected_tenders,
        )


class KpiModel(PartModel):
    """A KPI: its identity and texts, and its rule (or, under ``all_of``, its parts)."""

    ALLOWED_RULES: ClassVar[tuple[str, ...]] = RULES

    id: RequiredText
    key: RequiredText
    section: RequiredText
    text: RequiredText
    scope: Annotated[str, BeforeValidator(_choice(SCOPES))] = "per_branch"
    reference: Annotated[Optional[str], BeforeValidator(_optional(_reference))] = None
    judgement_month: Annotated[Optional[str], BeforeValidator(_optional(_judgement_month))] = None
    parts: Optional[list[PartModel]] = None

    @field_validator("parts")
    @classmethod
    def _parts_fit_the_rule(cls, v: list[PartModel] | None, info: ValidationInfo) -> list[PartModel] | None:
        rule = info.data.get("rule")
        if rule == "all_of" and len(v or []) < 2:
            raise ValueError("rule all_of には parts（条件）が2つ以上必要です")
        if rule is not None and rule != "all_of" and v is not None:
            raise ValueError("parts は rule all_of のときだけ書きます")
        return v

    def to_kpi(self) -> Kpi:
        parts = tuple(p.to_part() for p in self.parts) if self.rule == "all_of" else (self.to_part(),)
        return Kpi(
            id=self.id, key=self.key, section=self.section, text=self.text, rule=self.rule, scope=self.scope,
            parts=parts, reference=self.reference, judgement_month=self.judgement_month,
        )


class PlanModel(_Strict):
    """One plan of the year: the 本部 plan (branch 00) or a branch's own plan (01–47)."""

    branch_code: BranchCode
    plan: Annotated[str, BeforeValidator(_choice(PLANS))]
    title: Text = ""
    source: Text = ""
    status: Annotated[str, BeforeValidator(_choice(STATUSES))]
    kpis: Annotated[list[KpiModel], BeforeValidator(_list)] = []

    @field_validator("plan")
    @classmethod
    def _plan_fits_branch(cls, v: str, info: ValidationInfo) -> str:
        code = info.data.get("branch_code")
        if code is not None and (code == "00") != (v == "本部"):
            raise ValueError("本部の計画は branch_code \"00\"、支部の計画は \"01\"〜\"47\" です")
        return v

    def to_plan(self) -> Plan:
        return Plan(self.branch_code, self.plan, self.title, self.source, self.status, tuple(k.to_kpi() for k in self.kpis))


class CatalogFile(_Strict):
    """A whole ``FY<year>.yaml``."""

    fiscal_year: Annotated[int, BeforeValidator(_fiscal_year)]
    plans: Annotated[list[PlanModel], BeforeValidator(_list)] = []

    @field_validator("fiscal_year")
    @classmethod
    def _matches_file_name(cls, v: int, info: ValidationInfo) -> int:
        m = re.fullmatch(r"FY(\d{4})\.ya?ml", (info.context or {}).get("file", ""))
        if m and int(m[1]) != v:
            raise ValueError(f"{v} がファイル名（FY{m[1]}）と一致しません")
        return v


class ActionPlanFile(_Strict):
    """A whole ``AP<n>.yaml``: one 保険者機能強化アクションプラン."""

    name: RequiredText
    title: Text = ""
    source: Text = ""
    status: Annotated[str, BeforeValidator(_choice(STATUSES))]
    first_fiscal_year: Annotated[int, BeforeValidator(_fiscal_year)]
    last_fiscal_year: Annotated[int, BeforeValidator(_fiscal_year)]
    kpis: Annotated[list[KpiModel], BeforeValidator(_list)] = []

    @field_validator("last_fiscal_year")
    @classmethod
    def _period(cls, v: int, info: ValidationInfo) -> int:
        first = info.data.get("first_fiscal_year")
        if first is not None and not first <= v < first + MAX_ACTION_PLAN_YEARS:
            raise ValueError(f"{v} は first_fiscal_year（{first}）から{MAX_ACTION_PLAN_YEARS}年度以内の年度ではありません")
        return v

    def to_action_plan(self, path: Path) -> ActionPlan:
        return ActionPlan(
            self.name, self.title, self.source, self.status, tuple(range(self.first_fiscal_year, self.last_fiscal_year + 1)),
            tuple(k.to_kpi() for k in self.kpis), path,
        )


def _weight(v: Any) -> float:
    x = _number(v)
    if not 0 <= x <= MAX_WEIGHT:
        raise ValueError(f"0〜{MAX_WEIGHT:,.0f}の数値ではありません（{_show(v)}）")
    return x


Weight = Annotated[float, BeforeValidator(_weight)]


def _rewarded_branches(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= BRANCH_COUNT:
        raise ValueError(f"1〜{BRANCH_COUNT}の整数（報奨対象とする上位の支部数）ではありません（{_show(v)}）")
    return v


class IncentiveIndicatorModel(_Strict):
    """One indicator of an ``incentive/FY<year>.yaml``."""

    key: RequiredText
    name: RequiredText
    measure: RequiredText
    weight: Weight
    level_weight: Weight
    improvement_weight: Weight
    better: Annotated[str, BeforeValidator(_choice(BETTER))] = "higher"

    @field_validator("measure")
    @classmethod
    def _measure_per_branch(cls, v: str) -> str:
        m = MEASURES_BY_ID.get(v)
        if m is None:
            raise ValueError(f"未知の指標です（{_show(v)}）")
        if m.national_only:
            raise ValueError(f"{_show(v)} は協会全体の値しかない指標のため、支部の順位付けには使えません")
        return v

    @field_validator("weight")
    @classmethod
    def _weight_positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("0より大きい数値にしてください（重み0の指標は書かずに外します）")
        return v

    @field_validator("improvement_weight")
    @classmethod
    def _some_weight_inside(cls, v: float, info: ValidationInfo) -> float:
        if v == 0 and info.data.get("level_weight") == 0:
            raise ValueError("level_weight と improvement_weight の両方が0です（どちらかを0より大きくしてください）")
        return v

    def to_indicator(self) -> IncentiveIndicator:
        return IncentiveIndicator(self.key, self.name, self.measure, self.weight, self.level_weight, self.improvement_weight, self.better)


class IncentiveFile(_Strict):
    """A whole ``incentive/FY<year>.yaml``: the インセンティブ制度's scoring of one fiscal year's results."""

    fiscal_year: Annotated[int, BeforeValidator(_fiscal_year)]
    title: Text = ""
    source: Text = ""
    status: Annotated[str, BeforeValidator(_choice(STATUSES))]
    rewarded_branches: Annotated[int, BeforeValidator(_rewarded_branches)]
    indicators: Annotated[list[IncentiveIndicatorModel], BeforeValidator(_list)]

    @field_validator("fiscal_year")
    @classmethod
    def _matches_file_name(cls, v: int, info: ValidationInfo) -> int:
        m = re.fullmatch(r"FY(\d{4})\.yaml", (info.context or {}).get("file", ""))
        if m and int(m[1]) != v:
            raise ValueError(f"{v} がファイル名（FY{m[1]}）と一致しません")
        return v

    @field_validator("indicators")
    @classmethod
    def _some_indicators(cls, v: list[IncentiveIndicatorModel]) -> list[IncentiveIndicatorModel]:
        if not v:
            raise ValueError("指標が1つもありません")
        if len(v) > MAX_INCENTIVE_INDICATORS:
            raise ValueError(f"指標が多すぎます（{len(v)}個。{MAX_INCENTIVE_INDICATORS}個まで）")
        return v

    def to_scheme(self, path: Path) -> IncentiveScheme:
        return IncentiveScheme(
            self.fiscal_year, path, self.title, self.source, self.status, self.rewarded_branches,
            tuple(i.to_indicator() for i in self.indicators),
        )


class ManualEntryModel(_Strict):
    kpi_id: RequiredText
    branch_code: BranchCode
    status: Annotated[str, BeforeValidator(_choice(MANUAL_STATUSES))]
    actual_text: Text = ""
    evidence: Text = ""

    def to_entry(self) -> ManualEntry:
        return ManualEntry(self.kpi_id, self.branch_code, self.status, self.actual_text, self.evidence)


class ManualFile(_Strict):
    """A whole ``FY<year>_manual.yaml``."""

    entries: Annotated[list[ManualEntryModel], BeforeValidator(_list)] = []


# -- problems: where, field, reason ----------------------------------------------------------------


def _label(v: Any) -> str | None:
    """An id or branch code as it may appear in a problem's location (None when unusable)."""
    if isinstance(v, str) and v.strip() and len(v) <= 40 and _bad_character(v) is None:
        return v
    return None


def _field_path(loc: tuple, last_is_key: bool = False) -> str:
    """('parts', 1, 'value') → "parts[2].value" (list positions counted from 1, as a person does)."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int) and not (last_is_key and i == len(loc) - 1):
            out += f"[{part + 1}]"
        else:
            name = part if isinstance(part, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part) else _show(part)
            out += ("." if out else "") + name
    return out


def _reason(error: dict) -> str:
    kind = error["type"]
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "missing":
        return "必須の項目がありません"
    if kind == "extra_forbidden":
        return "この項目は使えません（書き間違いではありませんか）"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"「項目: 値」の形（マッピング）ではありません（{_show(error.get('input'))}）"
    if kind == "list_type":
        return f"「- 」で始まる行の並び（リスト）ではありません（{_show(error.get('input'))}）"
    if kind == "invalid_key":
        return "項目名が文字列ではありません"
    return f"値が正しくありません（{error.get('msg', kind)}）"


def _item(raw: Any, key: Any) -> Any:
    try:
        return raw[key]
    except (KeyError, IndexError, TypeError):
        return None


def _where_in_catalog(raw: dict, loc: tuple) -> tuple[str | None, tuple]:
    """('plans', 0, 'kpis', 3, 'value') → ("KPI FY2024-00-04", ('value',))."""
    if len(loc) < 2 or loc[0] != "plans" or not isinstance(loc[1], int):
        return None, loc
    plan = _item(_item(raw, "plans"), loc[1])
    code = _label(_item(plan, "branch_code"))
    plan_where = f"計画 {code}" if code else f"{loc[1] + 1}番目の計画"
    if len(loc) < 4 or loc[2] != "kpis" or not isinstance(loc[3], int):
        return plan_where, loc[2:]
    kid = _label(_item(_item(_item(plan, "kpis"), loc[3]), "id"))
    return (f"KPI {kid}" if kid else f"{plan_where} の{loc[3] + 1}番目のKPI"), loc[4:]


def _problems(name: str, exc: ValidationError, where: Callable[[tuple], tuple[str | None, tuple]]) -> list[str]:
    out = []
    for error in exc.errors():
        place, rest = where(tuple(error["loc"]))
        path = _field_path(rest, last_is_key=error["type"] == "invalid_key")
        out.append(": ".join(x for x in (name, place, path, _reason(error)) if x))
    return out


def _cross_checks(name: str, raw: dict) -> list[str]:
    """Rules across plans and KPIs, checked on the raw content so they are listed even when a field
    elsewhere is wrong: one plan per branch, unique KPI ids in the file, unique keys in a plan."""
    problems: list[str] = []
    plans = raw.get("plans") if isinstance(raw.get("plans"), list) else []
    seen_ids: dict[str, str] = {}
    seen_branches: set[str] = set()
    for pi, plan in enumerate(plans):
        if not isinstance(plan, dict):
            continue
        code = _label(plan.get("branch_code"))
        plan_where = f"計画 {code}" if code else f"{pi + 1}番目の計画"
        if code is not None:
            if code in seen_branches:
                problems.append(f"{name}: {plan_where}: branch_code: 同じ支部の計画が2つあります")
            seen_branches.add(code)
        keys: dict[str, str] = {}
        for kpi in plan.get("kpis") if isinstance(plan.get("kpis"), list) else []:
            kid = _label(kpi.get("id")) if isinstance(kpi, dict) else None
            if kid is None:
                continue
            if kid in seen_ids:
                problems.append(f"{name}: KPI {kid}: id: 重複しています（{seen_ids[kid]} にもあります）")
            seen_ids[kid] = plan_where
            key = _label(kpi.get("key"))
            if key is not None:
                if key in keys:
                    problems.append(f"{name}: KPI {kid}: key: {_show(key)} は同じ計画の KPI {keys[key]} が使っています")
                keys[key] = kid
    return problems


def _manual_ids(raw: Any) -> set[str]:
    """The ids of the manual KPIs, read defensively (the catalog itself may have problems)."""
    ids = set()
    plans = _item(raw, "plans")
    for plan in plans if isinstance(plans, list) else []:
        kpis = _item(plan, "kpis")
        for kpi in kpis if isinstance(kpis, list) else []:
            if isinstance(kpi, dict) and kpi.get("rule") == "manual" and _label(kpi.get("id")):
                ids.add(kpi["id"])
    return ids


# -- loading ----------------------------------------------------------------------------------------


def load_catalog_file(path: Path) -> tuple[Catalog | None, list[str]]:
    """The catalog in ``path`` (with its manual entries), or None; and every problem found. Never
    raises: a catalog with any problem is returned as None with the problems."""
    name = path.name
    raw, problems = read_yaml(path)
    if problems:
        return None, problems
    if not isinstance(raw, dict):
        return None, [f"{name}: fiscal_year と plans を持つ「項目: 値」の形（マッピング）ではありません（{_show(raw)}）"]
    model = None
    try:
        model = CatalogFile.model_validate(raw, context={"file": name})
    except ValidationError as exc:
        problems += _problems(name, exc, lambda loc: _where_in_catalog(raw, loc))
    problems += _cross_checks(name, raw)
    manual: dict[tuple[str, str], ManualEntry] = {}
    manual_path = path.with_name(f"{path.stem}_manual.yaml")
    if manual_path.exists():
        manual, manual_problems = load_manual(manual_path, _manual_ids(raw), name)
        problems += manual_problems
    if problems or model is None:
        return None, problems
    return Catalog(model.fiscal_year, path, tuple(p.to_plan() for p in model.plans), manual), []


def load_manual(path: Path, manual_ids: set[str], catalog_name: str) -> tuple[dict[tuple[str, str], ManualEntry], list[str]]:
    """The manual entries of ``path`` for the manual KPIs ``manual_ids`` of ``catalog_name``."""
    name = path.name
    raw, problems = read_yaml(path)
    if problems:
        return {}, problems
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return {}, [f"{name}: entries を持つ「項目: 値」の形（マッピング）ではありません（{_show(raw)}）"]

    def where(loc: tuple) -> tuple[str | None, tuple]:
        if len(loc) < 2 or loc[0] != "entries" or not isinstance(loc[1], int):
            return None, loc
        kid = _label(_item(_item(_item(raw, "entries"), loc[1]), "kpi_id"))
        return f"{loc[1] + 1}番目の入力（KPI {kid or '?'}）", loc[2:]

    try:
        model = ManualFile.model_validate(raw)
    except ValidationError as exc:
        return {}, _problems(name, exc, where)
    out: dict[tuple[str, str], ManualEntry] = {}
    for i, e in enumerate(model.entries):
        place = f"{name}: {i + 1}番目の入力（KPI {_label(e.kpi_id) or '?'}）"
        if e.kpi_id not in manual_ids:
            problems.append(f"{place}: kpi_id: {catalog_name} に手入力（rule manual）のKPI {_show(e.kpi_id)} はありません")
        if (e.kpi_id, e.branch_code) in out:
            problems.append(f"{place}: 同じKPI・支部（{e.branch_code}）の入力がすでにあります")
        out[(e.kpi_id, e.branch_code)] = e.to_entry()
    return out, problems


@_reuse_while_unchanged
def load_catalogs(folder: Path) -> tuple[dict[int, Catalog], list[str]]:
    """Every ``FY<year>.yaml`` in the folder that has no problem, and every problem found."""
    catalogs: dict[int, Catalog] = {}
    problems: list[str] = []
    folder = Path(folder)
    try:
        if not folder.is_dir():
            return {}, [f"{folder}: カタログのフォルダがありません"]
        paths = sorted(folder.glob("FY*.yaml"))
    except OSError as exc:
        return {}, [f"{folder}: カタログのフォルダを読めません（{exc.strerror or type(exc).__name__}）"]
    for path in paths:
        if path.stem.endswith("_manual"):
            continue
        catalog, file_problems = load_catalog_file(path)
        problems += file_problems
        if catalog is not None:
            if catalog.fiscal_year in catalogs:
                problems.append(f"{path.name}: fiscal_year: FY{catalog.fiscal_year} のカタログが2つあります（{catalogs[catalog.fiscal_year].path.name}）")
            catalogs[catalog.fiscal_year] = catalog
    _, action_plan_problems = load_action_plans(folder)  # the folder is checked as a whole
    _, incentive_problems = load_incentive_schemes(folder)
    return catalogs, problems + action_plan_problems + incentive_problems


def require_catalogs(folder: Path) -> dict[int, Catalog]:
    catalogs, problems = load_catalogs(folder)
    if problems:
        raise CatalogError(problems)
    return catalogs


# -- Action Plans -----------------------------------------------------------------------------------


def load_action_plan_file(path: Path) -> tuple[ActionPlan | None, list[str]]:
    """The Action Plan in ``path``, or None; and every problem found. Never raises."""
    name = path.name
    raw, problems = read_yaml(path)
    if problems:
        return None, problems
    if not isinstance(raw, dict):
        return None, [f"{name}: name、first_fiscal_year、last_fiscal_year と kpis を持つ「項目: 値」の形（マッピング）ではありません（{_show(raw)}）"]

    def where(loc: tuple) -> tuple[str | None, tuple]:
        if len(loc) < 2 or loc[0] != "kpis" or not isinstance(loc[1], int):
            return None, loc
        kid = _label(_item(_item(_item(raw, "kpis"), loc[1]), "id"))
        return (f"KPI {kid}" if kid else f"{loc[1] + 1}番目のKPI"), loc[2:]

    model = None
    try:
        model = ActionPlanFile.model_validate(raw)
    except ValidationError as exc:
        problems += _problems(name, exc, where)
    ids: set[str] = set()
    keys: dict[str, str] = {}
    for kpi in raw.get("kpis") if isinstance(raw.get("kpis"), list) else []:
        kid = _label(kpi.get("id")) if isinstance(kpi, dict) else None
        if kid is None:
            continue
        if kid in ids:
            problems.append(f"{name}: KPI {kid}: id: 重複しています")
        ids.add(kid)
        key = _label(kpi.get("key"))
        if key is not None:
            if key in keys:
                problems.append(f"{name}: KPI {kid}: key: {_show(key)} は同じ計画の KPI {keys[key]} が使っています")
            keys[key] = kid
    if problems or model is None:
        return None, problems
    return model.to_action_plan(path), []


@_reuse_while_unchanged
def load_action_plans(folder: Path) -> tuple[list[ActionPlan], list[str]]:
    """Every ``AP*.yaml`` in the folder that has no problem (in period order), and every problem
    found, including two plans whose periods overlap (a year belongs to one Action Plan)."""
    folder = Path(folder)
    try:
        paths = sorted(folder.glob("AP*.yaml")) if folder.is_dir() else []
    except OSError:
        return [], []  # load_catalogs reports an unreadable folder
    plans: list[ActionPlan] = []
    problems: list[str] = []
    for path in paths:
        plan, file_problems = load_action_plan_file(path)
        problems += file_problems
        if plan is None:
            continue
        for other in plans:
            if set(plan.years) & set(other.years):
                problems.append(f"{path.name}: first_fiscal_year: 期間（FY{plan.years[0]}〜FY{plan.years[-1]}）が {other.path.name}（{other.name}）の期間と重なります")
            if plan.name == other.name:
                problems.append(f"{path.name}: name: {_show(plan.name)} は {other.path.name} と同じ名前です")
        plans.append(plan)
    return sorted(plans, key=lambda p: p.years), problems


def require_action_plans(folder: Path) -> list[ActionPlan]:
    plans, problems = load_action_plans(folder)
    if problems:
        raise CatalogError(problems)
    return plans


# -- インセンティブ制度 -------------------------------------------------------------------------------


def load_incentive_file(path: Path) -> tuple[IncentiveScheme | None, list[str]]:
    """The scoring in ``path`` (``incentive/FY<year>.yaml``), or None; and every problem found, each
    naming the file as ``incentive/FY2024.yaml``. Never raises."""
    name = f"{INCENTIVE_FOLDER}/{path.name}"
    raw, problems = read_yaml(path)
    if problems:  # read_yaml names the bare file; say which folder it is in
        return None, [f"{INCENTIVE_FOLDER}/{p}" if p.startswith(path.name) else p for p in problems]
    if not isinstance(raw, dict):
        return None, [f"{name}: fiscal_year、rewarded_branches と indicators を持つ「項目: 値」の形（マッピング）ではありません（{_show(raw)}）"]

    def where(loc: tuple) -> tuple[str | None, tuple]:
        if len(loc) < 2 or loc[0] != "indicators" or not isinstance(loc[1], int):
            return None, loc
        key = _label(_item(_item(_item(raw, "indicators"), loc[1]), "key"))
        return (f"指標 {key}" if key else f"{loc[1] + 1}番目の指標"), loc[2:]

    model = None
    try:
        model = IncentiveFile.model_validate(raw, context={"file": path.name})
    except ValidationError as exc:
        problems += _problems(name, exc, where)
    keys: set[str] = set()
    measures: dict[str, str] = {}
    for i, ind in enumerate(raw.get("indicators") if isinstance(raw.get("indicators"), list) else []):
        if not isinstance(ind, dict):
            continue
        key, measure_id = _label(ind.get("key")), _label(ind.get("measure"))
        place = f"指標 {key}" if key else f"{i + 1}番目の指標"
        if key is not None:
            if key in keys:
                problems.append(f"{name}: {place}: key: 重複しています")
            keys.add(key)
        if measure_id is not None:
            if measure_id in measures:
                problems.append(f"{name}: {place}: measure: {_show(measure_id)} は {measures[measure_id]} と同じ指標です")
            measures[measure_id] = place
    if problems or model is None:
        return None, problems
    return model.to_scheme(path), []


@_reuse_while_unchanged
def load_incentive_schemes(folder: Path) -> tuple[dict[int, IncentiveScheme], list[str]]:
    """Every ``incentive/FY<year>.yaml`` of the catalog folder that has no problem, and every problem
    found (a file in ``incentive/`` whose name is not ``FY<year>.yaml`` is one: it would otherwise be
    ignored without a word). No ``incentive/`` folder: no schemes, no problem."""
    folder = Path(folder) / INCENTIVE_FOLDER
    try:
        if not folder.is_dir():
            return {}, []
        paths = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    except OSError as exc:
        return {}, [f"{INCENTIVE_FOLDER}: フォルダを読めません（{exc.strerror or type(exc).__name__}）"]
    schemes: dict[int, IncentiveScheme] = {}
    problems: list[str] = []
    for path in paths:
        if not re.fullmatch(r"FY\d{4}\.yaml", path.name):
            problems.append(f"{INCENTIVE_FOLDER}/{path.name}: ファイル名が FY<年度>.yaml（例: FY2024.yaml）ではないため読み込めません")
            continue
        scheme, file_problems = load_incentive_file(path)
        problems += file_problems
        if scheme is not None:
            schemes[scheme.fiscal_year] = scheme
    return schemes, problems


def require_incentive_schemes(folder: Path) -> dict[int, IncentiveScheme]:
    schemes, problems = load_incentive_schemes(folder)
    if problems:
        raise CatalogError(problems)
    return schemes
