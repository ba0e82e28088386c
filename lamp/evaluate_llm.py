"""The official ``evaluate_llm.py`` command line, over :mod:`lamp.cli.evaluate_llm`."""

import os
import sys

if __package__ in (None, ""):  # run as a script: the repository's packages first, not this folder's rooms
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from lamp.cli.evaluate_llm import DESCRIPTION, PROG, configure, run  # noqa: E402
from lamp.cli.main import script_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(script_main(configure, run, prog=PROG, description=DESCRIPTION))
