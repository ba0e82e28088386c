"""The rooms are layered one way and have no import cycles (the design: "Layers run one way").

Every module of the project packages is parsed with :mod:`ast`; every import counts, at module
level or inside a function, relative imports resolved, and ``from pkg import name`` counts as an
import of ``pkg.name`` when that is a module. A string constant that spells a project module
(``"pkg.mod"`` or ``"pkg.mod:attr"``, the lazy entries of a registry) counts as an import too.

Each module belongs to the room of its longest matching prefix in :data:`ROOMS`; a command line
(a ``cli`` module or an official-name script) belongs to the top floor wherever it lives. A module
may import its own room and the rooms of lower floors, never a room of its own floor or above.
A new module needs no entry: its folder gives its room.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from code_map import PACKAGES, ROOT, imported_base, module_files


#: room (a module prefix) -> floor. The core at the bottom, the command lines on top.
ROOMS: dict[str, int] = {
    "lamp.core": 0,                                                  # records, tasks, files, registry, settings
    "lamp.privacy": 1, "lamp.generation": 1, "retrievers": 1, "eval": 1,     # libraries over the core
    "lamp.training": 2,                                              # fine-tuning, LoRA, losses, the loop
    "lamp.methods": 3, "ropg": 3, "rspg": 3,                         # methods built on the libraries
    "lamp.pipeline": 4, "lamp.serving": 4,                           # whole runs; the service
    "lamp.cli": 5, "lamp": 5,                                        # verbs and the package's face
}
CLI_FLOOR = 5
#: A module whose last name is one of these is a command line, on the top floor wherever it lives.
COMMAND_LINES = ("cli", "__main__", "rank_profiles", "merge_with_rank", "eval_all", "eval_task",
                 "train_kd", "train_rl", "profile_item_utilization_scorer", "rspg", "create_data",
                 "retriever_utilization_scorer", "train_llm", "evaluate_llm")
_MODULE_STRING = re.compile(r"^(\w+(?:\.\w+)+)(?::[\w.]+)?$")


def room_of(module: str) -> tuple[str, int]:
    """(room, floor) of a module: a command line is on the top floor; else its longest room prefix."""
    room = max((p for p in ROOMS if module == p or module.startswith(p + ".")), key=len, default=None)
    if room is None:
        raise AssertionError(f"{module} is in no room of ROOMS")
    if ROOMS[room] == CLI_FLOOR or module.rpartition(".")[2] in COMMAND_LINES:
        return "command lines", CLI_FLOOR
    return room, ROOMS[room]


def imports_of(module: str, path: Path, known: set[str], strings: bool = True) -> dict[str, int]:
    """Project modules that ``module`` imports (or, with ``strings``, names) -> the line of the first."""
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
            base = imported_base(module, node, is_package)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                add(full if full in known else base, node.lineno)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
              == "import_module" and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            add(node.args[0].value, node.lineno)      # importlib.import_module("a.literal.name")
        elif strings and isinstance(node, ast.Constant) and isinstance(node.value, str):
            named = _MODULE_STRING.match(node.value)
            if named and named.group(1) in known:     # a lazy registry entry: "pkg.mod:attr"
                add(named.group(1), node.lineno)
    return found


def import_graph(strings: bool = True) -> tuple[dict[str, Path], dict[str, dict[str, int]]]:
    """Every module's imports; with ``strings``, also the modules it names (a lazy entry loads on use, so
    it counts for the floors but cannot make an import cycle)."""
    files = module_files()
    known = set(files)
    return files, {module: imports_of(module, path, known, strings) for module, path in files.items()}


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


def test_every_module_is_in_a_room():
    for module in module_files():
        room_of(module)


def test_no_module_imports_its_own_floor_or_above():
    files, graph = import_graph()
    bad = []
    for module, imported in sorted(graph.items()):
        room, floor = room_of(module)
        for target, line in sorted(imported.items()):
            their_room, their_floor = room_of(target)
            if their_room != room and their_floor >= floor:
                bad.append(f"{_where(files, module, line)}: {module} ({room}, floor {floor}) imports "
                           f"{target} ({their_room}, floor {their_floor})")
    print("\n".join(bad))
    assert not bad, f"{len(bad)} imports against the floors:\n" + "\n".join(bad)


def test_the_core_imports_nothing_of_the_project_above_it():
    files, graph = import_graph()
    bad = [f"{_where(files, module, line)}: {module} imports {target}"
           for module, imported in sorted(graph.items()) if room_of(module)[0] == "lamp.core"
           for target, line in sorted(imported.items()) if room_of(target)[0] != "lamp.core"]
    assert not bad, "the core must stand alone:\n" + "\n".join(bad)


def test_no_import_cycles():
    files, graph = import_graph(strings=False)
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
    (pkg / "d.py").write_text('REGISTRY = {"x": "pkg.b:Thing"}\n')
    assert imports_of("pkg.d", pkg / "d.py", known) == {"pkg.b": 1}
    assert find_cycles({"x": {"y": 1}, "y": {"z": 1}, "z": {"x": 1}, "w": {"x": 1}}) == [["x", "y", "z", "x"]]
