"""The official models of the official-name scripts, and the check that they can be loaded here.

An official-name script (``rank_profiles.py``, ``train_kd.py``, ``rspg.py`` …) given only official
flags runs the official model (design: "a missing official model is an error naming it, never a
silent substitute"). A model is usable when it is a folder, is in the local Hugging Face cache, or
can be downloaded; offline and not cached, the script stops with exit 2, naming the model, the flag
that picks a local copy or the bundled offline one, and that numbers then differ from the paper's.
The ``lamp`` verbs default to the bundled models instead and say which one they used.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lamp.core.errors import LampError

#: The dense retriever of ``rank_profiles.py --ranker contriever`` and the start of ROPG (reference §2.2, §6.2).
CONTRIEVER = "facebook/contriever"
#: The RSPG selector's encoder, read through its ``pooler_output`` (reference §7.3).
RSPG_ENCODER = "allenai/longformer-base-4096"
#: The name that picks the bundled offline encoder wherever an encoder is named.
BUNDLED_ENCODER = "all-MiniLM-L6-v2"


def _offline() -> bool:
    return any(os.environ.get(k, "").lower() in ("1", "true", "yes", "on") for k in ("HF_HUB_OFFLINE",
                                                                                    "TRANSFORMERS_OFFLINE"))


def _resolves(host: str) -> bool:
    """A quick look-up of the hub's host: without one, a download would only retry for half a minute."""
    import socket

    try:
        socket.getaddrinfo(host, 443)
        return True
    except OSError:
        return False


def hub_available(name: str) -> bool:
    """True when ``name`` is a folder, a hub id in the local cache, or a hub id that can be fetched now."""
    if Path(name).is_dir():
        return True
    try:
        from huggingface_hub import hf_hub_download, try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return False
    try:
        if isinstance(try_to_load_from_cache(name, "config.json"), str):
            return True
    except Exception:  # a malformed id: not available
        return False
    if _offline() or not _resolves("huggingface.co"):
        return False
    try:
        hf_hub_download(name, "config.json", etag_timeout=10)
        return True
    except Exception:
        return False


def require_official(name: str, *, script: str, what: str, flag: str) -> str:
    """``name`` when it can be loaded, else a :class:`LampError` (exit 2) that names the official
    model, the flag choosing another and the consequence for the numbers."""
    if hub_available(name):
        return name
    raise LampError(f"{script}: the official {what} is {name}, which is not available here (no network and "
                    f"not in the Hugging Face cache). Pass {flag} FOLDER for a local copy of it, or {flag} "
                    f"{BUNDLED_ENCODER} for the bundled offline encoder; with any other model the numbers "
                    "differ from the paper's.")


def announce(script: str, what: str, name: str, official: str | None = None) -> None:
    """One line on stderr saying which model a script runs, and whether it is the official one."""
    tag = "" if official is None else (" (official)" if name == official else f" (not the official {official})")
    print(f"{script}: {what}: {name}{tag}", file=sys.stderr)
