"""``lamp merge`` and ``merge_with_rank.py``: questions + ranking + outputs -> one sorted dataset.

Each record is ``{id, input, profile (ranked), output}`` (reference §2.3); the profile keeps only
the ids the ranking lists, in its order; without a ranking it keeps file order. Fixes to the
official script: outputs are read from ``golds`` (issue #14), and a question with no output is
an error naming it (``--allow_missing_outputs`` writes ``"output": null`` instead) rather than
silently receiving the previous question's output. Without an outputs file (a test split) the
records have no ``output`` key.
"""

from __future__ import annotations

import argparse
from typing import Any, Mapping, Sequence

from lamp.core.errors import LampDataError
from lamp.core.files import check_distinct_outputs, load_outputs, load_questions, load_rankings, write_json
from lamp.core.records import Question

EXAMPLE = """example:
  lamp merge --lamp_questions_addr data/demo/LaMP_2/dev/dev_questions.json \\
      --lamp_output_addr data/demo/LaMP_2/dev/dev_outputs.json \\
      --profile_ranking_addr runs/LaMP_2_dev_bm25.json --merged_output_addr runs/LaMP_2_dev_sorted.json
"""


def merge_with_rank(questions: Sequence[Question], outputs: Mapping[str, str] | None = None,
                    ranking: Mapping[str, Sequence[str]] | None = None, *, allow_missing_outputs: bool = False,
                    ranking_file: str | None = None, outputs_file: str | None = None) -> list[dict[str, Any]]:
    """The sorted dataset: each question with its profile in ranked order and its output."""
    merged = []
    for q in questions:
        profile = q.profile
        if ranking is not None:
            ids = ranking.get(q.id)
            if ids is None:
                raise LampDataError("the ranking has no entry for this question", file=ranking_file,
                                    record_id=q.id)
            by_id = {item.id: item for item in q.profile}
            unknown = [i for i in ids if i not in by_id]
            if unknown:
                raise LampDataError(f"the ranking names profile ids that are not in this question's profile: "
                                    f"{', '.join(map(repr, unknown[:5]))}", file=ranking_file, record_id=q.id)
            if len(set(ids)) != len(ids):
                raise LampDataError("the ranking lists a profile id twice", file=ranking_file, record_id=q.id)
            profile = [by_id[i] for i in ids]
        record = q.to_json()
        record["profile"] = [item.to_json() for item in profile]
        if outputs is not None:
            if q.id not in outputs and not allow_missing_outputs:
                raise LampDataError("no output for this question", file=outputs_file, record_id=q.id, field="output")
            record["output"] = outputs.get(q.id)
        merged.append(record)
    return merged


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLE
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--lamp_questions_addr", required=True, help="questions file")
    parser.add_argument("--lamp_output_addr", default=None, help="outputs file {task, golds} (omit for test)")
    parser.add_argument("--profile_ranking_addr", default=None, help="ranking file (omit: keep file order)")
    parser.add_argument("--merged_output_addr", required=True, help="where to write the sorted dataset")
    parser.add_argument("--task", default=None, help="task name, to check item fields and the outputs' task")
    parser.add_argument("--allow_missing_outputs", action="store_true",
                        help='write "output": null for questions missing from the outputs file')


def run(args: argparse.Namespace) -> int:
    check_distinct_outputs([args.lamp_questions_addr, args.lamp_output_addr, args.profile_ranking_addr],
                           [args.merged_output_addr])
    questions = load_questions(args.lamp_questions_addr, task=args.task)
    outputs = load_outputs(args.lamp_output_addr, task=args.task).by_id() if args.lamp_output_addr else None
    ranking = load_rankings(args.profile_ranking_addr) if args.profile_ranking_addr else None
    merged = merge_with_rank(questions, outputs, ranking, allow_missing_outputs=args.allow_missing_outputs,
                             ranking_file=args.profile_ranking_addr, outputs_file=args.lamp_output_addr)
    write_json(args.merged_output_addr, merged)
    print(f"merged {len(merged)} questions -> {args.merged_output_addr}")
    return 0
