"""The package's import structure (DESIGN.md, issue 17 item 37): no import
circles, registration in one explicit place (ganscape.components), and
every registered component reachable from the command line.

The graph is read from the source with `ast`, so that it holds every import
a module can run, not only those one process happened to run:

- Function-level (lazy) imports count. A lazy import keeps a circle from
  failing at import time, but the modules still depend on each other both
  ways; that is how the 19-module circle of issue 17 (config -> components
  -> methods -> train.state -> config, api -> train.loop -> evaluation ->
  api, ...) went unnoticed. Imports under `if TYPE_CHECKING:` do not count
  (they never run).
- The implicit import of parent packages does not count (importing a.b.c
  runs a/__init__ and a/b/__init__): a package that re-exports its
  submodules would otherwise be a circle with each of them, and the root
  __init__ imports components on purpose, so that any `import ganscape.X`
  fills the registries first.
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set

import ganscape

PKG_DIR = Path(ganscape.__file__).parent
SRC = PKG_DIR.parent

# Circles known and owned elsewhere, each with the reason. A fix must remove
# its entry (test_known_circles_still_exist says so), so the list only shrinks.
KNOWN_CIRCLES: Dict[frozenset, str] = {}


def _modules() -> Dict[str, Path]:
    mods = {}
    for path in PKG_DIR.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST) -> List[ast.AST]:
    """Every import statement, at any depth, except under `if TYPE_CHECKING:`."""
    out: List[ast.AST] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def _owner(name: str) -> str:
    """The module that a dotted name lives in (a.b.func -> a.b)."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imports_of(module: str) -> Set[str]:
    """The ganscape modules that `module` imports anywhere in its body."""
    path = MODULES[module]
    is_pkg = path.name == "__init__.py"
    found: Set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names if a.name.split(".")[0] == "ganscape"]
        else:
            if node.level:
                base = module.split(".") if is_pkg else module.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                base_name = ".".join(base + ([node.module] if node.module else []))
            else:
                base_name = node.module or ""
            if base_name.split(".")[0] != "ganscape":
                continue
            subs = [f"{base_name}.{a.name}" for a in node.names if f"{base_name}.{a.name}" in MODULES]
            # `from pkg import submodule` imports the submodule; `from pkg import name` imports pkg
            targets = subs + ([base_name] if len(subs) < len(node.names) else [])
        found.update(_owner(t) for t in targets)
    found.discard(module)
    return {m for m in found if m in MODULES}


GRAPH = {m: imports_of(m) for m in MODULES}


def _circles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    out: List[List[str]] = []
    counter = [0]
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph) + 100))

    def connect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def _describe(circle: List[str]) -> str:
    members = set(circle)
    edges = [f"{a} -> {b}" for a in circle for b in sorted(GRAPH[a] & members)]
    return f"{len(circle)} modules: " + "; ".join(edges)


def test_the_graph_reader_sees_lazy_relative_and_absolute_imports():
    # The reader itself, on imports whose targets are known from the source.
    assert "ganscape.metrics.evaluate" in GRAPH["ganscape.train.loop"]       # lazy, `from ..metrics.evaluate import`
    assert "ganscape.registry" in GRAPH["ganscape.config"]                   # module level, `from .registry import`
    assert "ganscape.methods.gan" in GRAPH["ganscape.components"]            # `from .methods import gan`
    assert "ganscape.components" in GRAPH["ganscape"]                        # `from . import components`
    assert "ganscape.train.state" in GRAPH["ganscape.methods.gan"]           # lazy, inside a method
    # and the circle finder, on a made-up graph
    toy = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _circles(toy) == [["a", "b", "c"]]


def test_no_import_circles():
    found = _circles(GRAPH)
    new = [c for c in found if frozenset(c) not in KNOWN_CIRCLES]
    assert not new, "import circles (lazy imports count; see this file's docstring):\n" + \
        "\n".join(_describe(c) for c in new)


def test_known_circles_still_exist():
    found = {frozenset(c) for c in _circles(GRAPH)}
    gone = [why for circle, why in KNOWN_CIRCLES.items() if circle not in found]
    assert not gone, f"fixed, so remove from KNOWN_CIRCLES: {gone}"


def _closure(start: str) -> Set[str]:
    seen: Set[str] = set()
    todo = [start]
    while todo:
        for w in GRAPH[todo.pop()]:
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def component_modules() -> Set[str]:
    """The modules components.py imports so that they register."""
    return GRAPH["ganscape.components"]


def test_config_and_registry_import_no_component_module():
    components = component_modules()
    assert len(components) > 30  # every data set, net, objective, method, extractor and metric module
    for foundation in ("ganscape.config", "ganscape.registry"):
        reached = _closure(foundation)
        assert "ganscape.components" not in reached, f"{foundation} imports ganscape.components"
        bad = sorted(reached & components)
        assert not bad, f"{foundation} imports component modules (directly or through others): {bad}"


ENTRY_POINTS = {"ganscape", "ganscape.api", "ganscape.cli", "ganscape.study.runner"}


def test_components_is_imported_by_entry_points_only():
    importers = {m for m, targets in GRAPH.items() if "ganscape.components" in targets}
    assert importers <= ENTRY_POINTS, f"only entry points import ganscape.components: {sorted(importers - ENTRY_POINTS)}"
    assert {"ganscape", "ganscape.api", "ganscape.cli"} <= importers


def test_methods_use_metrics_only_through_the_loop():
    # DESIGN.md: a method may use metrics only through the loop's evaluator.
    # (Two methods imported metric modules to register them: issue 17 item 37.)
    bad = sorted(f"{m} -> {t}" for m, targets in GRAPH.items() if m.startswith("ganscape.methods.")
                 for t in targets if t.startswith("ganscape.metrics"))
    assert not bad, bad


# registry variable -> its heading in `ganscape list`
_HEADINGS = {"DATASETS": "datasets", "ARCHITECTURES": "architectures", "NORMALIZATIONS": "normalizations",
             "LOSSES": "losses", "PENALTIES": "penalties", "OPTIMIZERS": "optimizers", "METHODS": "methods",
             "EXTRACTORS": "feature extractors", "METRICS": "metrics"}


def registrations_in_source() -> Dict[str, Set[str]]:
    """{registry variable: names} of every `REGISTRY.register("name", ...)` in the source."""
    out: Dict[str, Set[str]] = {k: set() for k in _HEADINGS}
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "register"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in out and node.args
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                out[node.func.value.id].add(node.args[0].value)
    return out


MARK = "---- eval --help ----"


def test_a_fresh_process_lists_and_offers_every_registered_component():
    # A fresh interpreter, as a user's `ganscape list` / `ganscape eval --help`:
    # registration happens through the entry point alone, every module that
    # registers something is imported by components.py, and the parser's
    # choices are built after that.
    expected = registrations_in_source()
    assert sum(map(len, expected.values())) > 80 and "nll" in expected["METRICS"]
    code = ("import sys; from ganscape.cli import build_parser, main; rc = main(['list']); "
            f"print({MARK!r}); p = build_parser(); "
            "print(p._subparsers._group_actions[0].choices['eval'].format_help()); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    listing, help_text = out.stdout.split(MARK)
    listed: Dict[str, Set[str]] = {}
    section = None
    for line in listing.splitlines():
        if re.fullmatch(r"[a-z ]+:", line):
            section = listed.setdefault(line[:-1], set())
        elif section is not None and re.match(r"  \S", line):
            section.add(line.split()[0])
    for var, names in expected.items():
        missing = sorted(names - listed.get(_HEADINGS[var], set()))
        assert not missing, f"{var}: registered in the source but not listed by `ganscape list`: {missing} " \
                            f"(is its module in components.py?)"
    metrics_help = " ".join(help_text.split()).replace("- ", "-")  # argparse wraps at hyphens
    missing = sorted(n for n in expected["METRICS"] if n not in metrics_help)
    assert not missing, f"eval --metrics does not offer {missing}"
