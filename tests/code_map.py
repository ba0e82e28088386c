"""The project's modules by name, for the architecture tests (layering, imports)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("lamp", "retrievers", "eval", "ropg", "rspg")


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
