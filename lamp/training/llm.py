"""Fine-tune the LLM with retrieval: the official ``train_llm.py`` (reference §4), sturdier.

What it does: build the personalised prompt of every train/dev question (or the raw input without
``--use_profile``), fine-tune with the Hugging Face ``Trainer`` (``Seq2SeqTrainer`` for seq2seq
models), evaluate by generation every epoch with the task's official metric (the model being
trained generates through the same backend and driver as ``evaluate_llm.py``, so a run's dev
scores are that script's scores on the saved model), keep the best
checkpoint (accuracy, MAE lower-is-better, or ROUGE-1), save it as a plain Hugging Face folder in
``output_dir`` (so ``lamp run --model OUTPUT_DIR`` uses it), and write predictions.

Defaults are the official ones: max length 256, generation 128 tokens with 4 beams, learning rate
5e-5, weight decay 1e-4, 10 epochs, linear schedule with 5% warm-up, batch 16, gradient
accumulation 1, logging every 50 steps, evaluation and a checkpoint every epoch.

Data, in either shape:

* the merged "sorted dataset" of ``lamp merge`` / ``merge_with_rank`` (``{id, input, profile,
  output}``, profiles already ranked): pass ``--is_ranked`` and the top ``--num_retrieved`` stored
  items are used, as officially;
* a questions file: its golds come from ``--train_outputs`` / ``--validation_outputs`` /
  ``--test_outputs`` when given, else from ``{split}_outputs.json`` beside ``{split}_questions.json``;
  without ``--is_ranked`` the profile is ranked on the fly with ``--retriever``.

Outputs in ``output_dir``: ``checkpoint-*/`` (the Trainer's, at most ``--save_total_limit``,
best one always kept), the best model + tokenizer (``config.json``, ``model.safetensors``, …; a
``--lora`` run is merged into the base weights so the folder is a plain model),
``dev_predictions.json`` and ``test_predictions.json`` (official ``{task, golds}`` format),
``results_output.json`` (dev metrics with ``eval_`` keys, as ``evaluate_llm.py`` writes) and
``lamp_train.json`` (the settings used).

Fixed official bugs: writing the ``--test_data`` predictions crashed on ``os.join`` [BUG]; here they
are written. LaMP-2-old has no label list in the official script [BUG]; here it comes from the task
registry.

Resuming: a run restarted with the same ``output_dir`` continues from its last checkpoint
(``--resume auto``, the default; ``--resume never`` starts over, ``--resume PATH`` picks one).
``--save_steps N`` also checkpoints every N optimiser steps, so an interruption mid-epoch loses at
most N steps. Logs go to the console; ``--report_to tensorboard`` / ``wandb`` (when installed)
sends them there too; the default is ``none`` so nothing is written or sent unasked.

Several GPUs or machines, with no code change::

    accelerate launch --num_processes 8 -m lamp.cli.main train --config run.json
    torchrun --nproc_per_node 8 lamp/train_llm.py --train_data ... (the same flags)
    torchrun --nnodes 2 --node_rank R --master_addr HOST --nproc_per_node 8 lamp/train_llm.py ...

``--per_device_batch_size`` is per process, as in the Trainer. Evaluation generation is split
across the processes and gathered.

Small-machine runs: ``--lora`` trains LoRA (r 8, alpha 32, dropout 0.1 on the attention
projections) instead of all weights; ``--max_train_samples`` / ``--max_eval_samples`` take the
first N questions.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lamp.generation.backends.base import OFFICIAL_GENERATION as OFFICIAL
from lamp.generation.backends.base import Example, GenerationSettings, answer_settings
from lamp.core.errors import LampError
from lamp.core.settings import check as check_settings, setting
from lamp.core.splits import read_split
from lamp.core.tasks import Task, get_task
from lamp.privacy.scrub import scrub_transform
from eval.metrics import get_metric, score_task
from lamp.core.writing import check_distinct_outputs, check_output_path, write_json, write_outputs
from lamp.generation.driver import build_examples, generate_all
from lamp.generation.models import load_model_and_tokenizer
from lamp.training.data import FeatureDataset, is_seq2seq, make_collator
from lamp.training.lora import lora_config_for
from retrievers.ranking import rank_questions


@dataclass
class TrainConfig:
    """Every setting of a run; the config-file keys are the field names, and so are the flags (``lamp
    train`` spells ``model_name`` ``--model``, the official name an alias)."""

    train_data: str | None = setting(None, "train questions file, or the merged sorted dataset")
    validation_data: str | None = setting(None, "dev questions file, or the merged sorted dataset")
    test_data: str | None = setting(None, "test questions file: predictions are written for it")
    model_name: str | None = setting(None, "HF folder or hub id (seq2seq or causal); "
                                     "'SmolLM2-135M-Instruct' is the bundled offline model",
                                     aliases=("model",))
    task: str | None = setting(None, "LaMP-1 … LaMP-7 (or LaMP-2-old)")
    output_dir: str | None = setting(None, "checkpoints, the best model and predictions go here")
    retriever: str = setting("bm25", "on-the-fly ranker when not --is_ranked (bm25, contriever, recency, random …)")
    use_profile: bool = setting(False, "personalise the prompt with retrieved profile items")
    is_ranked: bool = setting(False, "profiles are already ranked (the merged file): take the first k")
    num_retrieved: int | None = setting(None, "k, the number of profile items in the prompt")
    train_outputs: str | None = setting(None, "golds of --train_data (default: the merged file's "
                                        "'output', or {split}_outputs.json beside it)")
    validation_outputs: str | None = setting(None, "golds of --validation_data (default as above)")
    test_outputs: str | None = setting(None, "golds of --test_data, optional: scores the test predictions")
    max_length: int = setting(OFFICIAL.max_input_length, "max input (and target) tokens")
    generation_max_length: int = setting(OFFICIAL.max_new_tokens, "max generated tokens")
    generation_num_beams: int = setting(OFFICIAL.num_beams, "beams for evaluation and prediction")
    per_device_batch_size: int = setting(16, "train and eval batch per device")
    learning_rate: float = setting(5e-5, "peak learning rate")
    weight_decay: float = setting(1e-4, "AdamW weight decay")
    num_train_epochs: float = setting(10, "epochs")
    lr_scheduler_type: str = setting("linear", "learning-rate schedule")
    warmup_ratio: float = setting(0.05, "fraction of steps for linear warm-up")
    gradient_accumulation_steps: int = setting(1, "steps per optimiser update")
    logging_steps: int = setting(50, "log every N steps")
    save_steps: int | None = setting(None, "also checkpoint every N steps (mid-epoch resume); default: per epoch")
    save_total_limit: int | None = setting(2, "checkpoints kept (the best is always kept)")
    resume: str = setting("auto", "auto (continue from the last checkpoint in output_dir), never, or a "
                          "checkpoint path")
    report_to: str = setting("none", "none, tensorboard, wandb, all … (the Trainer's report_to)")
    seed: int = setting(42, "random seed")
    bf16: bool = setting(False, "train in bfloat16 mixed precision")
    lora: bool = setting(False, "train a LoRA adapter instead of all weights (merged into the saved model)")
    lora_r: int = setting(8, "LoRA rank")
    lora_alpha: int = setting(32, "LoRA alpha")
    lora_dropout: float = setting(0.1, "LoRA dropout")
    max_train_samples: int | None = setting(None, "use only the first N training questions")
    max_eval_samples: int | None = setting(None, "use only the first N dev questions")
    cache_dir: str | None = setting(None, "accepted for compatibility with the official flags; unused")
    scrub: bool = setting(False, "replace PII in the questions by per-user placeholders as they are loaded "
                          "(lamp.privacy.scrub; names and places only with a spaCy NER model)")

    def check(self) -> None:
        check_settings(self, "the train settings")    # types first: a config file can say "k": "two"
        missing = [n for n in ("train_data", "validation_data", "model_name", "task", "output_dir")
                   if not getattr(self, n)]
        if missing:
            raise LampError("missing required setting(s): " + ", ".join(f"--{n}" for n in missing))
        get_task(self.task)
        if self.use_profile and self.num_retrieved is None:
            raise LampError("--num_retrieved is required with --use_profile")
        if self.resume not in ("auto", "never") and not Path(self.resume).is_dir():
            raise LampError(f"--resume {self.resume}: expected auto, never or a checkpoint folder")
        for name in ("num_retrieved", "max_train_samples", "max_eval_samples", "save_total_limit"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise LampError(f"--{name} must be 0 or more, got {getattr(self, name)}")
        for name in ("max_length", "generation_max_length", "generation_num_beams", "per_device_batch_size",
                     "gradient_accumulation_steps", "logging_steps", "lora_r"):
            if getattr(self, name) < 1:
                raise LampError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.save_steps is not None and self.save_steps < 1:
            raise LampError(f"--save_steps must be at least 1, got {self.save_steps}")
        if not self.num_train_epochs > 0 or not self.learning_rate > 0:
            raise LampError("--num_train_epochs and --learning_rate must be positive")
        inputs = [self.train_data, self.validation_data, self.test_data, self.train_outputs,
                  self.validation_outputs, self.test_outputs]
        check_distinct_outputs(inputs, [Path(self.output_dir) / "dev_predictions.json",
                                        Path(self.output_dir) / "test_predictions.json"])
        if Path(self.output_dir).exists() and not Path(self.output_dir).is_dir():
            raise LampError(f"--output_dir {self.output_dir}: is a file, not a folder")
        check_output_path(Path(self.output_dir) / "lamp_train.json")


@dataclass
class TrainResult:
    output_dir: str
    metrics: dict[str, float]
    best_checkpoint: str | None
    dev_predictions: str
    test_predictions: str | None = None


# --------------------------------------------------------------------------- generation

def generation_settings(cfg: TrainConfig) -> GenerationSettings:
    """The settings ``evaluate_llm.py`` uses for the same flags, so the dev scores of a run equal
    that script's on the saved model (beam search, no sampling, the answer line; reference §4)."""
    return answer_settings(cfg.generation_max_length, cfg.generation_num_beams, cfg.max_length)


def score(task: str | Task, golds: dict[str, str], preds: dict[str, str]) -> dict[str, float]:
    """The official metrics of a task (eval.metrics), keyed accuracy/f1, MAE/RMSE or rouge-1/rouge-L."""
    return {k: float(v) for k, v in score_task(get_task(task).name, golds, preds).items()
            if isinstance(v, (int, float))}


# --------------------------------------------------------------------------- the Trainer

def _distributed_generate(trainer: Any, examples: list[Example], cfg: TrainConfig) -> list[str]:
    """The model being trained, wrapped as a backend, generates the examples through the driver
    every verb uses; each process generates every ``world``-th example and the pieces are
    gathered in order."""
    import torch.distributed as dist

    from lamp.generation.backends.hf import wrap_model
    world, rank = trainer.args.world_size, trainer.args.process_index
    mine = list(range(rank, len(examples), world))
    model = trainer.model
    was_training = model.training
    try:
        backend = wrap_model(model, trainer.lamp_tokenizer, identity=f"in-training:{cfg.output_dir}",
                             batch_size=cfg.per_device_batch_size)
        outs = generate_all(backend, [examples[i] for i in mine], generation_settings(cfg),
                            progress=trainer.is_world_process_zero(), desc="generating")
    finally:
        model.train(was_training)
    if world == 1 or not (dist.is_available() and dist.is_initialized()):
        return outs
    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, list(zip(mine, outs)))
    result = [""] * len(examples)
    for part in gathered:
        for i, text in part:
            result[i] = text
    return result


class GenerativeEvalMixin:
    """Replaces the Trainer's evaluation metrics with generation + the official task metric.

    The parent's ``evaluate`` still runs for the dev loss; then the dev prompts are generated
    with the official settings and scored. The returned dict carries ``eval_accuracy`` /
    ``eval_MAE`` / ``eval_rouge-1`` …, which the Trainer uses to keep the best checkpoint.
    """

    lamp_config: TrainConfig
    lamp_examples: list[Any]
    lamp_tokenizer: Any
    lamp_predictions: dict[str, str]

    def evaluate(self, eval_dataset: Any = None, ignore_keys: Any = None,
                 metric_key_prefix: str = "eval", **kwargs: Any) -> dict[str, float]:
        metrics = super().evaluate(eval_dataset, ignore_keys=ignore_keys,  # type: ignore[misc]
                                   metric_key_prefix=metric_key_prefix, **kwargs)
        task = get_task(self.lamp_config.task)
        outs = _distributed_generate(self, self.lamp_examples, self.lamp_config)
        self.lamp_predictions = {e.id: o for e, o in zip(self.lamp_examples, outs)}
        golds = {e.id: e.target for e in self.lamp_examples}
        extra = {f"{metric_key_prefix}_{k}": v for k, v in score(task, golds, self.lamp_predictions).items()}
        self.log(extra)  # type: ignore[attr-defined]
        metrics.update(extra)
        return metrics


class SaveEveryNSteps:
    """A callback that also checkpoints every N optimiser steps (mid-epoch resume)."""

    def __init__(self, every: int) -> None:
        self.every = every

    def __getattr__(self, name: str) -> Any:
        if name.startswith("on_"):
            return lambda *a, **k: None
        raise AttributeError(name)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.every and state.global_step % self.every == 0:
            control.should_save = True
        return control


def _has_accelerator() -> bool:
    import torch

    return torch.cuda.is_available()


def _training_args(cfg: TrainConfig, seq2seq: bool, has_eval: bool) -> Any:
    from transformers import Seq2SeqTrainingArguments, TrainingArguments

    cls = Seq2SeqTrainingArguments if seq2seq else TrainingArguments
    task = get_task(cfg.task)
    metric = task.primary_metric        # the official best-model choice
    greater = get_metric(metric).higher_is_better
    kwargs: dict[str, Any] = dict(
        output_dir=cfg.output_dir, per_device_train_batch_size=cfg.per_device_batch_size,
        per_device_eval_batch_size=cfg.per_device_batch_size, learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay, num_train_epochs=cfg.num_train_epochs,
        lr_scheduler_type=cfg.lr_scheduler_type, gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        logging_steps=cfg.logging_steps, eval_accumulation_steps=1, save_strategy="epoch",
        save_total_limit=cfg.save_total_limit, load_best_model_at_end=has_eval,
        metric_for_best_model=metric, greater_is_better=greater, report_to=cfg.report_to,
        seed=cfg.seed, bf16=cfg.bf16, prediction_loss_only=True, remove_unused_columns=False,
        eval_strategy="epoch" if has_eval else "no", disable_tqdm=False,
        dataloader_pin_memory=_has_accelerator())
    params = inspect.signature(cls.__init__).parameters
    if "warmup_ratio" in params:        # transformers 4.x
        kwargs["warmup_ratio"] = cfg.warmup_ratio
    else:                               # transformers 5.x: a float < 1 is a ratio
        kwargs["warmup_steps"] = cfg.warmup_ratio
    if "eval_strategy" not in params:
        kwargs["evaluation_strategy"] = kwargs.pop("eval_strategy")
    if seq2seq:
        kwargs.update(predict_with_generate=False, generation_max_length=cfg.generation_max_length,
                      generation_num_beams=cfg.generation_num_beams)
    return cls(**kwargs)


def _take(items: list[Any], n: int | None) -> list[Any]:
    return items if n is None else items[:n]


def save_final(model: Any, tokenizer: Any, out: Path) -> None:
    """Save the final model so a kill never leaves a half-written one in ``out``.

    Everything is written to a temporary folder beside it first; then each file is moved into
    place with an atomic rename, weights before ``config.json`` (the file loaders look for first).
    """
    import shutil
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix=".final.", dir=out))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        names = sorted((p.name for p in tmp.iterdir()), key=lambda n: (n == "config.json", n))
        for name in names:
            os.replace(tmp / name, out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def train_llm(cfg: TrainConfig) -> TrainResult:
    """Train, keep the best checkpoint, save it to ``output_dir`` and write predictions."""
    cfg.check()
    transform = scrub_transform(cfg.scrub)          # --scrub: each loaded question, before anything sees it
    from transformers import Seq2SeqTrainer, Trainer, set_seed
    from transformers.trainer_utils import get_last_checkpoint

    task = get_task(cfg.task)
    out = Path(cfg.output_dir)
    set_seed(cfg.seed)
    model, tokenizer = load_model_and_tokenizer(cfg.model_name)
    seq2seq = is_seq2seq(model)

    def examples(path: str, outputs: str | None, limit: int | None, need_golds: bool) -> list[Example]:
        questions, golds = read_split(path, task, outputs, require_outputs=need_golds, transform=transform).pair()
        questions = _take(questions, limit)
        ranking = None
        if cfg.use_profile and not cfg.is_ranked:
            ranking = rank_questions(questions, task, cfg.retriever)
        k = (cfg.num_retrieved or 0) if cfg.use_profile else 0
        return build_examples(task, questions, k, cfg.max_length, tokenizer, ranking, golds)

    train_ex = examples(cfg.train_data, cfg.train_outputs, cfg.max_train_samples, True)
    dev_ex = examples(cfg.validation_data, cfg.validation_outputs, cfg.max_eval_samples, True)
    if cfg.lora:
        from peft import get_peft_model

        model = get_peft_model(model, lora_config_for(model, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout))
    args = _training_args(cfg, seq2seq, has_eval=bool(dev_ex))
    base = Seq2SeqTrainer if seq2seq else Trainer
    trainer_cls = type("LampSeq2SeqTrainer" if seq2seq else "LampTrainer", (GenerativeEvalMixin, base), {})
    callbacks = [SaveEveryNSteps(cfg.save_steps)] if cfg.save_steps else []
    trainer = trainer_cls(model=model, args=args, data_collator=make_collator(tokenizer, model),
                          train_dataset=FeatureDataset(train_ex, tokenizer, cfg.max_length, seq2seq),
                          eval_dataset=FeatureDataset(dev_ex, tokenizer, cfg.max_length, seq2seq),
                          processing_class=tokenizer, callbacks=callbacks)
    trainer.lamp_config, trainer.lamp_examples, trainer.lamp_tokenizer = cfg, dev_ex, tokenizer
    trainer.lamp_predictions = {}

    resume: str | None = None
    if cfg.resume == "auto":
        resume = get_last_checkpoint(str(out)) if out.is_dir() else None
    elif cfg.resume != "never":
        resume = cfg.resume
    if resume and trainer.is_world_process_zero():
        print(f"resuming from {resume}", file=sys.stderr)
    trainer.train(resume_from_checkpoint=resume)

    metrics = trainer.evaluate()
    best = trainer.state.best_model_checkpoint
    final = trainer.model
    if cfg.lora:
        final = final.merge_and_unload()
    dev_path = out / "dev_predictions.json"
    test_path = None
    if trainer.is_world_process_zero():
        save_final(final, tokenizer, out)
        write_outputs(dev_path, task.name, trainer.lamp_predictions)
        write_json(out / "results_output.json", metrics, indent=1)
        write_json(out / "lamp_train.json", {**dataclasses.asdict(cfg), "best_checkpoint": best}, indent=1)
    if cfg.test_data:
        test_ex = examples(cfg.test_data, cfg.test_outputs, None, False)
        trainer.lamp_examples = test_ex
        outs = _distributed_generate(trainer, test_ex, cfg)
        test_path = out / "test_predictions.json"
        if trainer.is_world_process_zero():
            preds = {e.id: o for e, o in zip(test_ex, outs)}
            write_outputs(test_path, task.name, preds)
            golds = {e.id: e.target for e in test_ex if e.target is not None}
            if golds and len(golds) == len(test_ex):
                write_json(out / "test_results.json", score(task, golds, preds), indent=1)
    return TrainResult(str(out), metrics, best, str(dev_path), str(test_path) if test_path else None)
