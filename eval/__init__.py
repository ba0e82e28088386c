"""Evaluation: the official LaMP metrics, eval_task / eval_all, significance tests and reports."""
