"""The OpenAI completions and chat completions requests of ``lamp serve``, made into checked jobs.

Each request becomes :class:`~lamp.serving.engine.Job` objects (one per prompt) and the fields its
response shares (id, model, and under ``lamp`` the personalization used); nothing runs here. A
personalized request's text is replaced by the official prompt from the user's top-k items
(:meth:`lamp.serving.service.Service.personal_prompt`), the same prompt a run builds.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from lamp.serving.engine import Job
from lamp.serving.guards import ApiError
from lamp.serving.service import Personal, Service
from lamp.serving.shapes import ChatBody, CompletionBody

#: (temperature, top_p, seed) of a sampled request; None: greedy.
Sampling = tuple[float, float, int | None] | None


def stops(stop: str | list[str] | None) -> tuple[str, ...]:
    found = [stop] if isinstance(stop, str) else list(stop or [])
    if len(found) > 4 or any(not s for s in found):
        raise ApiError(422, "stop must be at most 4 non-empty strings", "stop")
    return tuple(found)


def sampling(temperature: float, top_p: float, seed: int | None) -> Sampling:
    return (temperature, top_p, seed) if temperature > 0 else None


def refuse(body: Any, refused: dict[str, bool], supported: str) -> None:
    """422 for the first field asking what this server cannot do."""
    for param, bad in refused.items():
        if bad:
            raise ApiError(422, f"{param}={getattr(body, param)!r} is not supported ({supported})", param)


def chat_text(svc: Service, messages: list[dict[str, Any]], personal: Personal | None
              ) -> tuple[str, list[str] | None, bool]:
    """The model input of a chat: the user's last message personalized, then the chat template;
    also the retrieved ids and whether the tokenizer should add its special tokens."""
    if not messages:
        raise ApiError(422, "messages is empty", "messages")
    turns, last_user = [], None
    for n, msg in enumerate(messages):
        role, content = msg.get("role"), msg.get("content")
        if role not in ("system", "developer", "user", "assistant"):
            raise ApiError(422, f"messages[{n}].role must be system, developer, user or assistant, got {role!r}",
                           f"messages[{n}].role")
        if isinstance(content, list):          # content parts: text only
            if any(not isinstance(p, dict) or p.get("type") != "text" for p in content):
                raise ApiError(422, f"messages[{n}].content: only text parts are supported",
                               f"messages[{n}].content")
            content = "".join(str(p.get("text", "")) for p in content)
        if not isinstance(content, str):
            raise ApiError(422, f"messages[{n}].content must be a string", f"messages[{n}].content")
        svc.check_text(content, f"messages[{n}].content")
        turns.append({"role": "system" if role == "developer" else role, "content": content})
        if role == "user":
            last_user = len(turns) - 1
    retrieved = None
    if personal is not None:
        if last_user is None:
            raise ApiError(422, "personalization needs a user message", "messages")
        turns[last_user]["content"], retrieved = svc.personal_prompt(personal, turns[last_user]["content"])
    if svc.engine is None:                     # forwarded upstream: one prompt
        if len(turns) != 1 or last_user != 0:
            raise ApiError(422, "in front of another server (--backend openai) a chat is one user message",
                           "messages")
        return turns[0]["content"], retrieved, True
    tokenizer = svc.backend.tokenizer
    if getattr(tokenizer, "chat_template", None):    # the template holds every special token
        return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True), retrieved, False
    return "\n".join(t["content"] for t in turns), retrieved, True   # e.g. FLAN-T5: the turns, one a line


def completion_texts(svc: Service, body: CompletionBody, personal: Personal | None
                     ) -> tuple[list[str], list | None]:
    """The prompts of a completions request (personalized), and the retrieved ids (a list per prompt
    for a list prompt)."""
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    if not prompts:
        raise ApiError(422, "prompt is an empty list", "prompt")
    if len(prompts) > svc.limits.max_prompts:
        raise ApiError(413, f"prompt holds {len(prompts)} prompts; the limit is {svc.limits.max_prompts}",
                       "prompt")
    for n, p in enumerate(prompts):
        svc.check_text(p, "prompt" if isinstance(body.prompt, str) else f"prompt[{n}]")
    if personal is None:
        return prompts, None
    built = [svc.personal_prompt(personal, p) for p in prompts]
    retrieved = [ids for _, ids in built]
    return [p for p, _ in built], (retrieved[0] if isinstance(body.prompt, str) else retrieved)


def common(svc: Service, prefix: str, personal: Personal | None, retrieved: Any) -> dict[str, Any]:
    """The fields every choice and chunk of one response shares."""
    out: dict[str, Any] = {"id": f"{prefix}-{uuid.uuid4().hex}", "created": int(time.time()),
                           "model": svc.model_name}
    if personal is not None:
        out["lamp"] = {"user": personal.user, "task": personal.task.name, "retriever": personal.retriever,
                       "k": personal.k, "retrieved": retrieved}
    return out


def complete(svc: Service, body: CompletionBody) -> tuple[list[Job], dict[str, Any]]:
    """Checked jobs of a completions request (not yet run) and the response's common fields."""
    svc.check_model(body.model)
    refuse(body, {"n": body.n != 1, "echo": body.echo, "logprobs": body.logprobs is not None},
           "n=1, no echo, no logprobs")
    stop = stops(body.stop)
    max_tokens = svc.max_tokens(body.max_tokens)
    personal = svc.personalization(body)
    texts, retrieved = completion_texts(svc, body, personal)
    how = sampling(body.temperature, body.top_p, body.seed)
    return [Job(text, max_tokens, stop, how) for text in texts], common(svc, "cmpl", personal, retrieved)


def chat(svc: Service, body: ChatBody) -> tuple[list[Job], dict[str, Any]]:
    """The checked job of a chat completions request (not yet run) and the response's common fields."""
    svc.check_model(body.model)
    refuse(body, {"n": body.n != 1, "logprobs": bool(body.logprobs), "tools": bool(body.tools)},
           "n=1, no logprobs, no tools")
    stop = stops(body.stop)
    max_tokens = svc.max_tokens(body.max_completion_tokens or body.max_tokens or svc.settings.max_new_tokens)
    personal = svc.personalization(body)
    text, retrieved, special = chat_text(svc, body.messages, personal)
    job = Job(text, max_tokens, stop, sampling(body.temperature, body.top_p, body.seed), special_tokens=special)
    return [job], common(svc, "chatcmpl", personal, retrieved)
