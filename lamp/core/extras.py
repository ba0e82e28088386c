"""Optional dependencies: a feature that needs an extra says which one to install.

The core install (``pip install lamp-harness``) covers ranking, prompting, generation, training and
scoring. What only some users need is an extra (setup.cfg ``[options.extras_require]``):

* ``serve``: ``lamp serve`` (fastapi, uvicorn);
* ``scrub``: ``--scrub`` and ``lamp scrub`` (Presidio);
* ``plots``: the bar charts of ``lamp report --html`` (matplotlib);
* ``all``: every extra above; ``dev`` adds the test tools.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from lamp.core.errors import LampError


def require(module: str, extra: str, feature: str) -> ModuleType:
    """``module`` imported, or a :class:`LampError` naming the extra that provides it.

    >>> require("json", "serve", "lamp serve").__name__
    'json'
    >>> require("no_such_module_here", "serve", "lamp serve")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lamp.core.errors.LampError: lamp serve needs the 'serve' extra (...): pip install 'lamp-harness[serve]'
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:              # the module, or one it needs, is missing
        raise LampError(f"{feature} needs the {extra!r} extra ({exc.name or module} is not installed): "
                        f"pip install 'lamp-harness[{extra}]'") from None
