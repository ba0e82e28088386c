"""The official ``LaMP/retriever_utilization_scorer.py`` command line (same flags), over :mod:`rspg.feedback`.

Writes ``OUTPUT_DIR/scores.json`` ({qid: {"metric", "output", "input"}}) for one retriever of the pool.
"""

import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lamp.cli.main import script_main  # noqa: E402
from rspg.cli import EXAMPLES, configure_score, run_score  # noqa: E402


def configure(parser):
    parser.epilog = EXAMPLES
    configure_score(parser)


if __name__ == "__main__":
    sys.exit(script_main(configure, run_score, prog="retriever_utilization_scorer.py",
                         description="LLM feedback for one retriever: prompt, output and metrics per question."))
