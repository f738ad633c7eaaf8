"""The one error chapter 01's modules raise for a problem the reader can fix.

It lives alone, below ``sources``, ``splits`` and ``downloads``, so that each of them can
raise it without importing the others.
"""

from __future__ import annotations

__all__ = ["DataError"]


class DataError(ValueError):
    """A data problem the reader can fix: always one sentence naming the thing and the way out."""
