"""The one compiled part: BM25 scoring at C speed (retrievers/_bm25_c.c).

Metadata and dependencies live in setup.cfg. The extension is optional: where no C compiler or
Python headers exist, the build goes on without it and retrievers.bm25 uses its numpy path,
which gives the same scores to the bit.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("retrievers._bm25_c", ["retrievers/_bm25_c.c"], optional=True,
                             # No fused multiply-adds: every float operation must be rank_bm25's.
                             extra_compile_args=["-O2", "-ffp-contract=off"])])
