"""The status page: one self-contained HTML document (inline CSS and SVG, no
external asset, works offline).

Per campaign: a progress bar (dialed of the contacts in the files), answered
and connect rate, an outcome chart and an intention chart. The receiver
serves it live at ``/``: a small inline script fetches ``/?fragment=1``
every few seconds and swaps the campaigns in, so the numbers refresh without
a reload. ``campaignctl status --html FILE`` writes a static copy that
reloads itself (``<meta http-equiv="refresh">``) for ``--watch``. No phone
number ever appears: only names and counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from reconciler.results.status import CampaignStatus, StatusReport, forecast_text

__all__ = ["render_campaigns", "render_page"]

COLORS = ("#2f7ed8", "#8bbc21", "#f28f43", "#910000", "#1aadce", "#492970", "#77a1e5", "#c42525", "#a6c96a",
          "#0d233a")
REFRESH_S = 3

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC",sans-serif;margin:1.5rem;color:#222;
background:#fafafa}
h1{font-size:1.4rem;margin:0 0 .2rem}
.meta{color:#666;font-size:.85rem;margin-bottom:1rem}
.campaign{background:#fff;border:1px solid #ddd;border-radius:6px;padding:1rem;margin-bottom:1rem}
.campaign h2{font-size:1.1rem;margin:0 0 .5rem}
.tag{display:inline-block;font-size:.75rem;background:#eee;border-radius:3px;padding:0 .4rem;margin-left:.4rem;
color:#444}
.bar{background:#e6e6e6;border-radius:4px;height:18px;overflow:hidden;margin:.4rem 0}
.bar>div{background:#2f7ed8;height:100%}
.nums{display:flex;flex-wrap:wrap;gap:1.5rem;margin:.5rem 0}
.num b{display:block;font-size:1.3rem}
.num span{color:#666;font-size:.8rem}
.charts{display:flex;flex-wrap:wrap;gap:2rem}
.chart h3{font-size:.9rem;margin:.5rem 0 .2rem;color:#444}
.warn{color:#a15c00}
.empty{color:#888;font-size:.85rem}
"""

SCRIPT = """
(function(){
  var busy=false;
  function refresh(){
    if(busy){return;} busy=true;
    fetch('?fragment=1',{cache:'no-store'}).then(function(r){return r.ok?r.text():null;}).then(function(t){
      if(t!==null){document.getElementById('campaigns').innerHTML=t;}
    }).catch(function(){}).then(function(){busy=false;});
  }
  setInterval(refresh, %d);
})();
"""


def _pct(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def _chart(title: str, counts: Mapping[str, int], kind: str) -> str:
    if not counts:
        return (f'<div class="chart" data-chart="{kind}"><h3>{escape(title)}</h3>'
                '<div class="empty">no results yet</div></div>')
    total = sum(counts.values()) or 1
    width, row_h, label_w = 360, 20, 150
    height = row_h * len(counts) + 4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(title)}">']
    for i, (label, count) in enumerate(counts.items()):
        y = i * row_h + 2
        bar = max(1.0, (width - label_w - 60) * count / total)
        color = COLORS[i % len(COLORS)]
        parts.append(
            f'<g data-label="{escape(label)}" data-count="{count}">'
            f'<text x="0" y="{y + 14}" font-size="12">{escape(label[:22])}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{bar:.1f}" height="{row_h - 6}" fill="{color}"/>'
            f'<text x="{label_w + bar + 4:.1f}" y="{y + 14}" font-size="12">{count}</text></g>')
    parts.append("</svg>")
    return f'<div class="chart" data-chart="{kind}"><h3>{escape(title)}</h3>{"".join(parts)}</div>'


def _campaign(c: CampaignStatus) -> str:
    dialed_pct = min(100.0, _pct(c.dialed, c.contacts))
    rate = c.connect_rate
    rate_text = f"{rate * 100:.1f}%" if rate is not None else "–"
    remaining = "–" if c.remaining is None else str(c.remaining)
    warn = f'<div class="warn">{escape(c.error)}</div>' if c.error else ""
    if c.forecast is not None:
        late = c.forecast.behind > 0 or (c.forecast.remaining is not None and c.forecast.remaining.late)
        warn += (f'<div class="{"warn" if late else "meta"}" data-field="forecast">'
                 f'{escape(forecast_text(c.forecast))}</div>')
    nums = [
        ("contacts", str(c.contacts), "contacts in the files"),
        ("sent", str(c.sent), "sent"),
        ("dialed", str(c.dialed), "dialed"),
        ("answered", str(c.answered), "answered"),
        ("rate", rate_text, "connect rate"),
        ("remaining", remaining, "remaining"),
    ]
    num_html = "".join(f'<div class="num"><b data-field="{key}">{escape(value)}</b><span>{label}</span></div>'
                       for key, value, label in nums)
    return (
        f'<section class="campaign" data-campaign="{escape(c.name)}">'
        f'<h2>{escape(c.name)}<span class="tag">{escape(c.profile)}</span><span class="tag">{escape(c.phase)}</span>'
        f'<span class="tag">desired: {escape(c.desired)}</span></h2>{warn}'
        f'<div class="bar" title="dialed {c.dialed} of {c.contacts}"><div style="width:{dialed_pct:.1f}%"></div>'
        f'</div><div class="nums">{num_html}</div>'
        f'<div class="charts">{_chart("Outcomes", c.outcomes, "outcomes")}'
        f'{_chart("Intentions", c.intentions, "intentions")}</div></section>'
    )


def render_campaigns(report: StatusReport) -> str:
    """The part the live page swaps in on every refresh."""
    body = "".join(_campaign(c) for c in report.campaigns) or '<div class="empty">no campaigns in the files</div>'
    unmatched = (f'<div class="warn" data-field="unmatched">{report.unmatched} result push(es) matched no '
                 'contact row (kept; see `campaignctl results export`)</div>') if report.unmatched else ""
    return f'<div class="meta">updated {escape(report.generated_at)}</div>{unmatched}{body}'


def render_page(report: StatusReport, *, live: bool, reload_s: int | None = None) -> str:
    """The whole document; ``live`` adds the refresh script, ``reload_s`` a meta refresh (static files)."""
    head_refresh = f'<meta http-equiv="refresh" content="{int(reload_s)}">' if reload_s else ""
    script = f"<script>{SCRIPT % (REFRESH_S * 1000)}</script>" if live else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta name="viewport" content="width=device-width, initial-scale=1">{head_refresh}'
        f"<title>campaignctl status</title><style>{CSS}</style></head><body>"
        f"<h1>campaignctl status</h1><div id=\"campaigns\">{render_campaigns(report)}</div>{script}"
        "</body></html>\n"
    )
