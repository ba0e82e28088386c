"""The official ``merge_with_rank.py`` command line (same flags), over :mod:`retrievers.merge`."""

import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lamp.cli.main import script_main  # noqa: E402
from retrievers.merge import configure, run  # noqa: E402

if __name__ == "__main__":
    sys.exit(script_main(configure, run, prog="merge_with_rank.py",
                         description="Merge questions, a profile ranking and outputs into one sorted dataset."))
