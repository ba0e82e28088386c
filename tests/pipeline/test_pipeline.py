"""`lamp run`: the whole pipeline writes its run directory, and a killed run resumes to identical output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lamp.cli.main import main
from lamp.pipeline.run import RunConfig, run_pipeline
from tiny_lamp3 import tiny_llama


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAMP_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory) -> Path:
    return tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


def config(data: Path, out: Path, model: Path, **kw) -> RunConfig:
    base = dict(data=str(data), split="dev", tasks=["LaMP-3"], retrievers=["none", "bm25", "recency"], k=1,
                model=str(model), max_new_tokens=4, num_beams=1, batch_size=2, output_dir=str(out))
    return RunConfig(**{**base, **kw})


def predictions(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted((run_dir / "predictions").rglob("*.json"))}


def test_run_writes_every_stage_and_scores_all_methods(lamp3_data, llama_dir, tmp_path, private_cache):
    out = tmp_path / "run"
    run_pipeline(config(lamp3_data["dev"].parents[2], out, llama_dir, label_choice=True))
    for name in ("config.json", "manifest.json", "scores.json", "report.md", "report.html",
                 "rankings/LaMP_3/bm25.json", "rankings/LaMP_3/recency.json", "prompts/LaMP_3/bm25.jsonl"):
        assert (out / name).exists(), name
    scores = json.loads((out / "scores.json").read_text())
    assert set(scores) - {"_golds"} == {"none", "bm25", "recency", "baseline-blind", "baseline-bm25"}
    assert set(scores["bm25"]["LaMP_3"]) == {"MAE", "RMSE"}
    preds = json.loads((out / "predictions/bm25/LaMP_3.json").read_text())
    assert preds["task"] == "LaMP_3" and all(g["output"] in "12345" for g in preds["golds"])
    # The profile baseline reads each user's own rating from their profile: perfect on this data.
    assert scores["baseline-bm25"]["LaMP_3"]["MAE"] == 0.0
    prompts = [json.loads(line) for line in (out / "prompts/LaMP_3/bm25.jsonl").read_text().splitlines()]
    assert prompts[0]["prompt"].endswith(". " + json.loads(lamp3_data["dev"].read_text())[0]["input"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model_identity"].startswith("hf-causal:") and "torch" in manifest["versions"]


class Interrupt(Exception):
    pass


def test_a_killed_run_resumes_without_redoing_work_and_gives_identical_predictions(
        lamp3_data, llama_dir, tmp_path, private_cache, monkeypatch):
    from lamp.generation.backends.hf import CausalBackend

    data = lamp3_data["dev"].parents[2]
    reference = tmp_path / "reference"
    run_pipeline(config(data, reference, llama_dir))
    monkeypatch.setenv("LAMP_CACHE_DIR", str(tmp_path / "fresh-cache"))

    calls = {"n": 0}
    original = CausalBackend.generate

    def flaky(self, prompts, settings):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Interrupt("killed")
        return original(self, prompts, settings)

    monkeypatch.setattr(CausalBackend, "generate", flaky)
    out = tmp_path / "resumed"
    with pytest.raises(Interrupt):
        run_pipeline(config(data, out, llama_dir))
    before = calls["n"]
    run_pipeline(config(data, out, llama_dir))
    # 4 dev questions x 3 retrievers in batches of 2 = 6 batches; 2 finished before the kill.
    assert calls["n"] - before == 4
    assert predictions(out) == predictions(reference)


def test_run_refuses_a_folder_it_did_not_create(lamp3_data, llama_dir, tmp_path, private_cache, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    code = main(["run", "--data", str(lamp3_data["dev"].parents[2]), "--tasks", "LaMP-3", "--model", str(llama_dir),
                 "--output_dir", str(out)])
    assert code == 2 and "not a lamp run directory" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "precious"


def test_unknown_config_key_is_a_clear_error(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"taks": ["LaMP-3"]}))
    assert main(["run", "--config", str(cfg)]) == 2
    assert "Unknown config key 'taks'" in capsys.readouterr().err
