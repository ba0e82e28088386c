"""``lamp validate``: check LaMP files with :mod:`lamp.core.validate` and print every problem.

Exit code 2 when any error is found; warnings pass.
"""

from __future__ import annotations

import argparse

from lamp.core.validate import check_paths, format_reports


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", help="questions/outputs JSON files, official folders or zips")
    parser.add_argument("--task", help="the task of every file (default: from the folder name or the input)")
    parser.epilog = ("examples:\n  lamp validate data/demo\n"
                     "  lamp validate LaMP_2/dev/dev_questions.json --task LaMP-2")


def run(args: argparse.Namespace) -> int:
    reports = check_paths(args.paths, args.task)
    print(format_reports(reports))
    return 2 if any(r.errors for r in reports) else 0
