"""The official ``RSPG/utils/create_data.py`` command line (same flags, ``--names-list`` included), over
:mod:`rspg.data`, without the official bug that opens a ``data.json`` no script writes. ``--metric`` is
required, as officially.
"""

import os
import sys

if __package__ in (None, ""):  # run as a script: the repository in place of this folder (which shadows packages)
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from lamp.cli.official import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("create_data.py"))
