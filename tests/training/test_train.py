"""train_llm / ``lamp train`` on tiny real models (a 1-layer T5 and a 1-layer Llama)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_lamp3 import tiny_llama, tiny_t5

ROOT_PATH = Path(__file__).resolve().parents[2]

from lamp.cli import train as train_cli
from lamp.cli.main import main as lamp_main
from lamp.training.llm import SaveEveryNSteps, TrainConfig, _training_args, train_llm


def _config(data: dict[str, Path], model: Path, out: Path, **extra) -> TrainConfig:
    base = dict(train_data=str(data["train"]), validation_data=str(data["dev"]), model_name=str(model),
                task="LaMP-3", output_dir=str(out), use_profile=True, num_retrieved=1, per_device_batch_size=4,
                num_train_epochs=2, generation_num_beams=1, generation_max_length=3, learning_rate=1e-2,
                logging_steps=1)
    base.update(extra)
    return TrainConfig(**base)


def _official(path: Path) -> dict[str, str]:
    obj = json.loads(path.read_text())
    assert obj["task"] == "LaMP_3"
    return {g["id"]: g["output"] for g in obj["golds"]}


def test_seq2seq_training_saves_the_best_checkpoint_as_a_plain_folder_and_writes_test_predictions(tmp_path, lamp3_data):
    from safetensors.torch import load_file
    from transformers import AutoModelForSeq2SeqLM

    out = tmp_path / "out"
    result = train_llm(_config(lamp3_data, tiny_t5(tmp_path / "t5"), out, test_data=str(lamp3_data["test"])))
    assert result.best_checkpoint and Path(result.best_checkpoint).parent == out
    saved, best = load_file(out / "model.safetensors"), load_file(Path(result.best_checkpoint) / "model.safetensors")
    assert saved.keys() == best.keys() and all((saved[k] == best[k]).all() for k in saved)
    assert (out / "tokenizer.json").is_file()
    AutoModelForSeq2SeqLM.from_pretrained(out)  # usable as `lamp run --model OUT`
    assert set(_official(out / "dev_predictions.json")) == {"q8", "q9", "q10", "q11"}
    # The official script crashed here on os.join [BUG]; we write the test predictions.
    assert set(_official(out / "test_predictions.json")) == {"q12", "q13", "q14"}
    results = json.loads((out / "results_output.json").read_text())
    assert {"eval_MAE", "eval_RMSE", "eval_loss"} <= set(results)
    assert json.loads((out / "lamp_train.json").read_text())["num_retrieved"] == 1


def test_causal_lora_training_merges_the_adapter_into_a_plain_model(tmp_path, lamp3_data):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "out"
    train_llm(_config(lamp3_data, tiny_llama(tmp_path / "llama"), out, lora=True, num_train_epochs=1))
    assert not (out / "adapter_config.json").exists() and (out / "model.safetensors").is_file()
    model = AutoModelForCausalLM.from_pretrained(out)
    assert not any("lora" in name for name, _ in model.named_parameters())
    assert len(_official(out / "dev_predictions.json")) == 4


@pytest.mark.parametrize("kind", ["t5", "llama"])
def test_lamp_train_dev_scores_equal_evaluate_llm_on_the_saved_model(tmp_path, lamp3_data, monkeypatch, kind):
    """One way to produce text: the dev predictions and scores a run reports are what
    evaluate_llm.py gives for the saved model with the same flags (same examples, backend,
    settings and clean-up)."""
    import argparse

    from lamp.cli import evaluate_llm

    build = tiny_t5 if kind == "t5" else tiny_llama
    out, evaluated = tmp_path / "out", tmp_path / "evaluated"
    train_llm(_config(lamp3_data, build(tmp_path / kind), out, num_train_epochs=1, generation_max_length=6))
    monkeypatch.setenv("LAMP_CACHE_DIR", str(tmp_path / "cache"))
    parser = argparse.ArgumentParser()
    evaluate_llm.configure(parser)
    args = parser.parse_args(["--validation_data", str(lamp3_data["dev"]), "--model_addr", str(out), "--task",
                              "LaMP-3", "--output_dir", str(evaluated), "--use_profile", "--num_retrieved", "1",
                              "--generation_num_beams", "1", "--generation_max_length", "6",
                              "--per_device_batch_size", "4"])
    assert evaluate_llm.run(args) == 0
    assert _official(out / "dev_predictions.json") == _official(evaluated / "predictions.json")
    trained = json.loads((out / "results_output.json").read_text())
    scored = json.loads((evaluated / "results_output.json").read_text())
    assert {"eval_MAE", "eval_RMSE"} <= set(scored)
    assert {k: trained[k] for k in scored} == scored


def test_train_time_generation_keeps_the_answer_line_as_every_backend_does(tmp_path, monkeypatch):
    """LaMP-4 used to keep "A title\nmore" in `lamp train` and "A title" in evaluate_llm.py."""
    from types import SimpleNamespace

    from lamp.generation.backends.hf import CausalBackend
    from lamp.generation.driver import build_examples
    from lamp.generation.models import load_model_and_tokenizer
    from lamp.core.records import Question
    from lamp.training.llm import _distributed_generate

    monkeypatch.setattr(CausalBackend, "_generate_batch", lambda self, texts, settings: [" A title\nmore"] * len(texts))
    model, tok = load_model_and_tokenizer(str(tiny_llama(tmp_path / "llama")))
    model.train()
    trainer = SimpleNamespace(model=model, lamp_tokenizer=tok, args=SimpleNamespace(world_size=1, process_index=0),
                              is_world_process_zero=lambda: False)
    examples = build_examples("LaMP-4", [Question("q", "Generate a headline for the following article: x", [])],
                              0, 256, tok)
    cfg = TrainConfig(task="LaMP-4", output_dir=str(tmp_path), generation_num_beams=1)
    assert _distributed_generate(trainer, examples, cfg) == ["A title"]
    assert model.training                                  # handed back to the Trainer as it was


def test_training_args_pick_the_official_best_metric_per_family(tmp_path):
    for task, metric, greater in (("LaMP-1", "accuracy", True), ("LaMP-3", "MAE", False), ("LaMP-5", "rouge-1", True)):
        args = _training_args(TrainConfig(task=task, output_dir=str(tmp_path)), seq2seq=True, has_eval=True)
        assert (args.metric_for_best_model, args.greater_is_better) == (metric, greater)
        assert args.learning_rate == 5e-5 and args.weight_decay == 1e-4 and args.num_train_epochs == 10
        assert args.per_device_train_batch_size == 16 and args.lr_scheduler_type == "linear"
        assert args.get_warmup_steps(100) == 5 and args.load_best_model_at_end
        assert args.generation_num_beams == 4 and args.generation_max_length == 128


def test_a_run_interrupted_mid_epoch_resumes_from_its_last_checkpoint(tmp_path, lamp3_data, monkeypatch, capsys):
    model, out = tiny_t5(tmp_path / "t5"), tmp_path / "out"
    cfg = _config(lamp3_data, model, out, save_steps=1, num_train_epochs=1, per_device_batch_size=2)

    def stop(self, args, state, control, **kwargs):
        if state.global_step == 3:
            raise KeyboardInterrupt
    monkeypatch.setattr(SaveEveryNSteps, "on_step_begin", stop, raising=False)
    with pytest.raises(KeyboardInterrupt):
        train_llm(cfg)
    assert (out / "checkpoint-3").is_dir() and not (out / "model.safetensors").exists()
    monkeypatch.undo()
    capsys.readouterr()
    train_llm(cfg)
    err = capsys.readouterr().err
    assert "resuming from" in err and "checkpoint-3" in err
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    losses = [e["step"] for e in state["log_history"] if "loss" in e]
    assert losses == [1, 2, 3, 4]  # steps 1-3 from the first run, only step 4 trained again


def test_lamp_train_reads_a_config_file_and_flags_override_it(tmp_path, lamp3_data):
    model, out = tiny_t5(tmp_path / "t5"), tmp_path / "out"
    cfg = {k: v for k, v in vars(_config(lamp3_data, model, out)).items() if v is not None}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(cfg))
    assert lamp_main(["train", "--config", str(path), "--num_train_epochs", "1", "--no-use_profile"]) == 0
    used = json.loads((out / "lamp_train.json").read_text())
    assert used["num_train_epochs"] == 1 and used["use_profile"] is False and used["learning_rate"] == 1e-2


def test_lamp_train_user_errors_exit_2_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"epochs": 3}))
    assert lamp_main(["train", "--config", str(bad)]) == 2
    assert "bad.json: Unknown config key 'epochs'" in capsys.readouterr().err
    assert lamp_main(["train", "--task", "LaMP-3"]) == 2
    assert "--train_data" in capsys.readouterr().err
    assert lamp_main(["train", "--train_data", "a", "--validation_data", "b", "--model_name", "m", "--task",
                      "LaMP-3", "--output_dir", str(tmp_path), "--use_profile"]) == 2
    assert "--num_retrieved" in capsys.readouterr().err


def _train_args(configure, *argv: str):
    import argparse

    from lamp.core.settings import accept_both_spellings

    parser = argparse.ArgumentParser()
    configure(parser)
    if configure is train_cli.configure:          # as build_parser does for every lamp verb
        accept_both_spellings(parser)
    return parser.parse_args(list(argv))


def test_lamp_train_reads_a_yaml_config_whose_floats_are_floats(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("task: LaMP-3\nmodel: m\nlearning_rate: 1e-2\nnum_train_epochs: 2\nuse_profile: true\n")
    cfg = train_cli.config_from_args(_train_args(train_cli.configure, "--config", str(path), "--warmup-ratio", "0.1"))
    assert (cfg.model_name, cfg.learning_rate, cfg.num_train_epochs, cfg.warmup_ratio) == ("m", 1e-2, 2, 0.1)
    assert isinstance(cfg.learning_rate, float) and cfg.use_profile


def test_lamp_train_names_the_model_model_and_the_official_script_keeps_model_name():
    for flag in ("--model", "--model_name"):
        assert train_cli.config_from_args(_train_args(train_cli.configure, flag, "x")).model_name == "x"
    assert train_cli.config_from_args(_train_args(train_cli.configure_official, "--model_name", "x")).model_name == "x"
    with pytest.raises(SystemExit):                 # the official names only, no other spelling
        _train_args(train_cli.configure_official, "--model-name", "x")
    args = _train_args(train_cli.configure_official, "--learning_rate", "3e-4", "--no-use_profile")
    assert args.learning_rate == 3e-4 and args.use_profile is False


def test_train_llm_script_runs_with_the_official_flags():
    proc = subprocess.run([sys.executable, str(ROOT_PATH / "lamp" / "train_llm.py"), "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for flag in ("--train_data", "--validation_data", "--test_data", "--model_name", "--task", "--output_dir",
                 "--retriever", "--use_profile", "--is_ranked", "--num_retrieved", "--lora", "--resume"):
        assert flag in proc.stdout


@pytest.mark.slow
def test_real_bundled_model_trains_a_few_lora_steps_and_saves(tmp_path, lamp3_data):
    from lamp.generation.models import smollm2_gguf

    try:
        smollm2_gguf()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"bundled model not installed: {exc}")
    out = tmp_path / "out"
    result = train_llm(TrainConfig(
        train_data=str(lamp3_data["train"]), validation_data=str(lamp3_data["dev"]),
        model_name="SmolLM2-135M-Instruct", task="LaMP-3", output_dir=str(out), use_profile=True, num_retrieved=1,
        per_device_batch_size=2, num_train_epochs=1, max_train_samples=4, max_eval_samples=1, lora=True,
        max_length=128,
        learning_rate=1e-3, generation_num_beams=1, generation_max_length=3, logging_steps=1))
    state = json.loads((Path(result.best_checkpoint) / "trainer_state.json").read_text())
    losses = [e["loss"] for e in state["log_history"] if "loss" in e]
    assert len(losses) == 2 and all(0 < x < 20 for x in losses)
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    assert len(_official(out / "dev_predictions.json")) == 1
