"""Official-style ``eval_all.py``: score a zip (or folder) of predictions for all seven tasks.

    python eval/eval_all.py --golds_zip golds.zip --preds_zip preds.zip --temp_dir tmp \\
        --output_file scores.json

Unlike the official script, ``--temp_dir`` (default ``./tmp``, as officially) is left exactly as it
was: zips are read in place.
"""

import os
import sys

if __package__ in (None, ""):  # run as a script: the repository in place of this folder (which shadows packages)
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from lamp.cli.official import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("eval_all.py"))
