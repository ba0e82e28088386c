"""Personalization through a user embedding: a frozen LLM conditioned on a vector made from the
whole profile (PPlug, Liu et al. ACL 2025; the "personalized GPT-2" seed).

Each profile item becomes two vectors from the retrievers' dense encoder (cached on disk as they
are): a *key* (the item's document text, the text a retriever matches) and a *value* (the item's
answer field: its tag, score, title…). An aggregator turns them into one user vector:

* ``mean``: the mean of the items' [key; value] (the seed's form);
* ``attention``: weights from the input's query vector against the keys (PPlug's input-aware
  aggregator; initialised as dense retrieval, then trained);
* ``control``: a learned vector per discrete user attribute (the most frequent label, the rounded
  mean rating, or a style cluster of the profile), the simplest variant.

A small MLP projects the user vector into the LLM's embedding space: ``n_tokens`` soft tokens
before the input (``prefix``, the default) or one vector added to every input token embedding
(``add``). The LLM stays frozen; only the aggregator and the projector train, with the next-token
loss on the answer, for decoder and seq2seq models. Retrieval composes: the soft tokens go before
a retrieval-augmented prompt (``use_retrieval``).

Modules: :mod:`lamp.methods.uemb.model` (torch modules), :mod:`lamp.methods.uemb.features` (item vectors and
attributes), :mod:`lamp.methods.uemb.runner` (the frozen LLM with a conditioner: loss, generation, label
choice, perplexity), :mod:`lamp.methods.uemb.artifact` (save/load with identity checks),
:mod:`lamp.methods.uemb.training`, :mod:`lamp.methods.uemb.backend` (``--backend uemb`` for ``lamp run``,
``evaluate_llm.py`` and ``lamp serve``), :mod:`lamp.pipeline.compare_methods` (the comparison) and
:mod:`lamp.cli.uemb` (``lamp uemb train|predict|compare``).
"""

from lamp.generation.backends.base import BACKENDS

BACKENDS.register("uemb", "lamp.methods.uemb.backend:UembBackend")     # --backend uemb, imported when used
