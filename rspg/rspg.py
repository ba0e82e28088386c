"""The official ``RSPG/rspg.py`` command line (``--do_train``, ``--do_validation``, same flags), over
:mod:`rspg.train` and :mod:`rspg.selection`. No distributed launcher needed (``accelerate launch`` works).
"""

import os
import sys

if __package__ in (None, ""):  # run as a script: the repository in place of this folder (which shadows packages)
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from lamp.cli.official import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("rspg.py"))
