"""Imports of the project's own modules sit at the top of their files, except where a light module
would otherwise load torch: a function-level import must name a module whose top-level imports reach
torch, from a module whose own top-level imports do not (so ``lamp --help``, ``lamp tasks`` or
``lamp validate`` start without it). An optional module tried under ``except ImportError`` may stay."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from code_map import ROOT, imported_base, module_files

HEAVY = {"torch", "transformers", "peft"}
FILES = module_files()


def _project(name: str) -> str | None:
    while name and name not in FILES:
        name = name.rpartition(".")[0]
    return name or None


def _top_level(tree: ast.Module) -> list[ast.stmt]:
    """Statements run at import: the module body and what nests in it, but no function bodies."""
    out, todo = [], list(tree.body)
    while todo:
        node = todo.pop()
        out.append(node)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            todo.extend(c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt))
    return out


def _imported(module: str, nodes: list[ast.stmt]) -> set[str]:
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = imported_base(module, node, FILES[module].name == "__init__.py")
            names.update(f"{base}.{alias.name}" if _project(f"{base}.{alias.name}") == f"{base}.{alias.name}"
                         else base for alias in node.names)
    return names


@cache
def _direct(module: str) -> tuple[bool, frozenset[str]]:
    """(whether ``module``'s top-level code imports torch itself, the project modules it runs first)."""
    names = _imported(module, _top_level(ast.parse(FILES[module].read_text(encoding="utf-8"))))
    parents = {module.rsplit(".", n)[0] for n in range(1, module.count(".") + 1)}  # packages run first
    project = {p for p in (_project(n) for n in names | parents) if p and p != module}
    return any(name.split(".")[0] in HEAVY for name in names), frozenset(project)


@cache
def loads_torch(module: str) -> bool:
    """Whether importing ``module`` imports torch (through its top-level imports, transitively)."""
    seen, todo = {module}, [module]
    while todo:
        heavy, nxt = _direct(todo.pop())
        if heavy:
            return True
        todo.extend(sorted(nxt - seen))
        seen |= nxt
    return False


def _optional(tree: ast.Module) -> set[ast.AST]:
    """Import statements in the body of a ``try`` that catches ImportError (an optional extension)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                for h in node.handlers):
            found.update(n for stmt in node.body for n in ast.walk(stmt))
    return found


def test_project_imports_inside_functions_only_keep_torch_off_a_light_module():
    misplaced = []
    for module, path in FILES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        optional = _optional(tree)
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if not isinstance(node, (ast.Import, ast.ImportFrom)) or node in optional:
                    continue
                targets = {_project(n) for n in _imported(module, [node])} - {None, module}
                for target in sorted(targets):
                    if not loads_torch(target) or loads_torch(module):
                        misplaced.append(f"{path.relative_to(ROOT)}:{node.lineno} {target}")
    assert misplaced == [], "move these imports to the top of their files:\n" + "\n".join(misplaced)
