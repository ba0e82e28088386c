"""PII scrubbing of users' texts (``lamp scrub`` and the ``--scrub`` option of rank/run/train/adapters/serve).

Detection is Presidio's analyzer with its pattern recognizers (plus one pattern recognizer of ours
for street addresses); replacement is Presidio's anonymizer. Each detected span becomes a
placeholder such as ``<EMAIL_ADDRESS_1>``, numbered per user: the same email is the same token
everywhere in that user's input and profile, so habits ("always writes to the same address")
survive, while two users' tokens say nothing about each other.

What is covered depends on what is installed:

* always (patterns, no model): :data:`PATTERN_ENTITIES`;
* names and places (``PERSON``, ``LOCATION``) only when a spaCy NER pipeline
  (``en_core_web_lg``/``md``/``sm``/``trf``) is installed; none is bundled, so by default
  **names and free-form places are not scrubbed** (see :func:`coverage`).

The analyzer never reaches the network: tldextract, which the email recognizer uses, is pointed
at its bundled public-suffix snapshot before Presidio loads.

Scrubbing applies where questions are loaded (:func:`set_active` installs the scrubber as the
load hook of :func:`lamp.files.iter_questions`), so with ``--scrub`` no unscrubbed text reaches rankings, prompts,
caches, stores or logs. ``id``, ``date`` and ``score`` fields are kept as they are.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable

from lamp.errors import LampError
from lamp.records import ProfileItem, Question

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

#: USPS street suffixes (Publication 28) and common abbreviations, for the street-address pattern.
STREET_SUFFIXES = tuple("""
Alley Avenue Branch Bridge Brook Brooks Burg Burgs Bypass Camp Canyon Cape Causeway Center Centers Circle
Circles Cliff Cliffs Club Common Corner Corners Course Court Courts Cove Coves Creek Crescent Crest Crossing
Crossroad Curve Dale Dam Divide Drive Drives Estate Estates Expressway Extension Extensions Fall Falls Ferry
Field Fields Flat Flats Ford Fords Forest Forge Forges Fork Forks Fort Freeway Garden Gardens Gateway Glen
Glens Green Greens Grove Groves Harbor Harbors Haven Heights Highway Hill Hills Hollow Inlet Island Islands
Isle Junction Junctions Key Keys Knoll Knolls Lake Lakes Land Landing Lane Light Lights Loaf Lock Locks Lodge
Loop Mall Manor Manors Meadow Meadows Mews Mill Mills Mission Motorway Mount Mountain Mountains Neck Orchard
Oval Overpass Park Parks Parkway Parkways Pass Passage Path Pike Pine Pines Place Plain Plains Plaza Point
Points Port Ports Prairie Radial Ramp Ranch Rapid Rapids Rest Ridge Ridges River Road Roads Route Row Rue Run
Shoal Shoals Shore Shores Skyway Spring Springs Spur Spurs Square Squares Station Stravenue Stream Street
Streets Summit Terrace Throughway Trace Track Trafficway Trail Tunnel Turnpike Underpass Union Unions Valley
Valleys Via Viaduct View Views Village Villages Ville Vista Walk Walks Wall Way Ways Well Wells
St Ave Rd Blvd Ln Dr Ct Pl Sq Ter Pkwy Cir Hwy Trl Xing
""".split())
_STREET = (r"\b\d{1,6}\s+(?:[A-Z][a-z]+\.?\s+){1,4}(?:" + "|".join(sorted(STREET_SUFFIXES, key=len, reverse=True))
           + r")\b\.?(?:,?\s+(?:Apt\.?|Suite|Unit|#)\s*\d+)?")
#: North American numbers with separators, optional +1/001 and extension (Presidio's phonenumbers-based
#: recognizer drops numbers whose area code is not assigned, and extensions).
_NANP_PHONE = (r"(?<![\w+-])(?:(?:\+1|001)[-. ]?)?(?:\(\d{3}\)\s?|\d{3}[-. ])\d{3}[-. ]\d{4}"
               r"(?:\s?(?:x|ext\.?)\s?\d{1,6})?\b")
#: Card numbers Presidio's pattern misses (Visa 19, Mastercard 2-series, JCB 15, Maestro 12-19); Luhn-checked.
_MORE_CARDS = r"\b(?:4\d{18}|2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)\d{12}|(?:2131|1800)\d{11}|(?:50|5[6-8]|6\d)\d{10,17})\b"
#: URLs with a scheme, whatever their top-level domain (Presidio's list cuts ".biz" to ".bi").
_SCHEME_URL = r"\bhttps?://[^\s<>\"'()\[\]{}]*[^\s<>\"'()\[\]{}.,;:!?]"

#: On an exact tie of spans, the specific kind wins over these generic ones (an SSN also looks like a phone).
#: A 3-3-4 number is read as a phone before a UK NHS number (both are scrubbed; only the label differs).
_GENERIC = {"UK_NHS": 3, "PHONE_NUMBER": 2, "URL": 1, "US_PASSPORT": 1}

_LOCK = threading.Lock()
_ACTIVE: "Scrubber | None" = None


def _offline_tldextract() -> None:
    """Point tldextract (used by Presidio's email recognizer) at its bundled snapshot: no network."""
    import tldextract.tldextract as tx

    if tx.TLD_EXTRACTOR.suffix_list_urls:
        tx.TLD_EXTRACTOR = tx.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


def _installed_spacy_model() -> str | None:
    import importlib.util

    return next((name for name in SPACY_MODELS if importlib.util.find_spec(name) is not None), None)


def coverage(use_ner: bool | None = None) -> dict[str, Any]:
    """What a scrubber built now would detect: entity kinds, and whether names/places are among them."""
    model = _installed_spacy_model() if use_ner is not False else None
    entities = PATTERN_ENTITIES + (NER_ENTITIES if model else ())
    return {"entities": list(entities), "ner_model": model,
            "not_covered": [] if model else list(NER_ENTITIES)}


def _build_analyzer(use_ner: bool | None) -> tuple[Any, list[str], str | None]:
    import logging

    _offline_tldextract()
    # Presidio logs a warning per recognizer of another language it skips: noise, not news.
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry
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
    from presidio_analyzer.predefined_recognizers import CreditCardRecognizer

    registry.add_recognizer(PatternRecognizer(
        supported_entity="STREET_ADDRESS", name="StreetAddressRecognizer", supported_language="en",
        patterns=[Pattern("street address", _STREET, 0.6)], context=["address", "lives", "live", "at"]))
    registry.add_recognizer(PatternRecognizer(
        supported_entity="PHONE_NUMBER", name="NanpPhoneRecognizer", supported_language="en",
        patterns=[Pattern("NANP phone with separators", _NANP_PHONE, 0.5)]))
    registry.add_recognizer(PatternRecognizer(
        supported_entity="URL", name="SchemeUrlRecognizer", supported_language="en",
        patterns=[Pattern("URL with scheme", _SCHEME_URL, 0.6)]))
    registry.add_recognizer(CreditCardRecognizer(
        patterns=[Pattern("more card prefixes (Luhn-checked)", _MORE_CARDS, 0.3)], supported_language="en",
        name="MoreCardsRecognizer"))
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
        from lamp.extras import require

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


def set_active(enabled: bool) -> Scrubber | None:
    """Turn scrubbing of every loaded questions file on or off for this process (the ``--scrub`` flag)."""
    global _ACTIVE
    from lamp.files import set_question_hook

    _ACTIVE = get_scrubber() if enabled else None
    set_question_hook(_ACTIVE.scrub_question if _ACTIVE is not None else None)
    return _ACTIVE


def active_scrubber() -> Scrubber | None:
    """The scrubber applied at load time, or None."""
    return _ACTIVE


def add_scrub_flag(parser: Any) -> None:
    """The ``--scrub`` option, as rank/run/train/adapters/serve offer it."""
    parser.add_argument("--scrub", action="store_true",
                        help="replace PII (emails, phones, card/SSN/IBAN numbers, IPs, URLs, street addresses; "
                             "names and places only with a spaCy NER model) by per-user placeholders as data "
                             "is loaded, before it reaches prompts, caches, stores or logs")


# --------------------------------------------------------------------------- lamp scrub

def configure(parser: Any) -> None:
    parser.epilog = ("example:\n  lamp scrub data/demo/LaMP_2/dev/dev_questions.json --output scrubbed/dev_questions.json\n"
                     "  lamp scrub --coverage")
    parser.add_argument("input", nargs="?", help="questions file (or an official folder/zip holding exactly one)")
    parser.add_argument("--output", help="where to write the scrubbed questions (never the input itself)")
    parser.add_argument("--task", help="task name, to check the item fields")
    parser.add_argument("--coverage", action="store_true", help="print which PII kinds are detected, and exit")


def run(args: Any) -> int:
    import json

    if args.coverage:
        print(json.dumps(coverage(), indent=1))
        return 0
    if not args.input or not args.output:
        raise LampError("lamp scrub needs INPUT and --output (or --coverage)")
    from tqdm import tqdm

    from lamp.files import check_distinct_outputs, iter_questions, write_json

    check_distinct_outputs([args.input], [args.output])
    set_active(False)                      # read the raw file; scrub here, with a progress bar
    scrubber = get_scrubber()
    questions = list(iter_questions(args.input, task=args.task))
    scrubbed = scrubber.scrub_questions(tqdm(questions, desc="scrub", unit="question"))
    write_json(args.output, [q.to_json() for q in scrubbed])
    cov = coverage()
    print(f"scrubbed {len(scrubbed)} questions -> {args.output} (kinds: {', '.join(cov['entities'])}; "
          f"not covered: {', '.join(cov['not_covered']) or 'none'})")
    return 0
