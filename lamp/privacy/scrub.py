"""PII scrubbing of users' texts (``lamp scrub`` and the ``--scrub`` option of rank/run/train/adapters/serve).

Detection is Presidio's analyzer: its email, IP, MAC, Bitcoin and SSN recognizers and phonenumbers
matcher, and ours (:mod:`lamp.privacy.recognizers`: cards, IBANs, URLs, street addresses, passports,
NHS numbers...) in place of the Presidio ones that missed realistic formats or read item numbers as
PII; replacement is Presidio's anonymizer. Each detected span becomes a placeholder such as
``<EMAIL_ADDRESS_1>``, numbered per user: the same email is the same token everywhere in that
user's input and profile, so habits ("always writes to the same address") survive, while two
users' tokens say nothing about each other.

What is covered depends on what is installed:

* always (patterns, no model): :data:`PATTERN_ENTITIES`;
* names and places (``PERSON``, ``LOCATION``) only when a spaCy NER pipeline
  (``en_core_web_lg``/``md``/``sm``/``trf``) is installed; none is bundled, so by default
  **names and free-form places are not scrubbed** (see :func:`coverage`).

The analyzer never reaches the network: tldextract, which the email recognizer uses, is pointed
at its bundled public-suffix snapshot before Presidio loads.

Scrubbing applies where questions are loaded: a verb given ``--scrub`` hands :func:`scrub_transform`
to the loaders (the ``transform`` of :func:`lamp.core.questions.load_questions`), so no unscrubbed
text reaches rankings, prompts, caches, stores or logs; nothing in the process stays switched on.
``id``, ``date`` and ``score`` fields are kept as they are.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable

from lamp.core.errors import LampError
from lamp.core.questions import QuestionTransform
from lamp.core.records import ProfileItem, Question
from lamp.privacy.recognizers import REPLACED_RECOGNIZERS, offline_tldextract, recognizers
from lamp.core.extras import require

#: Entities found by patterns alone (Presidio's recognizers, and STREET_ADDRESS, ours).
PATTERN_ENTITIES: tuple[str, ...] = (
    "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS", "URL",
    "STREET_ADDRESS", "CRYPTO", "MAC_ADDRESS", "US_PASSPORT", "UK_NHS",
)
#: Entities found only by an NER model.
NER_ENTITIES: tuple[str, ...] = ("PERSON", "LOCATION")
#: spaCy pipelines used for NER when installed, best first.
SPACY_MODELS = ("en_core_web_trf", "en_core_web_lg", "en_core_web_md", "en_core_web_sm")
#: Detections below this score are ignored (Presidio scores weak patterns 0.01-0.3).
MIN_SCORE = 0.35
#: Profile item fields that are never scrubbed (identifiers, dates, ratings).
KEEP_FIELDS = frozenset({"id", "date", "score"})

#: On an exact tie of spans, the specific kind wins over these generic ones (an SSN also looks like a phone).
#: A 3-3-4 number is read as a phone before a UK NHS number (both are scrubbed; only the label differs).
_GENERIC = {"UK_NHS": 3, "PHONE_NUMBER": 2, "URL": 1, "US_PASSPORT": 1}

_LOCK = threading.Lock()


def _installed_spacy_model() -> str | None:
    import importlib.util

    return next((name for name in SPACY_MODELS if importlib.util.find_spec(name) is not None), None)


#: Forms of PII the patterns do not find, whatever is installed (``lamp scrub --coverage`` prints them).
NOT_COVERED_FORMS: tuple[str, ...] = (
    "phone numbers written as bare digits without '+' or separators (indistinguishable from item numbers)",
    "national phone formats outside US/CA, UK, DE, FR, IL, IN and BR (international '+' forms are covered)",
    "US passport, SSN and NHS numbers written as bare digits without the word naming them nearby",
    "passports of countries other than the US",
    "card numbers of 12-13 bare digits without a card word (card, visa, credit...) shortly before "
    "(they look like UPC/EAN barcodes), and UATP cards",
    "street addresses not of the form number + name + suffix (e.g. 'Hauptstrasse 5', 'Rue de Rivoli 12')",
    "addresses whose suffix is also a common word (Loop, Park, Point, Square...) with a plain house number "
    "and no address cue nearby",
    "bare host names written in capitals (WWW and scheme forms are covered); a bare shop name such as "
    "amazon.com IS scrubbed as a URL",
    "dates (kept on purpose), and PII in gold outputs",
)


def coverage(use_ner: bool | None = None) -> dict[str, Any]:
    """What a scrubber built now would detect: entity kinds, and whether names/places are among them."""
    model = _installed_spacy_model() if use_ner is not False else None
    entities = PATTERN_ENTITIES + (NER_ENTITIES if model else ())
    return {"entities": list(entities), "ner_model": model,
            "not_covered": [] if model else list(NER_ENTITIES), "not_covered_forms": list(NOT_COVERED_FORMS)}


def _build_analyzer(use_ner: bool | None) -> tuple[Any, list[str], str | None]:
    import logging

    offline_tldextract()
    # Presidio logs a warning per recognizer of another language it skips: noise, not news.
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider, NoOpNlpEngine

    model = _installed_spacy_model() if use_ner is not False else None
    if use_ner and model is None:
        raise LampError(f"--scrub with names needs a spaCy NER model ({', '.join(SPACY_MODELS)}); none is installed")
    if model:
        nlp = NlpEngineProvider(nlp_configuration={
            "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}).create_engine()
    else:
        nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
        nlp.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp, countries=["us", "uk"])
    for name in REPLACED_RECOGNIZERS:
        registry.remove_recognizer(name)
    for recognizer in recognizers():
        registry.add_recognizer(recognizer)
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])
    entities = list(PATTERN_ENTITIES + (NER_ENTITIES if model else ()))
    return analyzer, entities, model


@dataclass
class Scrubber:
    """Detect and replace PII with per-user placeholders.

    ``use_ner``: None uses an NER model when one is installed, False never, True requires one.
    """

    use_ner: bool | None = None
    min_score: float = MIN_SCORE
    entities: list[str] = field(init=False)
    ner_model: str | None = field(init=False)

    def __post_init__(self) -> None:
        for module in ("presidio_analyzer", "presidio_anonymizer"):
            require(module, "scrub", "scrubbing PII (--scrub, lamp scrub)")
        from presidio_anonymizer import AnonymizerEngine

        self._analyzer, self.entities, self.ner_model = _build_analyzer(self.use_ner)
        self._anonymizer = AnonymizerEngine()
        self._lock = threading.Lock()

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """Non-overlapping ``(start, end, entity)`` spans, longest/most certain first when they clash."""
        if not text or not text.strip():
            return []
        with self._lock:
            results = self._analyzer.analyze(text, language="en", entities=self.entities,
                                             score_threshold=self.min_score)
        results.sort(key=lambda r: (-(r.end - r.start), _GENERIC.get(r.entity_type, 0), -r.score, r.start))
        taken: list[tuple[int, int, str]] = []
        for r in results:
            if all(r.end <= s or r.start >= e for s, e, _ in taken):
                taken.append((r.start, r.end, r.entity_type))
        return sorted(taken)

    def scrub_text(self, text: str, mapping: dict[tuple[str, str], str]) -> str:
        """``text`` with each PII span replaced by its user's placeholder (``mapping`` grows as needed)."""
        spans = self.find(text)
        if not spans:
            return text
        from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

        def placeholder(entity: str):
            def replace(value: str) -> str:
                key = (entity, _normal(entity, value))
                if key not in mapping:
                    if isinstance(mapping, KeyedPlaceholders):
                        mapping[key] = mapping.token(*key)
                    else:
                        n = 1 + sum(1 for kind, _ in mapping if kind == entity)
                        mapping[key] = f"<{entity}_{n}>"
                return mapping[key]
            return replace

        found = [RecognizerResult(entity, s, e, 1.0) for s, e, entity in spans]
        operators = {entity: OperatorConfig("custom", {"lambda": placeholder(entity)})
                     for entity in {entity for _, _, entity in spans}}
        # The anonymizer replaces right to left; placeholders are numbered left to right for readability.
        for s, e, entity in spans:
            placeholder(entity)(text[s:e])
        return self._anonymizer.anonymize(text=text, analyzer_results=found, operators=operators).text

    def scrub_value(self, value: Any, mapping: dict[tuple[str, str], str]) -> Any:
        """Strings at any depth of a JSON value."""
        if isinstance(value, str):
            return self.scrub_text(value, mapping)
        if isinstance(value, list):
            return [self.scrub_value(v, mapping) for v in value]
        if isinstance(value, dict):
            return {k: self.scrub_value(v, mapping) for k, v in value.items()}
        return value

    def scrub_item(self, item: ProfileItem, mapping: dict[tuple[str, str], str]) -> ProfileItem:
        """A copy of the item with every text field scrubbed (``id``, ``date``, ``score`` kept)."""
        new = ProfileItem(id=item.id)
        for name in ProfileItem.__slots__:
            value = getattr(item, name)
            if name == "extra" and value:
                value = {k: (v if k in KEEP_FIELDS else self.scrub_value(v, mapping)) for k, v in value.items()}
            elif name not in KEEP_FIELDS and isinstance(value, str):
                value = self.scrub_text(value, mapping)
            setattr(new, name, value)
        return new

    def scrub_question(self, q: Question, mapping: dict[tuple[str, str], str] | None = None) -> Question:
        """The question with its input and profile scrubbed, placeholders shared across both."""
        mapping = {} if mapping is None else mapping
        extra = {k: self.scrub_value(v, mapping) for k, v in q.extra.items()} if q.extra else q.extra
        return Question(id=q.id, input=self.scrub_text(q.input, mapping),
                        profile=[self.scrub_item(it, mapping) for it in q.profile], user_id=q.user_id, extra=extra)

    def scrub_questions(self, questions: Iterable[Question]) -> list[Question]:
        """Scrub each question; questions with the same ``user_id`` share one placeholder map."""
        maps: dict[str, dict[tuple[str, str], str]] = {}
        out = []
        for q in questions:
            mapping = maps.setdefault(q.user_id, {}) if q.user_id is not None else {}
            out.append(self.scrub_question(q, mapping))
        return out


class KeyedPlaceholders(dict):
    """Placeholders that stay the same across requests without storing the PII they replace.

    ``<EMAIL_ADDRESS_3f9a1c2b>``: an HMAC of (user, kind, value) under a server secret, so one
    user's same email is the same token in every request, and tokens of different users or
    servers are unrelated. The dict only memoizes within one call.
    """

    def __init__(self, secret: bytes, user_id: str) -> None:
        super().__init__()
        self.secret, self.user_id = secret, user_id

    def token(self, entity: str, normal: str) -> str:
        import hashlib
        import hmac

        digest = hmac.new(self.secret, f"{self.user_id}\0{entity}\0{normal}".encode(), hashlib.sha256).hexdigest()
        return f"<{entity}_{digest[:8]}>"


def _normal(entity: str, value: str) -> str:
    """The form under which two spellings of one value get one placeholder."""
    if entity in ("PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE"):
        return re.sub(r"[^0-9A-Za-z+]", "", value).upper()
    return value.strip().lower() if entity in ("EMAIL_ADDRESS", "URL") else value.strip()


_SHARED: dict[bool | None, Scrubber] = {}


def get_scrubber(use_ner: bool | None = None) -> Scrubber:
    """One scrubber per NER choice in this process (building Presidio's registry takes a second)."""
    with _LOCK:
        if use_ner not in _SHARED:
            _SHARED[use_ner] = Scrubber(use_ner=use_ner)
        return _SHARED[use_ner]


def scrub_transform(enabled: bool) -> QuestionTransform | None:
    """What the ``--scrub`` setting hands the loaders: the shared scrubber's ``scrub_question``
    (placeholders numbered per user), or None to load questions as they are."""
    return get_scrubber().scrub_question if enabled else None


def add_scrub_flag(parser: Any) -> None:
    """The ``--scrub`` option, as rank/run/train/adapters/serve offer it."""
    parser.add_argument("--scrub", action="store_true",
                        help="replace PII (emails, phones, card/SSN/IBAN numbers, IPs, URLs, street addresses; "
                             "names and places only with a spaCy NER model) by per-user placeholders as data "
                             "is loaded, before it reaches prompts, caches, stores or logs")
