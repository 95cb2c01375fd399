"""The import graph of the package: no cycle, commands imported by nobody but the dispatcher, and
lower packages never importing upper ones in the order docs/architecture.md draws."""

from __future__ import annotations

import ast
from pathlib import Path

import belka_lab

PACKAGE = Path(belka_lab.__file__).parent
# lowest first; a module may import its own layer and those before it
ORDER = [
    "core",
    "tokens",
    "features",
    "dataset",
    "synth",
    "evaluation",
    "loading",
    "models",
    "run",
    "pretraining",
    "baselines",
    "training",
    "screen",
    "analysis",
    "cli",
]


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """module → the belka_lab modules it imports (at the top or inside a function)."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("belka_lab"):
                found.add(node.module)
                found |= {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("belka_lab")}
        graph[_module(path)] = found
    return {m: {t for t in targets if t in graph and t != m} for m, targets in graph.items()}


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_there_is_no_import_cycle():
    graph, state, cycles = imports(), {}, []

    def visit(m, stack):
        state[m] = "open"
        for t in graph[m]:
            if state.get(t) == "open":
                cycles.append(stack[stack.index(t) :] + [t])
            elif t not in state:
                visit(t, [*stack, t])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, cycles


def test_no_library_module_or_other_command_imports_a_command():
    for module, targets in imports().items():
        commands = {t for t in targets if layer(t) == "cli" and t not in ("belka_lab.cli", "belka_lab.cli.command")}
        if module in ("belka_lab.__main__", "belka_lab.cli"):
            continue
        assert not commands, f"{module} imports {commands}"
        if layer(module) != "cli":
            assert not {t for t in targets if layer(t) == "cli"}, module


def test_lower_packages_never_import_upper_ones():
    wrong = []
    for module, targets in imports().items():
        own = layer(module)
        if own not in ORDER:
            continue
        for t in targets:
            other = layer(t)
            if other in ORDER and ORDER.index(other) > ORDER.index(own):
                wrong.append(f"{module} → {t}")
    assert not wrong, wrong


def test_every_package_is_placed_and_says_what_it_owns():
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages <= set(ORDER), packages - set(ORDER)
    for name in packages:
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text()))
        assert doc and len(doc) > 80, f"{name}/__init__.py needs a docstring saying what it owns"
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert loose == ["__init__.py", "__main__.py", "run.py"], loose
