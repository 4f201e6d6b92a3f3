"""The package's modules import one another in one direction: no import cycle anywhere.

The graph is read from the source with ``ast`` and holds every import, at module level or
inside a function (a lazy import is still a dependency). Importing a submodule also
imports its parent package, so an edge into a package's ``__init__`` is not counted.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import course_utils

ROOT = Path(course_utils.__file__).parent
PACKAGE = "course_utils"


def _module_name(path: Path) -> str:
    parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (names as ``course_utils.x.y``)."""
    modules = _modules()
    packages = {name for name, path in modules.items() if path.name == "__init__.py"}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, name in packages, node)
                # `from . import ode` imports the submodule course_utils.ode
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            for target in targets:
                if target in modules and target not in packages and target != name:
                    graph[name].add(target)
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_package_has_no_import_cycle():
    cycle = _find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    # the check above must be able to fail
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_relative_and_lazy_imports():
    graph = import_graph()
    assert "course_utils._odeint" in graph["course_utils._adjoint"]  # module level
    assert "course_utils.ode" in graph["course_utils.cnf"]  # inside a function
    assert "course_utils._validate" in graph["course_utils._odeint"]


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("course_utils._validate", "course_utils"),  # the checks depend on nothing of ours
        ("course_utils._odeint", "course_utils._adjoint"),  # the solver knows no adjoint
        ("course_utils._odeint", "course_utils.ode"),
        ("course_utils._adjoint", "course_utils.ode"),  # built on the solver's pieces
    ],
)
def test_import_direction(module, forbidden):
    graph = import_graph()
    bad = [m for m in graph[module] if m == forbidden or m.startswith(forbidden + ".")]
    assert not bad, f"{module} imports {bad}"


def test_the_adjoint_imports_first_in_a_fresh_interpreter():
    # before: _adjoint only worked once ode had been imported (ode imported it at its end)
    code = (
        "import course_utils._adjoint as a, sys; "
        "assert 'course_utils.ode' not in sys.modules; "
        "import course_utils.ode as o; assert o.odeint_adjoint is a.odeint_adjoint"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
