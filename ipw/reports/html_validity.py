"""The validity section of a run's HTML report: the verdict, then each check with what it measured.

The checks are the summary's ``validity`` block (:mod:`ipw.analyses.validity`);
a failed check's row and a run that is not valid carry ``class="invalid"``.
"""

from __future__ import annotations

from typing import Any

from . import html_page as h

__all__ = ["validity_section"]

_VERDICT = {True: "valid: every check passed", False: "NOT VALID", None: "validity unknown"}


def _threshold(check: dict[str, Any]) -> str:
    t, unit = check.get("threshold"), check.get("unit")
    if isinstance(t, dict):  # power_in_range: idle baseline to TDP
        return f"{h.number_text(t.get('min_w'), unit)} to {h.number_text(t.get('max_w'), unit)}"
    return "" if t is None else f"at least {h.number_text(t, unit)}"


def validity_section(validity: dict[str, Any] | None) -> str:
    """The section, or nothing for a summary without a validity block."""
    if not validity:
        return ""
    rows = []
    for c in validity["checks"]:
        name = c["check"] + (f"[{c['device']}]" if c.get("device") else "")
        flag = ' class="invalid"' if c["status"] == "fail" else ""
        rows.append(f'<td{flag} data-check="{h.esc(name)}" data-status="{h.esc(c["status"])}">{h.esc(name)}</td>'
                    f"<td{flag}>{h.esc(c['status'])}</td>"
                    + h.value_cell(c.get("value"), unit=c.get("unit"))
                    + f"<td>{h.esc(_threshold(c))}</td><td>{h.esc(c.get('reason') or '')}</td>")
    verdict = _VERDICT[validity["valid"]]
    if validity["failures"]:
        verdict += ": failed " + ", ".join(validity["failures"])
    elif validity["unknown"]:
        verdict += ": could not evaluate " + ", ".join(validity["unknown"])
    css = ' class="invalid"' if validity["valid"] is False else ""
    head = f'<p{css} data-valid="{h.esc(h.data_value(validity["valid"]))}">{h.esc(verdict)}</p>'
    return h.section("Validity", head + h.table(["Check", "Status", "Measured", "Threshold", "Why"], rows,
                                                table_id="validity"), section_id="validity-section")
