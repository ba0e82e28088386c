"""The official ``LaMP/retriever_utilization_scorer.py`` command line (same flags), over :mod:`rspg.feedback`.

Writes ``OUTPUT_DIR/scores.json`` ({qid: {"metric", "output", "input"}}) for one retriever of the pool.
"""

import os
import sys

if __package__ in (None, ""):  # run as a script: the repository in place of this folder (which shadows packages)
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from lamp.cli.official import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("retriever_utilization_scorer.py"))
