"""Project layout rules that protect the official-style scripts."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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
