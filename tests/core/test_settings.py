"""The one settings mechanism (lamp.core.settings): flags with the declared types, JSON and YAML
config files, unknown keys and wrong types named, aliases and both flag spellings."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any, Literal, Optional

import pytest

from lamp.core.errors import LampError
from lamp.core.settings import (accept_both_spellings, add_flags, check, from_args, from_file, setting, specs)


@dataclass
class Options:
    k: int = setting(1, "items in the prompt")
    learning_rate: float = setting(5e-5, "peak learning rate")
    use_date: bool = setting(False, "rankers see dates")
    model: str = setting("m", "model folder", aliases=("model_name", "base_model"))
    tasks: list[str] = setting(help="tasks", default_factory=lambda: ["LaMP-3"])
    limit: Optional[int] = setting(None, "first N questions")
    mode: Literal["fast", "exact"] = setting("exact", "decoding")
    options: dict[str, Any] = setting(help="extra options", default_factory=dict)


def parse(*argv: str, spellings: bool = False, **kwargs: Any) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_flags(parser, Options, **kwargs)
    if spellings:
        accept_both_spellings(parser)
    return parser.parse_args(list(argv))


def test_types_are_read_from_the_annotations():
    by_name = {s.name: s for s in specs(Options)}
    assert by_name["learning_rate"].kind is float and by_name["limit"].optional
    assert by_name["tasks"].kind is list and by_name["tasks"].item is str
    assert by_name["mode"].choices == ("fast", "exact")


def test_a_float_flag_parses_as_a_float():
    args = parse("--learning_rate", "1e-4", "--k", "3")
    assert args.learning_rate == 1e-4 and isinstance(args.learning_rate, float) and args.k == 3


def test_flags_not_given_stay_out_of_the_namespace_and_defaults_fill_the_object():
    args = parse("--k", "2")
    assert not hasattr(args, "learning_rate")
    assert from_args(Options, args) == Options(k=2)
    assert parse(defaults=True).learning_rate == 5e-5


def test_bool_flags_come_as_a_pair_with_the_old_dash_negation_accepted():
    assert parse("--use_date").use_date is True
    assert parse("--use_date", "--no_use_date").use_date is False
    assert parse("--no-use_date").use_date is False          # argparse's BooleanOptionalAction spelling
    assert parse("--no-use-date", spellings=True).use_date is False
    assert parse("--use-date", spellings=True).use_date is True


def test_lists_optionals_choices_and_json_objects():
    args = parse("--tasks", "LaMP-1", "LaMP-2", "--limit", "5", "--mode", "fast", "--options", '{"a": 1}')
    assert (args.tasks, args.limit, args.mode, args.options) == (["LaMP-1", "LaMP-2"], 5, "fast", {"a": 1})
    with pytest.raises(SystemExit):
        parse("--mode", "slow")
    with pytest.raises(SystemExit):
        parse("--options", "[1]")


def test_aliases_and_both_spellings_reach_the_same_setting():
    for flag in ("--model", "--model_name", "--base_model"):
        assert parse(flag, "x").model == "x"
    assert parse("--base-model", "x", spellings=True).model == "x"
    assert parse("--learning-rate", "0.5", spellings=True).learning_rate == 0.5
    with pytest.raises(SystemExit):
        parse("--model_name", "x", aliases=False)
    assert parse("--m", "x", rename={"model": "m"}).model == "x"


def test_aliases_are_named_in_the_help_but_not_listed_as_flags():
    parser = argparse.ArgumentParser()
    add_flags(parser, Options)
    text = parser.format_help()
    assert "(also --model_name, --base_model)" in text and "\n  --model_name" not in text
    assert "(default: 5e-05)" in text


@pytest.mark.parametrize("suffix, text", [
    (".yaml", "k: 4\nlearning_rate: 1e-4\ntasks: [LaMP-2]\nmodel_name: big\n"),
    (".yml", "k: 4\nlearning_rate: 0.0001\ntasks:\n  - LaMP-2\nmodel: big\n"),
    (".json", json.dumps({"k": 4, "learning_rate": 1e-4, "tasks": ["LaMP-2"], "base_model": "big"})),
])
def test_yaml_and_json_configs_load_by_suffix(tmp_path, suffix, text):
    path = tmp_path / f"c{suffix}"
    path.write_text(text)
    assert from_file(Options, path) == Options(k=4, learning_rate=1e-4, tasks=["LaMP-2"], model="big")


def test_flags_win_over_the_config_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("k: 4\nlimit: 3\n")
    assert from_args(Options, parse("--k", "5"), config=path) == Options(k=5, limit=3)


@pytest.mark.parametrize("text, message", [
    ("lerning_rate: 0.1\n", "c.yaml: Unknown config key 'lerning_rate'. Did you mean 'learning_rate'?"),
    ("k: 1.5\n", "c.yaml: k must be int, got float 1.5"),
    ("k: true\n", "k must be int, got bool True"),
    ("learning_rate: fast\n", "learning_rate must be float, got str 'fast'"),
    ("limit: x\n", "limit must be int or null"),
    ("tasks: LaMP-3\n", "tasks must be a list of strings, not the string 'LaMP-3'"),
    ("mode: fats\n", "mode must be one of 'fast', 'exact', got 'fats'. Did you mean 'fast'?"),
    ("model: a\nmodel_name: b\n", "model_name and model are the same setting"),
    ("- a\n", "a config is a mapping"),
    ("k: [1\n", "not valid YAML"),
])
def test_bad_config_files_name_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(LampError) as info:
        from_file(Options, path)
    assert message in str(info.value)


def test_a_json_config_with_yaml_text_says_how_to_name_yaml(tmp_path):
    path = tmp_path / "c.json"
    path.write_text("k: 1\n")
    with pytest.raises(LampError, match="c.json: not valid JSON .* YAML configs need a .yaml or .yml name"):
        from_file(Options, path)


def test_check_refuses_a_wrong_value_set_in_code():
    check(Options(learning_rate=1), "code")                  # an int is a fine float
    with pytest.raises(LampError, match="code: use_date must be bool, got str 'no'"):
        check(Options(use_date="no"), "code")  # type: ignore[arg-type]


def test_a_setting_needs_help():
    with pytest.raises(TypeError, match="help"):
        setting(1)


def test_a_float_field_on_a_run_config_is_checked_and_parsed_as_a_float():
    from lamp.pipeline.run import RunConfig

    @dataclass
    class Sampled(RunConfig):
        temperature: float = setting(0.7, "sampling temperature")

    check(Sampled(), "code")           # RunConfig's old hand-matched type strings raised KeyError here
    parser = argparse.ArgumentParser()
    add_flags(parser, Sampled)
    assert parser.parse_args(["--temperature", "0.5"]).temperature == 0.5   # was parsed as the string "0.5"
