"""ipw — Intelligence Per Watt: correct answers per joule, measured and replayable."""

from __future__ import annotations

__version__ = "1.0.0"

__all__ = ["__version__"]
