"""Official-style ``eval_all.py``: score a zip (or folder) of predictions for all seven tasks.

    python eval/eval_all.py --golds_zip golds.zip --preds_zip preds.zip --temp_dir tmp \
        --output_file scores.json

Unlike the official script, ``--temp_dir`` is left exactly as it was (zips are read in place).
"""

import sys

from lamp.cli.main import script_main

from eval.cli import configure_all, run_all

if __name__ == "__main__":
    sys.exit(script_main(configure_all, run_all, prog="eval_all.py",
                         description="Score LaMP predictions for all seven tasks (the official metrics)."))
