"""Does each learning method learn? Planted-rule data (``data/planted.py``), before and after training.

Each set hides one rule that only the feedback (or the target) tells; ``dev`` holds other users,
so every number is on unseen questions:

* ROPG-KD / ROPG-RL: the share of questions whose useful item (the one cued item, feedback 1)
  the dense ranker puts first, with the encoder it starts from (before) and the trained one (after).
* RSPG-Pre / RSPG-Post: the share of questions where the pick is the winning retriever, for the
  best single retriever (before) and the selector (after); then the same selector on the pool
  in reverse order must pick the same retrievers (the scores decide, not the position).
* uemb mean / attention: the share of unseen users whose hidden category a linear probe over the
  aggregator's user vector gets right, untrained (before) and trained on the train users (after).

    nice -n 10 python bench/bench_learning.py [--out runs/learning] [--train 200] [--dev 80]

The tests (``tests/*/test_learning_*.py``) run the same functions on small sets.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@dataclass
class Row:
    """One line of the table: a share of unseen questions (or users) before and after training."""

    method: str
    before: float
    after: float
    n: int
    seconds: float
    note: str = ""


def load_by_path(name: str, path: Path) -> ModuleType:
    """A module from a script folder (not a package), loaded once by path."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module              # before running it: its dataclasses look themselves up
        spec.loader.exec_module(module)
    return sys.modules[name]


def planted() -> ModuleType:
    """``data/planted.py``, the planted-rule generator."""
    return load_by_path("planted", ROOT / "data" / "planted.py")


def make_data(folder: Path, seed: int, train: int, dev: int) -> Path:
    """The planted sets under ``folder`` (written once per seed and size)."""
    stamp = folder / "planted.json"
    wanted = {"seed": seed, "train": train, "dev": dev}
    if not stamp.exists() or json.loads(stamp.read_text()) != wanted:
        planted().write_planted(folder, seed, {"train": train, "dev": dev})
        stamp.write_text(json.dumps(wanted))
    return folder


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- ROPG


def first_share(data: Path, split: str, checkpoint: str | None) -> tuple[float, int]:
    """(share of ``split`` questions whose useful item the dense ranker with ``checkpoint`` ranks
    first, questions)."""
    from lamp.core.splits import read_split
    from retrievers.dense import resolve_encoder
    from retrievers.ranking import rank_questions

    questions, _ = read_split(data / "ropg" / f"{split}_questions.json", "LaMP-2",
                              data / "ropg" / f"{split}_outputs.json").pair()
    useful = planted().useful_items(read_json(data / "ropg" / f"{split}_feedback.json"))
    ranking = rank_questions(questions, "LaMP-2", "contriever", contriever_checkpoint=resolve_encoder(checkpoint),
                             use_cache=False, progress=False)
    return sum(ranking[q.id][0] == useful[q.id] for q in questions) / len(questions), len(questions)


def ropg_args(method: str, data: Path, work: Path, encoder: str | None, **flags: Any) -> argparse.Namespace:
    """``lamp ropg train`` flags for the planted set (extra ``flags`` by name)."""
    from ropg.cli import configure_train

    parser = argparse.ArgumentParser()
    configure_train(parser)
    argv = ["--method", method, "--train_data", str(data / "ropg" / "train_questions.json"),
            "--train_outputs", str(data / "ropg" / "train_outputs.json"),
            "--scores_path", str(data / "ropg" / "train_feedback.json"), "--task", "LaMP-2",
            "--checkpoint_dir", str(work), "--name", method, "--ctx_size", "8", "--metric", "accuracy",
            "--no_progress"] + (["--model_path", encoder] if encoder else [])
    for key, value in flags.items():
        argv += [f"--{key}", str(value)]
    return parser.parse_args(argv)


def ropg_row(method: str, data: Path, work: Path, encoder: str | None = None, **flags: Any) -> Row:
    """ROPG-KD or -RL on the planted set: useful item first on dev, before and after training."""
    from ropg.train import train

    started = time.perf_counter()
    before, n = first_share(data, "dev", encoder)
    final = train(ropg_args(method, data, work, encoder, **flags))
    after, _ = first_share(data, "dev", str(final))
    return Row(f"ROPG-{method.upper()}", before, after, n, time.perf_counter() - started,
               "useful item ranked first; before: the starting encoder")


# ----------------------------------------------------------------------------- RSPG


def permuted(records: Sequence[dict], order: Sequence[int]) -> list[dict]:
    """The records with the pool in ``order`` (labels, outputs, prompts and names together)."""
    keys = ("labels", "outputs", "inputs", "retrievers")
    return [{**r, **{k: [r[k][i] for i in order] for k in keys}} for r in records]


def picked_names(model_dir: Path, records: Sequence[dict]) -> list[str]:
    """The retriever the selector picks per record, by name (the records' own pool order)."""
    from rspg.selection import select_records

    names = [r["retrievers"] for r in records]
    anonymous = [{k: v for k, v in r.items() if k != "retrievers"} for r in records]   # any order is accepted
    picks, _, _ = select_records(model_dir, anonymous, progress=False)
    return [row[k] for row, k in zip(names, picks)]


def winners(records: Sequence[dict]) -> list[str]:
    return [r["retrievers"][max(range(len(r["labels"])), key=r["labels"].__getitem__)] for r in records]


def rspg_row(rspg_type: str, data: Path, work: Path, encoder: str | None = None, **config: Any) -> Row:
    """RSPG-Pre or -Post on the planted set: the winner picked on dev, by the best single retriever
    (before) and by the selector (after); the note says whether a reversed pool gives the same picks."""
    from rspg.train import TrainConfig, train_selector

    started = time.perf_counter()
    dev = read_json(data / "rspg" / "dev.json")
    truth = winners(dev)
    pool = dev[0]["retrievers"]
    best_single = max(truth.count(name) for name in pool) / len(dev)
    out = work / rspg_type
    train_selector(TrainConfig(task="LaMP-2", rspg_type=rspg_type, model_name=encoder, **config),
                   data / "rspg" / "train.json", out, progress=False)
    picks = picked_names(out, dev)
    reversed_picks = picked_names(out, permuted(dev, list(range(len(pool)))[::-1]))
    after = sum(p == t for p, t in zip(picks, truth)) / len(dev)
    same = sum(a == b for a, b in zip(picks, reversed_picks))
    return Row(f"RSPG-{rspg_type}", best_single, after, len(dev), time.perf_counter() - started,
               f"right retriever picked; before: the best single one; reversed pool: {same}/{len(dev)} same picks")


# ----------------------------------------------------------------------------- user embeddings


@functools.lru_cache(maxsize=8)
def user_features(data: Path, split: str, encoder: str | None) -> tuple[Any, Any, Any, Any, list[str]]:
    """``(keys, values, mask, query, categories)`` of every ``split`` user, from the item vectors the
    user-embedding method reads (:class:`lamp.methods.uemb.features.ItemVectors`)."""
    import numpy as np
    import torch

    from lamp.core.splits import read_split
    from lamp.core.tasks import get_task
    from lamp.methods.uemb.features import ItemVectors
    from retrievers.dense import Encoder

    questions, _ = read_split(data / "uemb" / f"{split}_questions.json", "LaMP-2",
                              data / "uemb" / f"{split}_outputs.json").pair()
    attributes = read_json(data / "uemb" / f"{split}_attributes.json")
    rows = ItemVectors(Encoder(encoder, use_cache=False), get_task("LaMP-2")).rows(
        [(q.input, q.input, q.profile) for q in questions])
    n, dim = max(len(k) for k, _, _ in rows), rows[0][2].shape[0]
    keys, values = np.zeros((len(rows), n, dim), np.float32), np.zeros((len(rows), n, dim), np.float32)
    mask = np.zeros((len(rows), n), bool)
    for i, (k, v, _) in enumerate(rows):
        keys[i, :len(k)], values[i, :len(v)], mask[i, :len(k)] = k, v, True
    query = np.stack([q for _, _, q in rows])
    return (torch.tensor(keys), torch.tensor(values), torch.tensor(mask), torch.tensor(query),
            [attributes[q.user_id] for q in questions])


def uemb_row(aggregator: str, data: Path, encoder: str | None = None, steps: int = 300, lr: float = 1e-2,
             seed: int = 0) -> Row:
    """A user-embedding aggregator (``mean`` or ``attention``) and a linear probe on its user vector,
    trained together on the train users' hidden categories; accuracy on the dev users."""
    import torch

    from lamp.methods.uemb.model import UembSpec, UserConditioner

    started = time.perf_counter()
    train, dev = user_features(data, "train", encoder), user_features(data, "dev", encoder)
    classes = sorted(set(train[4]))
    dim = train[0].shape[-1]
    torch.manual_seed(seed)
    aggregate = UserConditioner(UembSpec(aggregator, enc_dim=dim, hidden=8, llm_dim=8))
    # A linear probe over standardised features (the vectors of one encoder differ by little).
    probe = torch.nn.Sequential(torch.nn.BatchNorm1d(2 * dim, affine=False), torch.nn.Linear(2 * dim, len(classes)))

    def accuracy(features: tuple) -> float:
        probe.eval()
        with torch.no_grad():
            guess = probe(aggregate.user_vector(*features[:4], None)).argmax(-1).tolist()
        probe.train()
        return sum(classes[g] == c for g, c in zip(guess, features[4])) / len(guess)

    before = accuracy(dev)
    target = torch.tensor([classes.index(c) for c in train[4]])
    params = list(probe.parameters()) + [p for name, p in aggregate.named_parameters() if not name.startswith("projector")]
    optimizer = torch.optim.Adam(params, lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(probe(aggregate.user_vector(*train[:4], None)), target)
        loss.backward()
        optimizer.step()
    return Row(f"uemb {aggregator}", before, accuracy(dev), len(dev[4]), time.perf_counter() - started,
               f"hidden category of unseen users ({len(classes)} classes, chance {1 / len(classes):.2f})")


# ----------------------------------------------------------------------------- the table


def table(rows: Sequence[Row]) -> str:
    lines = ["| method | before | after | n | seconds | what is counted |", "|---|---|---|---|---|---|"]
    lines += [f"| {r.method} | {r.before:.3f} | {r.after:.3f} | {r.n} | {r.seconds:.0f} | {r.note} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "learning", help="data and checkpoints")
    parser.add_argument("--seed", type=int, default=7, help="the planted data's seed")
    parser.add_argument("--train", type=int, default=200, help="demo questions (and users) in train")
    parser.add_argument("--dev", type=int, default=80, help="demo questions (and users) in dev (unseen)")
    parser.add_argument("--ropg_steps", type=int, default=60, help="ROPG optimizer steps (batch 8)")
    parser.add_argument("--rspg_epochs", type=int, default=10, help="RSPG epochs (frozen encoder + head)")
    parser.add_argument("--only", nargs="*", default=None, help="methods to run: ropg rspg uemb (default all)")
    args = parser.parse_args(argv)
    print("load average at the start (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    data = make_data(args.out / "data", args.seed, args.train, args.dev)
    wanted = set(args.only or ("ropg", "rspg", "uemb"))
    done: dict[str, Row] = {}
    if "rspg" in wanted:                      # the quick ones first
        for kind in ("Pre", "Post"):
            shutil.rmtree(args.out / "rspg" / kind, ignore_errors=True)
            done[f"rspg-{kind}"] = rspg_row(kind, data, args.out / "rspg", None, epochs=args.rspg_epochs, lr=1e-2,
                                            freeze_encoder=True, per_gpu_batch_size=8, max_length_input=512)
            print(table([done[f"rspg-{kind}"]]), flush=True)
    if "uemb" in wanted:
        for aggregator in ("mean", "attention"):
            done[f"uemb-{aggregator}"] = uemb_row(aggregator, data)
            print(table([done[f"uemb-{aggregator}"]]), flush=True)
    if "ropg" in wanted:
        for method in ("kd", "rl"):
            shutil.rmtree(args.out / "ropg" / method, ignore_errors=True)
            done[f"ropg-{method}"] = ropg_row(method, data, args.out / "ropg", None, total_steps=args.ropg_steps,
                                              per_gpu_batch_size=8, lr="1e-4", max_length_query=128,
                                              max_length_document=128)
            print(table([done[f"ropg-{method}"]]), flush=True)
    order = ("ropg-kd", "ropg-rl", "rspg-Pre", "rspg-Post", "uemb-mean", "uemb-attention")
    rows = [done[k] for k in order if k in done]
    print(table(rows))
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
