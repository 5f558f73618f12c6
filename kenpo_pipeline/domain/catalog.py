"""KPI catalogs: what each fiscal year's plans target (shared spec/kpis.md §4, §6).

One YAML file per fiscal year (``FY2024.yaml``) in the catalog folder (``KENPO_CATALOGS``, default
``assets/catalogs``), edited by planning staff when a new 事業計画 is approved; KPIs no feed can
measure (rule ``manual``) take their status from ``FY2024_manual.yaml`` beside it. Every problem
found when loading is reported with the file, the KPI and the reason (``kenpo catalog check``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kenpo_pipeline.domain.measures import MEASURES_BY_ID

RULES = ("absolute", "prior_year", "branch_floor", "all_of", "small_count", "every_month", "done", "manual")
OPS = (">=", "<=")
PLANS = ("本部", "支部")
SCOPES = ("per_branch", "association")
STATUSES = ("確定", "案")
MANUAL_STATUSES = ("達成", "未達成", "未入力")
VALID_BRANCHES = {f"{i:02d}" for i in range(0, 48)}


class CatalogError(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


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


def _part(raw: dict, where: str, problems: list[str]) -> Part | None:
    rule = raw.get("rule")
    if rule not in RULES or rule == "all_of":
        problems.append(f"{where}: rule {rule!r} is not one of {', '.join(r for r in RULES if r != 'all_of')}")
        return None
    measure = raw.get("measure")
    if rule != "manual":
        if measure is None:
            problems.append(f"{where}: rule {rule} needs a measure")
        elif measure not in MEASURES_BY_ID:
            problems.append(f"{where}: unknown measure {measure!r}")
    op = raw.get("op")
    if rule in ("absolute", "prior_year", "small_count") and op not in OPS:
        problems.append(f"{where}: rule {rule} needs op '>=' or '<=' (got {op!r})")
    value = raw.get("value")
    if rule in ("absolute", "branch_floor", "small_count") and not isinstance(value, (int, float)):
        problems.append(f"{where}: rule {rule} needs a numeric value (got {value!r})")
    if rule == "small_count":
        for k in ("small_threshold", "small_max_count"):
            if not isinstance(raw.get(k), int):
                problems.append(f"{where}: rule small_count needs an integer {k}")
    jp = raw.get("judgement_precision")
    if jp is not None and jp != "exact" and not isinstance(jp, int):
        problems.append(f"{where}: judgement_precision must be a number of decimals or 'exact' (got {jp!r})")
    baseline = raw.get("baseline")
    if baseline is not None and not isinstance(baseline, (int, float)):
        problems.append(f"{where}: baseline must be a number (got {baseline!r})")
    return Part(
        rule=rule,
        measure=measure,
        op=op,
        value=float(value) if isinstance(value, (int, float)) else None,
        baseline=float(baseline) if isinstance(baseline, (int, float)) else None,
        target_text=raw.get("target_text"),
        display_precision=raw.get("display_precision"),
        judgement_precision=jp,
        small_threshold=raw.get("small_threshold"),
        small_max_count=raw.get("small_max_count"),
        expected_tenders=raw.get("expected_tenders"),
    )


def _kpi(raw: dict, file_name: str, problems: list[str]) -> Kpi | None:
    where = f"{file_name}: KPI {raw.get('id', '?')}"
    for k in ("id", "key", "section", "text", "rule"):
        if not raw.get(k):
            problems.append(f"{where}: missing {k}")
    rule = raw.get("rule")
    if rule == "all_of":
        parts_raw = raw.get("parts") or []
        if len(parts_raw) < 2:
            problems.append(f"{where}: rule all_of needs at least two parts")
        parts = [_part(p, f"{where} part {i + 1}", problems) for i, p in enumerate(parts_raw)]
    else:
        parts = [_part(raw, where, problems)]
    scope = raw.get("scope", "per_branch")
    if scope not in SCOPES:
        problems.append(f"{where}: scope {scope!r} is not per_branch or association")
    jm = raw.get("judgement_month")
    if jm is not None and not re.fullmatch(r"(0[1-9]|1[0-2])", str(jm)):
        problems.append(f"{where}: judgement_month must be MM (got {jm!r})")
    if any(p is None for p in parts) or not raw.get("id"):
        return None
    return Kpi(
        id=str(raw["id"]),
        key=str(raw.get("key", "")),
        section=str(raw.get("section", "")),
        text=str(raw.get("text", "")),
        rule=rule,
        scope=scope,
        parts=tuple(parts),
        reference=None if raw.get("reference") is None else str(raw["reference"]),
        judgement_month=None if jm is None else str(jm),
    )


def load_catalog_file(path: Path) -> tuple[Catalog | None, list[str]]:
    problems: list[str] = []
    name = path.name
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        return None, [f"{name}: cannot be read as YAML ({exc})"]
    if not isinstance(raw, dict):
        return None, [f"{name}: expected a mapping with fiscal_year and plans"]
    fy = raw.get("fiscal_year")
    m = re.fullmatch(r"FY(\d{4})\.ya?ml", name)
    if not isinstance(fy, int):
        problems.append(f"{name}: fiscal_year must be a year such as 2024")
    elif m and int(m[1]) != fy:
        problems.append(f"{name}: fiscal_year {fy} does not match the file name")
    plans: list[Plan] = []
    seen_ids: dict[str, str] = {}
    seen_branches: set[str] = set()
    for pi, p in enumerate(raw.get("plans") or []):
        code = str(p.get("branch_code", ""))
        where = f"{name}: plan {code or pi + 1}"
        if code not in VALID_BRANCHES:
            problems.append(f"{where}: branch_code {code!r} is not 00–47")
        if code in seen_branches:
            problems.append(f"{where}: a second plan for the same branch")
        seen_branches.add(code)
        if p.get("plan") not in PLANS:
            problems.append(f"{where}: plan must be 本部 or 支部 (got {p.get('plan')!r})")
        elif (code == "00") != (p.get("plan") == "本部"):
            problems.append(f"{where}: the 本部 plan is branch 00 and a 支部 plan is a branch 01–47")
        if p.get("status") not in STATUSES:
            problems.append(f"{where}: status must be 確定 or 案 (got {p.get('status')!r})")
        kpis: list[Kpi] = []
        keys: dict[str, str] = {}
        for k in p.get("kpis") or []:
            kpi = _kpi(k, name, problems)
            if kpi is None:
                continue
            if kpi.id in seen_ids:
                problems.append(f"{name}: KPI {kpi.id}: duplicate id (also in plan {seen_ids[kpi.id]})")
            seen_ids[kpi.id] = code
            if kpi.key in keys:
                problems.append(f"{name}: KPI {kpi.id}: key {kpi.key!r} is already used by {keys[kpi.key]} in the same plan")
            keys[kpi.key] = kpi.id
            kpis.append(kpi)
        plans.append(Plan(code, p.get("plan", ""), str(p.get("title", "")), str(p.get("source", "")), p.get("status", ""), tuple(kpis)))
    catalog = Catalog(fy if isinstance(fy, int) else 0, path, tuple(plans))
    manual_path = path.with_name(f"{path.stem}_manual.yaml")
    if manual_path.exists():
        catalog.manual, manual_problems = load_manual(manual_path, catalog)
        problems += manual_problems
    return catalog, problems


def load_manual(path: Path, catalog: Catalog) -> tuple[dict[tuple[str, str], ManualEntry], list[str]]:
    problems: list[str] = []
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        return {}, [f"{path.name}: cannot be read as YAML ({exc})"]
    manual_ids = {k.id for p in catalog.plans for k in p.kpis if k.rule == "manual"}
    out = {}
    for i, e in enumerate(raw.get("entries") or []):
        kid, code = str(e.get("kpi_id", "")), str(e.get("branch_code", ""))
        where = f"{path.name}: entry {i + 1} (KPI {kid or '?'})"
        if kid not in manual_ids:
            problems.append(f"{where}: no manual KPI {kid!r} in {catalog.path.name}")
        if code not in VALID_BRANCHES:
            problems.append(f"{where}: branch_code {code!r} is not 00–47")
        if e.get("status") not in MANUAL_STATUSES:
            problems.append(f"{where}: status must be one of {', '.join(MANUAL_STATUSES)}")
        out[(kid, code)] = ManualEntry(kid, code, str(e.get("status", "未入力")), str(e.get("actual_text", "")), str(e.get("evidence", "")))
    return out, problems


def load_catalogs(folder: Path) -> tuple[dict[int, Catalog], list[str]]:
    """Every ``FY<year>.yaml`` in the folder, and every problem found."""
    catalogs: dict[int, Catalog] = {}
    problems: list[str] = []
    folder = Path(folder)
    if not folder.is_dir():
        return {}, [f"{folder}: the catalog folder does not exist"]
    for path in sorted(folder.glob("FY*.yaml")):
        if path.stem.endswith("_manual"):
            continue
        catalog, file_problems = load_catalog_file(path)
        problems += file_problems
        if catalog is not None:
            if catalog.fiscal_year in catalogs:
                problems.append(f"{path.name}: a second catalog for FY{catalog.fiscal_year}")
            catalogs[catalog.fiscal_year] = catalog
    return catalogs, problems


def require_catalogs(folder: Path) -> dict[int, Catalog]:
    catalogs, problems = load_catalogs(folder)
    if problems:
        raise CatalogError(problems)
    return catalogs
