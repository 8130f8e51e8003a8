"""The workflow drawn as SVG in plain Python: no Graphviz binary, no script, no CDN.

One box per stage, in order, in the merchant's words (the stage's name and what it involves: "10% due before",
"visit on site", "e-voucher redeemed", "the consumer approves, up to 2 rework rounds"), then "Completed". With
live counts, each box is coloured by how many active orders sit in the stage and says which steps they wait at;
the count links to those orders. Only presentation attributes (no style attribute or element): the admin's
Content-Security-Policy allows no inline style."""

from __future__ import annotations

from collections.abc import Callable

from django.utils.html import escape
from django.utils.translation import gettext as _

from core import display
from workflows.models import StageDefinition, StageInstance

WIDTH, BOX_H, GAP, PAD = 720, 74, 26, 16
# Light to stronger blues, all readable with the dark text drawn on them (contrast above 4.5:1).
SHADES = ((0, "#f4f5f7"), (1, "#e0ecfb"), (3, "#c4dbf7"), (10, "#a6c8f2"))
TEXT, QUIET, LINE = "#1d2733", "#45505c", "#6b7785"


def stage_facts(stage: StageDefinition) -> str:
    """What the stage involves, in words."""
    facts = []
    # A fixed amount (a deposit) as money, a share as a percentage.
    share = (display.money(stage.payment_amount, stage.payment_currency) if stage.payment_amount
             else f"{stage.payment_share.normalize():f}%" if stage.payment_share else None)
    if share:
        facts.append(_("%(share)s due before") % {"share": share} if stage.payment_timing == "before"
                     else _("%(share)s due after") % {"share": share})
    if stage.requires_appointment:
        facts.append(_("visit on site"))
    if stage.requires_voucher:
        facts.append(_("e-voucher redeemed"))
    if stage.min_photos:
        facts.append(_("%(n)s photos") % {"n": stage.min_photos})
    if stage.requires_approval:
        facts.append(_("the consumer approves (up to %(n)s rework rounds)") % {"n": stage.max_rework_rounds})
    if stage.sla_hours:
        facts.append(_("within %(n)s h") % {"n": stage.sla_hours})
    return " · ".join(facts) or _("done by the store")


def _shade(count: int) -> str:
    fill = SHADES[0][1]
    for at_least, colour in SHADES:
        if count >= at_least:
            fill = colour
    return fill


def _waiting_words(by_state: dict[str, int]) -> str:
    parts = []
    for state, n in sorted(by_state.items(), key=lambda kv: -kv[1]):
        try:
            label = StageInstance.State(state).label
        except ValueError:
            label = state
        parts.append(f"{n} {str(label).lower()}")
    return ", ".join(parts)


def flow_svg(stages: list[StageDefinition], *, title: str = "", counts: dict[int, dict[str, int]] | None = None,
             link: Callable[[StageDefinition], str] | None = None) -> str:
    """The SVG text. `counts`: {stage definition id: {stage state: active orders}}; `link(stage)`: where the
    stage's count leads (its orders)."""
    stages = sorted(stages, key=lambda s: s.position)
    top = 40 if title else PAD
    height = top + (len(stages) + 1) * (BOX_H + GAP) + PAD
    role = "group" if link is not None else "img"  # an image cannot hold links (axe: nested-interactive)
    label = escape(title or _("Workflow"))  # (outside the f-string, where the catalogue's extractor sees it)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'viewBox="0 0 {WIDTH} {height}" role="{role}" aria-label="{label}" '
           f'font-family="sans-serif" class="stage-flow">']
    # The head points along the line (orient="auto" turns its x axis to the line's direction).
    out.append('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" '
               f'orient="auto"><path d="M0 0 L10 5 L0 10 z" fill="{LINE}"/></marker></defs>')
    if title:
        out.append(f'<text x="{PAD}" y="26" font-size="16" font-weight="bold" fill="{TEXT}">{escape(title)}</text>')
    y = top
    for i, stage in enumerate(stages):
        by_state = (counts or {}).get(stage.pk, {})
        live = sum(by_state.values())
        out.append(f'<g data-stage="{escape(stage.code)}" data-live="{live}">')
        out.append(f'<rect x="{PAD}" y="{y}" width="{WIDTH - 2 * PAD}" height="{BOX_H}" rx="8" '
                   f'fill="{_shade(live) if counts is not None else SHADES[0][1]}" stroke="{LINE}"/>')
        out.append(f'<text x="{PAD + 14}" y="{y + 24}" font-size="15" font-weight="bold" fill="{TEXT}">'
                   f'{i + 1}. {escape(stage.name)}</text>')
        out.append(f'<text x="{PAD + 14}" y="{y + 44}" font-size="12" fill="{QUIET}">'
                   f'{escape(stage_facts(stage))}</text>')
        if counts is not None:
            if live:
                out.append(f'<text x="{PAD + 14}" y="{y + 62}" font-size="12" fill="{TEXT}">'
                           f'{escape(_waiting_words(by_state))}</text>')
            badge = _("%(n)s live orders") % {"n": live} if live != 1 else _("1 live order")
            linked = bool(live) and link is not None
            underline = ' text-decoration="underline"' if linked else ""
            text = (f'<text x="{WIDTH - PAD - 14}" y="{y + 24}" font-size="13" text-anchor="end" fill="{TEXT}"'
                    f'{underline}>{escape(badge)}</text>')
            if linked:
                text = f'<a href="{escape(link(stage))}">{text}</a>'
            out.append(text)
        out.append("</g>")
        y += BOX_H
        out.append(f'<line x1="{WIDTH / 2}" y1="{y + 2}" x2="{WIDTH / 2}" y2="{y + GAP - 4}" stroke="{LINE}" '
                   f'stroke-width="2" marker-end="url(#arrow)"/>')
        y += GAP
    out.append(f'<rect x="{PAD}" y="{y}" width="{WIDTH - 2 * PAD}" height="{BOX_H - 30}" rx="8" fill="#e3f4e8" '
               f'stroke="{LINE}"/>')
    done = escape(_("Completed (the order can be cancelled at any open step)"))
    out.append(f'<text x="{WIDTH / 2}" y="{y + 28}" font-size="14" text-anchor="middle" fill="{TEXT}">{done}</text>')
    out.append("</svg>")
    return "\n".join(out)
