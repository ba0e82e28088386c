"""The official ``rank_profiles.py`` command line (same flags), over :mod:`retrievers.rank`.

Works for every task, LaMP-2 included (the official script crashes there, reference §2.2).
"""

import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lamp.cli import script_main  # noqa: E402
from retrievers.rank import configure, run  # noqa: E402

if __name__ == "__main__":
    sys.exit(script_main(configure, run, prog="rank_profiles.py",
                         description="Rank each user's profile for each question."))
