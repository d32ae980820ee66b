"""The package's shape, read from its source: no import cycle, no private name used across modules."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "premium_hotline"
#: Directories that hold no source of the project (the venv, caches, run-time output).
NOT_SOURCE = {".venv", ".git", "var", "build", "__pycache__"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names, line) for every import in the file, lazy ones included."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((base, [alias.name for alias in node.names], node.lineno))
    return found


def _graph() -> dict[str, dict[str, int]]:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, dict[str, int]] = {name: {} for name in modules}
    for name, path in modules.items():
        for target, names, line in _imports(path):
            candidates = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules] or [target]
            for module in candidates:
                if module in modules and module != name:
                    graph[name].setdefault(module, line)
    return graph


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_module_of_the_package_imports_itself_back_through_others():
    # Lazy imports (inside functions) count: a cycle there is still two modules that need each
    # other. The implicit import of a package's __init__ by its modules is not counted.
    assert _cycles(_graph()) == []


def test_no_private_name_is_imported_from_another_module():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for target, names, line in _imports(path):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and target.startswith("premium_hotline"):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {target} {private}")
    assert offenders == []


def _imported_modules(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.append((node.module or "", node.lineno))
    return found


def _source_outside_tests() -> list[Path]:
    parts = {path: path.relative_to(REPO).parts for path in REPO.rglob("*.py")}
    return [
        path for path, where in parts.items() if where[0] != "tests" and not NOT_SOURCE.intersection(where)
    ]


def test_no_module_outside_tests_imports_from_tests():
    # The demo, the bench and the sandbox are product tools: what they share with the tests lives
    # in sandbox/, which the tests import, never the other way round.
    offenders = [
        f"{path.relative_to(REPO)}:{line}: {module}"
        for path in _source_outside_tests()
        for module, line in _imported_modules(path)
        if module == "tests" or module.startswith("tests.")
    ]
    assert offenders == []


def test_the_tools_that_share_the_sandbox_are_scanned():
    scanned = {str(path.relative_to(REPO)) for path in _source_outside_tests()}
    tools = {"demo/hotline_minute.py", "bench/__main__.py", "sandbox/selfcheck.py", "sandbox/asterisk.py"}
    assert tools <= scanned


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [["a", "b", "c"]]
