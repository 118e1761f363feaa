# SPDX-License-Identifier: Apache-2.0
"""The AI-training stance of each document over time, and the dates it changed.

:func:`build_timelines` reads the archive's versions (their stored stance: ``none``, ``never``, ``opt-in``,
``opt-out``, ``no-choice``) and folds consecutive versions with the same stance into periods; each change of
stance is a :class:`Transition` with the clause that shows the new stance (the evidence). Renderers: a text
table, CSV (one row per period), JSON, and a PNG chart (one lane per document, coloured by stance) drawn with
matplotlib, an optional dependency (``pip install 'tosmonitor[charts]'``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .archive import Archive, iter_rows
from .clock import parse_iso
from .errors import InputError

__all__ = [
    "STANCE_COLOURS",
    "DocumentTimeline",
    "Period",
    "Transition",
    "build_timelines",
    "render_csv",
    "render_json",
    "render_png",
    "render_table",
]

STANCE_COLOURS = {
    "none": "#d9d9d9",
    "never": "#1a9850",
    "opt-in": "#91cf60",
    "opt-out": "#fc8d59",
    "no-choice": "#d73027",
    "unknown": "#ffffff",
}


@dataclass(frozen=True)
class Period:
    """A stretch of time over which a document kept one stance."""

    stance: str
    start: str  # first seen of the first version with this stance (ISO, UTC)
    end: str | None  # first seen of the next stance, None while current
    first_version_id: int
    versions: int


@dataclass(frozen=True)
class Transition:
    """A change of stance: when it was first seen, from what to what, and the clause that shows it."""

    date: str
    before: str
    after: str
    version_id: int
    evidence: str | None
    headline: str | None


@dataclass(frozen=True)
class DocumentTimeline:
    document_id: str
    service: str
    name: str
    periods: tuple[Period, ...]
    transitions: tuple[Transition, ...]

    @property
    def current(self) -> str | None:
        return self.periods[-1].stance if self.periods else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "document_id": self.document_id,
            "service": self.service,
            "name": self.name,
            "current": self.current,
            "periods": [asdict(p) for p in self.periods],
            "transitions": [asdict(t) for t in self.transitions],
        }


def _evidence(stance_json: str | None, fallback_json: str | None) -> str | None:
    for raw in (stance_json, fallback_json):
        if raw:
            evidence = json.loads(raw).get("evidence") or []
            if evidence:
                return str(evidence[0])
    return None


def build_timelines(
    archive: Archive, *, services: Sequence[str] = (), documents: Sequence[str] = ()
) -> list[DocumentTimeline]:
    """One timeline per document with versions, ordered by service and document name.

    Technical versions (re-extractions) keep the stance before them and never make a transition.
    """
    where, params = [], []
    if services:
        where.append(f"lower(d.service) IN ({','.join('?' * len(services))})")
        params.extend(s.lower() for s in services)
    if documents:
        where.append(f"d.id IN ({','.join('?' * len(documents))})")
        params.extend(documents)
    sql = (
        "SELECT d.id AS document_id, d.service, d.name, v.id, v.first_seen_at, v.training, v.stance, "
        "v.technical, c.headline FROM versions v JOIN documents d ON d.id = v.document_id "
        "LEFT JOIN changes c ON c.to_version_id = v.id"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY d.service, d.name, d.id, v.first_seen_at, v.id"
    )
    timelines: list[DocumentTimeline] = []
    current: dict[str, Any] | None = None
    for row in iter_rows(archive.db, sql, params):
        if current is None or current["id"] != row["document_id"]:
            if current is not None:
                timelines.append(_finish(current))
            current = {
                "id": row["document_id"],
                "service": row["service"],
                "name": row["name"],
                "periods": [],
                "transitions": [],
                "last_stance_json": None,
            }
        stance = row["training"] or "unknown"
        periods: list[dict[str, Any]] = current["periods"]
        if periods and (row["technical"] or periods[-1]["stance"] == stance):
            periods[-1]["versions"] += 1
        else:
            if periods:
                periods[-1]["end"] = row["first_seen_at"]
                current["transitions"].append(
                    Transition(
                        date=row["first_seen_at"],
                        before=periods[-1]["stance"],
                        after=stance,
                        version_id=row["id"],
                        evidence=_evidence(row["stance"], current["last_stance_json"]),
                        headline=row["headline"],
                    )
                )
            periods.append(
                {
                    "stance": stance,
                    "start": row["first_seen_at"],
                    "end": None,
                    "first_version_id": row["id"],
                    "versions": 1,
                }
            )
        if row["stance"]:
            current["last_stance_json"] = row["stance"]
    if current is not None:
        timelines.append(_finish(current))
    return timelines


def _finish(state: dict[str, Any]) -> DocumentTimeline:
    return DocumentTimeline(
        document_id=state["id"],
        service=state["service"],
        name=state["name"],
        periods=tuple(Period(**p) for p in state["periods"]),
        transitions=tuple(state["transitions"]),
    )


# ---------------------------------------------------------------------------------------------------------
# Renderers


def _day(value: str | None) -> str:
    return value[:10] if value else "now"


def render_table(timelines: Iterable[DocumentTimeline]) -> str:
    """A readable text table: each document, its periods, and the evidence of each change."""
    lines: list[str] = []
    for timeline in timelines:
        lines.append(f"{timeline.service} / {timeline.name}  ({timeline.document_id})")
        for period in timeline.periods:
            lines.append(
                f"  {_day(period.start)} → {_day(period.end):10}  {period.stance:10}  "
                f"{period.versions} version{'s' if period.versions != 1 else ''}"
            )
        for transition in timeline.transitions:
            lines.append(f"  changed {_day(transition.date)}: {transition.before} → {transition.after}")
            if transition.evidence:
                lines.append(f"    “{transition.evidence}”")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n" if lines else "no versions\n"


CSV_COLUMNS = (
    "document_id",
    "service",
    "document",
    "stance",
    "start",
    "end",
    "first_version_id",
    "versions",
    "changed_from",
    "evidence",
)


def render_csv(timelines: Iterable[DocumentTimeline]) -> str:
    """One row per period; ``changed_from`` and ``evidence`` describe the change that opened it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for timeline in timelines:
        opened = {t.version_id: t for t in timeline.transitions}
        for period in timeline.periods:
            transition = opened.get(period.first_version_id)
            writer.writerow(
                [
                    timeline.document_id,
                    timeline.service,
                    timeline.name,
                    period.stance,
                    period.start,
                    period.end or "",
                    period.first_version_id,
                    period.versions,
                    transition.before if transition else "",
                    transition.evidence if transition and transition.evidence else "",
                ]
            )
    return buffer.getvalue()


def render_json(timelines: Iterable[DocumentTimeline]) -> str:
    return json.dumps([t.to_dict() for t in timelines], indent=2, ensure_ascii=False)


def render_png(timelines: Sequence[DocumentTimeline], path: str | Path) -> None:
    """Draw one horizontal lane per document, coloured by stance, with dates on the x axis.

    :raises InputError: when matplotlib is not installed or there is nothing to draw.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
    except ImportError as exc:
        raise InputError(
            "the PNG timeline needs matplotlib: pip install 'tosmonitor[charts]' (or pip install matplotlib)"
        ) from exc
    if not timelines:
        raise InputError("no versions to draw (check --service/--document)")
    starts = [parse_iso(p.start) for t in timelines for p in t.periods]
    ends = [parse_iso(p.end) for t in timelines for p in t.periods if p.end]
    first = min(d for d in starts if d)
    last = max([d for d in starts + ends if d])
    pad = max((last - first) * 0.05, _one_day())
    right = last + pad
    height = max(2.0, 0.45 * len(timelines) + 1.4)
    figure, axes = plt.subplots(figsize=(12, height))
    for lane, timeline in enumerate(reversed(timelines)):
        for period in timeline.periods:
            start = parse_iso(period.start)
            end = parse_iso(period.end) or right
            assert start is not None
            axes.barh(
                lane,
                mdates.date2num(end) - mdates.date2num(start),
                left=mdates.date2num(start),
                height=0.6,
                color=STANCE_COLOURS.get(period.stance, "#ffffff"),
                edgecolor="#555555",
                linewidth=0.4,
            )
    axes.set_yticks(range(len(timelines)))
    axes.set_yticklabels([f"{t.service} / {t.name}" for t in reversed(timelines)], fontsize=8)
    axes.set_xlim(mdates.date2num(first - pad), mdates.date2num(right))
    axes.xaxis_date()
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    axes.set_title("What each document says about training AI on users' data")
    used = [s for s in STANCE_COLOURS if any(p.stance == s for t in timelines for p in t.periods)]
    axes.legend(
        handles=[Patch(facecolor=STANCE_COLOURS[s], edgecolor="#555555", label=s) for s in used],
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=8,
    )
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(str(path), dpi=120)
    plt.close(figure)


def _one_day() -> Any:
    from datetime import timedelta

    return timedelta(days=1)
