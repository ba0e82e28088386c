"""CLI conventions: ``python -m lamp``, ``--version``, help for every flag, examples, YAML/JSON configs
checked before anything is written, the official flags of evaluate_llm.py and train_llm.py, and the
openai backend from evaluate_llm.py against ``lamp serve`` on 127.0.0.1."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lamp.cli.main import build_parser, main, script_main
from lamp.core.errors import LampError
from lamp.cli.run import config_from_args, configure
from lamp.pipeline.run import RunConfig, resolve_backend, run_pipeline
from tiny_lamp3 import tiny_llama, tiny_t5

ROOT = Path(__file__).resolve().parents[2]


def verb_parser(verb: str) -> argparse.ArgumentParser:
    parser = build_parser(verb)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[verb]


def flags_without_help(parser: argparse.ArgumentParser) -> list[str]:
    return [a.option_strings[0] if a.option_strings else a.dest for a in parser._actions
            if not a.help and a.dest != "help" and not isinstance(a, argparse._SubParsersAction)]


# --------------------------------------------------------------------------- the command itself

def test_python_dash_m_lamp_and_version():
    done = subprocess.run([sys.executable, "-m", "lamp", "--version"], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("lamp 0.")
    done = subprocess.run([sys.executable, "-m", "lamp", "tasks"], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0 and "LaMP-3" in done.stdout


@pytest.mark.parametrize("verb", ["run", "serve", "train"])
def test_every_flag_has_help_and_the_verb_an_example(verb):
    parser = verb_parser(verb)
    assert flags_without_help(parser) == []
    assert "example" in (parser.epilog or "")


def test_the_official_scripts_have_help_for_every_flag():
    from lamp.cli import evaluate_llm
    from lamp.cli import train

    for configure_ in (evaluate_llm.configure, train.configure, train.configure_official):
        parser = argparse.ArgumentParser()
        configure_(parser)
        assert flags_without_help(parser) == []


@pytest.mark.parametrize("argv", [["run", "--max-length", "many"], ["run", "--max_length", "many"],
                                  ["train", "--per-device-batch-size", "many"], ["train", "--model-name", "m", "--lora-r", "x"],
                                  ["adapters", "train", "--questions", "q", "--task", "LaMP-3", "--batch-size", "x"],
                                  ["uemb", "predict", "--base-model", "m", "--num-beams", "x"]])
def test_lamp_verbs_take_both_spellings_of_a_flag(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments" not in err and "invalid int value" in err


def test_a_usage_error_exits_2_without_a_traceback(capsys):
    assert main(["run", "--k", "many"]) == 2
    assert "invalid int value" in capsys.readouterr().err


# --------------------------------------------------------------------------- configs

def run_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(list(argv))


def test_yaml_and_json_configs_give_the_same_run(tmp_path):
    (tmp_path / "c.yaml").write_text("tasks: [LaMP-3]\nretrievers:\n  - none\n  - bm25\nk: 2\nlimit: 5\n")
    (tmp_path / "c.json").write_text(json.dumps({"tasks": ["LaMP-3"], "retrievers": ["none", "bm25"], "k": 2,
                                                 "limit": 5}))
    a = config_from_args(run_args("--config", str(tmp_path / "c.yaml")))
    b = config_from_args(run_args("--config", str(tmp_path / "c.json")))
    assert a == b and a.tasks == ["LaMP-3"] and a.k == 2
    assert config_from_args(run_args("--config", str(tmp_path / "c.yaml"), "--k", "3")).k == 3   # flags win


@pytest.mark.parametrize("text, message", [
    ('tasks: LaMP-3\n', "tasks must be a list of strings, not the string 'LaMP-3'"),
    ('k: "4"\n', "k must be int, got str '4'"),
    ('baselines: "no"\n', "baselines must be bool"),
    ('limit: true\n', "limit must be int or null"),
    ('taks: [LaMP-3]\n', "Unknown config key 'taks'. Did you mean 'tasks'?"),
    ('k: -1\n', "k must be at least 0"),
    ('tasks: [LaMP-9]\n', "LaMP-9"),
    ('backend: openai\nbackend_options: {base_ur: "http://127.0.0.1:1/v1"}\n', "Did you mean 'base_url'"),
    ('backend: hf-casual\n', "Did you mean 'hf-causal'"),
    ('backend: profile-baseline\n', "not an LLM backend"),
    ('backend: openai\nretrievers: [bm25]\nbackend_options: {base_url: "http://127.0.0.1:1/v1"}\n',
     "the openai backend needs a tokenizer"),
    ('- a list\n', "a config is a mapping"),
    ('tasks: [LaMP-3\n', "not valid YAML"),
])
def test_bad_configs_are_refused_naming_the_key_before_anything_is_written(tmp_path, capsys, text, message):
    cfg = tmp_path / "run.yaml"
    out = tmp_path / "out"
    cfg.write_text(text + f"output_dir: {out}\n" if not text.startswith("-") else text)
    assert main(["run", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_a_seq2seq_folder_is_detected_and_a_mismatched_backend_named(tmp_path):
    t5 = tiny_t5(tmp_path / "t5")
    assert resolve_backend(RunConfig(model=str(t5))) == "hf-seq2seq"
    with pytest.raises(LampError, match="encoder-decoder model: use --backend hf-seq2seq"):
        resolve_backend(RunConfig(model=str(t5), backend="hf-causal"))
    llama = tiny_llama(tmp_path / "llama")
    assert resolve_backend(RunConfig(model=str(llama))) == "hf-causal"


def test_the_manifest_records_input_hashes_tree_state_and_prompt_budget(lamp3_data, tmp_path, monkeypatch):
    import hashlib

    monkeypatch.setenv("LAMP_CACHE_DIR", str(tmp_path / "cache"))
    data = lamp3_data["dev"].parents[2]
    cfg = RunConfig(data=str(data), tasks=["LaMP-3"], retrievers=["none", "bm25"], backend="dummy",
                    baselines=False, output_dir=str(tmp_path / "run"), num_beams=1)
    manifest = run_pipeline(cfg)["manifest"]
    hashes = manifest["input_files_sha256"]
    questions = next(p for p in hashes if p.endswith("dev_questions.json"))
    assert hashes[questions] == hashlib.sha256(Path(questions).read_bytes()).hexdigest()
    assert any(p.endswith("dev_outputs.json") for p in hashes)
    assert manifest["git_dirty"] in (True, False, None) and "prompt_budget" in manifest
    saved = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert saved["input_files_sha256"] == hashes


# --------------------------------------------------------------------------- official flags

OFFICIAL_EVALUATE = ["--validation_data", "d.json", "--model_addr", "m", "--task", "LaMP-2", "--output_dir", "o",
                     "--use_profile", "--max_length", "256", "--generation_max_length", "128",
                     "--per_device_batch_size", "16", "--generation_num_beams", "4", "--num_retrieved", "1",
                     "--retriever", "bm25", "--is_ranked", "--cache_dir", "./cache"]
OFFICIAL_TRAIN = ["--train_data", "t.json", "--validation_data", "d.json", "--test_data", "", "--model_name", "m",
                  "--task", "LaMP-2", "--output_dir", "o", "--retriever", "bm25", "--use_profile", "--is_ranked",
                  "--max_length", "256", "--generation_max_length", "128", "--per_device_batch_size", "16",
                  "--learning_rate", "5e-5", "--weight_decay", "0.0001", "--num_train_epochs", "10",
                  "--lr_scheduler_type", "linear", "--warmup_ratio", "0.05", "--generation_num_beams", "4",
                  "--num_retrieved", "4", "--gradient_accumulation_steps", "1", "--cache_dir", "./cache"]


def test_evaluate_llm_and_train_llm_accept_every_official_flag():
    from lamp.cli import evaluate_llm
    from lamp.cli import train

    parser = argparse.ArgumentParser()
    evaluate_llm.configure(parser)
    args = parser.parse_args(OFFICIAL_EVALUATE)
    assert args.num_beams == 4 and args.cache_dir == "./cache" and args.is_ranked
    parser = argparse.ArgumentParser()
    train.configure_official(parser)
    args = parser.parse_args(OFFICIAL_TRAIN)
    assert args.generation_num_beams == 4 and args.num_retrieved == 4 and args.cache_dir == "./cache"


def evaluate(argv: list[str]) -> int:
    from lamp.cli import evaluate_llm

    return script_main(evaluate_llm.configure, evaluate_llm.run, argv, prog="evaluate_llm.py")


def test_evaluate_llm_with_the_openai_backend_matches_the_hf_backend(lamp3_data, tmp_path, monkeypatch):
    """The same predictions through ``lamp serve`` (chat endpoint) as with the model loaded directly."""
    from lamp.generation.backends.hf import CausalBackend
    from lamp.serving.store import ProfileStore
    from lamp.serving.app import create_app, running_server

    monkeypatch.setenv("LAMP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = tiny_llama(tmp_path / "llama")
    common = ["--validation_data", str(lamp3_data["dev"]), "--task", "LaMP-3", "--use_profile",
              "--num_retrieved", "1", "--generation_num_beams", "1", "--generation_max_length", "4",
              "--cache_dir", str(tmp_path / "hub")]
    assert evaluate(common + ["--model_addr", str(model), "--output_dir", str(tmp_path / "direct")]) == 0
    app = create_app(CausalBackend(str(model)), ProfileStore(), model_name="tiny")
    with running_server(app) as url:
        monkeypatch.setenv("OPENAI_BASE_URL", url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert evaluate(common + ["--backend", "openai", "--chat", "--tokenizer", str(model),
                                  "--output_dir", str(tmp_path / "remote")]) == 0
    direct = json.loads((tmp_path / "direct" / "predictions.json").read_text())
    remote = json.loads((tmp_path / "remote" / "predictions.json").read_text())
    assert remote == direct and len(direct["golds"]) == 4


def test_evaluate_llm_openai_errors_are_clear(lamp3_data, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    base = ["--validation_data", str(lamp3_data["dev"]), "--task", "LaMP-3", "--output_dir", str(tmp_path / "o")]
    assert evaluate(base + ["--backend", "openai"]) == 2
    assert "OPENAI_BASE_URL" in capsys.readouterr().err
    assert evaluate(base + ["--tokenizer", "x", "--model_addr", str(tiny_llama(tmp_path / "m"))]) == 2
    assert "--tokenizer is for --backend openai" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_an_adapter_folder_given_as_the_model_is_a_clear_error(tmp_path):
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "base_model_name_or_path": "x"}))
    with pytest.raises(LampError, match="is a LoRA adapter"):
        resolve_backend(RunConfig(model=str(folder)))


def test_evaluate_llm_names_a_misspelled_backend_option(lamp3_data, tmp_path, capsys):
    argv = ["--validation_data", str(lamp3_data["dev"]), "--task", "LaMP-3", "--output_dir", str(tmp_path / "o"),
            "--model_addr", str(tiny_llama(tmp_path / "m")), "--backend_options", '{"batch_sise": 2}']
    assert evaluate(argv) == 2
    assert "Did you mean 'batch_size'" in capsys.readouterr().err


def test_evaluate_llm_with_the_profile_baseline_backend_is_a_clear_error(lamp3_data, tmp_path, capsys):
    argv = ["--validation_data", str(lamp3_data["dev"]), "--task", "LaMP-3", "--output_dir", str(tmp_path / "o"),
            "--backend", "profile-baseline"]
    assert evaluate(argv) == 2
    assert "not an LLM backend" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["the file", "below the file"])
def test_lamp_run_into_an_existing_file_exits_2_naming_it(lamp3_data, tmp_path, capsys, where):
    mine = tmp_path / "notes.txt"
    mine.write_text("precious")
    out = mine if where == "the file" else mine / "run"
    code = main(["run", "--data", str(lamp3_data["dev"].parents[2]), "--tasks", "LaMP-3", "--backend", "dummy",
                 "--output_dir", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and str(out) in err and "Traceback" not in err
    assert mine.read_text() == "precious"


# --------------------------------------------------------------------------- the official-name scripts

def official_scripts() -> dict[str, Path]:
    """Script name -> its file, for every name of the official table."""
    from lamp.cli.official import SCRIPTS

    found = {name: [p for p in ROOT.glob(f"*/{name}") if p.parent.name != "tests"] for name in SCRIPTS}
    assert all(len(paths) == 1 for paths in found.values()), found
    return {name: paths[0] for name, paths in found.items()}


def shim_shape(path: Path) -> str:
    """The file without its docstring, its own name spelled NAME."""
    import ast

    text = path.read_text(encoding="utf-8")
    doc = ast.parse(text).body[0]
    assert isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant), f"{path}: no docstring"
    rest = "\n".join(text.splitlines()[doc.end_lineno:])
    return rest.replace(f'"{path.name}"', '"NAME"')


def test_every_official_script_is_the_same_thin_shim():
    shapes = {name: shim_shape(path) for name, path in official_scripts().items()}
    first = next(iter(shapes.values()))
    assert 'main("NAME")' in first and "sys.path[0] =" in first
    assert {name for name, shape in shapes.items() if shape != first} == set()


@pytest.mark.parametrize("optimize", [[], ["-OO"]], ids=["plain", "-OO"])
@pytest.mark.parametrize("name", ["rank_profiles.py", "merge_with_rank.py", "evaluate_llm.py", "train_llm.py",
                                  "eval_task.py", "eval_all.py", "profile_item_utilization_scorer.py",
                                  "train_kd.py", "train_rl.py", "retriever_utilization_scorer.py",
                                  "create_data.py", "rspg.py"])
def test_every_official_script_prints_its_help_by_path(name, optimize, tmp_path):
    path = official_scripts()[name]
    done = subprocess.run([sys.executable, *optimize, str(path), "--help"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {name}")


def test_every_lamp_verb_and_sub_command_prints_its_help_under_python_OO():
    """No epilog is cut out of a docstring: ``-OO`` strips them."""
    probe = """
import argparse, contextlib, io
from lamp.cli.main import VERBS, build_parser, main

def subcommands(verb):
    parser = build_parser(verb)
    verb_parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[verb]
    return [name for a in verb_parser._actions if isinstance(a, argparse._SubParsersAction) for name in a.choices]

for verb in VERBS:
    for argv in ([verb], *([verb, sub] for sub in subcommands(verb))):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main([*argv, "--help"])
        print(" ".join(argv), code, out.getvalue().startswith("usage:"))
"""
    done = subprocess.run([sys.executable, "-OO", "-c", probe], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) > 20 and "rspg score 0 True" in lines
    assert [line for line in lines if not line.endswith(" 0 True")] == []


@pytest.mark.parametrize("script, argv, flag, verb_argv, default", [
    ("evaluate_llm.py", ["--validation_data", "d.json", "--task", "LaMP-2", "--output_dir", "o"], "--model_addr",
     None, None),
    ("profile_item_utilization_scorer.py", ["--train_data", "t.json", "--task", "LaMP-2", "--output_dir", "o",
                                            "--profile_size", "2"], "--model_name",
     ["ropg", "score"], "SmolLM2-135M-Instruct"),
    ("create_data.py", ["--retrivers_data_addr", "a", "b", "--task_inputs_addr", "q.json", "--task_outputs_addr",
                        "o.json", "--output_dataset_addr", "d.json"], "--metric", ["rspg", "data"], None),
])
def test_official_scripts_require_the_flags_the_official_ones_require(script, argv, flag, verb_argv, default,
                                                                       capsys):
    from lamp.cli import evaluate_llm
    from lamp.cli.official import main as official_main

    with pytest.raises(SystemExit) as exc:
        official_main(script, argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"required: {flag}" in err and err.startswith(f"usage: {script}")
    if verb_argv is None:                      # the library's own flags keep the default
        parser = argparse.ArgumentParser()
        evaluate_llm.configure(parser)
        args = parser.parse_args(argv)
    else:                                      # the lamp verb keeps its default
        args = build_parser(verb_argv[0]).parse_args(verb_argv + argv)
    assert getattr(args, flag.lstrip("-")) == default
