"""Official-style ``eval_task.py``: score one task's predictions, write ``{metric: value}``.

    python eval/eval_task.py --golds_json dev_outputs.json --preds_json preds.json \
        --task_name LaMP_1 --output_file scores.json
"""

import sys

from lamp.cli.main import script_main

from eval.cli import configure_task, run_task

if __name__ == "__main__":
    sys.exit(script_main(configure_task, run_task, prog="eval_task.py",
                         description="Score one LaMP task's predictions (the official metrics)."))
