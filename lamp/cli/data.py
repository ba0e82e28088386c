"""``lamp data download``: fetch the official LaMP files (:mod:`lamp.core.download`), or LongLaMP and
LaMP-QA through the Hugging Face ``datasets`` library and its cache (:mod:`lamp.core.hub`)."""

from __future__ import annotations

import argparse

from lamp.cli.main import add_subverbs, run_subverb
from lamp.core.download import OFFICIAL_BASE_URL, SPLITS, download
from lamp.core.errors import LampError
from lamp.core.hub import BENCHMARKS, benchmark_task, download_benchmark

EXAMPLE = """examples:
  lamp data download --task LaMP_4 --split dev --dest lamp_data
  lamp data download --task LaMP-2 --split train --time_based --dest lamp_data
  lamp data download --task LaMP-2-old --split dev --dest lamp_data
  lamp data download --benchmark longlamp --config product_review_user --split dev test --dest lamp_data
  lamp data download --benchmark longlamp --config topic_writing --time_based --split dev --dest lamp_data
  lamp data download --benchmark lamp-qa --config Art_and_Entertainment --split dev --dest lamp_data
  HF_DATASETS_OFFLINE=1 lamp data download --benchmark lamp-qa --config Society_and_Culture --dest lamp_data"""


def configure_download(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", nargs="+", help="LaMP tasks to fetch (LaMP-1 … LaMP-7, LaMP-2-old)")
    parser.add_argument("--benchmark", choices=sorted(BENCHMARKS),
                        help="fetch a LaMP-family benchmark through Hugging Face datasets instead (with --config)")
    parser.add_argument("--config", nargs="+", help="with --benchmark: dataset configs, e.g. product_review_user, "
                        "topic_writing_temporal, abstract_generation (longlamp); Art_and_Entertainment (lamp-qa)")
    parser.add_argument("--split", nargs="+", default=["dev"], choices=SPLITS,
                        help="splits to fetch (default dev; LongLaMP's 'val' and LaMP-QA's 'validation' are dev)")
    parser.add_argument("--dest", required=True, help="folder to write into")
    parser.add_argument("--time_based", "--time-based", dest="time_based", action="store_true",
                        help="the time-based split (LaMP: user_id and dates; LongLaMP: the temporal configs)")
    parser.add_argument("--base_url", "--base-url", dest="base_url", default=OFFICIAL_BASE_URL,
                        help="mirror of the LaMP download host")
    parser.add_argument("--cache_dir", "--cache-dir", dest="cache_dir", default=None,
                        help="with --benchmark: the datasets cache folder (default: HF_DATASETS_CACHE)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the server (default 60)")


def run_download(args: argparse.Namespace) -> int:
    if args.benchmark:
        if args.task or not args.config:
            raise LampError("--benchmark takes --config (e.g. --config product_review_user), not --task")
        for config in args.config:
            task, setting = benchmark_task(args.benchmark, config)
            setting = "temporal" if args.time_based else setting
            for split in args.split:
                for path in download_benchmark(task, split, args.dest, setting, args.cache_dir):
                    print(path)
        return 0
    if not args.task:
        raise LampError("pass --task (LaMP) or --benchmark with --config (LongLaMP, LaMP-QA)")
    if args.config:
        raise LampError("--config goes with --benchmark")
    for task in args.task:
        for split in args.split:
            for path in download(task, split, args.dest, args.time_based, args.base_url, args.timeout):
                print(path)
    return 0


COMMANDS = {"download": (configure_download, run_download,
                         "fetch official files (LaMP) or Hugging Face datasets (LongLaMP, LaMP-QA) into the "
                         "official folder layout")}


def configure(parser: argparse.ArgumentParser) -> None:
    add_subverbs(parser, COMMANDS, "data_verb", EXAMPLE)


run = run_subverb
