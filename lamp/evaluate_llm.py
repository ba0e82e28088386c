"""The official ``evaluate_llm.py`` command line, over :mod:`lamp.cli.evaluate_llm` (``--model_addr``
required, as officially).
"""

import os
import sys

if __package__ in (None, ""):  # run as a script: the repository in place of this folder (which shadows packages)
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from lamp.cli.official import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("evaluate_llm.py"))
