"""RSPG-Pre as a retriever (``--ranker rspg-pre``, ``lamp run --retrievers rspg-pre``, ``lamp serve``).

Before any generation, every pool member ranks the profile, the prompt each would give is built
(the official builder, the LLM's tokenizer, the k and budget the selector was trained with), the Pre
selector scores the prompts, and the retriever returns the ranking of the member it picks. So the
LLM is called once per input, with the chosen retriever's prompt.

The selector folder comes from the ``rspg_selector`` option, else ``$LAMP_RSPG_SELECTOR``, else
``contriever_checkpoint`` when that folder is a selector (so ``lamp run --contriever_checkpoint`` and
``lamp serve --contriever_checkpoint`` can name it). Pool members are built with their own stored
options (a ROPG member keeps its checkpoint).

A retriever can only order the profile: when the selector picks the no-profile member, this
retriever returns the ranking of the best-scored member that uses the profile (counted in
``choices`` as ``none->NAME``). The prompt's full input is ``Query.input`` (set by ``rank_questions``
and ``lamp serve``); a caller that leaves it empty gets the query text in its place.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from lamp.core.errors import LampError
from retrievers.base import Option, Query, Retriever, get_retriever, register
from retrievers.dense import CHECKPOINT

from rspg.pool import NO_RETRIEVAL
from lamp.core.tasks import get_task
from lamp.generation.prompts import as_counter, build_prompt

ENV = "LAMP_RSPG_SELECTOR"


def _selector_folder(rspg_selector: str | None, contriever_checkpoint: str | None) -> Path:
    for candidate in (rspg_selector, os.environ.get(ENV), contriever_checkpoint):
        if candidate and (Path(candidate) / "rspg_config.json").exists():
            return Path(candidate)
        if candidate and candidate in (rspg_selector, os.environ.get(ENV)):
            raise LampError(f"{candidate}: not a selector folder (no rspg_config.json; train one with "
                            "`lamp rspg train --rspg_type Pre`)")
    raise LampError(f"the rspg-pre ranker needs a trained Pre selector: rspg_selector=DIR, ${ENV}=DIR or "
                    "--contriever_checkpoint DIR")


@register("rspg-pre", [Option("rspg_selector", help=f"a trained Pre selector folder (default ${ENV})"), CHECKPOINT,
                       Option("prompt_tokenizer", help="the LLM tokenizer of the prompts (default: the selector's)")])
class RSPGPreRetriever(Retriever):
    """Delegate each query to the pool member the Pre selector picks from the prompts."""

    name = "rspg-pre"

    def __init__(self, rspg_selector: str | None = None, contriever_checkpoint: str | None = None,
                 prompt_tokenizer: str | None = None, **opts: Any) -> None:
        self.folder = _selector_folder(rspg_selector, contriever_checkpoint)
        config = json.loads((self.folder / "rspg_config.json").read_text(encoding="utf-8"))
        if config.get("rspg_type") != "Pre":
            raise LampError(f"{self.folder}: a {config.get('rspg_type')} selector reads generated outputs; "
                            "only a Pre selector can choose before generation")
        pool = config.get("pool") or {}
        if not pool.get("members"):
            raise LampError(f"{self.folder}: the selector does not record its pool (train it on data made by "
                            "`lamp rspg data`, which writes DATA.pool.json)")
        self.task = config["task"]
        self.k = int(pool.get("k") or 1)
        self.max_length = int(pool.get("max_length") or 256)
        self.use_date = bool(pool.get("use_date"))
        self.tokenizer_path = prompt_tokenizer or pool.get("tokenizer")
        if not self.tokenizer_path:
            raise LampError(f"{self.folder}: the LLM tokenizer of the prompts is unknown; pass prompt_tokenizer")
        self.members = pool["members"]
        inherited = {k: v for k, v in opts.items() if k not in ("contriever_checkpoint", "members")}
        self.retrievers = {m["name"]: None if m["ranker"] == NO_RETRIEVAL else
                           get_retriever(m["ranker"], **{**inherited, **(m.get("options") or {})})
                           for m in self.members}
        self._model = self._tokenizer = self._counter = None
        self.choices: Counter[str] = Counter()

    def _load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoTokenizer

        from rspg.model import load_selector

        self._model, self._tokenizer, self._config = load_selector(self.folder)
        try:
            self._counter = as_counter(AutoTokenizer.from_pretrained(self.tokenizer_path))
        except (OSError, ValueError) as exc:
            raise LampError(f"cannot load the prompt tokenizer {self.tokenizer_path!r}: {exc}") from None

    def rank_batch(self, queries: Sequence[Query]) -> list[list[int]]:
        from rspg.model import separator
        from rspg.train import score_texts, texts_of

        self._load()
        task = get_task(self.task)
        orders = {name: (r.rank_batch(queries) if r is not None else None) for name, r in self.retrievers.items()}
        records = []
        for i, q in enumerate(queries):
            text = getattr(q, "input", "") or q.text
            prompts = []
            for m in self.members:
                order = orders[m["name"]]
                items = [q.profile[j] for j in order[i][: self.k]] if order is not None else []
                prompts.append(build_prompt(task, text, items, self.max_length, self._counter))
            records.append({"inputs": prompts, "outputs": [""] * len(prompts)})
        scores = score_texts(self._model, self._tokenizer, texts_of(records, "Pre", separator(self._tokenizer)),
                             self._config["max_length_input"])
        out = []
        names = [m["name"] for m in self.members]
        for i, q in enumerate(queries):
            ranked = sorted(range(len(names)), key=lambda k: -scores[i][k])
            pick = names[ranked[0]]
            if orders[pick] is None:
                fallback = next((names[k] for k in ranked if orders[names[k]] is not None), None)
                if fallback is None:
                    raise LampError(f"{self.folder}: the pool has no member that uses the profile")
                self.choices[f"{pick}->{fallback}"] += 1
                pick = fallback
            else:
                self.choices[pick] += 1
            out.append(list(orders[pick][i]))
        return out

    def identity(self) -> dict[str, Any]:
        weights = self.folder / "head.pt"
        return {"ranker": self.name, "selector": str(self.folder.resolve()),
                "selector_mtime": weights.stat().st_mtime if weights.exists() else None,
                "members": [m["name"] for m in self.members], "k": self.k, "max_length": self.max_length}
