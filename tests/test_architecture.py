"""The layers of ARCHITECTURE.md, checked on the code's own imports (every import, including those
inside functions): no import cycle between modules, and no module imports one from a layer above it.

Layers, lowest first (a module may import its own layer and the layers below):
settings · notify → domain shared (calendar, reference) → domain/intake → domain/kpis →
domain/reporting → warehouse → defs (+ definitions) → app → cli.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "kenpo_pipeline"

LAYERS = [  # (module prefix, layer); the longest matching prefix wins
    ("kenpo_pipeline.settings", 0),
    ("kenpo_pipeline.notify", 0),
    ("kenpo_pipeline.domain.calendar", 1),
    ("kenpo_pipeline.domain.reference", 1),
    ("kenpo_pipeline.domain.intake", 2),
    ("kenpo_pipeline.domain.kpis", 3),
    ("kenpo_pipeline.domain.reporting", 4),
    ("kenpo_pipeline.domain", 1),
    ("kenpo_pipeline.warehouse", 5),
    ("kenpo_pipeline.defs", 6),
    ("kenpo_pipeline.definitions", 6),
    ("kenpo_pipeline.app", 7),
    ("kenpo_pipeline.cli", 8),
    ("kenpo_pipeline.cli_args", 8),
    ("kenpo_pipeline.__main__", 9),
    ("kenpo_pipeline", 0),
]
NAMES = {0: "settings", 1: "domain (shared)", 2: "domain/intake", 3: "domain/kpis", 4: "domain/reporting", 5: "warehouse",
         6: "defs", 7: "app", 8: "cli", 9: "__main__"}


def layer(module: str) -> int:
    best = max((p for p, _ in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return dict(LAYERS)[best]


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``module`` imports (``from x import y`` counts x.y when y is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {m: imports(m, p, known) for m, p in mods.items()}


def test_no_module_imports_one_from_a_layer_above_it():
    upward = [
        f"{m} ({NAMES[layer(m)]}) imports {t} ({NAMES[layer(t)]})"
        for m, targets in sorted(graph().items())
        for t in sorted(targets)
        if layer(t) > layer(m)
    ]
    assert upward == []


def test_there_is_no_import_cycle():
    g = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(g.get(m, ())):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m)
    assert cycles == []


def test_domain_knows_no_dagster_and_no_database():
    offenders = []
    for m, path in modules().items():
        if not m.startswith("kenpo_pipeline.domain"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{m} imports {n}" for n in names if n.split(".")[0] in ("dagster", "sqlalchemy", "alembic", "psycopg")]
    assert offenders == []


def test_the_domain_is_grouped_by_the_stage_a_row_travels():
    domain = PACKAGE / "domain"
    assert sorted(p.name for p in domain.iterdir() if p.is_dir() and not p.name.startswith("__")) == ["intake", "kpis", "reporting"]
    assert sorted(p.name for p in domain.glob("*.py")) == ["__init__.py", "calendar.py", "reference.py"]
