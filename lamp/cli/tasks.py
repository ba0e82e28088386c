"""``lamp tasks``: print the task registry."""

from __future__ import annotations

import argparse

from lamp.core.tasks import tasks_table


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "example:\n  lamp tasks"


def run(args: argparse.Namespace) -> int:
    print(tasks_table())
    return 0
