"""``lamp report``: one or many runs side by side — a markdown table and a self-contained HTML page.

Library use (the pipeline calls this)::

    report = build_report([RunResult("bm25", "LaMP-3", {"MAE": 0.3, "RMSE": 0.6}, golds, preds), ...],
                          baseline="none")
    report.markdown(); report.html()        # strings; write them where you like

A ``†`` marks a method that differs from the baseline method at p < alpha (paired approximate
randomization, :mod:`eval.compare`); it needs per-sample ``golds`` and ``preds`` on both results.
The best value of each row is bold.

**Run directory convention** (what ``lamp report RUN_DIR...`` reads, :class:`lamp.core.rundir.RunDir`)::

    RUN_DIR/
      scores.json                 {"<method>": {"LaMP_1": {"accuracy": 0.7, "f1": 0.6}, ...}, ...,
                                   "_golds": {"LaMP_1": "path/to/dev_outputs.json", ...}}
      predictions/<method>/LaMP_1.json    official format {"task": "LaMP_1", "golds": [{"id", "output"}]}

Keys of ``scores.json`` starting with ``_`` are not methods. Gold paths are relative to RUN_DIR
unless absolute, and may be a file, folder or zip. Predictions are optional (no † without them);
a method with predictions and golds but no scores is scored here. When two run directories hold
the same method name, the method is shown as ``"<method> (<run dir name>)"``.

Rows: a task's own metrics (``Task.metrics``) first, then every other known metric its results hold
(LongLaMP's ``rouge-2``, ``rouge-LSum``, ``bleu`` and the ``-nonempty`` scores of its official scorer,
which drops empty pairs), in the order the scores list them; the plots show the task's own metrics.
A judged task (LaMP-QA's ``rubric-score``) names its judge under the table, read from
``RUN_DIR/judged/<method>/<task>.json`` (the ``judge`` object ``lamp judge`` and ``lamp run`` write:
identity, prompt version and hash, retries), else the manifest's ``judge``: judge scores compare only
under one judge, so methods judged by different judges are flagged.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamp.core.errors import LampError
from lamp.core.rundir import GOLDS_KEY, RunDir
from lamp.core.tasks import TASKS, get_task

from eval.compare import Comparison, compare_predictions
from eval.loading import read_outputs_set
from eval.metrics import HIGHER_IS_BETTER, score_task


@dataclass
class RunResult:
    """One method's scores on one task, optionally with its per-sample predictions and the golds."""

    method: str
    task: str
    metrics: dict[str, float]
    golds: dict[str, str] | None = None
    preds: dict[str, str] | None = None
    #: The judge that gave a judged task's scores ({"identity", "prompt_version", "prompt_hash", "retries", ...}).
    judge: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.task = get_task(self.task).name


@dataclass
class Report:
    results: list[RunResult]
    baseline: str | None
    alpha: float
    n_resamples: int
    seed: int
    comparisons: dict[tuple[str, str], Comparison] = field(default_factory=dict)   # (task, method)

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys(r.method for r in self.results))

    @property
    def tasks(self) -> list[str]:
        present = {r.task for r in self.results}
        return [t for t in TASKS if t in present]

    def value(self, task: str, method: str, metric: str) -> float | None:
        for r in self.results:
            if r.task == task and r.method == method:
                return r.metrics.get(metric)
        return None

    def metrics(self, task: str) -> list[str]:
        """The task's own metrics, then any other known metric its results hold, in their order."""
        names = list(get_task(task).metrics)
        for r in self.results:
            if r.task == task:
                names += [m for m in r.metrics if m in HIGHER_IS_BETTER and m not in names]
        return names

    def judges(self) -> list[str]:
        """One line per judged task: which judge scored which methods (and a flag when they differ)."""
        lines = []
        for task in self.tasks:
            by_judge: dict[str, list[str]] = {}
            for r in self.results:
                if r.task == task and r.judge:
                    by_judge.setdefault(describe_judge(r.judge), []).append(r.method)
            if not by_judge:
                continue
            parts = [f"`{text}` ({', '.join(methods)})" if len(by_judge) > 1 else f"`{text}`"
                     for text, methods in by_judge.items()]
            note = " — different judges: these scores do not compare" if len(by_judge) > 1 else ""
            lines.append(f"{task} judged by {'; '.join(parts)}{note}.")
        return lines

    def marked(self, task: str, method: str, metric: str) -> bool:
        c = self.comparisons.get((task, method))
        return bool(c and metric in c.metrics and c.metrics[metric].significant(self.alpha))

    def rows(self) -> list[tuple[str, str, list[tuple[str, bool, bool]]]]:
        """(task, metric, [(formatted value, is best, † mark) per method])."""
        out = []
        for task in self.tasks:
            for metric in self.metrics(task):
                values = [self.value(task, m, metric) for m in self.methods]
                known = [v for v in values if v is not None]
                best = (max if HIGHER_IS_BETTER[metric] else min)(known) if known else None
                cells = [("–" if v is None else f"{v:.4f}", v is not None and len(known) > 1 and v == best,
                          self.marked(task, m, metric)) for v, m in zip(values, self.methods)]
                out.append((task, metric, cells))
        return out

    def footnote(self) -> str:
        judged = "".join(f" {line}" for line in self.judges())
        if judged:
            judged += " Judge scores compare only under the same judge."
        if not self.baseline:
            return "↑ higher is better, ↓ lower is better; best value in bold." + judged
        return (f"↑ higher is better, ↓ lower is better; best value in bold. † differs from the baseline "
                f"**{self.baseline}** at p < {self.alpha} (paired approximate randomization, "
                f"{self.n_resamples} rounds, seed {self.seed}); no mark where per-sample predictions are missing."
                + judged)

    def markdown(self) -> str:
        header = ["task", "metric", *(f"{m} (baseline)" if m == self.baseline else m for m in self.methods)]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 2 + "---:|" * len(self.methods)]
        for task, metric, cells in self.rows():
            arrow = "↑" if HIGHER_IS_BETTER[metric] else "↓"
            shown = [(f"**{text}**" if best else text) + (" †" if mark else "") for text, best, mark in cells]
            lines.append(f"| {task} | {metric} {arrow} | " + " | ".join(shown) + " |")
        return "\n".join(lines) + "\n\n" + self.footnote() + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "alpha": self.alpha,
                "results": [{"method": r.method, "task": r.task, "metrics": r.metrics,
                             **({"judge": r.judge} if r.judge else {})} for r in self.results],
                "comparisons": {f"{t}|{m}": c.to_dict() for (t, m), c in self.comparisons.items()}}

    def html(self) -> str:
        """One self-contained page: the table and one bar chart per task (PNG embedded as base64)."""
        esc = html.escape
        head = "".join(f"<th>{esc(m)}{' <small>(baseline)</small>' if m == self.baseline else ''}</th>"
                       for m in self.methods)
        body = []
        for task, metric, cells in self.rows():
            arrow = "↑" if HIGHER_IS_BETTER[metric] else "↓"
            tds = "".join(f"<td class='num'>{'<b>' if best else ''}{esc(text)}{'</b>' if best else ''}"
                          f"{' †' if mark else ''}</td>" for text, best, mark in cells)
            body.append(f"<tr><td>{esc(task)}</td><td>{esc(metric)} {arrow}</td>{tds}</tr>")
        plots = "".join(f"<figure><img alt='{esc(t)}' src='data:image/png;base64,{self._plot(t)}'></figure>"
                        for t in self.tasks)
        foot = esc(self.footnote()).replace("**", "")
        hatch = "<p class='note'>Hatched bar: the baseline.</p>" if self.baseline else ""
        return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>LaMP report</title><style>{_CSS}</style>"
                f"</head><body><h1>LaMP report</h1><p>{len(self.methods)} methods on {len(self.tasks)} tasks.</p>"
                f"<table><thead><tr><th>task</th><th>metric</th>{head}</tr></thead><tbody>{''.join(body)}"
                f"</tbody></table><p class='note'>{foot}</p><h2>Per task</h2>{hatch}{plots}</body></html>\n")

    def _plot(self, task: str) -> str:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        metrics = get_task(task).metrics
        methods = self.methods
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.0), squeeze=False)
        for ax, metric in zip(axes[0], metrics):
            values = [self.value(task, m, metric) for m in methods]
            xs = range(len(methods))
            bars = ax.bar(xs, [v or 0 for v in values], color=[colors[i % len(colors)] for i in xs],
                          hatch=None)
            for i, (bar, v, m) in enumerate(zip(bars, values, methods)):
                if m == self.baseline:
                    bar.set_hatch("//")
                if v is not None:
                    label = f"{v:.3f}" + (" †" if self.marked(task, m, metric) else "")
                    ax.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                                ha="center", va="bottom", fontsize=8)
            top = max((v for v in values if v is not None), default=1.0) or 1.0
            ax.set_ylim(0, top * 1.18)
            ax.set_xticks(list(xs), methods, rotation=20, ha="right", fontsize=8)
            ax.set_title(f"{metric} ({'higher' if HIGHER_IS_BETTER[metric] else 'lower'} is better)", fontsize=9)
            ax.spines[["top", "right"]].set_visible(False)
        fig.suptitle(task, fontsize=11)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        plt.close(fig)
        return base64.b64encode(buf.getvalue()).decode("ascii")


_CSS = ("body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}"
        "table{border-collapse:collapse;margin:1em 0}th,td{padding:4px 10px;border-bottom:1px solid #ddd}"
        "th{background:#f4f4f4;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}"
        ".note{color:#555;font-size:90%}figure{margin:1em 0}img{max-width:100%}")


def describe_judge(judge: dict[str, Any]) -> str:
    """A judge as the report names it: its identity, prompt version and hash, and retries."""
    text = str(judge.get("identity", "unnamed judge"))
    prompt = " ".join(str(judge[k]) for k in ("prompt_version", "prompt_hash") if judge.get(k))
    extra = [f"prompt {prompt}"] if prompt else []
    if judge.get("retries") is not None:
        extra.append(f"{judge['retries']} retries")
    return text + (f", {', '.join(extra)}" if extra else "")


def build_report(results: list[RunResult], baseline: str | None = None, n_resamples: int = 1000, seed: int = 0,
                 alpha: float = 0.05) -> Report:
    """Gather results and test every method against ``baseline`` (default: the first method) per task."""
    if not results:
        raise LampError("report: no results to show")
    methods = list(dict.fromkeys(r.method for r in results))
    if baseline is None:
        baseline = methods[0] if len(methods) > 1 else None
    elif baseline not in methods:
        raise LampError(f"report: baseline {baseline!r} is not one of the methods ({', '.join(methods)})")
    report = Report(results, baseline, alpha, n_resamples, seed)
    if baseline:
        base = {r.task: r for r in results if r.method == baseline}
        for r in results:
            b = base.get(r.task)
            if r.method == baseline or b is None or None in (r.preds, r.golds, b.preds, b.golds):
                continue
            report.comparisons[(r.task, r.method)] = compare_predictions(b.golds, b.preds, r.preds, r.task,
                                                                         n_resamples, seed)
    return report


def load_run_dir(run_dir: str | Path) -> list[RunResult]:
    """The results of one run directory (see the module docstring for the layout)."""
    run = RunDir(run_dir)
    scores = run.read_scores()
    golds: dict[str, dict[str, str]] = {}
    for key, rel in (scores.get(GOLDS_KEY) or {}).items():
        task = get_task(key).name
        golds[task] = read_outputs_set(run.golds_path(rel), "golds", task)[task].outputs
    methods = {m: v for m, v in scores.items() if not m.startswith("_")}
    for method in run.predicted_methods():
        methods.setdefault(method, {})
    manifest_judge = _manifest_judge(run)
    results = []
    for method, per_task in methods.items():
        if not isinstance(per_task, dict):
            raise LampError(f"{run.scores}: method {method!r}: expected {{\"LaMP_1\": {{metric: value}}}}")
        tasks = {get_task(k).name: v for k, v in per_task.items()}
        for task in run.predicted_tasks(method):
            tasks.setdefault(task, None)
        for task, metrics in tasks.items():
            preds = run.read_predictions(method, task) if run.predictions(method, task).is_file() else None
            gold = golds.get(task)
            if metrics is None:
                if preds is None or gold is None:
                    continue
                metrics = score_task(task, gold, preds)
            judge = _judge_of(run, method, task, manifest_judge) if get_task(task).family == JUDGED_FAMILY else None
            results.append(RunResult(method, task, dict(metrics), gold if preds is not None else None, preds, judge))
    return results


#: The family whose scores an LLM judge gives (LaMP-QA), and where a run keeps each method's verdicts
#: (``lamp.pipeline.run_judge.judged_path``, which this layer cannot import).
JUDGED_FAMILY = "rubric-qa"
JUDGED_FOLDER = "judged"


def _judge_of(run: RunDir, method: str, task: str, fallback: dict[str, Any] | None) -> dict[str, Any] | None:
    """The judge recorded beside a method's verdicts on a task, else the run manifest's."""
    path = run.root / JUDGED_FOLDER / method / f"{get_task(task).file_name}.json"
    if path.is_file():
        try:
            judge = json.loads(path.read_text(encoding="utf-8")).get("judge")
        except (ValueError, AttributeError, OSError) as exc:
            raise LampError(f"{path}: not a judge score file ({exc}); rerun lamp judge or remove it") from None
        if isinstance(judge, dict) and judge.get("identity"):
            return judge
    return fallback


def _manifest_judge(run: RunDir) -> dict[str, Any] | None:
    if not run.manifest.is_file():
        return None
    try:
        judge = json.loads(run.manifest.read_text(encoding="utf-8")).get("judge")
    except (ValueError, AttributeError, OSError):
        return None
    return judge if isinstance(judge, dict) and judge.get("identity") else None


def load_run_dirs(run_dirs: list[str | Path]) -> list[RunResult]:
    """Results of several run directories; a method name found in two is suffixed with its run name."""
    per_dir = [(Path(d), load_run_dir(d)) for d in run_dirs]
    owners: dict[str, set[Path]] = {}
    for d, results in per_dir:
        for r in results:
            owners.setdefault(r.method, set()).add(d)
    out = []
    for d, results in per_dir:
        for r in results:
            if len(owners[r.method]) > 1:
                r.method = f"{r.method} ({d.resolve().name})"
            out.append(r)
    return out
