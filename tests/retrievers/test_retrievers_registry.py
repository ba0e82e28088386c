"""Retrievers come from their registry alone: a new one is one module with its ``@register`` line
(options included), and every verb offers it and its options without another edit."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from lamp.core.errors import LampError
from retrievers import base
from retrievers.base import (OPTIONS, Option, Query, Retriever, add_retriever_flags, check_retriever_options,
                             get_retriever, register, retriever_kwargs, retriever_names, retriever_options)

ROOT = Path(__file__).resolve().parents[2]


def _registering_modules() -> set[str]:
    """Modules of the project packages that call ``retrievers.base.register`` as a decorator."""
    found = set()
    for package in ("lamp", "retrievers", "eval", "ropg", "rspg"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            imports_register = any(isinstance(n, ast.ImportFrom) and n.module == "retrievers.base"
                                   and any(a.name == "register" for a in n.names) for n in ast.walk(tree))
            decorates = any(isinstance(d, ast.Call) and getattr(d.func, "id", None) == "register"
                            for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))
                            for d in n.decorator_list)
            if imports_register and decorates:
                found.add(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return found


def test_every_module_that_registers_a_retriever_is_loaded_by_its_layer():
    assert _registering_modules() == set(base.RETRIEVERS.modules), \
        "name the module with RETRIEVERS.load_with(...) in its own package (retrievers/base.py, ropg/, rspg/)"


def test_the_retrievers_of_higher_layers_come_from_their_own_packages():
    assert {"ropg.oracle", "rspg.retriever"} <= set(base.RETRIEVERS.modules)
    assert {"oracle", "rspg-pre"} <= set(retriever_names())


@pytest.fixture
def new_retriever(monkeypatch):
    """A retriever registered the way a new module would register it, removed afterwards."""
    retriever_names()                    # the real ones first, as a module imported later would find them
    for registry in (base.RETRIEVERS, base.OPTIONS):          # the same objects every importer holds
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
    monkeypatch.setattr(base, "OPTIONS_OF", dict(base.OPTIONS_OF))

    @register("reverse", [Option("stride", int, 1, "take every stride-th item first", minimum=1)], argument="stride")
    class Reverse(Retriever):
        name = "reverse"

        def __init__(self, stride: int = 1, **_):
            self.stride = stride

        def rank_batch(self, queries):
            return [list(range(len(q.profile)))[::-1] for q in queries]

    return Reverse


def test_lamp_rank_and_rank_profiles_offer_a_new_retriever_and_its_options(new_retriever):
    from lamp.cli.main import build_parser

    parser = build_parser("rank")
    args = parser.parse_args(["rank", "--input", "q.json", "--output", "r.json", "--task", "LaMP-3",
                              "--ranker", "reverse", "--stride", "3", "--rrf_k", "5"])
    assert args.ranker == "reverse"
    assert retriever_kwargs(args) == {"stride": 3, "rrf_k": 5.0}         # options not given stay unset
    with pytest.raises(SystemExit):
        parser.parse_args(["rank", "--input", "q", "--output", "r", "--task", "LaMP-3", "--stride", "0"])


def test_lamp_serve_offers_every_retriever_option(new_retriever):
    pytest.importorskip("fastapi")
    from lamp.cli.main import build_parser

    args = build_parser("serve").parse_args(["serve", "--stride", "2", "--contriever-checkpoint", "enc",
                                             "--no-embedding-cache"])
    assert retriever_kwargs(args) == {"stride": 2, "contriever_checkpoint": "enc", "use_cache": False}
    assert get_retriever("reverse", **retriever_kwargs(args)).stride == 2


def test_lamp_run_takes_every_retriever_and_checks_its_options(new_retriever):
    from lamp.pipeline.run import RunConfig

    RunConfig(tasks=["LaMP-3"], retrievers=["reverse"], retriever_options={"stride": 2}).validate(check_backend=False)
    with pytest.raises(LampError, match="Did you mean 'stride'"):
        RunConfig(tasks=["LaMP-3"], retriever_options={"strid": 2}).validate(check_backend=False)
    with pytest.raises(LampError, match="stride must be at least 1"):
        RunConfig(tasks=["LaMP-3"], retriever_options={"stride": 0}).validate(check_backend=False)
    with pytest.raises(LampError, match="stride must be int"):
        RunConfig(tasks=["LaMP-3"], retriever_options={"stride": "2"}).validate(check_backend=False)


def test_run_config_retriever_options_reach_the_ranker_and_its_recorded_settings(tmp_path):
    from lamp.pipeline.run import RunConfig, ranking_for
    from lamp.core.records import ProfileItem, Question

    questions = [Question("1", "cat", [ProfileItem(id=str(i), text=t, date="2020-01-01")
                                       for i, t in enumerate(["a", "b", "c"])])]
    cfg = RunConfig(tasks=["LaMP-3"], retriever_options={"seed": 7, "members": "random"})
    got = ranking_for(cfg, tmp_path, "LaMP-3", "rrf", questions)
    assert got == {"1": [questions[0].profile[i].id for i in get_retriever("random", seed=7).rank_batch(
        [Query("1", "cat", questions[0].profile, ["a", "b", "c"])])[0]]}
    settings = json.loads(next(tmp_path.rglob("rrf.settings.json")).read_text())
    assert settings["members"] == "random" and settings["seed"] == 7


def test_rspg_pools_take_a_new_retriever_and_its_short_argument(new_retriever, tmp_path):
    from rspg.pool import load_pool, parse_member

    member = parse_member("rev3=reverse:3")
    assert (member.name, member.ranker, member.options) == ("rev3", "reverse", {"stride": 3})
    with pytest.raises(LampError, match="stride must be int"):
        parse_member("reverse:three")
    spec = tmp_path / "pool.json"
    spec.write_text(json.dumps([{"ranker": "reverse", "options": {"strde": 2}}]))
    with pytest.raises(LampError, match="Did you mean 'stride'"):
        load_pool([str(spec)])


def test_options_shared_by_several_retrievers_are_one_definition():
    options = retriever_options()
    assert options["contriever_checkpoint"] == ["contriever", "rspg-pre", "trained"]
    with pytest.raises(ValueError, match="share one Option"):
        register("other", [Option("seed", int, 1, "another seed")])


def test_flags_keep_the_official_rank_profiles_spelling():
    import argparse

    parser = argparse.ArgumentParser()
    add_retriever_flags(parser)
    flags = {a for action in parser._actions for a in action.option_strings}
    assert {"--batch_size", "--contriever_checkpoint", "--fuse", "--no_embedding_cache", "--workers"} <= flags
    assert set(OPTIONS) == set(retriever_options())


def test_unknown_option_names_every_known_one():
    with pytest.raises(LampError, match="Unknown retriever option 'nope'.*Available: .*workers"):
        check_retriever_options({"nope": 1}, "x")
