"""The frame of an HTML report: one self-contained page, and the small pieces every section is built from.

Nothing here fetches anything: the CSS and the sorting script are inline, and
figures are ``data:`` URIs, so the file opens from an email attachment with no
network. Every number is written twice: as text for people and as a
``data-value`` attribute holding its exact JSON value, so a test (or a script)
can check the page against the analyses without parsing formatted text.

Every table sits in a box that scrolls sideways on its own (``.table-scroll``),
so a wide table never widens the page; a metric's label cell or heading
carries ``data-label-of`` (the metric's key) and a figure carries its axis
labels in ``data-axis-labels``, so a test can check that people read words
with units.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any, Iterable

from ._plotting import axis_labels_of

__all__ = ["page", "esc", "number_text", "metric_cell", "value_cell", "label_cell", "table", "figure", "badge", "section",
           "notes", "data_value"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1180px;
     padding:24px;color:#1d2330;background:#fff}
h1,p,figcaption,.note{overflow-wrap:anywhere}
.table-scroll{max-width:100%;overflow-x:auto;margin:6px 0 12px}
.table-scroll>table{margin:0}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde;padding-bottom:4px}
.sub{color:#5a6275;margin:0 0 14px}
table{border-collapse:collapse;margin:6px 0 12px;font-variant-numeric:tabular-nums}
th,td{padding:4px 9px;border-bottom:1px solid #eceef3;text-align:left;vertical-align:top}
th{background:#f5f6fa;font-weight:600;white-space:nowrap}
td.num{text-align:right;white-space:nowrap}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th[aria-sort=ascending]::after{content:" \\25B2"}
table.sortable th[aria-sort=descending]::after{content:" \\25BC"}
.prov{display:inline-block;font-size:11px;border-radius:9px;padding:0 7px;margin-left:6px;color:#fff;
      vertical-align:1px}
.prov-measured{background:#2f7d4f}.prov-derived{background:#3d63b8}.prov-estimated{background:#b8752d}
.prov-imported{background:#7a4fb0}.prov-counted{background:#6b7280}.prov-none{background:#c9ccd4}
.ok{color:#2f7d4f;font-weight:600}.bad{color:#b03030;font-weight:600}.na{color:#8a90a0}
.answer{max-width:420px;overflow-wrap:anywhere;font-family:ui-monospace,Menlo,monospace;font-size:12px}
.note{background:#fff8e6;border-left:3px solid #e0a800;padding:4px 10px;margin:4px 0}
figure{margin:8px 0 16px}figure img{max-width:100%;border:1px solid #eceef3}
figcaption{color:#5a6275;font-size:12px}
.front{font-weight:600}.invalid{background:#fde8e8;color:#8a1c1c;font-weight:600}td[data-field=cell]{white-space:nowrap}
footer{margin-top:32px;color:#8a90a0;font-size:12px}
"""

# Sorts a table by the clicked column, numerically when every cell has a numeric data-sort.
# A link can ask for a sorted table: report.html#sort=<table id>,<column index>,<asc|desc>.
_JS = """
function ipwSort(t,i,asc){
  var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows),th=t.tHead.rows[0].cells[i];
  t.querySelectorAll('th').forEach(function(h){h.removeAttribute('aria-sort')});
  th.setAttribute('aria-sort',asc?'ascending':'descending');
  function key(r){var c=r.cells[i];var v=c.getAttribute('data-sort');return v===null?c.textContent:v}
  var numeric=rows.every(function(r){var k=key(r);return k===''||!isNaN(parseFloat(k))});
  rows.sort(function(a,b){
    var x=key(a),y=key(b);
    if(numeric){x=x===''?-Infinity:parseFloat(x);y=y===''?-Infinity:parseFloat(y);return asc?x-y:y-x}
    return asc?x.localeCompare(y):y.localeCompare(x)});
  rows.forEach(function(r){body.appendChild(r)});
}
document.querySelectorAll('table.sortable').forEach(function(t){
  t.querySelectorAll('th').forEach(function(th,i){
    th.addEventListener('click',function(){ipwSort(t,i,th.getAttribute('aria-sort')!=='ascending')});
  });
});
var ipwHash=/^#sort=([\\w-]+),(\\d+),(asc|desc)$/.exec(location.hash);
if(ipwHash){var ipwT=document.getElementById(ipwHash[1]);
  if(ipwT&&ipwT.classList.contains('sortable'))ipwSort(ipwT,+ipwHash[2],ipwHash[3]==='asc');}
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def number_text(value: Any, unit: str | None = None) -> str:
    """A value as people read it: 4 significant digits, a dash for none."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        text = f"{value:,}"
    elif isinstance(value, float):
        text = f"{value:.4g}"
    else:
        text = str(value)
    return f"{text} {unit}" if unit else text


def data_value(value: Any) -> str:
    return "" if value is None else json.dumps(value)


def badge(provenance: str | None) -> str:
    """The provenance badge: measured, derived, estimated, imported, counted, or none."""
    name = provenance or "none"
    return f'<span class="prov prov-{esc(name)}" data-provenance="{esc(name)}">{esc(name)}</span>'


def metric_cell(name: str, metric: dict[str, Any], *, scope: str = "") -> str:
    """A ``<td>`` for a summary metric ``{value, unit, provenance}``, with its badge."""
    value = metric.get("value")
    attrs = f'data-metric="{esc(name)}" data-value="{esc(data_value(value))}"'
    if scope:
        attrs += f' data-scope="{esc(scope)}"'
    text = number_text(value, metric.get("unit"))
    if value is not None and metric.get("bound") is not None:  # the sensor model's bound (ipw.analyses.energy)
        text += f" ± {metric['bound']:.2g}" + (" (bound over 5 %)" if metric.get("uncertain") else "")
    elif value is None and metric.get("not_measured"):
        text = metric["not_measured"]
    return (f'<td class="num" {attrs} data-sort="{esc(data_value(value))}">'
            f"{esc(text)}{badge(metric.get('provenance'))}</td>")


def value_cell(value: Any, *, field: str | None = None, unit: str | None = None, text: str | None = None,
               css: str = "num") -> str:
    """A ``<td>`` holding one value, sortable by it."""
    data = data_value(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
    attrs = f' data-field="{esc(field)}"' if field else ""
    if data:
        attrs += f' data-value="{esc(data)}"'
    shown = number_text(value, unit) if text is None else text
    return f'<td class="{css}"{attrs} data-sort="{esc(data if data else shown)}">{esc(shown)}</td>'


def label_cell(key: str, text: str) -> str:
    """A ``<td>`` naming a metric: its label as people read it, its key in ``data-label-of``."""
    return f'<td data-label-of="{esc(key)}">{esc(text)}</td>'


def table(headers: Iterable[str | tuple[str, str]], rows: Iterable[str], *, sortable: bool = False,
          table_id: str | None = None) -> str:
    """A table from headers and rows already rendered as ``<td>…`` strings, in a box that scrolls sideways.

    A header is its label, or (label, metric key) for a metric's column.
    """
    cls = ' class="sortable"' if sortable else ""
    ident = f' id="{esc(table_id)}"' if table_id else ""
    head = "".join(f"<th>{esc(h)}</th>" if isinstance(h, str) else f'<th data-label-of="{esc(h[1])}">{esc(h[0])}</th>'
                   for h in headers)
    body = "".join(f"<tr>{r}</tr>" for r in rows)
    return (f'<div class="table-scroll"><table{cls}{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
            "</table></div>")


def figure(png: Path | bytes, caption: str, *, figure_id: str | None = None) -> str:
    """A PNG embedded as a data URI, with a caption."""
    data = png if isinstance(png, bytes) else Path(png).read_bytes()
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    ident = f' id="{esc(figure_id)}"' if figure_id else ""
    labels = axis_labels_of(data)
    if labels is not None:
        ident += f' data-axis-labels="{esc(json.dumps(labels))}"'
    return f'<figure{ident}><img alt="{esc(caption)}" src="{uri}"><figcaption>{esc(caption)}</figcaption></figure>'


def section(title: str, body: str, *, section_id: str | None = None) -> str:
    ident = f' id="{esc(section_id)}"' if section_id else ""
    return f"<section{ident}><h2>{esc(title)}</h2>{body}</section>"


def notes(lines: Iterable[str]) -> str:
    return "".join(f'<p class="note">{esc(n)}</p>' for n in lines)


def page(title: str, subtitle: str, body: str, *, kind: str, generator: str) -> str:
    """The whole document; ``kind`` (run, diff, study) is on ``<body data-report>``."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{esc(title)}</title><style>{_CSS}</style></head>"
        f'<body data-report="{esc(kind)}"><h1>{esc(title)}</h1><p class="sub">{esc(subtitle)}</p>{body}'
        f"<footer>{esc(generator)} · every number is a replay of the run's ledger</footer>"
        f"<script>{_JS}</script></body></html>\n"
    )
