"""Auto-checked exercises for the notebooks.

In a notebook::

    from mifomo_lite.exercises import check
    check("00.1", nearest_band)      # prints ✓ or ✗ with a hint, returns True/False

Each notebook's exercises live in ``nbNN_topic.py`` in this package; ``list_exercises("00")``
shows them. Checkers compare with a reference computed privately (often on fresh random inputs)
and never print it.
"""

from .core import (
    Exercise,
    Fail,
    UnknownExercise,
    check,
    get,
    list_exercises,
    reset_results,
    results,
    score,
)

__all__ = ["Exercise", "Fail", "UnknownExercise", "check", "get", "list_exercises", "results",
           "reset_results", "score"]
