"""Tooling that lives beside the kit: benchmarks, the notebook runner, the book.

``import mifomo_lite`` never imports this package; the ``mifomo-lite`` command line loads it lazily
for the ``bench`` and ``notebooks`` sub-commands only.
"""
