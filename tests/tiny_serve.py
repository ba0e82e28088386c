"""What the serving tests share: two users' profiles, the LaMP-3 prompt prefix, and a 2-layer random
Llama with a word-level tokenizer (and a chat template) over exactly their words."""

from __future__ import annotations

from tiny_models import save_small_llama, word_tokenizer

LAMP3 = ("What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5 "
         "without further explanation. review: ")
WORDS = ("great kit works well broke fast after a week lovely book for kids battery charger died cable "
         "is the score for and . What of following review on scale 1 to 5? just answer with 1, 2, 3, 4, "
         "or 5 without further explanation. review: tag movie title").split()
USER_A = [{"id": "a1", "text": "great kit works well", "score": "5", "date": "2020-01-01"},
          {"id": "a2", "text": "broke fast after a week", "score": "1", "date": "2020-02-01"},
          {"id": "a3", "text": "lovely book for kids", "score": "4", "date": "2020-03-01"}]
USER_B = [{"id": "b1", "text": "battery charger died", "score": "2"},
          {"id": "b2", "text": "cable broke fast after a week battery", "score": "3"}]


def build_tiny_causal_lm(folder) -> str:
    """A 2-layer random Llama with a word-level tokenizer (and a chat template), saved to ``folder``."""
    return str(save_small_llama(folder, word_tokenizer([" ".join(WORDS)], chat=True), hidden=32, layers=2))
