"""The official ``rank_profiles.py`` command line (same flags, same defaults), over :mod:`retrievers.cli`.

Works for every task, LaMP-2 included (the official script crashes there, reference §2.2). As
officially, ``--ranker`` is required and ``--ranker contriever`` ranks with ``facebook/contriever``
(``--contriever_checkpoint``); offline without it in the Hugging Face cache, the script stops and
says so (``--contriever_checkpoint all-MiniLM-L6-v2`` picks the bundled encoder, whose numbers
differ from the paper's). ``lamp rank`` keeps the bundled encoder as its default.
"""

import os
import sys

if __package__ in (None, ""):  # run as a script: the repository in place of this folder (which shadows packages)
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from lamp.cli.official import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("rank_profiles.py"))
