"""`evaluate_llm.py` with the official flags writes official-format predictions and eval_-prefixed metrics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tiny_lamp3 import tiny_llama

ROOT = Path(__file__).resolve().parents[2]


def test_evaluate_llm_script_ranks_prompts_generates_and_scores(lamp3_data, tmp_path):
    model = tiny_llama(tmp_path / "llama")
    out = tmp_path / "out"
    env = {"LAMP_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, str(ROOT / "lamp" / "evaluate_llm.py"),
                           "--validation_data", str(lamp3_data["dev"]), "--model_addr", str(model),
                           "--task", "LaMP-3", "--output_dir", str(out), "--use_profile", "--retriever", "bm25",
                           "--num_retrieved", "1", "--num_beams", "1", "--generation_max_length", "3",
                           "--label_choice"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    preds = json.loads((out / "predictions.json").read_text())
    assert preds["task"] == "LaMP_3" and [g["id"] for g in preds["golds"]] == ["q8", "q9", "q10", "q11"]
    assert all(g["output"] in {"1", "2", "3", "4", "5"} for g in preds["golds"])
    assert set(json.loads((out / "results_output.json").read_text())) == {"eval_MAE", "eval_RMSE"}


def test_evaluate_llm_reports_a_missing_file_without_a_traceback(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "lamp" / "evaluate_llm.py"), "--validation_data",
                           str(tmp_path / "nope.json"), "--model_addr", "SmolLM2-135M-Instruct", "--task", "LaMP-3",
                           "--output_dir", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no such file" in done.stderr and "Traceback" not in done.stderr
