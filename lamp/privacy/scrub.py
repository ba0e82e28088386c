"""PII scrubbing of users' texts (``lamp scrub`` and the ``--scrub`` option of rank/run/train/adapters/serve).

Detection is Presidio's analyzer: its email, IP, MAC, Bitcoin and SSN recognizers and phonenumbers
matcher, and ours (:data:`CUSTOM_RECOGNIZERS`: cards, IBANs, URLs, street addresses, passports, NHS
numbers...) in place of the Presidio ones that missed realistic formats or read item numbers as PII
(:data:`REPLACED_RECOGNIZERS`); replacement is Presidio's anonymizer. Each detected span becomes a
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
Alley Avenue Boulevard Branch Bridge Brook Brooks Burg Burgs Bypass Camp Canyon Cape Causeway Center Centers Circle
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
#: Abbreviated suffixes, whose trailing period belongs to the address.
STREET_ABBREVIATIONS = frozenset("St Ave Av Rd Blvd Ln Dr Ct Pl Sq Ter Pkwy Cir Hwy Trl Xing Cres Gdns".split())
#: Suffixes that are also everyday product words ("Sport Loop", "4 Port", "Inch Square"): an address
#: ending in one counts only with a house number like "12B" or "12-14", after an address cue ("at", "to",
#: "address:"), or before a unit, a ZIP or an address word ("... is my home").
WEAK_STREET_SUFFIXES = frozenset("""
Branch Bridge Brook Brooks Burg Burgs Camp Cape Center Centers Club Common Corner Corners Course Cove Coves
Creek Crest Curve Dale Dam Divide Estate Estates Extension Extensions Fall Falls Field Fields Flat Flats Ford
Fords Forest Forge Forges Fork Forks Fort Green Greens Harbor Harbors Haven Hollow Inlet Island Islands Isle
Junction Junctions Key Keys Knoll Knolls Lake Lakes Land Landing Light Lights Loaf Lock Locks Lodge Loop Mall
Manor Manors Meadow Meadows Mill Mills Mission Mount Mountain Mountains Neck Orchard Oval Park Parks Pass
Passage Path Pike Pine Pines Plain Plains Point Points Port Ports Prairie Radial Ramp Ranch Rapid Rapids Rest
Ridge Ridges River Route Row Run Shoal Shoals Shore Shores Spring Springs Spur Spurs Square Squares Station
Stream Summit Trace Track Tunnel Union Unions Valley Valleys Via View Views Village Villages Ville Vista Walk
Walks Wall Well Wells Sq
""".split())
#: Street suffixes common outside the US (UK, Ireland, Australia) that USPS does not list.
OTHER_STREET_SUFFIXES = ("Close", "Rise", "Parade", "Wharf", "Yard", "Quay", "Embankment", "Esplanade",
                         "Promenade", "Cres", "Gdns", "Ave.", "Av", "Hwy")


def _alternation(words: Iterable[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


_UNIT = r"(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Flat|Fl\.?|Floor|Room|Rm\.?|#)\s*#?[A-Za-z]?\d{0,5}[A-Za-z]?"
_HOUSE = r"\d{1,6}[A-Za-z]?(?:\s?[-–/]\s?\d{1,6}[A-Za-z]?)?(?:\s1/2|½)?"
_NAME_WORD = r"(?:[A-Z][A-Za-z'’]*\.?|\d{1,3}(?:st|nd|rd|th)|(?:de|la|of|the|du|von|van)(?=\s+[A-Z]))"
_STREET = (r"(?<![\w/-])(?:(?P<unit1>" + _UNIT + r"),?\s+)?(?P<house>" + _HOUSE + r")\s+"
           r"(?:(?:[NSEW]|N[EW]|S[EW])\.?\s+)?(?:" + _NAME_WORD + r"[\s-]+){1,4}"
           r"(?P<suffix>(?i:" + _alternation(STREET_SUFFIXES + OTHER_STREET_SUFFIXES) + r"))\b\.?"
           r"(?:\s+(?:[NSEW]|N[EW]|S[EW])\b\.?)?(?P<unit2>,?\s+" + _UNIT + r"\b)?")
#: Cues before an address whose suffix is weak: the word right before it, or an address word shortly before.
_ADDRESS_CUE = re.compile(r"(?i)(?:\b(?:at|to|from|on|near|by|via|addr)\W{0,3}|:\s*)$|\b(?:address|live[sd]?|living|located|"
                          r"moved?|ship(?:ped)?|deliver(?:ed)?|mail(?:ed)?|send|sent|visit|home|house|apartment|"
                          r"office|reside[sd]?)\b")
_ADDRESS_AFTER = re.compile(r"[^.!?\n]{0,30}\b(?:address|home|house|apartment|place|flat)\b", re.I)
_ZIP_AFTER = re.compile(r",?\s+(?:[A-Z][a-z]+\s?){1,3},?\s+(?:[A-Z]{2}\s+)?\d{5}\b")
#: Words that make "2 TB Hard Drive" or "12 Inch Square" a product, not an address.
_NOT_STREET_WORDS = frozenset("gb tb mb kb usb ssd hdd hard flash sata nvme inch in ft pack pcs piece pieces x".split())
#: North American numbers with separators, optional +1/001 and extension (Presidio's phonenumbers-based
#: recognizer drops numbers whose area code is not assigned, and extensions).
_NANP_PHONE = (r"(?<![\w+-])(?:(?:\+1|001)[-. ]?)?(?:\(\d{3}\)\s?|\d{3}[-. ])\d{3}[-. ]\d{4}"
               r"(?:\s?(?:x|ext\.?)\s?\d{1,6})?\b")
#: Runs of digit groups joined by one separator each: card candidates, checked by :func:`_card_span`.
_DIGIT_RUN = r"(?<![\w.,-])\d+(?:[ .-]\d+)*(?![\w]|[.,-]\d)"
#: Card brands (IIN range, digits of the prefix, allowed lengths): Visa, Mastercard 51-55 and 2221-2720,
#: Amex, Diners, Discover, JCB (and its legacy 15-digit 2131/1800), UnionPay, Maestro, Mir, RuPay, Verve, Troy,
#: Elo, Dankort, InterPayment, and legacy 13-digit Visa.
CARD_RANGES: tuple[tuple[int, int, int, tuple[int, ...]], ...] = (
    (4, 4, 1, (16, 19)), (51, 55, 2, (16,)), (2221, 2720, 4, (16,)), (34, 34, 2, (15,)), (37, 37, 2, (15,)),
    (300, 305, 3, (14, 16, 17, 18, 19)), (3095, 3095, 4, (14, 16, 17, 18, 19)), (36, 36, 2, (14, 16, 17, 18, 19)),
    (38, 39, 2, (14, 16, 17, 18, 19)), (3528, 3589, 4, (16, 17, 18, 19)), (6011, 6011, 4, (16, 17, 18, 19)),
    (644, 649, 3, (16, 17, 18, 19)), (65, 65, 2, (16, 17, 18, 19)), (62, 62, 2, (16, 17, 18, 19)),
    (81, 82, 2, (16, 17, 18, 19)), (50, 50, 2, tuple(range(12, 20))), (56, 69, 2, tuple(range(12, 20))),
    (2200, 2204, 4, (16, 17, 18, 19)), (9792, 9792, 4, (16,)), (353, 353, 3, (16,)), (356, 356, 3, (16,)),
    (4, 4, 1, (13,)), (3500, 3599, 4, (16, 17, 18, 19)), (2131, 2131, 4, (15,)), (1800, 1800, 4, (15,)),
)
#: Words naming a card: with one of them shortly before, 12-13 bare digits count as a card number.
_CARD_CUE = re.compile(r"(?i)\b(?:card|cc|visa|maestro|mastercard|credit|debit)\b")
#: IBAN length per country (SWIFT IBAN registry).
IBAN_LENGTHS: dict[str, int] = dict(
    (code[:2], int(code[2:])) for code in """
AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BI27 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 DJ27 DK18 DO28 EE20 EG29
ES24 FI18 FK18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HN28 HR21 HU28 IE22 IL23 IQ23 IS26 IT27 JO30 KW30 KZ20
LB28 LC32 LI21 LT20 LU20 LV21 LY25 MC27 MD24 ME22 MK19 MN20 MR27 MT31 MU30 NI28 NL18 NO15 OM23 PK24 PL28 PS29
PT25 QA29 RO24 RS22 RU33 SA24 SC31 SD18 SE24 SI19 SK24 SM27 SO23 ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20
YE30""".split())
_IBAN = r"(?<![\w-])[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]){8,32}"
#: URLs with a scheme, or starting with www., whatever their top-level domain.
_URL_TAIL = r"[^\s<>\"'()\[\]{}]*[^\s<>\"'()\[\]{}.,;:!?]"
_SCHEME_URL = r"(?i)\b(?:https?|ftp)://" + _URL_TAIL
_WWW_URL = r"(?i)(?<![\w.@/-])www\d{0,3}\.[a-z0-9-]+\." + _URL_TAIL
#: Bare host names (checked against the public-suffix list) with an optional port, path or query.
_BARE_URL = (r"(?<![\w.@/:-])(?P<host>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[a-z]{2,63})"
             r"(?![\w@-]|\.\w)(?P<rest>(?::\d{2,5})?(?:[/?#]" + _URL_TAIL + r")?)")
#: Top-level domains that are also file extensions: "setup.py" or "clip.mov" alone is a file, not a site.
FILE_LIKE_TLDS = frozenset("ai app cab cat cc md ml mov pl pm ps py rs sc sh so zip".split())
#: Passport (US: 9 digits, or a letter and 8 digits), SSN and NHS numbers next to the word naming them.
_GAP = r"(?:[^\d\n.!?;]|(?<=\bno)\.|(?<=\bnr)\.|(?<=\bnum)\.){0,40}?"
_US_PASSPORT = r"(?i:\bpassport)" + _GAP + r"(?<![\w-])(?P<v>[A-Z]?\d{8,9})(?![\w-])"
_SSN_BARE = r"(?i:\b(?:ssn|ss#|social security))" + _GAP + r"(?<![\w-])(?P<v>\d{9})(?![\w-])"
_NHS = (r"(?<![\w-])(?P<v>\d{3}([ -])\d{3}\2\d{4})(?![\w-])"
        r"|(?i:\bnhs)" + _GAP + r"(?<![\w-])(?P<b>\d{10})(?![\w-])")
#: Ethereum addresses (Presidio's crypto recognizer knows Bitcoin only).
_ETHEREUM = r"\b0x[0-9a-fA-F]{40}\b"

#: On an exact tie of spans, the specific kind wins over these generic ones (an SSN also looks like a phone).
#: A 3-3-4 number is read as a phone before a UK NHS number (both are scrubbed; only the label differs).
_GENERIC = {"UK_NHS": 3, "PHONE_NUMBER": 2, "URL": 1, "US_PASSPORT": 1}

_LOCK = threading.Lock()


def _offline_tldextract() -> None:
    """Point tldextract (used by Presidio's email recognizer) at its bundled snapshot: no network."""
    import tldextract.tldextract as tx

    if tx.TLD_EXTRACTOR.suffix_list_urls:
        tx.TLD_EXTRACTOR = tx.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


def _luhn(digits: str) -> bool:
    total = sum(int(d) for d in digits[-1::-2]) + sum(sum(divmod(2 * int(d), 10)) for d in digits[-2::-2])
    return total % 10 == 0


def _is_card_number(digits: str) -> bool:
    """A brand's IIN range and length, and a Luhn check digit."""
    return _luhn(digits) and any(lo <= int(digits[:size]) <= hi and len(digits) in lengths
                                 for lo, hi, size, lengths in CARD_RANGES)


def _card_span(m: re.Match, text: str) -> tuple[int, int] | None:
    """The longest card number among consecutive digit groups of a run (one separator kind, card-like groups)."""
    groups = [(m.start() + g.start(), m.start() + g.end()) for g in re.finditer(r"\d+", m.group())]
    best: tuple[int, int] | None = None
    for i in range(len(groups)):
        for j in range(len(groups) - 1, i - 1, -1):
            part = groups[i:j + 1]
            sizes = [e - s for s, e in part]
            if not 12 <= sum(sizes) <= 19 or (best and best[1] - best[0] >= part[-1][1] - part[0][0]):
                continue
            if len(part) == 1:                        # bare 12-13 digits are barcodes (UPC, EAN-13) unless a card is named
                ok = sizes[0] >= 14 or bool(_CARD_CUE.search(text[max(0, part[0][0] - 40):part[0][0]]))
            else:
                seps = {text[e:s] for (_, e), (s, _) in zip(part, part[1:])}
                ok = (len(seps) == 1 and 4 <= sizes[0] <= 6 and all(3 <= n <= 8 for n in sizes[1:-1])
                      and 1 <= sizes[-1] <= 13)
            if ok and _is_card_number("".join(text[s:e] for s, e in part)):
                best = (part[0][0], part[-1][1])
    return best


def _iban_span(m: re.Match, text: str) -> tuple[int, int] | None:
    """The candidate cut at its country's IBAN length, if it ends there and passes the mod-97 check."""
    cand = m.group()
    length = IBAN_LENGTHS.get(cand[:2].upper())
    count = 0
    for k, ch in enumerate(cand):
        count += ch.isalnum()
        if length and count == length:
            end = m.start() + k + 1
            if end < len(text) and text[end].isalnum():
                return None
            compact = re.sub(r"[ -]", "", cand[:k + 1]).upper()
            number = "".join(str(int(c, 36)) for c in compact[4:] + compact[:4])
            return (m.start(), end) if int(number) % 97 == 1 else None
    return None


def _bare_url_span(m: re.Match, text: str) -> tuple[int, int] | None:
    """A host name on a public suffix (a lone ``setup.py``-like name counts only with a path)."""
    import tldextract.tldextract as tx

    host = m.group("host")
    parts = tx.TLD_EXTRACTOR(host, include_psl_private_domains=False)
    if not parts.suffix or not parts.domain:
        return None
    if not m.group("rest") and host.count(".") == 1 and parts.suffix.lower() in FILE_LIKE_TLDS:
        return None
    return m.span()


def _street_span(m: re.Match, text: str) -> tuple[int, int] | None:
    """A street address, unless its words are a product's ("2 TB Hard Drive") or a weak suffix lacks a cue."""
    words = m.group()[m.end("house") - m.start():m.start("suffix") - m.start()].split()
    if any(w.strip(".-").lower() in _NOT_STREET_WORDS for w in words):
        return None
    suffix = m.group("suffix")
    if (suffix.capitalize() in WEAK_STREET_SUFFIXES or suffix == "Sq") and m.group("house").isdigit():
        if not (m.group("unit1") or m.group("unit2") or _ADDRESS_CUE.search(text[max(0, m.start() - 60):m.start()])
                or _ADDRESS_AFTER.match(text, m.end()) or _ZIP_AFTER.match(text, m.end())):
            return None
    end = m.end()
    if not m.group("unit2") and text[end - 1] == "." and suffix.capitalize() not in STREET_ABBREVIATIONS:
        end -= 1                                   # "Baker Street." ends a sentence; "Main St." is the name
    return m.start(), end


def _nhs_span(m: re.Match, text: str) -> tuple[int, int] | None:
    """An NHS number: 3-3-4 with one separator, or 10 bare digits after "NHS"; mod-11 check digit."""
    group = "v" if m.group("v") else "b"
    digits = re.sub(r"\D", "", m.group(group))
    check = 11 - sum(int(d) * (10 - i) for i, d in enumerate(digits[:9])) % 11
    return m.span(group) if check != 10 and check % 11 == int(digits[9]) else None


def _ssn_span(m: re.Match, text: str) -> tuple[int, int] | None:
    """Nine bare digits after "SSN": an area, group and serial the SSA issues."""
    d = m.group("v")
    return m.span("v") if d[:3] not in ("000", "666") and d[0] != "9" and d[3:5] != "00" and d[5:] != "0000" else None


def _separated_phone(value: str) -> bool:
    """Not a bare digit run (item numbers), a version ("16.4.46"), a date or an order number: 7-15 digits (E.164)
    written with "+" or separators."""
    return (not value.strip("()").isdigit() and 7 <= sum(c.isdigit() for c in value) <= 15
            and not re.fullmatch(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}", value))


def _group_v(m: re.Match, text: str) -> tuple[int, int] | None:
    return m.span("v")


def _whole(m: re.Match, text: str) -> tuple[int, int] | None:
    return m.span()


#: Our recognizers: (entity, name, regex, span of a match or None, score).
CUSTOM_RECOGNIZERS = (
    ("STREET_ADDRESS", "StreetAddressRecognizer", _STREET, _street_span, 0.6),
    ("PHONE_NUMBER", "NanpPhoneRecognizer", _NANP_PHONE, _whole, 0.5),
    ("URL", "SchemeUrlRecognizer", _SCHEME_URL, _whole, 0.6),
    ("URL", "WwwUrlRecognizer", _WWW_URL, _whole, 0.6),
    ("URL", "HostUrlRecognizer", _BARE_URL, _bare_url_span, 0.5),
    ("CREDIT_CARD", "CardRecognizer", _DIGIT_RUN, _card_span, 1.0),
    ("IBAN_CODE", "IbanLengthRecognizer", _IBAN, _iban_span, 1.0),
    ("US_PASSPORT", "UsPassportContextRecognizer", _US_PASSPORT, _group_v, 0.8),
    ("US_SSN", "SsnContextRecognizer", _SSN_BARE, _ssn_span, 0.8),
    ("UK_NHS", "NhsCheckedRecognizer", _NHS, _nhs_span, 0.7),
    ("CRYPTO", "EthereumRecognizer", _ETHEREUM, _whole, 0.6),
)
#: Presidio recognizers replaced by ours (their weak patterns, fixed TLD list, or bare digits read as PII).
REPLACED_RECOGNIZERS = ("CreditCardRecognizer", "IbanRecognizer", "UrlRecognizer", "UsPassportRecognizer",
                        "NhsRecognizer", "PhoneRecognizer")


def _recognizers() -> list[Any]:
    """Ours, plus Presidio's phone recognizer without bare digit runs (item numbers, not phones)."""
    from presidio_analyzer import LocalRecognizer, RecognizerResult
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    class RegexRecognizer(LocalRecognizer):
        """One regex; a function of each match gives the span found, if any (context may lie outside it)."""

        def __init__(self, entity: str, name: str, regex: str, span: Any, score: float) -> None:
            self._regex, self._span, self._score = re.compile(regex), span, score
            super().__init__(supported_entities=[entity], name=name, supported_language="en")

        def load(self) -> None:
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            found = (self._span(m, text) for m in self._regex.finditer(text))
            return [RecognizerResult(self.supported_entities[0], s, e, self._score, recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: self.name, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id})
                for s, e in filter(None, found)]

    class SeparatedPhoneRecognizer(PhoneRecognizer):
        """Presidio's phonenumbers matcher, keeping numbers written with "+" or separators."""

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            return [r for r in super().analyze(text, entities, nlp_artifacts) if _separated_phone(text[r.start:r.end])]

    return [RegexRecognizer(*spec) for spec in CUSTOM_RECOGNIZERS] + [SeparatedPhoneRecognizer()]


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

    _offline_tldextract()
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
    for recognizer in _recognizers():
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
        from lamp.core.extras import require

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
