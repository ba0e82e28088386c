"""Official-style ``eval_task.py``: score one task's predictions, write ``{metric: value}``.

    python eval/eval_task.py --golds_json dev_outputs.json --preds_json preds.json \\
        --task_name LaMP_1 --output_file scores.json
"""

import os
import sys

if __package__ in (None, ""):  # run as a script: the repository in place of this folder (which shadows packages)
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from lamp.cli.official import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("eval_task.py"))
