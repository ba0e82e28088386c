"""One test per row of docs/deviations.md: where the harness differs from the official LaMP code, the
restoring flag (or the official-name script's default) gives the official behaviour, on small
hand-made cases with exact values, and the harness's own default gives its own.

Rows whose test lives elsewhere name it in the table instead of being repeated here."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest
import torch

from lamp.core.writing import write_json
from tiny_models import make_tiny_encoder

LAMP2_INPUT = ("Which tag does this movie relate to among the following tags? Just answer with the tag name "
               "without further explanation. tags: [sci-fi, based on a book, comedy, action, twist ending, "
               "dystopia, dark comedy, classic, psychology, fantasy, romance, thought-provoking, social "
               "commentary, violence, true story] description: ")
LAMP3_INPUT = ("What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, "
               "or 5 without further explanation. review: ")


def parse(configure, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(argv)


def softmax(xs: list[float]) -> list[float]:
    e = [math.exp(x - max(xs)) for x in xs]
    return [v / sum(e) for v in e]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> Path:
    return make_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"))


@pytest.fixture(scope="module")
def ropg_data(tmp_path_factory) -> tuple[Path, Path]:
    """A sorted LaMP-2 training set of two questions with two items each, and their feedback."""
    folder = tmp_path_factory.mktemp("ropg-data")
    merged = [{"id": "1", "input": LAMP2_INPUT + "the cat sleeps", "output": "comedy",
               "profile": [{"id": "10", "description": "a dog runs", "tag": "action", "date": "2020-01-02"},
                           {"id": "11", "description": "the cat eats", "tag": "comedy", "date": "2020-02-03"}]},
              {"id": "2", "input": LAMP2_INPUT + "a red bird", "output": "fantasy",
               "profile": [{"id": "20", "description": "blue fish", "tag": "fantasy", "date": "2019-05-06"},
                           {"id": "21", "description": "big apple", "tag": "classic", "date": "2019-07-08"}]}]
    scores = {"1-10": {"accuracy": 0.0}, "1-11": {"accuracy": 1.0},
              "2-20": {"accuracy": 1.0}, "2-21": {"accuracy": 0.0}}
    write_json(folder / "merged.json", merged)
    write_json(folder / "scores.json", scores)
    return folder / "merged.json", folder / "scores.json"


# --------------------------------------------------------------------------- padding (ROPG)

def _lamp3_query():
    from lamp.core.records import ProfileItem, Question
    from ropg.train import training_queries

    q = Question("7", LAMP3_INPUT + "the cat", [ProfileItem(id="70", text="a dog", score="4", date="2020-01-01"),
                                                 ProfileItem(id="71", text="the fish", score="5", date="2020-01-02")])
    data, metric, _ = training_queries("LaMP-3", [q], {"7": "5"}, {"7-70": {"mae": 1.0}, "7-71": {"mae": 0.0}},
                                       ctx_size=3)
    return data


def test_padding_official_padding_gives_lamp3_padded_slots_the_largest_target_and_reward(encoder):
    """Official (--official_padding): the padded slot is the empty document "" with gold w = 4 for a gold
    rating of 5, so it takes most of the KD target and earns reward 4 − g_0 in RL; default: masked."""
    from transformers import AutoModel, AutoTokenizer

    from lamp.training.losses import rl_loss
    from ropg.train import batch_scores

    data = _lamp3_query()
    assert data[0].gold == [0.75, 1.0] and data[0].pad_gold == 4.0          # (w − mae)/w, w = max(4, 0)
    model, tok = AutoModel.from_pretrained(encoder), AutoTokenizer.from_pretrained(encoder)
    s, g, m = batch_scores(model, tok, data, 3, 16, 16, "cpu", official_padding=True)
    assert g.tolist() == [[0.75, 1.0, 4.0]] and m.tolist() == [[True, True, True]]
    assert torch.isfinite(s).all()                                           # "" is encoded and scored
    target = torch.softmax(g, -1)[0, 2].item()
    assert target == pytest.approx(math.exp(4) / (math.exp(0.75) + math.exp(1) + math.exp(4)), rel=1e-6)
    _, picked, reward = rl_loss(torch.tensor([[-50.0, -50.0, 50.0]]), g, m)
    assert picked.tolist() == [2] and reward.tolist() == [3.25]
    s, g, m = batch_scores(model, tok, data, 3, 16, 16, "cpu")
    assert g.tolist() == [[0.75, 1.0, 0.0]] and m.tolist() == [[True, True, False]]
    _, picked, _ = rl_loss(torch.tensor([[-50.0, -50.0, 50.0]]), g, m)
    assert picked.tolist() != [2]


# --------------------------------------------------------------------------- dates in documents (ROPG)

def test_dates_in_documents_train_kd_py_appends_them_as_the_official_prompts_lamp_ropg_train_does_not(ropg_data):
    from lamp.core.splits import read_split
    from ropg.cli import configure_official_train, configure_train
    from ropg.feedback import read_scores
    from ropg.train import training_queries

    merged, scores = ropg_data
    argv = ["--train_data", str(merged), "--scores_path", str(scores), "--task", "LaMP-2"]
    official, verb = parse(configure_official_train, argv), parse(configure_train, argv)
    assert (official.use_date, verb.use_date) == (True, False)
    assert parse(configure_train, argv + ["--use_date"]).use_date is True
    questions, golds = read_split(merged, "LaMP-2").pair()
    docs = {flag: training_queries("LaMP-2", questions, golds, read_scores(scores), ctx_size=2, use_date=flag)[0][0].docs
            for flag in (True, False)}
    assert docs[True] == ["a dog runs date: 2020-01-02", "the cat eats date: 2020-02-03"]
    assert docs[False] == ["a dog runs", "the cat eats"]


# --------------------------------------------------------------------------- precision

def test_precision_official_scorers_run_float32_lamp_verbs_leave_it_to_the_backend(ropg_data, tmp_path, monkeypatch):
    """profile_item_utilization_scorer.py / retriever_utilization_scorer.py: --dtype float32 (the official
    feedback runs fp32); lamp ropg score / lamp rspg score: the backend's choice, which is bfloat16 on a
    GPU that supports it; --dtype float32 restores the official precision."""
    import ropg.cli
    import rspg.cli
    from lamp.generation.backends import hf
    from lamp.generation.backends.base import load_backend

    merged, _ = ropg_data
    argv = ["--train_data", str(merged), "--task", "LaMP-2", "--output_dir", str(tmp_path), "--profile_size", "1",
            "--backend", "dummy", "--no_progress", "--cache_dir", str(tmp_path / "cache")]
    assert parse(ropg.cli.configure_official_score, argv + ["--model_name", "m"]).dtype == "float32"
    assert parse(ropg.cli.configure_score, argv).dtype is None
    rspg_argv = ["--data_addr", "d", "--task", "LaMP-2", "--output_dir", "o"]
    assert parse(rspg.cli.configure_official_score, rspg_argv).dtype == "float32"
    assert parse(rspg.cli.configure_score, rspg_argv).dtype is None
    seen = []

    def fake_open(*args, **kwargs):
        seen.append(kwargs.get("defaults"))
        return load_backend("dummy")

    monkeypatch.setattr(ropg.cli, "open_backend", fake_open)
    assert ropg.cli.run_score(parse(ropg.cli.configure_score, argv + ["--dtype", "float32"])) == 0
    assert ropg.cli.run_score(parse(ropg.cli.configure_score, argv)) == 0
    assert seen == [{"dtype": "float32"}, None]
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    cuda = torch.device("cuda")
    assert hf._dtype(None, cuda) == torch.bfloat16 and hf._dtype("float32", cuda) == torch.float32
    assert hf._dtype(None, torch.device("cpu")) == torch.float32


# --------------------------------------------------------------------------- loss forms and temperature

def test_kd_loss_train_kd_py_defaults_to_the_double_softmax_lamp_ropg_train_to_the_paper_kl(ropg_data):
    """At T = 2 with scores equal to the gold: the paper's KL is exactly 0; the official double softmax
    is −Σ t·log_softmax(softmax(s/T)) > 0, computed here by hand."""
    from lamp.training.losses import kd_loss
    from ropg.cli import configure_official_train, configure_train

    merged, scores = ropg_data
    argv = ["--train_data", str(merged), "--scores_path", str(scores), "--task", "LaMP-2", "--temperature", "2"]
    official, verb = parse(configure_official_train, argv), parse(configure_train, argv)
    assert (official.kd_loss, verb.kd_loss) == ("official_double_softmax", "paper")
    s = g = [1.0, 0.0]
    t = softmax([x / 2 for x in g])
    p = softmax([x / 2 for x in s])
    lp = [math.log(v) for v in softmax(p)]
    by_hand = -sum(ti * li for ti, li in zip(t, lp))
    got = {form: kd_loss(torch.tensor([s]), torch.tensor([g]), None, 2.0, form).item()
           for form in (official.kd_loss, verb.kd_loss)}
    assert got["official_double_softmax"] == pytest.approx(by_hand, rel=1e-6)        # 0.6830
    assert got["paper"] == pytest.approx(0.0, abs=1e-7)


def test_kd_loss_rspg_py_defaults_to_the_kldiv_quirk_lamp_rspg_train_to_the_paper_kl():
    """RSPG's official form divides the log-probabilities by T and leaves the target unscaled."""
    from lamp.training.losses import kd_loss
    from rspg.cli import configure_official, configure_train

    base = ["--train_data", "t.json", "--val_data", "v.json", "--task", "LaMP-2", "--rspg_type", "Post"]
    official = parse(configure_official, base + ["--val_lamp_golds", "g.json"])
    verb = parse(configure_train, base + ["--name", "out"])
    assert (official.loss, verb.loss) == ("official", "paper")
    s = g = [1.0, 0.0]
    t = softmax(g)
    by_hand = sum(ti * (math.log(ti) - math.log(pi) / 2) for ti, pi in zip(t, softmax(s)))
    assert kd_loss(torch.tensor([s]), torch.tensor([g]), None, 2.0, official.loss).item() == pytest.approx(
        by_hand, rel=1e-6)                                                            # -0.2917: can go negative
    assert kd_loss(torch.tensor([s]), torch.tensor([g]), None, 2.0, verb.loss).item() == pytest.approx(0.0, abs=1e-7)


# --------------------------------------------------------------------------- training budget and checkpoints

def _checkpoints(folder: Path) -> tuple[list[str], str, int]:
    ck = folder / "checkpoint"
    steps = sorted(p.name for p in ck.iterdir() if p.name.startswith("step-"))
    state = torch.load(ck / "latest" / "training_state.pt", map_location="cpu", weights_only=False)
    return steps, (ck / "latest").resolve().name, state["step"]


def test_training_budget_train_kd_py_runs_total_steps_plus_one_as_the_official_loop(ropg_data, encoder, tmp_path):
    """The official loop stops once the step exceeds --total_steps, saving step-(N+1): so does
    train_kd.py; lamp ropg train runs N (--official_steps: N + 1)."""
    from lamp.cli.official import main as official_main
    from lamp.cli.main import main as lamp_main

    merged, scores = ropg_data
    argv = ["--train_data", str(merged), "--scores_path", str(scores), "--task", "LaMP-2", "--do_train",
            "--model_path", str(encoder), "--total_steps", "2", "--max_length_query", "16",
            "--max_length_document", "16", "--no_progress"]
    assert official_main("train_kd.py", argv + ["--checkpoint_dir", str(tmp_path / "official")]) == 0
    assert _checkpoints(tmp_path / "official" / "experiment_name") == (["step-3"], "step-3", 3)
    assert lamp_main(["ropg", "train", *argv, "--checkpoint_dir", str(tmp_path / "verb")]) == 0
    assert _checkpoints(tmp_path / "verb" / "experiment_name") == (["step-2"], "step-2", 2)
    assert lamp_main(["ropg", "train", *argv, "--official_steps", "--checkpoint_dir", str(tmp_path / "flag")]) == 0
    assert _checkpoints(tmp_path / "flag" / "experiment_name") == (["step-3"], "step-3", 3)


def test_training_budget_save_freq_keeps_every_nth_step_and_the_last_as_officially(ropg_data, encoder, tmp_path):
    from lamp.cli.official import main as official_main

    merged, scores = ropg_data
    argv = ["--train_data", str(merged), "--scores_path", str(scores), "--task", "LaMP-2", "--do_train",
            "--model_path", str(encoder), "--total_steps", "4", "--save_freq", "2", "--max_length_query", "16",
            "--max_length_document", "16", "--no_progress", "--checkpoint_dir", str(tmp_path), "--name", "rl"]
    assert official_main("train_rl.py", argv) == 0
    steps, latest, step = _checkpoints(tmp_path / "rl")
    assert steps == ["step-2", "step-4", "step-5"] and latest == "step-5" and step == 5
    assert (tmp_path / "rl" / "checkpoint" / "step-5" / "tokenizer_config.json").exists()   # ours keeps it


def test_gradient_accumulation_official_accumulation_sums_micro_batches_default_averages(ropg_data):
    """SGD at lr 1 on loss w·x over micro-batches x = 1 and x = 2: the official sum moves w by 3, the
    harness's mean by 1.5; train_kd.py, train_rl.py and rspg.py default to the sum."""
    from lamp.training.loop import batches, train_loop
    from ropg.cli import configure_official_train, configure_train

    x = torch.tensor([1.0, 2.0])

    def moved(mean: bool) -> float:
        w = torch.nn.Parameter(torch.zeros(()))
        train_loop(lambda b: w * x[b].sum(), lambda e: batches([0, 1], 1), torch.optim.SGD([w], lr=1.0), [w],
                   total_steps=1, accumulation_steps=2, mean_accumulated=mean)
        return w.item()

    assert (moved(False), moved(True)) == (-3.0, -1.5)
    merged, scores = ropg_data
    argv = ["--train_data", str(merged), "--scores_path", str(scores), "--task", "LaMP-2"]
    assert parse(configure_official_train, argv).official_accumulation is True
    assert parse(configure_train, argv).official_accumulation is False
    from rspg.cli import configure_official, configure_train as configure_rspg_train

    base = ["--train_data", "t.json", "--val_data", "v.json", "--task", "LaMP-2", "--rspg_type", "Post"]
    rspg_official = parse(configure_official, base + ["--val_lamp_golds", "g.json"])
    rspg_verb = parse(configure_rspg_train, base + ["--name", "out"])
    assert (rspg_official.official_accumulation, rspg_verb.official_accumulation) == (True, False)
    assert (rspg_official.official_steps, rspg_verb.official_steps) == (True, False)


# --------------------------------------------------------------------------- tie order

def test_ties_dense_ranking_keeps_profile_order_where_the_official_topk_leaves_it_to_the_device(encoder, tmp_path):
    from lamp.core.records import ProfileItem
    from retrievers.base import Query
    from retrievers import get_retriever

    docs = ["dog runs", "cat", "cat", "dog runs"]
    ranker = get_retriever("contriever", contriever_checkpoint=str(encoder), embedding_cache=str(tmp_path))
    q = Query("1", "cat", [ProfileItem(id=str(i), text=d) for i, d in enumerate(docs)], docs)
    order = ranker.rank_batch([q])[0]
    assert order[:2] == [1, 2] and order[2:] == [0, 3]          # equal texts, equal scores: file order


# --------------------------------------------------------------------------- official models

def test_contriever_rank_profiles_py_means_facebook_contriever_lamp_rank_the_bundled_encoder(tmp_path, monkeypatch,
                                                                                           capsys):
    from lamp.cli.official import main as official_main
    from retrievers.cli import configure_rank
    from retrievers.official import hub_available

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if hub_available("facebook/contriever"):
        pytest.skip("facebook/contriever is in the local cache")
    path = tmp_path / "q.json"
    write_json(path, [{"id": "1", "input": LAMP2_INPUT + "cat", "profile": [
        {"id": "10", "description": "cat", "tag": "comedy", "date": "2020-01-01"}]}])
    rc = official_main("rank_profiles.py", ["--input_data_addr", str(path), "--output_ranking_addr",
                                            str(tmp_path / "r.json"), "--task", "LaMP-2", "--ranker", "contriever"])
    err = capsys.readouterr().err
    assert rc == 2 and "facebook/contriever" in err and "--contriever_checkpoint" in err
    assert not (tmp_path / "r.json").exists()
    verb = parse(configure_rank, ["--input_data_addr", str(path), "--output_ranking_addr", "r", "--task", "LaMP-2",
                                  "--ranker", "contriever"])
    assert getattr(verb, "retriever_contriever_checkpoint", None) is None      # the bundled all-MiniLM-L6-v2


def test_on_the_fly_dense_retrieval_budgets_with_the_llms_tokenizer_not_the_retrievers(encoder, tmp_path):
    """Official [BUG]: on-the-fly contriever retrieval rebinds the prompt's tokenizer to Contriever's
    (BERT uncased), so items come out lower-cased and re-spaced; here the item text is kept as it is."""
    from lamp.core.records import ProfileItem, Question
    from lamp.generation.driver import build_examples
    from retrievers.ranking import rank_questions

    q = Question("1", LAMP2_INPUT + "a cat", [ProfileItem(id="10", description="The Big-Red DOG", tag="comedy",
                                                          date="2020-01-01")])
    ranking = rank_questions([q], "LaMP-2", "contriever", contriever_checkpoint=str(encoder),
                             embedding_cache=str(tmp_path), progress=False)
    prompt = build_examples("LaMP-2", [q], 1, 256, None, ranking)[0].prompt
    assert prompt.startswith('the tag for the movie: "The Big-Red DOG" is "comedy" . Which tag')


def test_the_deviations_table_names_an_existing_test_on_every_row():
    """docs/deviations.md: every row's test column names test functions that exist."""
    import re

    root = Path(__file__).resolve().parents[2]
    table = (root / "docs" / "deviations.md").read_text(encoding="utf-8")
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| what")]
    assert len(rows) >= 15
    sources = {p: p.read_text(encoding="utf-8") for p in (root / "tests").rglob("test_*.py")}
    code = [p.read_text(encoding="utf-8") for room in ("lamp", "retrievers", "ropg", "rspg", "eval")
            for p in (root / room).rglob("*.py")]
    for row in rows:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row.strip().strip("|"))]
        assert len(cells) == 6, row
        for flag in re.findall(r"`(--\w+)", cells[4]):              # the restoring flags exist
            assert any(f'"{flag}"' in text for text in code), f"{flag} is no flag of any command"
        named = re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", cells[-1])
        assert named, f"no test named on the row: {row[:80]}"
        for file, name in named:
            assert f"def {name}(" in sources.get(root / file, ""), f"{file}::{name} does not exist"


def test_the_readmes_paper_reproduction_commands_are_accepted_by_the_scripts_flags():
    """The README's ROPG and RSPG sections end with command lines for the paper's setting; each one
    parses with the flags of the official-name script it calls (nothing here runs them: no GPU)."""
    import importlib
    import re
    import shlex

    from lamp.cli.official import SCRIPTS

    root = Path(__file__).resolve().parents[2]
    text = (root / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"### Reproducing the paper's (ROPG|RSPG) rows.*?```bash\n(.*?)```", text, re.S)
    assert [name for name, _ in blocks] == ["ROPG", "RSPG"]
    scripts = []
    for _, block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if not line.startswith("python "):
                continue
            for var, value in (("${split}", "train"), ("$split", "train"), ("$D", "D"), ("$m", "kd"), ("$r", "bm25")):
                line = line.replace(var, value)
            line = re.sub(r"\{([\w,-]+)\}", lambda m: " ".join("x/" + p for p in m.group(1).split(",")), line)
            argv = shlex.split(line)[1:]
            script = Path(argv[0]).name
            assert (root / argv[0]).exists(), argv[0]
            module, attr = SCRIPTS[script][0].split(":")
            parser = argparse.ArgumentParser(prog=script)
            getattr(importlib.import_module(module), attr)(parser)
            parser.parse_args(argv[1:])
            scripts.append(script)
    assert {"rank_profiles.py", "merge_with_rank.py", "profile_item_utilization_scorer.py", "train_kd.py",
            "evaluate_llm.py", "retriever_utilization_scorer.py", "create_data.py", "rspg.py"} <= set(scripts)
