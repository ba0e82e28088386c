"""The one way from a verb's flags or a run config to a loaded backend.

``lamp run``, ``lamp serve``, ``evaluate_llm.py`` and the ROPG/RSPG scorers all name a backend
(``auto`` or a registry name), a model and some options; :func:`open_backend` resolves ``auto``,
refuses what the backend cannot take (unknown names and option keys, with a suggestion, before
anything loads) and instantiates it, so every verb gives the same answer for the same flags.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lamp.core.errors import LampError
from lamp.core.registry import unknown_message
from lamp.generation.backends.base import Backend, backend_class
from lamp.generation.models import DEFAULT_MODEL, backend_kind

#: The backends ``auto`` picks between by reading the model's config.
HF_KINDS = ("hf-seq2seq", "hf-causal")


def resolve_kind(kind: str, model: str | None, source: str, options: Mapping[str, Any] | None = None) -> str:
    """The backend to load: ``auto`` is openai when a ``base_url`` is given, else seq2seq or causal from
    the model's config (as the official evaluate_llm.py does); an hf backend that does not match the
    model's kind is an error naming the right one."""
    if kind == "auto" and (options or {}).get("base_url"):
        return "openai"
    if kind != "auto" and kind not in HF_KINDS:
        return kind
    name = model or DEFAULT_MODEL
    folder = Path(name)
    if (folder / "adapter_config.json").is_file() and not (folder / "config.json").is_file():
        raise LampError(f"{source}: {folder} is a LoRA adapter (adapter_config.json, no model config): give its "
                        "base model as --model, or use 'lamp adapters predict' for per-user adapters")
    found = backend_kind(name)
    if kind not in ("auto", found):
        raise LampError(f"{source}: {name} is {'an encoder-decoder' if found == 'hf-seq2seq' else 'a decoder-only'} "
                        f"model: use --backend {found} (or auto), not {kind}")
    return found


def _option_names(factory: type[Backend]) -> list[str] | None:
    """The keyword options a backend's constructor takes (None: it passes any on, e.g. ``**_``)."""
    for klass in factory.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            continue                                   # passes its options on: look further up
        return [n for n, p in params.items() if n != "self" and p.kind is not inspect.Parameter.VAR_POSITIONAL]
    return None


def _named_parameters(factory: type[Backend]) -> set[str]:
    """The keywords a backend's constructor names outright, along the constructors it passes ``**``
    on to: where :meth:`open_backend`'s ``defaults`` may go (a constructor that also takes ``**_``
    still gets a default it names, e.g. uemb's ``transform``)."""
    names: set[str] = set()
    for klass in factory.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        params = inspect.signature(init).parameters
        names.update(n for n, p in params.items() if n != "self" and p.kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY))
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            break                                      # takes no more: the chain ends here
    return names


def check_backend_options(kind: str, options: Mapping[str, Any], source: str,
                          served: Mapping[str, Any] | None = None, llm: bool = True) -> type[Backend]:
    """The factory registered as ``kind`` once its name, its being an LLM (``llm``) and every option key
    are checked; ``served`` are options set by the flags meant for a served model (``--base_url``,
    ``--tokenizer``, ``--chat``), refused by a backend that loads weights here."""
    try:
        factory = backend_class(kind)
    except LampError as exc:
        raise LampError(f"{source}: {exc}") from None
    if llm and not factory.is_llm:
        raise LampError(f"{source}: {kind} is not an LLM backend; `lamp run` runs the profile baselines beside "
                        "the LLM as the baseline-blind and baseline-bm25 methods (baselines: true)")
    if factory.loads_local_model:
        for key in served or {}:
            raise LampError(f"{source}: --{key} is for --backend openai (a served model); {kind} has no option "
                            f"{key!r} from the command line")
    known = _option_names(factory)
    for key in {**(served or {}), **options} if known is not None else ():
        if key not in known:
            raise LampError(f"{source}: backend_options: {kind} has no option {key!r}: "
                            f"{unknown_message(f'{kind} option', key, known)}")
    return factory


def open_backend(kind: str, model: str | None, options: Mapping[str, Any] | None = None, *, source: str,
                 served: Mapping[str, Any] | None = None, batch_size: int | None = None,
                 defaults: Mapping[str, Any] | None = None) -> Backend:
    """The loaded backend. A backend that loads weights here (``loads_local_model``) gets ``model``
    (default: the bundled model) and ``batch_size``; any other gets ``model`` as given (openai: the
    served model's name, None: the one it lists). ``options`` (e.g. ``--backend_options``) and
    ``served`` are checked by :func:`check_backend_options`; ``defaults`` go only to a backend whose
    constructor names them (e.g. ``progress=False`` for a server, the ``--scrub`` transform for a
    backend that reads questions files of its own), even one that also takes ``**`` options."""
    if not isinstance(options or {}, Mapping):
        raise LampError(f"{source}: backend options must be a JSON object, got {options!r}")
    options = dict(options or {})
    served = {key: value for key, value in (served or {}).items() if value is not None}
    kind = resolve_kind(kind, model, source, {**served, **options})
    factory = check_backend_options(kind, options, source, served)
    named = _named_parameters(factory)
    args: dict[str, Any] = {key: value for key, value in (defaults or {}).items() if key in named}
    if factory.loads_local_model:
        args.update(model=model or DEFAULT_MODEL, **({"batch_size": batch_size} if batch_size is not None else {}))
    else:
        args["model"] = model or None
    return factory(**{**args, **served, **options})
