"""One Registry for tasks, metrics, retrievers, backends and verbs: lazy entries, one miss message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lamp.core.errors import LampError
from lamp.core.registry import Registry, unknown_message

ROOT = Path(__file__).resolve().parents[2]


def test_a_miss_names_the_closest_entry_and_every_one():
    colours = Registry("colour", {"red": 1, "green": 2})
    with pytest.raises(LampError) as info:
        colours.get("gren")
    assert str(info.value) == "Unknown colour 'gren'. Did you mean 'green'? Available: red, green"
    assert colours.get("gren", None) is None and "gren" not in colours


def test_a_case_only_difference_is_suggested():
    assert unknown_message("metric", "MAE", ["mae", "rmse"]) == \
        "Unknown metric 'MAE'. Did you mean 'mae'? Available: mae, rmse"


def test_a_lazy_entry_is_imported_on_first_get_only(tmp_path, monkeypatch):
    (tmp_path / "lazy_plugin.py").write_text("LOADED = True\nclass Thing:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    things = Registry("thing", {"t": "lazy_plugin:Thing"})
    assert "lazy_plugin" not in sys.modules and things.names() == ["t"]
    assert things.get("t").__name__ == "Thing" and "lazy_plugin" in sys.modules


def test_register_works_as_a_decorator_and_refuses_a_second_entry():
    shapes = Registry("shape")

    @shapes.register("square")
    def square() -> str:
        return "square"

    assert shapes["square"] is square
    with pytest.raises(ValueError, match="already registered"):
        shapes.register("square", lambda: "other")


def test_modules_named_with_load_with_register_before_the_first_lookup(tmp_path, monkeypatch):
    registry = Registry("plugin")
    (tmp_path / "registering_plugin.py").write_text(
        "from tests_registry_target import REGISTRY\nREGISTRY.register('p', 42)\n")
    target = type(sys)("tests_registry_target")
    target.REGISTRY = registry
    monkeypatch.setitem(sys.modules, "tests_registry_target", target)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.load_with("registering_plugin")
    assert registry.get("p") == 42


@pytest.mark.parametrize("code, provider", [
    ("from lamp.generation.backends.base import load_backend; load_backend('uemb')", "lamp/methods/uemb"),
    ("from retrievers.base import get_retriever; get_retriever('oracle')", "the ropg package"),
])
def test_a_name_of_a_higher_layer_not_loaded_says_which_package_provides_it(code, provider):
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode != 0 and provider in done.stderr and "not loaded" in done.stderr


def test_the_lamp_command_finds_the_higher_layers_entries():
    from lamp.cli.main import VERBS
    from lamp.generation.backends.base import BACKENDS
    from retrievers.base import retriever_names

    assert "uemb" in BACKENDS and {"oracle", "rspg-pre"} <= set(retriever_names()) and "run" in VERBS
