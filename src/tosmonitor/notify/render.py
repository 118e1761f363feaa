# SPDX-License-Identifier: Apache-2.0
"""Rendering: an alert event (or a digest of events) as a subject, plain text, HTML and Markdown.

Summary first: the subject and the first line say what happened ("[critical] LinkedIn Privacy Policy: AI
training now on by default (opt-out); EU/EEA/UK/CH excluded"). Then the stance before → after, each
finding with its old and new clause quoted, a short word-level diff excerpt, the URL, when it was seen and
how to see the full diff. A length ``budget`` (characters, for chat services) is met by shortening quotes,
dropping the excerpt, then whole findings ("… and N more findings"); text is never cut mid-word and
a message is never empty. HTML escapes everything: page text is untrusted.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..models import SEVERITIES

__all__ = ["Message", "render", "render_digest", "shorten", "subject_of"]


@dataclass(frozen=True)
class Message:
    """One rendered alert. ``text`` is always set; ``html`` and ``markdown`` may be None."""

    subject: str
    text: str
    html: str | None
    markdown: str | None


# -- helpers -------------------------------------------------------------------------------------------------


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, with "…" when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    if limit <= 1:
        return "…"[:limit]
    cut = text[: limit - 1]
    if text[limit - 1] != " " and " " in cut:
        cut = cut[: cut.rindex(" ")]
    elif " " not in cut and text[limit - 1] != " ":
        return "…"
    return cut.rstrip(" ,;:") + "…"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def _h(text: object) -> str:
    return html.escape(str(text), quote=True)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _stats_phrase(stats: dict[str, Any]) -> str:
    parts = []
    added = int(stats.get("sentences_added") or 0)
    removed = int(stats.get("sentences_removed") or 0)
    modified = int(stats.get("sentences_modified") or 0)
    if added:
        parts.append(f"{_plural(added, 'sentence')} added")
    if removed:
        parts.append(f"{removed} removed" if parts else f"{_plural(removed, 'sentence')} removed")
    if modified:
        parts.append(f"{modified} modified" if parts else f"{_plural(modified, 'sentence')} modified")
    return ", ".join(parts) or "text edited"


def _title(event: dict[str, Any]) -> str:
    return " ".join(str(p) for p in (event.get("service"), event.get("document")) if p) or str(
        event.get("document_id") or "tosmonitor"
    )


def subject_of(event: dict[str, Any]) -> str:
    """The one line that says it all, e.g. "[critical] LinkedIn Privacy Policy: <headline>"."""
    severity = event.get("severity") or "info"
    kind = event.get("kind")
    if kind == "change":
        if event.get("ai_training_change") and event.get("headline"):
            what = f"{_title(event)}: {event['headline']}"
        else:
            what = f"{_title(event)} changed: {_stats_phrase(event.get('stats') or {})}"
    elif kind == "health":
        state = event.get("state")
        if state == "failing":
            n = event.get("consecutive_failures") or 0
            what = f"{_title(event)}: checks failing ({_plural(int(n), 'failure')} in a row"
            what += f", {event['error_class']})" if event.get("error_class") else ")"
        elif state == "recovered":
            what = f"{_title(event)}: checks succeed again"
        else:
            what = f"{_title(event)}: no successful check since {event.get('last_success_at') or 'ever'}"
    else:
        what = str(event.get("headline") or "tosmonitor test message")
    return " ".join(f"[{severity}] {what}".split())


# -- blocks --------------------------------------------------------------------------------------------------


def _stance_words(stance: dict[str, Any] | None) -> str:
    if not stance:
        return "unknown"
    words = [str(stance.get("training") or "none")]
    details = []
    for label, key in (("excluded", "excluded_regions"), ("parties", "parties"), ("data", "categories")):
        values = stance.get(key) or []
        if values:
            details.append(f"{label}: {', '.join(str(v) for v in values)}")
    if stance.get("retroactive_opt_out") is True:
        details.append("opt-out covers past training")
    if details:
        words.append(f"({'; '.join(details)})")
    return " ".join(words)


@dataclass(frozen=True)
class _Finding:
    severity: str
    summary: str
    old: str | None
    new: str | None


def _findings(event: dict[str, Any]) -> list[_Finding]:
    out = []
    for f in event.get("findings") or []:
        out.append(
            _Finding(
                severity=str(f.get("severity") or "info"),
                summary=" ".join(str(f.get("summary") or f.get("rule") or "").split()),
                old=f.get("old"),
                new=f.get("new"),
            )
        )
    return out


def _quote(text: str | None, limit: int | None) -> str:
    if text is None:
        return "(none)"
    body = " ".join(str(text).split())
    if limit is not None:
        body = shorten(body, limit)
    return f"“{body}”"


@dataclass(frozen=True)
class _Shape:
    """How much of an event to show: quote length limit, excerpt shown, number of findings shown."""

    quote_limit: int | None
    excerpt: bool
    findings: int


def _tail_lines(event: dict[str, Any], web_base_url: str | None) -> list[tuple[str, str]]:
    """(label, value) lines at the end: URL, seen at, full diff."""
    lines = []
    if event.get("url"):
        lines.append(("Document", str(event["url"])))
    if event.get("detected_at"):
        lines.append(("Seen", str(event["detected_at"])))
    links = event.get("links") or {}
    web = links.get("web")
    if not web and web_base_url and event.get("change_id") is not None:
        web = f"{web_base_url.rstrip('/')}/changes/{event['change_id']}"
    if web:
        lines.append(("Full diff", str(web)))
    if links.get("cli"):
        lines.append(("Full diff (CLI)", str(links["cli"])))
    return lines


def _change_parts(event: dict[str, Any], shape: _Shape, web_base_url: str | None) -> tuple[str, str, str]:
    subject = subject_of(event)
    findings = _findings(event)
    shown = findings[: shape.findings]
    more = len(findings) - len(shown)
    text = [subject, ""]
    md = [f"**{_md(subject)}**", ""]
    ht = [f"<p><strong>{_h(subject)}</strong></p>"]
    if event.get("stance_before") or event.get("stance_after"):
        line = (
            f"AI training: {_stance_words(event.get('stance_before'))} → "
            f"{_stance_words(event.get('stance_after'))}"
        )
        text += [line, ""]
        md += [_md(line), ""]
        ht.append(f"<p>{_h(line)}</p>")
    if shown:
        ht.append("<ul>")
    for f in shown:
        old, new = _quote(f.old, shape.quote_limit), _quote(f.new, shape.quote_limit)
        text += [f"- [{f.severity}] {f.summary}", f"  before: {old}", f"  after: {new}"]
        md += [
            f"- **{_md(f.severity)}** {_md(f.summary)}",
            f"  - before: {_md(old)}",
            f"  - after: {_md(new)}",
        ]
        ht.append(
            f"<li><strong>[{_h(f.severity)}]</strong> {_h(f.summary)}<br>before: <q>{_h(old[1:-1])}</q>"
            f"<br>after: <q>{_h(new[1:-1])}</q></li>"
            if f.old is not None and f.new is not None
            else f"<li><strong>[{_h(f.severity)}]</strong> {_h(f.summary)}<br>before: {_h(old)}"
            f"<br>after: {_h(new)}</li>"
        )
    if shown:
        ht.append("</ul>")
    if more:
        line = f"… and {_plural(more, 'more finding')}"
        text.append(line)
        md.append(_md(line))
        ht.append(f"<p>{_h(line)}</p>")
    if shown or more:
        text.append("")
        md.append("")
    excerpt = " ".join(str(event.get("diff_excerpt") or "").split())
    if shape.excerpt and excerpt:
        limit = shape.quote_limit * 2 if shape.quote_limit else 600
        excerpt = shorten(excerpt, limit)
        text += [f"Diff: {excerpt}", ""]
        safe = excerpt.replace("`", "'")
        md += [f"Diff: `{safe}`", ""]
        ht.append(f"<p>Diff: <code>{_h(excerpt)}</code></p>")
    return _finish(event, subject, text, md, ht, web_base_url)


def _finish(
    event: dict[str, Any],
    subject: str,
    text: list[str],
    md: list[str],
    ht: list[str],
    web_base_url: str | None,
) -> tuple[str, str, str]:
    tail = _tail_lines(event, web_base_url)
    for label, value in tail:
        text.append(f"{label}: {value}")
        md.append(f"{_md(label)}: {value if label.startswith('Full diff') else _md(value)}")
    if tail:
        ht.append(
            "<p>"
            + "<br>".join(
                f'{_h(label)}: <a href="{_h(value)}">{_h(value)}</a>'
                if value.startswith(("http://", "https://"))
                else f"{_h(label)}: <code>{_h(value)}</code>"
                for label, value in tail
            )
            + "</p>"
        )
    return "\n".join(text).strip(), "\n".join(md).strip(), "\n".join(ht)


def _health_parts(event: dict[str, Any], web_base_url: str | None) -> tuple[str, str, str]:
    subject = subject_of(event)
    text = [subject, ""]
    md = [f"**{_md(subject)}**", ""]
    ht = [f"<p><strong>{_h(subject)}</strong></p>"]
    for label, key in (
        ("Error", "error"),
        ("Error class", "error_class"),
        ("Hint", "hint"),
        ("Last success", "last_success_at"),
    ):
        value = event.get(key)
        if value:
            value = " ".join(str(value).split())
            text.append(f"{label}: {value}")
            md.append(f"{_md(label)}: {_md(value)}")
            ht.append(f"<p>{_h(label)}: {_h(value)}</p>")
    text.append("")
    md.append("")
    return _finish(event, subject, text, md, ht, web_base_url)


def _fit(text: str, budget: int) -> str:
    """Last resort: whole lines while they fit, the first line shortened at a word boundary."""
    lines = text.split("\n")
    kept: list[str] = []
    for line in lines:
        candidate = "\n".join([*kept, line])
        if len(candidate) > budget:
            break
        kept.append(line)
    if not kept:
        return shorten(lines[0], budget)
    return "\n".join(kept).strip()


def render(event: dict[str, Any], *, budget: int | None = None, web_base_url: str | None = None) -> Message:
    """Render one event. With ``budget``, ``text`` and ``markdown`` hold at most that many characters."""
    subject = subject_of(event)
    if event.get("kind") == "change":
        n = len(event.get("findings") or [])
        shapes = [_Shape(None, True, n)]
        if budget is not None:
            shapes += [_Shape(400, True, n), _Shape(160, True, n), _Shape(160, False, n)]
            shapes += [_Shape(160, False, k) for k in range(n - 1, -1, -1)]
        for shape in shapes:
            text, md, ht = _change_parts(event, shape, web_base_url)
            if budget is None or (len(text) <= budget and len(md) <= budget):
                return Message(subject, text, ht, md)
    elif event.get("kind") == "health":
        text, md, ht = _health_parts(event, web_base_url)
    else:
        text = subject
        md = f"**{_md(subject)}**"
        ht = f"<p><strong>{_h(subject)}</strong></p>"
        if event.get("detected_at"):
            text += f"\n\nSent: {event['detected_at']}"
            md += f"\n\nSent: {_md(str(event['detected_at']))}"
    if budget is not None:
        text, md = _fit(text, budget), _fit(md, budget)
    return Message(subject, text, ht, md)


def render_digest(events: Sequence[dict[str, Any]], *, budget: int | None = None) -> Message:
    """One message for several events: a count in the subject, one summary line per event.

    With ``budget``, whole event lines are kept while they fit, then "… and N more alerts".
    """
    if not events:
        raise ValueError("a digest needs at least one event")
    top = max(events, key=lambda e: _rank(str(e.get("severity") or "info")))
    subject = (
        f"[{top.get('severity') or 'info'}] tosmonitor: {_plural(len(events), 'alert')}"
        f" — {shorten(subject_of(top).split('] ', 1)[-1], 120)}"
        if len(events) > 1
        else subject_of(events[0])
    )
    entries = []
    for event in events:
        line = subject_of(event)
        where = event.get("url") or ""
        cli = (event.get("links") or {}).get("cli")
        entries.append((line, where, cli))
    text_lines, md_lines, html_items = [subject, ""], [f"**{_md(subject)}**", ""], []
    used = len("\n".join(text_lines))
    for index, (line, where, cli) in enumerate(entries):
        block = [f"- {line}"] + ([f"  {where}"] if where else []) + ([f"  {cli}"] if cli else [])
        block_text = "\n".join(block)
        remaining = len(entries) - index - 1
        reserve = len(f"\n… and {_plural(remaining + 1, 'more alert')}") if remaining else 0
        if budget is not None and used + 1 + len(block_text) + reserve > budget:
            more = f"… and {_plural(len(entries) - index, 'more alert')}"
            text_lines.append(more)
            md_lines.append(_md(more))
            html_items.append(f"<li>{_h(more)}</li>")
            break
        text_lines += block
        md_lines += [f"- {_md(line)}"] + ([f"  {where}"] if where else []) + ([f"  `{cli}`"] if cli else [])
        html_items.append(
            f"<li>{_h(line)}"
            + (f'<br><a href="{_h(where)}">{_h(where)}</a>' if where else "")
            + (f"<br><code>{_h(cli)}</code>" if cli else "")
            + "</li>"
        )
        used += 1 + len(block_text)
    text, md = "\n".join(text_lines).strip(), "\n".join(md_lines).strip()
    if budget is not None:
        text, md = _fit(text, budget), _fit(md, budget)
    ht = f"<p><strong>{_h(subject)}</strong></p>\n<ul>\n" + "\n".join(html_items) + "\n</ul>"
    return Message(subject, text, ht, md)


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0
