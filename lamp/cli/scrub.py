"""``lamp scrub``: write a questions file with PII replaced by per-user placeholders (:mod:`lamp.privacy.scrub`)."""

from __future__ import annotations

import argparse
import json

from tqdm import tqdm

from lamp.core.errors import LampError
from lamp.core.questions import iter_questions
from lamp.core.writing import check_distinct_outputs, write_json
from lamp.privacy.scrub import coverage, get_scrubber


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("example:\n  lamp scrub data/demo/LaMP_2/dev/dev_questions.json --output scrubbed/dev_questions.json\n"
                     "  lamp scrub --coverage")
    parser.add_argument("input", nargs="?", help="questions file (or an official folder/zip holding exactly one)")
    parser.add_argument("--output", help="where to write the scrubbed questions (never the input itself)")
    parser.add_argument("--task", help="task name, to check the item fields")
    parser.add_argument("--coverage", action="store_true", help="print which PII kinds are detected, and exit")


def run(args: argparse.Namespace) -> int:
    if args.coverage:
        print(json.dumps(coverage(), indent=1))
        return 0
    if not args.input or not args.output:
        raise LampError("lamp scrub needs INPUT and --output (or --coverage)")
    check_distinct_outputs([args.input], [args.output])
    questions = list(iter_questions(args.input, task=args.task))
    scrubbed = get_scrubber().scrub_questions(tqdm(questions, desc="scrub", unit="question"))
    write_json(args.output, [q.to_json() for q in scrubbed])
    cov = coverage()
    print(f"scrubbed {len(scrubbed)} questions -> {args.output} (kinds: {', '.join(cov['entities'])}; "
          f"not covered: {', '.join(cov['not_covered']) or 'none'})")
    return 0
