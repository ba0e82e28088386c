"""Peak memory and time of loading a large LaMP questions file: our streaming loader vs ``json.load``.

Generates a LaMP-4-shaped file of ``--mb`` megabytes in a temp folder, then loads it in fresh
subprocesses and prints a table (peak RSS from ``getrusage``, which includes the interpreter).

    python bench/bench_load.py --mb 200
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

WORDS = ("market policy vote team season match profit growth study health energy climate city school "
         "court river bank space film music travel food art data model network theory").split()


def make_file(path: Path, megabytes: int, seed: int = 0) -> int:
    """Write a LaMP-4-like questions file of about ``megabytes`` MB; returns the question count."""
    rng = random.Random(seed)
    target = megabytes * 1_000_000
    written, n = 0, 0
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("[")
        while written < target:
            profile = [{"id": f"{n}{j}", "title": " ".join(rng.choices(WORDS, k=8)),
                        "text": " ".join(rng.choices(WORDS, k=120)), "date": f"20{rng.randint(10, 23)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"}
                       for j in range(rng.randint(10, 300))]
            q = {"id": str(n), "input": "Generate a headline for the following article: " + " ".join(rng.choices(WORDS, k=100)),
                 "profile": profile, "user_id": str(n // 3)}
            chunk = ("," if n else "") + json.dumps(q)
            fh.write(chunk)
            written += len(chunk)
            n += 1
        fh.write("]")
    return n


LOADERS = {
    "json.load (dicts)": "import json; data = json.load(open(P)); n = len(data)",
    "lamp load_questions": "from lamp.core.questions import load_questions; data = load_questions(P); n = len(data)",
    "lamp iter_questions (streamed)": "from lamp.core.questions import iter_questions\nn = 0\nfor q in iter_questions(P): n += 1",
}


def measure(code: str, path: Path) -> tuple[float, float]:
    script = (f"import resource, time; P = {str(path)!r}; t = time.perf_counter()\n{code}\n"
              "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train_questions.json"
        n = make_file(path, args.mb)
        size = path.stat().st_size / 1e6
        base = measure("n = 0", path)[1]
        print(f"file: {size:.0f} MB, {n} questions; empty interpreter peak RSS {base:.0f} MB\n")
        print(f"{'loader':32} {'seconds':>8} {'peak RSS MB':>12} {'x file size':>12}")
        for name, code in LOADERS.items():
            secs, rss = measure(code, path)
            print(f"{name:32} {secs:8.1f} {rss:12.0f} {rss / size:12.2f}")


if __name__ == "__main__":
    main()
