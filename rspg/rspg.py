"""The official ``RSPG/rspg.py`` command line (``--do_train``, ``--do_validation``, same flags), over
:mod:`rspg.train` and :mod:`rspg.selection`. No distributed launcher needed (``accelerate launch`` works)."""

import os
import sys

if __package__ in (None, ""):  # run as a script: this file would shadow the rspg package, so drop its folder
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]
    sys.path.insert(0, os.path.dirname(_here))
    sys.modules.pop("rspg", None)

from lamp.cli.main import script_main  # noqa: E402
from rspg.cli import configure_official, run_official  # noqa: E402

if __name__ == "__main__":
    sys.exit(script_main(configure_official, run_official, prog="rspg.py",
                         description="Train (--do_train) and apply (--do_validation) the retriever selector."))
