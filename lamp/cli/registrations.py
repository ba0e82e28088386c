"""The built-ins that live above the registries they enter, loaded in one place.

The registries sit low (backends in :mod:`lamp.generation.backends.base`, retrievers in
:mod:`retrievers.base`) and never name a higher layer; each higher package registers its own when
imported: ``uemb`` (a backend) by :mod:`lamp.methods.uemb`, ``oracle`` by :mod:`ropg`, ``rspg-pre``
by :mod:`rspg`, all lazily (nothing heavy is imported here). The ``lamp`` command and the official
scripts import this module, so every verb finds every name.
"""

from __future__ import annotations

import lamp.methods.uemb  # noqa: F401  (registers the `uemb` backend)
import ropg  # noqa: F401  (registers the `oracle` ranker)
import rspg  # noqa: F401  (registers the `rspg-pre` ranker)
