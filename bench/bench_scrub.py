"""How well ``lamp.privacy.scrub`` finds PII: recall and precision per kind on a Faker-planted corpus.

Faker (seeded) makes PII of ten kinds, which is planted, inside a short carrier phrase, into the
text fields of the demo dev profiles (all seven tasks). The scrubber then reads every item text
field, planted or not, so detections in the original text count against precision.

* recall of a kind: planted spans of that kind fully covered by detected spans (of any kind);
* kind-exact recall: covered by a detection of the matching kind;
* precision of a detected kind: its detections that overlap some planted span.

Then a realistic-format corpus (see :func:`realistic_corpus`): values of every covered kind in the
formats people write them, in review sentences, with recall per kind, and false alarms per 1,000
words of PII-free product text (model numbers, prices, dates, versions, bare 10-digit item numbers).
``--style heldout`` (the default, reported in the README) uses templates and format variants other
than the ``tune`` generator the patterns were tuned on.

``--write-data DIR`` also writes the planted dev questions (and the demo outputs) in the official
layout, for ``lamp run --data DIR`` with and without ``--scrub``.

    python bench/bench_scrub.py                       # table on stdout
    python bench/bench_scrub.py --output bench_scrub.json --write-data runs/pii_demo
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import string
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: planted kind -> (scrubber entity that counts as the right kind, carrier phrases)
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "EMAIL_ADDRESS": ("EMAIL_ADDRESS", ("Write to {} for details.", "My email is {}.", "({})")),
    "PHONE_NUMBER": ("PHONE_NUMBER", ("Call me at {}.", "Phone: {}.", "Text {} anytime.")),
    "CREDIT_CARD": ("CREDIT_CARD", ("Paid with card {}.", "Card number {} was charged.")),
    "US_SSN": ("US_SSN", ("My SSN is {}.", "SSN {} on file.")),
    "IBAN_CODE": ("IBAN_CODE", ("Refund to IBAN {}.", "Account {} please.")),
    "IP_ADDRESS": ("IP_ADDRESS", ("Logged in from {}.", "Server at {} was down.")),
    "URL": ("URL", ("See {} for more.", "Posted on {} yesterday.")),
    "STREET_ADDRESS": ("STREET_ADDRESS", ("Ship it to {}.", "I live at {} now.")),
    "PERSON": ("PERSON", ("Thanks to {} for the tip.", "My friend {} agreed.")),
    "LOCATION": ("LOCATION", ("We moved to {} last year.", "Bought it in {}.")),
}
TEXT_FIELDS = ("title", "abstract", "description", "text")


def fake_value(fake, kind: str) -> str:
    return {"EMAIL_ADDRESS": fake.email, "PHONE_NUMBER": fake.phone_number, "CREDIT_CARD": fake.credit_card_number,
            "US_SSN": fake.ssn, "IBAN_CODE": fake.iban, "IP_ADDRESS": fake.ipv4_public, "URL": fake.url,
            "STREET_ADDRESS": fake.street_address, "PERSON": fake.name, "LOCATION": fake.city}[kind]()


def plant(data: Path, per_kind: int, seed: int) -> tuple[dict[str, list], list[dict]]:
    """Questions per task with PII planted in profile texts, and the planted spans."""
    from faker import Faker

    Faker.seed(seed)
    fake, rng = Faker("en_US"), random.Random(seed)
    tasks = {p.parent.parent.name: json.loads(p.read_text(encoding="utf-8"))
             for p in sorted(data.glob("LaMP_*/dev/dev_questions.json"))}
    slots = [(task, qi, ii, f) for task, qs in tasks.items() for qi, q in enumerate(qs)
             for ii, item in enumerate(q["profile"]) for f in TEXT_FIELDS if isinstance(item.get(f), str)]
    rng.shuffle(slots)
    planted: list[dict] = []
    for n, kind in enumerate(k for k in KINDS for _ in range(per_kind)):
        task, qi, ii, f = slots[n % len(slots)]
        item = tasks[task][qi]["profile"][ii]
        value = fake_value(fake, kind)
        phrase = rng.choice(KINDS[kind][1])
        before, after = phrase.split("{}")
        text = item[f].rstrip()
        prefix = text + (" " if text else "") + before
        item[f] = prefix + value + after
        planted.append({"task": task, "q": qi, "item": ii, "field": f, "kind": kind, "start": len(prefix),
                        "end": len(prefix) + len(value), "value": value})
    return tasks, planted


def evaluate(tasks: dict[str, list], planted: list[dict]) -> dict:
    from lamp.privacy.scrub import coverage, get_scrubber

    scrubber = get_scrubber()
    by_field: dict[tuple, list[dict]] = defaultdict(list)
    for p in planted:
        by_field[(p["task"], p["q"], p["item"], p["field"])].append(p)
    found_kind: Counter = Counter()
    true_kind: Counter = Counter()
    covered: Counter = Counter()
    covered_exact: Counter = Counter()
    fields = 0
    tick = time.perf_counter()
    for task, qs in tasks.items():
        for qi, q in enumerate(qs):
            for ii, item in enumerate(q["profile"]):
                for f in TEXT_FIELDS:
                    if not isinstance(item.get(f), str):
                        continue
                    fields += 1
                    spans = scrubber.find(item[f])
                    mine = by_field.get((task, qi, ii, f), [])
                    for s, e, entity in spans:
                        found_kind[entity] += 1
                        if any(s < p["end"] and e > p["start"] for p in mine):
                            true_kind[entity] += 1
                    for p in mine:
                        cover = [(s, e, ent) for s, e, ent in spans if s < p["end"] and e > p["start"]]
                        chars = set()
                        for s, e, _ in cover:
                            chars.update(range(max(s, p["start"]), min(e, p["end"])))
                        if len(chars) == p["end"] - p["start"]:
                            covered[p["kind"]] += 1
                            if any(ent == KINDS[p["kind"]][0] for _, _, ent in cover):
                                covered_exact[p["kind"]] += 1
    seconds = time.perf_counter() - tick
    planted_kind = Counter(p["kind"] for p in planted)
    rows = {}
    for kind in KINDS:
        entity = KINDS[kind][0]
        rows[kind] = {"planted": planted_kind[kind], "recall": covered[kind] / planted_kind[kind],
                      "recall_exact_kind": covered_exact[kind] / planted_kind[kind],
                      "detections": found_kind[entity],
                      "precision": (true_kind[entity] / found_kind[entity]) if found_kind[entity] else None}
    others = {k: {"detections": v, "precision": true_kind[k] / v} for k, v in found_kind.items()
              if k not in {KINDS[x][0] for x in KINDS}}
    total = sum(planted_kind.values())
    return {"coverage": coverage(), "instances": total, "kinds": len(planted_kind), "fields_scanned": fields,
            "seconds": round(seconds, 1), "per_kind": rows, "other_detected_kinds": others,
            "overall_recall": sum(covered.values()) / total,
            "overall_precision": sum(true_kind.values()) / max(1, sum(found_kind.values()))}


def table(result: dict) -> str:
    lines = ["| PII kind | planted | recall | recall (right kind) | detections | precision |",
             "|---|---:|---:|---:|---:|---:|"]
    for kind, r in result["per_kind"].items():
        prec = "–" if r["precision"] is None else f"{r['precision']:.3f}"
        lines.append(f"| {kind} | {r['planted']} | {r['recall']:.3f} | {r['recall_exact_kind']:.3f} | "
                     f"{r['detections']} | {prec} |")
    for kind, r in result["other_detected_kinds"].items():
        lines.append(f"| ({kind}, not planted) | 0 | – | – | {r['detections']} | {r['precision']:.3f} |")
    lines.append(f"| **all** | {result['instances']} | {result['overall_recall']:.3f} | | | "
                 f"{result['overall_precision']:.3f} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- realistic-format corpus
#
# Two generators of PII values in sentences: "tune" (the formats and templates the recognizers were
# tuned on, used by tests/privacy/test_scrub_coverage.py) and "heldout" (other templates, other format
# variants, other countries and top-level domains; what the README reports). Each value is made from
# its format's rules (brand ranges and Luhn, IBAN structure and mod 97, valid phone numbers from
# libphonenumber's metadata, Base58Check and Bech32 checksums), not from the scrubber's own tables.

#: Kinds the README lists as covered without an NER model.
REALISTIC_KINDS = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS", "URL",
                   "STREET_ADDRESS", "CRYPTO", "MAC_ADDRESS", "US_PASSPORT", "UK_NHS")
STYLES = ("tune", "heldout")

#: Card brands: (name, IIN prefixes as (low, high) ranges, lengths, brand grouping per length).
CARD_BRANDS = (
    ("Visa", [(4, 4)], (16,), {16: (4, 4, 4, 4)}),
    ("Visa 19", [(4, 4)], (19,), {19: (4, 4, 4, 4, 3)}),
    ("Mastercard", [(51, 55)], (16,), {16: (4, 4, 4, 4)}),
    ("Mastercard 2-series", [(2221, 2720)], (16,), {16: (4, 4, 4, 4)}),
    ("American Express", [(34, 34), (37, 37)], (15,), {15: (4, 6, 5)}),
    ("Discover", [(6011, 6011), (644, 649), (65, 65), (622126, 622925)], (16, 19), {16: (4, 4, 4, 4), 19: (4, 4, 4, 4, 3)}),
    ("Diners Club", [(36, 36), (300, 305), (3095, 3095), (38, 39)], (14,), {14: (4, 6, 4)}),
    ("JCB", [(3528, 3589)], (16, 19), {16: (4, 4, 4, 4), 19: (4, 4, 4, 4, 3)}),
    ("UnionPay", [(62, 62), (81, 81)], (16, 17, 18, 19), {16: (4, 4, 4, 4), 17: (4, 4, 4, 5), 18: (6, 12), 19: (6, 13)}),
    ("Maestro", [(5018, 5018), (5020, 5020), (5038, 5038), (5893, 5893), (6304, 6304), (6759, 6759), (6761, 6763)],
     (16, 18, 19), {16: (4, 4, 4, 4), 18: (4, 4, 4, 4, 2), 19: (4, 4, 4, 4, 3)}),
    ("Mir", [(2200, 2204)], (16,), {16: (4, 4, 4, 4)}),
    ("RuPay", [(60, 60), (6521, 6522), (508, 508)], (16,), {16: (4, 4, 4, 4)}),
    ("Verve", [(506099, 506198), (650002, 650027)], (16, 19), {16: (4, 4, 4, 4), 19: (4, 4, 4, 4, 3)}),
    ("Troy", [(9792, 9792)], (16,), {16: (4, 4, 4, 4)}),
)
#: BBAN structure per country (SWIFT IBAN registry): n digits, a capital letters, c letters or digits.
IBAN_FORMATS = {
    "AD": "4n4n12c", "AE": "3n16n", "AL": "8n16c", "AT": "5n11n", "AZ": "4a20c", "BA": "3n3n8n2n", "BE": "3n7n2n",
    "BG": "4a4n2n8c", "BH": "4a14c", "BR": "8n5n10n1a1c", "CH": "5n12c", "CR": "4n14n", "CY": "3n5n16c",
    "CZ": "4n6n10n", "DE": "8n10n", "DK": "4n9n1n", "DO": "4c20n", "EE": "2n2n11n1n", "EG": "4n4n17n",
    "ES": "4n4n1n1n10n", "FI": "3n11n", "FR": "5n5n11c2n", "GB": "4a6n8n", "GE": "2a16n", "GI": "4a15c",
    "GR": "3n4n16c", "HR": "7n10n", "HU": "3n4n1n15n1n", "IE": "4a6n8n", "IL": "3n3n13n", "IS": "4n2n6n10n",
    "IT": "1a5n5n12c", "JO": "4a4n18c", "KW": "4a22c", "KZ": "3n13c", "LB": "4n20c", "LI": "5n12c", "LT": "5n11n",
    "LU": "3n13c", "LV": "4a13c", "MC": "5n5n11c2n", "MD": "2c18c", "ME": "3n13n2n", "MK": "3n10c2n",
    "MT": "4a5n18c", "MU": "4a2n2n12n3n3a", "NL": "4a10n", "NO": "4n6n1n", "PK": "4a16c", "PL": "8n16n",
    "PS": "4a21c", "PT": "4n4n11n2n", "QA": "4a21c", "RO": "4a16c", "RS": "3n13n2n", "SA": "2n18c", "SE": "3n16n1n",
    "SI": "5n8n2n", "SK": "4n6n10n", "SM": "1a5n5n12c", "TN": "2n3n13n2n", "TR": "5n1n16c", "UA": "6n19c",
    "VA": "3n15n", "VG": "4a16n", "XK": "4n10n2n",
}
TUNE_IBAN_COUNTRIES = ("DE", "GB", "FR", "ES", "IT", "NL", "BE", "CH", "AT", "PL", "SE", "NO", "DK", "IE", "PT",
                       "FI", "CZ", "HU", "RO", "GR", "TR", "BR", "SA", "AE", "IL")
#: Phone regions: "national" where the scrubber claims national formats, else international only.
NATIONAL_REGIONS = ("US", "CA", "GB", "DE", "FR", "IL", "IN", "BR")
TUNE_PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN", "BR", "AU", "JP", "ES", "IT", "CN", "RU")
HELDOUT_PHONE_REGIONS = ("US", "CA", "GB", "DE", "FR", "IL", "IN", "BR", "MX", "NL", "ZA", "SG", "KR", "PL",
                         "SE", "CH", "AR", "NG", "EG", "NZ")
TUNE_TLDS = ("com", "org", "net", "io", "shop", "de", "co.uk", "dev", "app", "xyz", "fr", "info")
HELDOUT_TLDS = ("biz", "store", "online", "tech", "ai", "com.au", "nz", "museum", "travel", "photography",
                "ninja", "club", "site", "blog", "cloud", "es", "co.jp", "ca", "us", "me", "tv", "gov.uk", "edu")
FIRST = ("jane", "john", "maria", "li", "ahmed", "olga", "sam", "priya", "kwame", "lucia", "tom", "yuki", "noah")
LAST = ("doe", "smith", "garcia", "chen", "khan", "ivanova", "lee", "patel", "mensah", "rossi", "brown", "sato")
STREET_NAMES = ("Maple", "Oak", "Baker", "High", "Church", "Cedar", "Elm", "Washington", "Lincoln", "Park", "Mill",
                "Station", "Victoria", "King", "Queen", "Willow", "Sunset", "Lake", "Hill", "River", "Spring")
HELDOUT_STREET_NAMES = ("O'Connell", "McArthur", "Martin Luther King Jr.", "St. James", "Saint-Denis", "Evergreen",
                        "Amphitheatre", "Old Kent", "Abbey", "Harbour View", "Cherry Tree", "De La Vina", "Rue Royale")
TUNE_SUFFIXES = ("Street", "St", "Avenue", "Ave", "Road", "Rd", "Lane", "Drive", "Boulevard", "Blvd", "Court",
                 "Way", "Place", "Terrace", "Circle", "Park", "Loop", "Square")
HELDOUT_SUFFIXES = ("Close", "Crescent", "Gardens", "Grove", "Mews", "Parkway", "Pkwy", "Highway", "Trail", "Ln",
                    "Dr.", "Ct", "Pl", "Rise", "Row", "Walk", "Point", "Ridge", "Plaza", "Heights", "Green", "Hill")

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "EMAIL_ADDRESS": {"tune": ("Write to {} for details.", "My email is {}.", "Contact: {}", "({})"),
                      "heldout": ("Ping me at {} if it breaks again.", "Seller replied from {} within a day.",
                                  "email -> {}", "Receipt sent to <{}>.")},
    "PHONE_NUMBER": {"tune": ("Call me at {}.", "Phone: {}", "Text {} anytime."),
                     "heldout": ("Support line {} never answers.", "Reach my husband on {} after 6pm.",
                                 "tel. {} (mobile)", "WhatsApp: {}")},
    "CREDIT_CARD": {"tune": ("Paid with card {}.", "Card number {} was charged.", "cc: {}"),
                    "heldout": ("They billed {} twice for one order!", "Use my {} for the renewal.",
                                "Charged to card ending... full number {}", "Payment card {} (exp 04/27)")},
    "US_SSN": {"tune": ("My SSN is {}.", "SSN {} on file."),
               "heldout": ("Social security number: {}", "The form asked for {} as my social.",
                           "ssn={}", "They leaked my SSN ({}) in the email.")},
    "IBAN_CODE": {"tune": ("Refund to IBAN {}.", "Account {} please.", "IBAN: {}"),
                  "heldout": ("Please wire the deposit to {} by Friday.", "bank account {} (Sparkasse)",
                              "Transfer went to {} instead of mine.", "Pay into {}, reference ORDER-55.")},
    "IP_ADDRESS": {"tune": ("Logged in from {}.", "Server at {} was down."),
                   "heldout": ("The router handed out {} to my laptop.", "Blocked requests from {} again.",
                               "ip={} port=443", "My camera is reachable on {} only.")},
    "URL": {"tune": ("See {} for more.", "Posted on {} yesterday.", "Link: {}"),
            "heldout": ("My shop is at {} if anyone wants one.", "Tracking page ({}) shows nothing.",
                        "Full review on {}, with photos.", "Found it via {}!")},
    "STREET_ADDRESS": {"tune": ("Ship it to {}.", "I live at {} now.", "Address: {}"),
                       "heldout": ("It was delivered to {} instead of next door.", "We moved to {} in May.",
                                   "Return label says {}, Springfield, IL 62704.", "{} is my home address.",
                                   "Come by {} to pick it up.")},
    "CRYPTO": {"tune": ("Send BTC to {}.", "My wallet: {}"),
               "heldout": ("Tips welcome at {} :)", "Paid from {} but no confirmation.", "address {} (cold wallet)")},
    "MAC_ADDRESS": {"tune": ("MAC {} keeps dropping.", "Device {} registered."),
                    "heldout": ("Whitelist {} on the router.", "The printer shows up as {} in the DHCP list.",
                                "hw addr: {}")},
    "US_PASSPORT": {"tune": ("Passport number {}.", "passport no. {} expires soon.", "Passport: {}"),
                    "heldout": ("My US passport ({}) was rejected at the kiosk.", "Renewed my passport - number {} now.",
                                "PASSPORT NO {}", "passport #{} for the booking", "Their passport number is {}.")},
    "UK_NHS": {"tune": ("NHS number {}.", "My NHS no. is {}."),
               "heldout": ("GP letter quotes {} as my NHS number.", "NHS No: {}", "nhs number - {}")},
}
_PRODUCT_WORDS = ("charger", "blender", "headphones", "tent", "router", "keyboard", "stroller", "drill", "kettle",
                  "monitor", "backpack", "vacuum", "camera", "mattress", "speaker")


def _luhn_complete(body: str) -> str:
    for d in "0123456789":
        digits = body + d
        total = sum(int(x) for x in digits[-1::-2]) + sum(sum(divmod(2 * int(x), 10)) for x in digits[-2::-2])
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


def card_number(rng: random.Random, brand: tuple) -> str:
    _, ranges, lengths, _ = brand
    lo, hi = rng.choice(ranges)
    prefix = str(rng.randint(lo, hi))
    length = rng.choice(lengths)
    return _luhn_complete(prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1)))


def _group(digits: str, sizes: Iterable[int], sep: str) -> str:
    out, at = [], 0
    for n in sizes:
        out.append(digits[at:at + n])
        at += n
    if at < len(digits):
        out.append(digits[at:])
    return sep.join(x for x in out if x)


def _card(rng: random.Random, style: str) -> str:
    brand = rng.choice(CARD_BRANDS)
    digits = card_number(rng, brand)
    grouping = brand[3].get(len(digits), (4,) * 5)
    if style == "tune":
        variant = rng.choice(["bare", "brand space", "brand space", "fours dash"])
    else:
        variant = rng.choice(["bare", "brand dash", "fours space", "brand dot", "fours dash"])
    kind, _, sep = variant.partition(" ")
    if kind == "bare":
        return digits
    sizes = grouping if kind == "brand" else (4,) * 5
    return _group(digits, sizes, {"space": " ", "dash": "-", "dot": "."}[sep])


def _iban(rng: random.Random, style: str) -> str:
    country = rng.choice(TUNE_IBAN_COUNTRIES if style == "tune" else sorted(IBAN_FORMATS))
    bban = ""
    for count, kind in re.findall(r"(\d+)([nac])", IBAN_FORMATS[country]):
        alphabet = {"n": string.digits, "a": string.ascii_uppercase, "c": string.digits + string.ascii_uppercase}[kind]
        bban += "".join(rng.choice(alphabet) for _ in range(int(count)))
    number = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    iban = f"{country}{98 - number % 97:02d}{bban}"
    spaced = " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
    return rng.choice([iban, spaced] if style == "tune" else [iban, spaced, spaced])


def _valid_phone(rng: random.Random, region: str) -> Any:
    import phonenumbers

    kinds = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
    example = phonenumbers.example_number_for_type(region, rng.choice(kinds)) or phonenumbers.example_number(region)
    national = str(example.national_number)
    for _ in range(200):
        keep = max(2, len(national) - rng.randint(4, 6))
        candidate = national[:keep] + "".join(rng.choice(string.digits) for _ in range(len(national) - keep))
        number = phonenumbers.parse(f"+{example.country_code}{candidate}")
        if phonenumbers.is_valid_number(number):
            return number
    return example


def _phone(rng: random.Random, style: str) -> str:
    import phonenumbers

    fmt = phonenumbers.PhoneNumberFormat
    region = rng.choice(TUNE_PHONE_REGIONS if style == "tune" else HELDOUT_PHONE_REGIONS)
    number = _valid_phone(rng, region)
    intl = phonenumbers.format_number(number, fmt.INTERNATIONAL)
    choices = [intl, intl]
    if region in NATIONAL_REGIONS:
        choices.append(phonenumbers.format_number(number, fmt.NATIONAL))
    if style == "heldout":
        choices += [phonenumbers.format_number(number, fmt.E164), intl.replace(" ", "-")]
        if region in ("US", "CA"):
            n = str(number.national_number)
            choices += [f"{n[:3]}.{n[3:6]}.{n[6:]}", f"+1-{n[:3]}-{n[3:6]}-{n[6:]} ext. {rng.randint(2, 999)}"]
    return rng.choice(choices)


def _ssn(rng: random.Random, style: str) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    digits = f"{area:03d}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}"
    seps = ["-", "-"] if style == "tune" else ["-", " "]
    return rng.choice(seps).join((digits[:3], digits[3:5], digits[5:]))


def _nhs(rng: random.Random, style: str) -> str:
    while True:
        body = "".join(rng.choice(string.digits) for _ in range(9))
        check = 11 - sum(int(d) * (10 - i) for i, d in enumerate(body)) % 11
        if check != 10:
            digits = body + str(check % 11)
            break
    sep = rng.choice(["", " ", "-"] if style == "heldout" else ["", " "])
    return sep.join((digits[:3], digits[3:6], digits[6:])) if sep else digits


def _passport(rng: random.Random, style: str) -> str:
    digits = "".join(rng.choice(string.digits) for _ in range(9))
    return rng.choice([digits, rng.choice(string.ascii_uppercase) + digits[1:]])


def _base58check(payload: bytes) -> str:
    import hashlib

    data = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    n, out = int.from_bytes(data, "big"), ""
    while n:
        n, r = divmod(n, 58)
        out = alphabet[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def _bech32(hrp: str, witver: int, program: bytes) -> str:
    """A segwit address (BIP 173 for version 0, BIP 350 bech32m above)."""
    charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
    bits, acc, data = 0, 0, [witver]
    for byte in program:
        acc, bits = (acc << 8) | byte, bits + 8
        while bits >= 5:
            bits -= 5
            data.append((acc >> bits) & 31)
    if bits:
        data.append((acc << (5 - bits)) & 31)

    def polymod(values: list[int]) -> int:
        chk = 1
        for v in values:
            top, chk = chk >> 25, (chk & 0x1FFFFFF) << 5 ^ v
            for i, g in enumerate((0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)):
                chk ^= g if (top >> i) & 1 else 0
        return chk

    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    const = 1 if witver == 0 else 0x2BC830A3
    mod = polymod(expanded + data + [0] * 6) ^ const
    return hrp + "1" + "".join(charset[d] for d in data + [(mod >> 5 * (5 - i)) & 31 for i in range(6)])


def _crypto(rng: random.Random, style: str) -> str:
    raw = bytes(rng.getrandbits(8) for _ in range(32))
    kinds = ["p2pkh", "p2sh", "bech32", "eth"] if style == "tune" else ["p2pkh", "p2wsh", "taproot", "eth-mixed"]
    kind = rng.choice(kinds)
    if kind in ("p2pkh", "p2sh"):
        return _base58check(bytes([0 if kind == "p2pkh" else 5]) + raw[:20])
    if kind == "bech32":
        return _bech32("bc", 0, raw[:20])
    if kind in ("p2wsh", "taproot"):
        return _bech32("bc", 0 if kind == "p2wsh" else 1, raw)
    hexa = raw[:20].hex()
    return "0x" + ("".join(c.upper() if rng.random() < 0.5 else c for c in hexa) if kind == "eth-mixed" else hexa)


def _mac(rng: random.Random, style: str) -> str:
    octets = [f"{rng.randint(0, 255):02x}" for _ in range(6)]
    if style == "tune":
        return rng.choice([":".join(octets).upper(), "-".join(octets).upper()])
    joined = "".join(octets)
    return rng.choice([":".join(octets), "-".join(octets), ".".join(joined[i:i + 4] for i in (0, 4, 8))])


def _ip(rng: random.Random, style: str) -> str:
    import ipaddress

    if rng.random() < 0.5:
        return str(ipaddress.IPv4Address(rng.getrandbits(32) | (rng.randint(1, 223) << 24)))
    addr = ipaddress.IPv6Address(rng.getrandbits(128))
    if style == "heldout" and rng.random() < 0.5:
        addr = ipaddress.IPv6Address((0x2001 << 112) | (0x0DB8 << 96) | rng.getrandbits(16))   # many zeros: "::"
    return rng.choice([str(addr), addr.exploded] if style == "tune" else [str(addr)])


def _email(rng: random.Random, style: str) -> str:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    tlds = TUNE_TLDS if style == "tune" else HELDOUT_TLDS
    domain = f"{rng.choice(['mail', 'example', 'corp-mail', 'posteo', 'fastbox'])}.{rng.choice(tlds)}"
    if style == "tune":
        local = rng.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}_{last}{rng.randint(1, 99)}"])
    else:
        local = rng.choice([f"{first}.{last}+{rng.choice(['shop', 'news'])}", f"{first.capitalize()}.{last.capitalize()}",
                            f"{last}{rng.randint(1970, 2005)}", f"{first}-{last}"])
        domain = rng.choice([domain, f"eu.{domain}"])
    return f"{local}@{domain}"


def _url(rng: random.Random, style: str) -> str:
    user = rng.choice(FIRST) + rng.choice(LAST)
    tld = rng.choice(TUNE_TLDS if style == "tune" else HELDOUT_TLDS)
    host = f"{rng.choice(['myshop', 'jane-doe', 'photos', 'blog', 'store'])}{rng.randint(1, 99)}.{tld}"
    if style == "tune":
        path = rng.choice([f"/account?user={user}", f"/u/{user}", "", f"/profile/{rng.randint(1, 99999)}"])
        start = rng.choice(["https://", "http://", "https://www.", "www."])
    else:
        path = rng.choice([f"/~{user}/", f"?ref=mail&uid={user}", f"/orders/{rng.randint(1, 99999)}#details",
                           f":8080/share/{user}", f"/{user}/gallery?page={rng.randint(2, 9)}"])
        start = rng.choice(["https://", "www.", "", "ftp://", "HTTPS://www."])
    return start + host + path


def _street(rng: random.Random, style: str) -> str:
    n = rng.randint(1, 9999 if style == "tune" else 999)
    if style == "tune":
        house = rng.choice([str(n), f"{n}{rng.choice('AB')}", f"{n}-{n + 2}"])
        name = rng.choice(STREET_NAMES + ("N Main", "5th", "West 42nd"))
        suffix = rng.choice(TUNE_SUFFIXES)
        unit = rng.choice(["", "", f", Apt {rng.randint(1, 40)}{rng.choice('AB')}", f" Suite {rng.randint(100, 999)}"])
        return f"{house} {name} {suffix}{unit}"
    house = rng.choice([str(n), f"{n}{rng.choice('abcd')}", f"{n}–{n + 4}", f"{rng.randint(1, 20)}/{n}", f"{n} 1/2"])
    name = rng.choice(HELDOUT_STREET_NAMES + STREET_NAMES)
    suffix = rng.choice(HELDOUT_SUFFIXES)
    before = rng.choice(["", "", f"Flat {rng.randint(1, 12)}, ", f"Unit {rng.randint(1, 30)} "])
    after = rng.choice(["", "", " NW", f", Ste {rng.randint(10, 400)}"])
    return f"{before}{house} {name} {suffix}{after}"


VALUES = {"EMAIL_ADDRESS": _email, "PHONE_NUMBER": _phone, "CREDIT_CARD": _card, "US_SSN": _ssn,
          "IBAN_CODE": _iban, "IP_ADDRESS": _ip, "URL": _url, "STREET_ADDRESS": _street, "CRYPTO": _crypto,
          "MAC_ADDRESS": _mac, "US_PASSPORT": _passport, "UK_NHS": _nhs}
#: Bare numbers count as SSN/NHS only next to their name: these templates say it.
BARE_TEMPLATES = {"US_SSN": {"tune": ("SSN {}",), "heldout": ("social security number {}", "SSN: {}")},
                  "UK_NHS": {"tune": ("NHS number {}",), "heldout": ("NHS no {}", "my NHS number is {}")}}


@dataclass
class Planted:
    """One text with one planted value at ``start:end``."""

    kind: str
    text: str
    start: int
    end: int


def realistic_corpus(style: str, seed: int, per_kind: int, kinds: Iterable[str] = REALISTIC_KINDS) -> list[Planted]:
    """``per_kind`` sentences per kind, each a product-review sentence around one planted value."""
    rng = random.Random(f"{style}-{seed}")
    out = []
    for kind in kinds:
        for _ in range(per_kind):
            value = VALUES[kind](rng, style)
            templates = TEMPLATES[kind][style]
            if kind in BARE_TEMPLATES and value.isdigit():
                templates = BARE_TEMPLATES[kind][style]
            before, after = rng.choice(templates).split("{}")
            lead = pii_free_sentence(rng, style) + " " if rng.random() < 0.5 else ""
            prefix = lead + before
            out.append(Planted(kind, prefix + value + after, len(prefix), len(prefix) + len(value)))
    return out


# PII-free product text: reviews with model numbers, prices, dates, versions and bare item numbers.
_FREE = {
    "tune": (
        "The {product} arrived on {date} and works fine with firmware {version}.",
        "Paid {price} for the {model}; item {item10} on the invoice.",
        "After {n} weeks the {product} still holds {n}% of its charge.",
        "Model {model} replaced my old {product}, ASIN {asin}.",
        "Dimensions are {n} x {n} x {n} inches and it weighs {n}.{n} lbs.",
        "Version {version} fixed the bug from {date}, rated {n} out of 5.",
        "Series {n} Sport Loop fits fine, and the {n} Port USB Hub too.",
        "Ordered {n} packs at {price} each, order #{order}.",
        "Works with iOS {n}.{n} and Node.js, see the manual.pdf for setup.",
        "Item number {item10} is the {product} in black, UPC {upc}.",
    ),
    "heldout": (
        "I returned the {product} on {date2} (SKU {item10}) and got {price} back.",
        "Came with a {n} TB Hard Drive and {n} GB of RAM, BIOS {version}.",
        "Catalog #{item10}, ISBN {isbn}, shipped {date2} at {time}.",
        "e.g. the {model} at {price} is {n}x faster than the {product} I had in {year}.",
        "Bought the {n}-pack ({item10}) for my {product}; EAN {ean}.",
        "My {n} Inch Square baking tin and the {model} blender, both {price}.",
        "Update {version} (build {item10}) broke Wi-Fi on {date2}; rolled back to {version}.",
        "Runs setup.py fine, but readme.md is outdated; tested on v{version}.",
        "Tracking {tracking}, delivered by {time} on {date2}, box {n} of {n}.",
        "Scored {n}/{n}, {n}.{n} stars, the {product} is {n}% off until {date2}.",
    ),
}


def pii_free_sentence(rng: random.Random, style: str) -> str:
    """One product-review sentence with numbers of every harmless kind and no PII."""
    digits = lambda k: "".join(rng.choice(string.digits) for _ in range(k))  # noqa: E731
    fields = {
        "product": rng.choice(_PRODUCT_WORDS), "n": rng.randint(1, 99),
        "date": f"{rng.randint(2015, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "date2": rng.choice([f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/{rng.randint(2015, 2025)}",
                             f"March {rng.randint(1, 28)}, {rng.randint(2015, 2025)}"]),
        "version": f"{rng.randint(1, 20)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}",
        "price": rng.choice([f"${rng.randint(5, 1999):,}.{rng.randint(0, 99):02d}", f"€{rng.randint(5, 999)},{digits(2)}"]),
        "model": rng.choice([f"WH-{rng.randint(100, 1000)}XM{rng.randint(2, 5)}", f"RTX {rng.choice([3060, 4080, 4090])}",
                             f"SM-G{digits(3)}B", f"KX-{digits(4)}"]),
        "item10": digits(10), "asin": "B0" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(8)),
        "order": f"{digits(3)}-{digits(7)}-{digits(7)}", "upc": digits(12), "ean": digits(13),
        "isbn": f"978-{digits(1)}-{digits(3)}-{digits(5)}-{digits(1)}", "year": rng.randint(2000, 2024),
        "time": f"{rng.randint(1, 12)}:{rng.randint(0, 59):02d} {rng.choice(['am', 'pm'])}",
        "tracking": "1Z" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16)),
    }
    return rng.choice(_FREE[style]).format(**fields)


def pii_free_texts(style: str, seed: int, n: int) -> list[str]:
    """``n`` short PII-free product texts of two or three sentences."""
    rng = random.Random(f"free-{style}-{seed}")
    return [" ".join(pii_free_sentence(rng, style) for _ in range(rng.randint(2, 3))) for _ in range(n)]


def covered(spans: list[tuple[int, int, str]], start: int, end: int) -> bool:
    """Every character of ``start:end`` lies in some detected span."""
    chars = set()
    for s, e, _ in spans:
        chars.update(range(max(s, start), min(e, end)))
    return len(chars) == end - start


def measure_realistic(style: str, seed: int, per_kind: int, free_texts: int) -> dict:
    """Recall per kind on planted realistic values, and false alarms per 1,000 words of PII-free text."""
    from lamp.privacy.scrub import get_scrubber

    scrubber = get_scrubber()
    tick = time.perf_counter()
    hits: Counter = Counter()
    exact: Counter = Counter()
    missed: dict[str, list[str]] = defaultdict(list)
    corpus = realistic_corpus(style, seed, per_kind)
    for p in corpus:
        spans = scrubber.find(p.text)
        if covered(spans, p.start, p.end):
            hits[p.kind] += 1
            exact[p.kind] += any(ent == p.kind and s < p.end and e > p.start for s, e, ent in spans)
        else:
            missed[p.kind].append(p.text[p.start:p.end])
    words, alarms = 0, Counter()
    examples: list[str] = []
    for text in pii_free_texts(style, seed, free_texts):
        words += len(text.split())
        for s, e, ent in scrubber.find(text):
            alarms[ent] += 1
            examples.append(f"{ent}: {text[s:e]}")
    return {"style": style, "seed": seed, "per_kind": per_kind, "seconds": round(time.perf_counter() - tick, 1),
            "recall": {k: hits[k] / per_kind for k in REALISTIC_KINDS},
            "recall_exact_kind": {k: exact[k] / per_kind for k in REALISTIC_KINDS},
            "missed_examples": {k: v[:5] for k, v in missed.items()},
            "free_texts": free_texts, "free_words": words, "false_alarms": sum(alarms.values()),
            "false_alarms_by_kind": dict(alarms), "false_alarms_per_1000_words": 1000 * sum(alarms.values()) / words,
            "false_alarm_examples": examples[:10]}


def realistic_table(result: dict) -> str:
    lines = ["| PII kind | values | recall | recall (right kind) |", "|---|---:|---:|---:|"]
    for kind in REALISTIC_KINDS:
        lines.append(f"| {kind} | {result['per_kind']} | {result['recall'][kind]:.3f} | "
                     f"{result['recall_exact_kind'][kind]:.3f} |")
    lines.append(f"| false alarms, PII-free text | {result['free_words']:,} words | "
                 f"{result['false_alarms']} ({result['false_alarms_per_1000_words']:.2f} per 1,000 words) | |")
    return "\n".join(lines)


def write_data(tasks: dict[str, list], source: Path, dest: Path) -> None:
    """The planted dev questions plus the demo's dev outputs, in the official folder layout."""
    from lamp.core.writing import write_json

    for task, qs in tasks.items():
        write_json(dest / task / "dev" / "dev_questions.json", qs)
        shutil.copyfile(source / task / "dev" / "dev_outputs.json", dest / task / "dev" / "dev_outputs.json")
        train = source / task / "train"
        if train.is_dir() and not (dest / task / "train").exists():
            shutil.copytree(train, dest / task / "train")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT / "data" / "demo"), help="official-layout data folder")
    parser.add_argument("--per-kind", type=int, default=150, help="instances planted per kind (10 kinds)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="write the results as JSON")
    parser.add_argument("--write-data", help="also write the planted dev questions here (official layout)")
    parser.add_argument("--style", choices=STYLES, default="heldout",
                        help="realistic-format generator: heldout (reported) or tune (the one the patterns were tuned on)")
    parser.add_argument("--realistic-per-kind", type=int, default=300, help="realistic values per kind (12 kinds)")
    parser.add_argument("--free-texts", type=int, default=600, help="PII-free product texts for false alarms")
    args = parser.parse_args(argv)
    tasks, planted = plant(Path(args.data), args.per_kind, args.seed)
    result = evaluate(tasks, planted)
    print(f"{result['instances']} instances of {result['kinds']} kinds planted in {result['fields_scanned']} "
          f"profile text fields; scanned in {result['seconds']} s; NER model: {result['coverage']['ner_model']}")
    print(table(result))
    real = measure_realistic(args.style, args.seed, args.realistic_per_kind, args.free_texts)
    print(f"\nrealistic formats ({args.style} generator, seed {args.seed}): {args.realistic_per_kind} values per kind "
          f"in sentences, {args.free_texts} PII-free product texts; {real['seconds']} s")
    print(realistic_table(real))
    if args.output:
        from lamp.core.writing import write_json

        write_json(args.output, {"planted_demo": result, "realistic": real}, indent=1)
    if args.write_data:
        write_data(tasks, Path(args.data), Path(args.write_data))
        print(f"planted data -> {args.write_data}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
