"""How long the runner waits before it retries a failed query."""

from __future__ import annotations

import random

__all__ = ["RETRY_AFTER_CAP_S", "retry_delay_s"]

# a server asking for minutes would stall the run with no sign of life; past this, retry anyway
RETRY_AFTER_CAP_S = 60.0


def retry_delay_s(exc: BaseException, attempt: int, backoff_s: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before attempt ``attempt + 1``.

    The server's ``Retry-After`` when the error carries one (capped at
    :data:`RETRY_AFTER_CAP_S`); otherwise exponential backoff from
    ``backoff_s`` with jitter between half and one and a half of the step.
    """
    asked = getattr(exc, "retry_after_s", None)
    if isinstance(asked, (int, float)) and not isinstance(asked, bool) and asked >= 0:
        return min(float(asked), RETRY_AFTER_CAP_S)
    return backoff_s * (2 ** (attempt - 1)) * (0.5 + (rng or random).random())
