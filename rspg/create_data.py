"""The official ``RSPG/utils/create_data.py`` command line (same flags, ``--names-list`` included), over
:mod:`rspg.data`, without the official bug that opens a ``data.json`` no script writes."""

import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lamp.cli.main import script_main  # noqa: E402
from rspg.cli import configure_data, run_data  # noqa: E402

if __name__ == "__main__":
    sys.exit(script_main(configure_data, run_data, prog="create_data.py",
                         description="Combine the pool's feedback into the selector's data."))
