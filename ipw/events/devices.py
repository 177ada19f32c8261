"""How power devices nest, from their ids and ``device_seen`` metadata: the one rule that keeps
a RAPL package and its subdomains (or a meter and what it includes) from being counted twice.

A device nests inside another when its ``metadata["parent"]`` names it, when
the other lists it in ``metadata["includes"]``, or when it is a RAPL
subdomain (``core``, ``uncore``, ``pp0``, ``pp1``) of a package that is also
present. Only devices with no parent add up.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

__all__ = ["device_parents"]

_RAPL_SUBDOMAIN = re.compile(r"^rapl:(?:(?P<pkg>package-\d+)[:/.])?(?:core|uncore|pp0|pp1)(?:-(?P<idx>\d+))?$")


def device_parents(ids: Iterable[str], metadata: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, str]:
    """``{child: parent}`` among ``ids``; ``metadata`` is each device's ``device_seen.metadata``, where known."""
    ids = list(ids)
    meta_of = metadata or {}
    parents: dict[str, str] = {}
    for d in ids:
        parent = meta_of.get(d, {}).get("parent")
        if isinstance(parent, str) and parent in ids and parent != d:
            parents[d] = parent
            continue
        m = _RAPL_SUBDOMAIN.match(d)
        if m:
            package = f"rapl:{m['pkg'] or 'package-' + (m['idx'] or '0')}"
            if package in ids:
                parents[d] = package
    for d in ids:
        for child in meta_of.get(d, {}).get("includes") or ():
            if child in ids and child != d:
                parents.setdefault(child, d)
    return parents
