"""The request shapes of ``lamp serve`` (pydantic models) and the size limits every request meets.

Validation of a shape is pydantic's (a 422 naming the field, in the OpenAI envelope, see
:mod:`lamp.serving.app`); the limits are checked by :class:`lamp.serving.service.Service` before any
work is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lamp.core.extras import require
from lamp.core.settings import setting

try:                                     # pydantic comes with fastapi (the 'serve' extra)
    from pydantic import BaseModel, ConfigDict, Field
except ModuleNotFoundError:
    require("fastapi", "serve", "lamp serve")
    raise


@dataclass(frozen=True)
class ServeLimits:
    """Size limits of one request (every one is checked before any work is done); ``lamp serve``
    offers the first four as flags (:mod:`lamp.cli.serve`)."""

    max_input_chars: int = setting(20_000, "longest input, prompt or profile text field, in characters")
    max_items: int = setting(10_000, "profile items per user")
    max_tokens_limit: int = setting(512, "largest max_tokens a request may ask for")
    max_prompts: int = setting(64, "prompts per /v1 request")
    max_id_chars: int = setting(256, "longest user id or item id, in characters")
    max_body_bytes: int = setting(16 * 2 ** 20, "largest request body, in bytes (refused while streaming, "
                                                "before parsing)")


class ProfileBody(BaseModel):
    task: str = Field(description="LaMP task name, e.g. 'LaMP-3'")
    profile: list[dict[str, Any]] = Field(description="profile items in LaMP format")


class ItemsBody(BaseModel):
    profile: list[dict[str, Any]] = Field(description="items to append, in LaMP format")
    task: str | None = Field(None, description="needed only when the user does not exist yet")


class PersonalizeBody(BaseModel):
    user_id: str
    input: str
    task: str | None = Field(None, description="defaults to the task of the user's profile")
    k: int = Field(1, ge=0, description="profile items put in the prompt")
    retriever: str = "bm25"
    max_tokens: int | None = Field(None, ge=1)


class PersonalizationFields(BaseModel):
    """Fields of the OpenAI requests that personalize them: ``user`` (the standard field) names the
    stored profile; ``task``, ``retriever`` and ``k`` come as extra body fields (the openai client's
    ``extra_body``). A known ``user`` is personalized with the defaults (the profile's task, bm25,
    the server's k); an unknown one is answered unpersonalized unless ``task``/``retriever``/``k``
    asked for personalization (then 404). ``k: 0`` turns personalization off."""

    user: str | None = None
    task: str | None = Field(None, description="LaMP task of the prompt (default: the user's profile's)")
    retriever: str | None = Field(None, description="ranker over the user's profile (default bm25)")
    k: int | None = Field(None, ge=0, description="profile items put in the prompt (default: the server's)")


class SamplingFields(PersonalizationFields):
    """What the completions and chat completions requests share: the model, sampling, stop and
    streaming; fields we cannot honour are refused, unknown ones ignored."""

    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = 1
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None


class CompletionBody(SamplingFields):
    """The OpenAI completions request."""

    prompt: str | list[str] | list[int] | list[list[int]]    # text, or token ids (lamp.serving.logprobs)
    max_tokens: int = Field(16, ge=1)
    echo: bool = False
    logprobs: int | None = None
    prompt_logprobs: int | None = None                      # vLLM's
    add_special_tokens: bool | None = None                  # vLLM's, for a text prompt with log-probabilities


class ChatBody(SamplingFields):
    """The OpenAI chat completions request (text content only)."""

    messages: list[dict[str, Any]]
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool | None = None
    tools: list[Any] | None = None
