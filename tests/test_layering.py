"""The packages are layered one way and have no import cycles (the design: "Layers run one way").

Every module of the project packages is parsed with :mod:`ast`; every import counts, at module
level or inside a function, relative imports resolved, and ``from pkg import name`` counts as an
import of ``pkg.name`` when that is a module. Each module gets a layer from :data:`LAYERS`:

    0 core       records, tasks, file I/O, errors, metrics: imports nothing of the project above it
    1 libraries  prompts, models, backends, generation, retrievers, eval, ...
    2 methods    ROPG, RSPG, user embeddings: built on the libraries
    3 apps       verbs and CLIs: built on everything

A module may import modules of its own layer or below, and no module may reach itself again
through its imports (a cycle), even through an import inside a function.
"""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("lamp", "retrievers", "eval", "ropg", "rspg")
NAMES = {0: "core", 1: "libraries", 2: "methods", 3: "apps"}

#: Module name (or glob) -> layer. An exact name wins; among globs the highest layer wins, so a glob
#: of a higher layer carves exceptions out of a package ("*.cli" out of "ropg.*").
#: A new module that matches nothing fails test_every_module_has_a_layer: add it here.
LAYERS: dict[str, int] = {
    # 0 core
    "lamp": 0, "lamp.errors": 0, "lamp.extras": 0, "lamp.records": 0, "lamp.tasks": 0, "lamp.files": 0,
    "eval.metrics": 0,
    # 1 libraries
    "lamp.prompts": 1, "lamp.models": 1, "lamp.backends": 1, "lamp.backends.*": 1, "lamp.generation": 1,
    "lamp.gen_cache": 1, "lamp.scrub": 1, "lamp.train_data": 1, "retrievers": 1, "retrievers.*": 1,
    "eval": 1, "eval.*": 1,
    # 2 methods
    "ropg": 2, "ropg.*": 2, "rspg": 2, "rspg.*": 2, "lamp.uemb": 2, "lamp.uemb.*": 2, "lamp.profile_store": 2,
    # 3 apps: verbs, command lines and the pipeline
    "*.cli": 3, "lamp.cli_tasks": 3, "lamp.__main__": 3, "lamp.pipeline": 3, "lamp.train": 3,
    "lamp.train_llm": 3, "lamp.adapters": 3, "lamp.serve*": 3, "lamp.evaluate_llm": 3, "lamp.download": 3,
    "lamp.validate": 3, "retrievers.rank": 3, "retrievers.rank_profiles": 3, "retrievers.merge*": 3,
    "eval.eval_*": 3, "eval.submit": 3, "eval.report": 3,
    "ropg.train_kd": 3, "ropg.train_rl": 3, "ropg.profile_item_utilization_scorer": 3, "rspg.rspg": 3,
    "rspg.create_data": 3, "rspg.retriever_utilization_scorer": 3, "lamp.uemb.compare": 3,
}


def module_files() -> dict[str, Path]:
    """Module name -> source file, for every module of the project packages."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def layer_of(module: str) -> int | None:
    if module in LAYERS:
        return LAYERS[module]
    matches = [pattern for pattern in LAYERS if fnmatch.fnmatchcase(module, pattern)]
    return max(LAYERS[pattern] for pattern in matches) if matches else None


def imports_of(module: str, path: Path, known: set[str]) -> dict[str, int]:
    """Project modules that ``module`` imports -> the line of the first such import."""
    is_package = path.name == "__init__.py"
    found: dict[str, int] = {}

    def add(name: str, line: int) -> None:
        # `import a.b.c` of a project module; a name that is not a module counts as its package.
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module:
            found.setdefault(name, line)

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            for alias in node.names:
                full = f"{base}.{alias.name}"
                add(full if full in known else base, node.lineno)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
              == "import_module" and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            add(node.args[0].value, node.lineno)      # importlib.import_module("a.literal.name")
    return found


def import_graph() -> tuple[dict[str, Path], dict[str, dict[str, int]]]:
    files = module_files()
    known = set(files)
    return files, {module: imports_of(module, path, known) for module, path in files.items()}


def find_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle (as a path a -> ... -> a) per strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(group, graph) for group in groups]


def _cycle_in(group: list[str], graph: dict[str, dict[str, int]]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group."""
    start, members = group[0], set(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt_frontier = []
        for node in frontier:
            for nxt in sorted(graph[node]):
                if nxt == start:
                    return paths[node] + [start]
                if nxt in members and nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    nxt_frontier.append(nxt)
        frontier = nxt_frontier
    return group


def _where(files: dict[str, Path], module: str, line: int) -> str:
    return f"{files[module].relative_to(ROOT)}:{line}"


def test_every_module_has_a_layer():
    missing = sorted(m for m in module_files() if layer_of(m) is None)
    assert not missing, (f"modules with no layer: {', '.join(missing)}; add each to LAYERS in "
                         f"{Path(__file__).relative_to(ROOT)} (core 0, libraries 1, methods 2, apps 3)")


def test_no_module_imports_a_higher_layer():
    files, graph = import_graph()
    bad = []
    for module, imported in sorted(graph.items()):
        own = layer_of(module)
        for target, line in sorted(imported.items()):
            theirs = layer_of(target)
            if own is not None and theirs is not None and theirs > own:
                bad.append(f"{_where(files, module, line)}: {module} ({NAMES[own]}) imports "
                           f"{target} ({NAMES[theirs]})")
    print("\n".join(bad))
    assert not bad, f"{len(bad)} upward imports:\n" + "\n".join(bad)


def test_the_core_imports_nothing_of_the_project_above_it():
    files, graph = import_graph()
    bad = [f"{_where(files, module, line)}: {module} imports {target}"
           for module, imported in sorted(graph.items()) if layer_of(module) == 0
           for target, line in sorted(imported.items()) if layer_of(target) != 0]
    assert not bad, "the core must stand alone:\n" + "\n".join(bad)


def test_no_import_cycles():
    files, graph = import_graph()
    cycles = find_cycles(graph)
    lines = []
    for cycle in cycles:
        steps = [f"{a} -> {b} ({_where(files, a, graph[a][b])})" for a, b in zip(cycle, cycle[1:])]
        lines.append("cycle: " + "; ".join(steps))
    print("\n".join(lines))
    assert not cycles, f"{len(cycles)} import cycles:\n" + "\n".join(lines)


def test_the_checker_sees_imports_inside_functions_relative_imports_and_submodules(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from . import b\n    from pkg.c import thing\n")
    known = {"pkg", "pkg.a", "pkg.b", "pkg.c"}
    assert imports_of("pkg.a", pkg / "a.py", known) == {"pkg.b": 2, "pkg.c": 3}
    assert find_cycles({"x": {"y": 1}, "y": {"z": 1}, "z": {"x": 1}, "w": {"x": 1}}) == [["x", "y", "z", "x"]]
