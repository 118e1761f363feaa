# SPDX-License-Identifier: Apache-2.0
"""Noise: how many versions a monitor would record over series of raw snapshots of one document.

For each series in ``<corpus>/snapshots/noise/*/`` extract every snapshot in order with the series' rules
(``meta.json`` declaration) and count distinct versions: plain (a text differing from the last recorded one
is recorded) and confirmed (a new text is recorded only when two consecutive snapshots agree on it). The
reference is what Open Terms Archive recorded over the period (plus the version in force at its start
when the first record is older). A third count ignores link targets (a changed URL behind unchanged
words). Prints, per series, the first differing line of each recorded version.

The last column runs the real pipeline: each snapshot is one check of ``tosmonitor.monitor.Monitor`` (a
stub fetcher hands it the snapshot; extraction, confirmation, versioning, analysis and alert routing are the
production code) into a fresh SQLite archive, and counts the versions and the changes that would be alerted.

Usage: python bench/noise_series.py [--corpus DIR] [--only SUBSTRING] [--heuristic]
Data: Open Terms Archive contributors, ODC-BY 1.0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _corpus import corpus_dir, sources_from_rules  # noqa: E402
from tosmonitor.archive import Archive  # noqa: E402
from tosmonitor.errors import ExtractError  # noqa: E402
from tosmonitor.extract import extract  # noqa: E402
from tosmonitor.fetch import detect_charset  # noqa: E402
from tosmonitor.models import (  # noqa: E402
    ChannelSpec,
    Config,
    DocumentSpec,
    FetchOutcome,
    FetchResult,
    Settings,
    Source,
)
from tosmonitor.monitor import Monitor  # noqa: E402


def versions(texts: list[str | None], *, confirm: bool) -> list[int]:
    """Indices of the snapshots whose text a monitor records (errors, ``None``, are skipped)."""
    recorded: list[int] = []
    current: str | None = None
    for i, text in enumerate(texts):
        if text is None or text == current:
            continue
        if confirm and current is not None:
            following = next((t for t in texts[i + 1 :] if t is not None), None)
            if following != text:
                continue
        recorded.append(i)
        current = text
    return recorded


_LINK_TARGET = re.compile(r"\]\([^)\s]*\)")


class SnapshotFetcher:
    """Stands in for the HTTP fetcher: each fetch returns the next raw snapshot of the series."""

    def __init__(self, bodies: list[bytes]) -> None:
        self.bodies = bodies
        self.index = 0

    async def fetch(self, url: str, **_options: object) -> FetchResult:
        body = self.bodies[min(self.index, len(self.bodies) - 1)]
        self.index += 1
        return FetchResult(
            url=url,
            outcome=FetchOutcome.OK,
            fetched_at=datetime.now(UTC),
            status=200,
            body=body,
            content_type="text/html",
            charset=detect_charset(None, body),
        )

    async def aclose(self) -> None:
        pass


def pipeline_counts(bodies: list[bytes], source: Source, service: str) -> tuple[int, int, int]:
    """(versions, changes, changes alerted to an every-change channel) through the real pipeline."""
    log = ChannelSpec(name="log", type="log")
    doc = DocumentSpec(id="noise/doc", service=service, name="Document", sources=(source,))
    config = Config(path="noise", documents=(doc,), channels=(log,), settings=Settings(host_spacing=0.0))
    fetcher = SnapshotFetcher(bodies)
    with tempfile.TemporaryDirectory() as tmp, Archive(Path(tmp) / "noise.db") as archive:
        archive.sync_documents([doc])

        async def replay() -> None:
            # confirm_delay=None: a suspect text is confirmed (or not) by the next snapshot, as by the next check
            monitor = Monitor(config, archive, fetcher=fetcher, confirm_delay=None)  # type: ignore[arg-type]
            for _ in bodies:
                await monitor.check(doc)

        asyncio.run(replay())
        versions_count = archive.db["versions"].count
        changes = archive.db["changes"].count
        alerted = archive.db.execute(
            "SELECT COUNT(*) FROM deliveries WHERE event_kind = 'change'"
        ).fetchone()[0]
    return versions_count, changes, alerted


def without_link_targets(text: str | None) -> str | None:
    return None if text is None else _LINK_TARGET.sub("]", text)


def first_difference(old: str, new: str) -> str:
    old_lines, new_lines = old.splitlines(), new.splitlines()
    for a, b in zip(old_lines, new_lines, strict=False):
        if a != b:
            start = next(
                (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
            )
            start = max(0, start - 40)
            return f"- …{a[start : start + 110]}\n      + …{b[start : start + 110]}"
    return f"(length {len(old_lines)} -> {len(new_lines)} lines)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus")
    parser.add_argument("--only")
    parser.add_argument(
        "--heuristic", action="store_true", help="ignore select/remove: main-content heuristic"
    )
    args = parser.parse_args(argv)
    root = corpus_dir(args.corpus) / "snapshots" / "noise"
    for series in sorted(p for p in root.iterdir() if p.is_dir() and (not args.only or args.only in p.name)):
        meta = json.loads((series / "meta.json").read_text(encoding="utf-8"))
        declaration = dict(meta["declaration"]["terms"])
        declaration.setdefault("url", meta.get("url"))
        (source,) = sources_from_rules(declaration)
        if args.heuristic:
            source = Source(url=source.url)
        texts: list[str | None] = []
        errors = 0
        for snap in meta["snapshots"]:
            body = (series / snap["file"]).read_bytes()
            try:
                texts.append(extract(body, rules=source.rules, base_url=source.url or None))
            except ExtractError:
                texts.append(None)
                errors += 1
        ref = meta["reference"]
        reference = ref["ota_versions_in_period"] + (0 if ref["ota_first_records_in_period"] else 1)
        plain = versions(texts, confirm=False)
        confirmed = versions(texts, confirm=True)
        words_only = versions([without_link_targets(t) for t in texts], confirm=True)
        bodies = [(series / snap["file"]).read_bytes() for snap in meta["snapshots"]]
        piped, changes, alerted = pipeline_counts(bodies, source, series.name.split("--")[0])
        print(
            f"== {series.name}: snapshots {len(texts)} (errors {errors}), versions plain {len(plain)}, "
            f"confirmed {len(confirmed)}, confirmed ignoring link targets {len(words_only)}, "
            f"pipeline {piped} versions / {changes} changes / {alerted} alerted, reference {reference} "
            f"(Open Terms Archive: {ref['ota_versions_in_period']} in period, {ref['ota_reverts_in_period']} reverts)"
        )
        for prev, cur in zip(plain, plain[1:], strict=False):
            mark = "confirmed" if cur in confirmed else "blink"
            print(f"  #{cur:04d} {mark}: {first_difference(texts[prev] or '', texts[cur] or '')}")
    print("\nData: Open Terms Archive contributors, ODC-BY 1.0.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
