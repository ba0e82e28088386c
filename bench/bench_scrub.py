"""How well ``lamp.scrub`` finds PII: recall and precision per kind on a Faker-planted corpus.

Faker (seeded) makes PII of ten kinds, which is planted, inside a short carrier phrase, into the
text fields of the demo dev profiles (all seven tasks). The scrubber then reads every item text
field, planted or not, so detections in the original text count against precision.

* recall of a kind: planted spans of that kind fully covered by detected spans (of any kind);
* kind-exact recall: covered by a detection of the matching kind;
* precision of a detected kind: its detections that overlap some planted span.

``--write-data DIR`` also writes the planted dev questions (and the demo outputs) in the official
layout, for ``lamp run --data DIR`` with and without ``--scrub``.

    python bench/bench_scrub.py                       # table on stdout
    python bench/bench_scrub.py --output bench_scrub.json --write-data runs/pii_demo
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

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
    from lamp.scrub import coverage, get_scrubber

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


def write_data(tasks: dict[str, list], source: Path, dest: Path) -> None:
    """The planted dev questions plus the demo's dev outputs, in the official folder layout."""
    from lamp.files import write_json

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
    args = parser.parse_args(argv)
    tasks, planted = plant(Path(args.data), args.per_kind, args.seed)
    result = evaluate(tasks, planted)
    print(f"{result['instances']} instances of {result['kinds']} kinds planted in {result['fields_scanned']} "
          f"profile text fields; scanned in {result['seconds']} s; NER model: {result['coverage']['ner_model']}")
    print(table(result))
    if args.output:
        from lamp.files import write_json

        write_json(args.output, result, indent=1)
    if args.write_data:
        write_data(tasks, Path(args.data), Path(args.write_data))
        print(f"planted data -> {args.write_data}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
