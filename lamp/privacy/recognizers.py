"""Our pattern recognizers of PII, added to Presidio's analyzer by :mod:`lamp.privacy.scrub`.

Each of :data:`CUSTOM_RECOGNIZERS` is a regex and a check of its matches (a card's brand range and
Luhn digit, an IBAN's country length and mod-97, a host on the public-suffix list, a street
address that is not a product name, the word naming a passport, SSN or NHS number nearby...);
they stand in for the Presidio recognizers of :data:`REPLACED_RECOGNIZERS`, which missed realistic
formats or read item numbers as PII. :func:`recognizers` builds them as Presidio recognizers, with
Presidio's phonenumbers matcher kept for numbers written with "+" or separators.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

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


def offline_tldextract() -> None:
    """Point tldextract (used by Presidio's email recognizer and our host-name check) at its bundled
    snapshot: no network."""
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


def recognizers() -> list[Any]:
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
