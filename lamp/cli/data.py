"""``lamp data download``: fetch the official LaMP files with :mod:`lamp.core.download`."""

from __future__ import annotations

import argparse

from lamp.cli.main import add_subverbs, run_subverb
from lamp.core.download import OFFICIAL_BASE_URL, SPLITS, download

EXAMPLE = """examples:
  lamp data download --task LaMP_4 --split dev --dest lamp_data
  lamp data download --task LaMP-2 --split train --time_based --dest lamp_data
  lamp data download --task LaMP-2-old --split dev --dest lamp_data"""


def configure_download(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, nargs="+", help="one or more tasks (LaMP-1 … LaMP-7, LaMP-2-old)")
    parser.add_argument("--split", nargs="+", default=["dev"], choices=SPLITS, help="splits to fetch (default dev)")
    parser.add_argument("--dest", required=True, help="folder to write into")
    parser.add_argument("--time_based", "--time-based", dest="time_based", action="store_true",
                        help="the time-based split (user_id and dates)")
    parser.add_argument("--base_url", "--base-url", dest="base_url", default=OFFICIAL_BASE_URL,
                        help="mirror of the download host")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the server (default 60)")


def run_download(args: argparse.Namespace) -> int:
    for task in args.task:
        for split in args.split:
            for path in download(task, split, args.dest, args.time_based, args.base_url, args.timeout):
                print(path)
    return 0


COMMANDS = {"download": (configure_download, run_download, "fetch official files into the official folder layout")}


def configure(parser: argparse.ArgumentParser) -> None:
    add_subverbs(parser, COMMANDS, "data_verb", EXAMPLE)


run = run_subverb
