# SPDX-License-Identifier: Apache-2.0
"""History from before the monitor started: importers into the archive, and the declarations converter.

``import_dataset``       a ``<service>/<document type>/<YYYY-MM-DDTHH-MM-SSZ>.md`` tree (our dataset export,
                         Open Terms Archive dataset releases, the research corpus; ``alt-<collection>/``
                         subfolders become separate documents ``…/<type>-alt-<collection>`` or are skipped);
``import_ota_versions``  an Open Terms Archive *versions* git repository (``<Service>/<Document type>.md``, one
                         commit per version, dated by the commit's author date);
``import_wayback``       captures of a URL from the Wayback Machine (CDX API), politely and resumably;
``declarations_to_yaml`` Open Terms Archive declarations → ``targets.yaml`` text, with a report of what could
                         not be mapped.

Imported versions go through the same analysis as live ones (stance per version, findings per change) and are
marked ``imported``; they queue no alerts. Each document's imported history is written in one transaction, and
every input is checked before anything is written: bad input raises an error naming the file and leaves the
archive untouched. History is appended in time order: versions dated at or before a document's latest version
are skipped, so running an import twice adds nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

from . import analysis
from .archive import Archive, CheckRecord, NewChange, NewVersion, PageFetch, sha256_hex
from .clock import parse_iso
from .config import _OTA_FILTERS, KNOWN_FILTERS, parse_config, slugify
from .derive import Derived, derive_from_text
from .errors import ConfigError, FetchError, InputError, TosMonitorError
from .import_worker import DerivedStep, derive_chain
from .models import FetchOutcome, FetchResult, Rules, Source
from .monitor import new_change

__all__ = [
    "DEFAULT_CDX_URL",
    "DEFAULT_WAYBACK_URL",
    "ImportReport",
    "declarations_to_yaml",
    "derive_history",
    "import_dataset",
    "import_ota_versions",
    "import_wayback",
    "parse_dataset_date",
]

DEFAULT_CDX_URL = "http://web.archive.org/cdx/search/cdx"
DEFAULT_WAYBACK_URL = "http://web.archive.org/web"
_DATE_NAME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2})-(\d{2})-(\d{2})Z\.md$")
USER_AGENT = "tosmonitor-import/0.1 (+https://github.com/tosmonitor/tosmonitor)"


@dataclass
class ImportReport:
    """What an import did: documents touched, versions added, items skipped, and notes for the user."""

    documents: int = 0
    versions: int = 0
    changes: int = 0
    skipped: int = 0
    fetched: int = 0
    notes: list[str] = field(default_factory=list)
    document_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.__dataclass_fields__}


# ---------------------------------------------------------------------------------------------------------
# Analysis: the same derivation as live checks (derive.derive_from_text), without any delivery


def derive_history(
    text: str, old_text: str | None, service: str, history: analysis.History | None = None
) -> tuple[NewVersion, NewChange | None, dict[str, Any] | None]:
    """The imported version of ``text`` and, against ``old_text``, its change (both analysed; ``history`` is
    shared along one document's versions)."""
    derived = derive_from_text(text, old_text, service, history)
    version, change = _imported(derived, first=old_text is None)
    return version, change, derived.stance


def _imported(derived: Derived, *, first: bool) -> tuple[NewVersion, NewChange | None]:
    """The version (and, after the first one, the change) an import records for a derivation."""
    stance = derived.stance
    version = NewVersion(
        text=derived.text,
        extractor_version="import",
        imported=True,
        training=(stance or {}).get("training"),
        stance=stance,
        sha256=derived.sha256,
        text_z=derived.text_z,
    )
    return version, None if first else new_change(derived)


class _History:
    """Appends one document's history, in time order, to the archive (call inside a transaction)."""

    def __init__(self, archive: Archive, doc_id: str, service: str, extractor_version: str) -> None:
        self.archive = archive
        self.doc_id = doc_id
        self.service = service
        self.extractor_version = extractor_version
        latest = archive.latest_version(doc_id)
        self.latest_text = latest.text if latest else None
        self.latest_at = parse_iso(latest.first_seen_at) if latest else None
        self.analysis = analysis.History()

    def is_old(self, moment: datetime) -> bool:
        """Dated before the latest version (what is already there: a rerun or a later import adds nothing)."""
        return self.latest_at is not None and moment < self.latest_at

    def add(self, moment: datetime, text: str, page: FetchResult | None, report: ImportReport) -> None:
        if self.is_old(moment):
            report.skipped += 1
            return
        if self.latest_text is not None and sha256_hex(text) == sha256_hex(self.latest_text):
            report.skipped += 1
            if page is not None:  # keep the capture in the fetch log (resuming skips it)
                self._record(moment, "unchanged", page, [], [])
            return
        version, change, _stance = derive_history(text, self.latest_text, self.service, self.analysis)
        version.first_seen_at = moment
        version.extractor_version = self.extractor_version
        if page is not None and page.body is not None:
            version.snapshots = (sha256_hex(page.body),)
        self._record(moment, "changed", page, [version], [change] if change else [])
        report.versions += 1
        report.changes += 1 if change else 0
        self.latest_text, self.latest_at = text, moment

    def _record(
        self,
        moment: datetime,
        outcome: str,
        page: FetchResult | None,
        versions: list[NewVersion],
        changes: list[NewChange],
    ) -> None:
        self.archive.record_check(
            CheckRecord(
                document_id=self.doc_id,
                checked_at=moment,
                outcome=outcome,
                pages=[PageFetch(page)] if page is not None else [],
                versions=versions,
                changes=changes,
            )
        )


# ---------------------------------------------------------------------------------------------------------
# dataset trees


def parse_dataset_date(path: Path) -> datetime:
    """The UTC time in a dataset file name ``YYYY-MM-DDTHH-MM-SSZ.md``.

    :raises InputError: naming the file when its name is not such a date.
    """
    match = _DATE_NAME.match(path.name)
    if not match:
        raise InputError(f"{path}: not a dataset version file (expected a name like 2024-05-01T12-00-00Z.md)")
    try:
        return datetime(*(int(part) for part in match.groups()), tzinfo=UTC)  # type: ignore[misc]
    except ValueError as exc:
        raise InputError(f"{path}: bad date in the file name ({exc})") from None


@dataclass(frozen=True)
class _PlannedDocument:
    doc_id: str
    service: str
    name: str
    url: str
    files: tuple[tuple[datetime, Path], ...]


def _dataset_plan(root: Path, *, alternates: bool) -> tuple[list[_PlannedDocument], list[str]]:
    if not root.exists():
        raise InputError(f"{root}: no such directory")
    if not root.is_dir():
        raise InputError(f"{root}: not a directory (pass the dataset's top folder)")
    metadata = _dataset_metadata(root)
    plan: list[_PlannedDocument] = []
    notes: list[str] = []
    for service_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for type_dir in sorted(p for p in service_dir.iterdir() if p.is_dir()):
            folders = [(type_dir, None)]
            for alt in sorted(p for p in type_dir.iterdir() if p.is_dir()):
                if not alt.name.startswith("alt-"):
                    notes.append(f"{alt}: unexpected folder, left out")
                elif alternates:
                    folders.append((alt, alt.name[len("alt-") :]))
                else:
                    notes.append(f"{alt}: alternate collection skipped")
            for folder, collection in folders:
                files = []
                for path in sorted(folder.glob("*.md")):
                    exact = metadata.get(str(path.relative_to(root)))
                    files.append((exact[1] if exact else parse_dataset_date(path), path))
                if not files:
                    continue
                files.sort(key=lambda item: item[0])
                known = metadata.get(str(files[0][1].relative_to(root)))
                name = type_dir.name if collection is None else f"{type_dir.name} ({collection})"
                doc_id = f"{slugify(service_dir.name)}/{slugify(type_dir.name)}"
                if collection is not None:
                    doc_id += f"-alt-{slugify(collection)}"
                if known and collection is None:
                    doc_id = known[0]
                if not slugify(service_dir.name) or not slugify(type_dir.name):
                    raise InputError(f"{folder}: cannot make a document id from these folder names")
                plan.append(_PlannedDocument(doc_id, service_dir.name, name, "", tuple(files)))
    if not plan:
        raise InputError(f"{root}: no versions found (expected <service>/<document type>/<date>.md files)")
    return plan, notes


def _dataset_metadata(root: Path) -> dict[str, tuple[str, datetime]]:
    """From our own export's metadata.json: relative file path → (document id, exact first-seen time)."""
    path = root / "metadata.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        result = {}
        for doc in data.get("documents", []):
            for version in doc["versions"]:
                moment = parse_iso(version["first_seen_at"])
                if moment is not None:
                    result[f"{doc['path']}/{version['file']}"] = (doc["id"], moment)
        return result
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a tosmonitor dataset metadata file ({exc})") from None


def import_dataset(
    archive: Archive,
    root: str | Path,
    *,
    alternates: bool = True,
    workers: int = 1,
    progress: Callable[[str], Any] | None = None,
) -> ImportReport:
    """Import a ``<service>/<document type>/<date>.md`` tree as imported versions.

    ``alt-<collection>`` subfolders (another collection's copy of the same document, often seen from another
    region) become documents ``<service>/<type>-alt-<collection>``; with ``alternates=False`` they are skipped.
    ``workers`` > 1 analyses several documents at once in worker processes (the archive is written by this
    process only, in order).

    :raises InputError: naming the path when the folder is missing or a file name is not a date (nothing is
        written then).
    """
    root = Path(root)
    plan, notes = _dataset_plan(root, alternates=alternates)
    report = ImportReport(notes=notes)
    jobs = ((doc, [(moment, path) for moment, path in doc.files]) for doc in plan)
    _import_documents(archive, jobs, "import:dataset", report, workers=workers, progress=progress)
    return report


@dataclass(frozen=True)
class _Step:
    """One analysed item of a document's history, ready to be written (``version`` None: identical, skip)."""

    moment: datetime
    version: NewVersion | None
    change: NewChange | None


def _steps(derived: list[DerivedStep], extractor_version: str) -> list[_Step]:
    """What the archive records for a derived history (see ``import_worker.derive_chain``)."""
    steps = []
    for step in derived:
        if step.derived is None:
            steps.append(_Step(step.moment, None, None))
            continue
        version, change = _imported(step.derived, first=step.first)
        version.first_seen_at = step.moment
        version.extractor_version = extractor_version
        steps.append(_Step(step.moment, version, change))
    return steps


def _import_documents(
    archive: Archive,
    jobs: Iterable[tuple[_PlannedDocument, list[tuple[datetime, str | Path]]]],
    extractor_version: str,
    report: ImportReport,
    *,
    workers: int = 1,
    progress: Callable[[str], Any] | None = None,
) -> None:
    def prepared() -> Iterator[tuple[_PlannedDocument, list[tuple[datetime, str | Path]], dict[str, Any]]]:
        for doc, items in jobs:
            row = archive.document(doc.doc_id)
            latest_id = row["latest_version_id"] if row else None
            latest = archive.version(latest_id) if latest_id else None
            state = {
                "latest_text": latest.text if latest else None,
                "latest_at": parse_iso(latest.first_seen_at) if latest else None,
            }
            yield doc, items, state

    def analyse(job: tuple[Any, ...]) -> list[_Step]:
        doc, items, state = job
        return _steps(
            derive_chain(doc.service, state["latest_text"], state["latest_at"], items), extractor_version
        )

    # The log's disk syncs wait in a thread, not between two documents' writes.
    with archive.background_checkpoints():
        if workers > 1:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=workers) as pool:
                queued = list(prepared())
                futures = [
                    pool.submit(derive_chain, doc.service, st["latest_text"], st["latest_at"], items)
                    for doc, items, st in queued
                ]
                for (doc, _items, _st), future in zip(queued, futures, strict=True):
                    try:
                        derived = future.result()
                    except BrokenProcessPool:
                        raise TosMonitorError(
                            f"a worker process stopped while reading the history of {doc.doc_id} (out of "
                            f"memory?); the {report.documents} documents before it are imported: run the same "
                            "command again to go on (with --workers 1 it takes less memory)"
                        ) from None
                    _write_steps(archive, doc, _steps(derived, extractor_version), report)
                    if progress:
                        progress(doc.doc_id)
            return
        for job in prepared():
            _write_steps(archive, job[0], analyse(job), report)
            if progress:
                progress(job[0].doc_id)


def _write_steps(archive: Archive, doc: _PlannedDocument, steps: list[_Step], report: ImportReport) -> None:
    """Write one document's analysed history in one transaction."""
    before = report.versions
    with archive.batch():
        archive.ensure_document(doc.doc_id, doc.service, doc.name, doc.url)
        for step in steps:
            if step.version is None:
                report.skipped += 1
                continue
            archive.record_check(
                CheckRecord(
                    document_id=doc.doc_id,
                    checked_at=step.moment,
                    outcome="changed",
                    versions=[step.version],
                    changes=[step.change] if step.change else [],
                )
            )
            report.versions += 1
            report.changes += 1 if step.change else 0
    # The archive caches the texts it writes (for the next delta); drop them between documents so memory
    # does not grow with the size of the import.
    archive.clear_caches()
    report.documents += 1
    if report.versions > before:
        report.document_ids.append(doc.doc_id)


# ---------------------------------------------------------------------------------------------------------
# Open Terms Archive versions repositories


def _git_out(repo: Path, args: list[str]) -> bytes:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), "-c", "core.quotePath=false", *args],
            check=True,
            capture_output=True,
        ).stdout
    except FileNotFoundError as exc:
        raise InputError("importing a git repository needs the git program on PATH") from exc
    except subprocess.CalledProcessError as exc:
        detail = exc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InputError(f"{repo}: git {args[0]} failed: {detail[-1] if detail else exc}") from None


def _unquote_git_path(path: str) -> str:
    if not (path.startswith('"') and path.endswith('"')):
        return path
    raw = path[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
    return raw.encode("latin-1").decode("utf-8", "replace")


def _ota_commits(repo: Path) -> dict[str, list[tuple[datetime, str]]]:
    """Path → [(author date, blob id)] in commit order, for every ``<Service>/<Type>.md`` added or modified."""
    out = _git_out(
        repo, ["log", "--reverse", "--no-renames", "--raw", "--no-abbrev", "--format=%x01%aI", "HEAD"]
    ).decode("utf-8", "replace")
    by_path: dict[str, list[tuple[datetime, str]]] = {}
    moment: datetime | None = None
    for line in out.splitlines():
        if line.startswith("\x01"):
            moment = datetime.fromisoformat(line[1:].strip()).astimezone(UTC)
        elif line.startswith(":") and moment is not None:
            meta, _, path = line.partition("\t")
            parts = meta.split()
            status, blob = parts[-1], parts[3]
            path = _unquote_git_path(path)
            if status[0] in "AM" and path.endswith(".md") and path.count("/") == 1:
                by_path.setdefault(path, []).append((moment, blob))
    return by_path


def _cat_blobs(repo: Path, blobs: list[str]) -> Iterator[bytes]:
    """Stream blob contents through one ``git cat-file --batch`` process."""
    process = subprocess.Popen(
        ["git", "-C", str(repo), "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        for blob in blobs:
            process.stdin.write(blob.encode() + b"\n")
            process.stdin.flush()
            header = process.stdout.readline().split()
            if len(header) != 3:
                raise InputError(f"{repo}: cannot read blob {blob}")
            data = process.stdout.read(int(header[2]))
            process.stdout.read(1)
            yield data
    finally:
        process.stdin.close()
        process.stdout.close()
        process.wait()


def import_ota_versions(
    archive: Archive,
    repo: str | Path,
    *,
    workers: int = 1,
    progress: Callable[[str], Any] | None = None,
) -> ImportReport:
    """Import an Open Terms Archive versions repository (or our git export): one version per commit of a file.

    Documents are ``slugify(service)/slugify(type)``; dates are the commits' author dates.

    :raises InputError: when ``repo`` is missing or not a git repository (nothing is written then).
    """
    repo = Path(repo)
    if not repo.is_dir():
        raise InputError(f"{repo}: no such directory")
    bare = (repo / "HEAD").is_file() and (repo / "objects").is_dir()
    if not (repo / ".git").exists() and not bare:  # a folder inside another repository is not one either
        raise InputError(f"{repo}: not a git repository (no .git here)")
    by_path = _ota_commits(repo)
    if not by_path:
        raise InputError(f"{repo}: no <Service>/<Document type>.md files in its history")
    report = ImportReport()

    def jobs() -> Iterator[tuple[_PlannedDocument, list[tuple[datetime, str | Path]]]]:
        for path, commits in sorted(by_path.items()):
            service, _, file_name = path.partition("/")
            name = file_name[: -len(".md")]
            if not slugify(service) or not slugify(name):
                report.notes.append(f"{path}: cannot make a document id, left out")
                continue
            commits.sort(key=lambda item: item[0])  # stable: same-second commits keep their order
            blobs = _cat_blobs(repo, [blob for _, blob in commits])
            items: list[tuple[datetime, str | Path]] = [
                (moment, data.decode("utf-8", "replace"))
                for (moment, _), data in zip(commits, blobs, strict=True)
            ]
            doc_id = f"{slugify(service)}/{slugify(name)}"
            yield _PlannedDocument(doc_id, service, name, "", ()), items

    _import_documents(archive, jobs(), "import:git", report, workers=workers, progress=progress)
    return report


# ---------------------------------------------------------------------------------------------------------
# Open Terms Archive declarations → targets.yaml


def _ota_selectors(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, str | dict):
            raise ConfigError(
                f"expected a CSS selector or a range selector, got {type(item).__name__}", file=where
            )
    return list(items)


def _ota_filters(value: Any, filename: str, path: str, report: list[str]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(
            f"expected a list of filter names, got {type(value).__name__}", file=filename, field=path
        )
    names = []
    for index, item in enumerate(value):
        name = next(iter(item)) if isinstance(item, dict) and len(item) == 1 else item
        if not isinstance(name, str):
            raise ConfigError("expected a filter name", file=filename, field=f"{path}[{index}]")
        mapped = name if name in KNOWN_FILTERS else _OTA_FILTERS.get(name)
        if mapped:
            names.append(mapped)
        else:
            report.append(f"{filename}: {path}[{index}]: filter {name!r} has no equivalent here (left out)")
    return list(dict.fromkeys(names))


_OTA_DOC_KEYS = {"fetch", "select", "remove", "filter", "combine", "executeClientScripts", "validUntil"}


def _ota_document(filename: str, path: str, spec: Any, report: list[str]) -> dict[str, Any] | None:
    if not isinstance(spec, dict):
        raise ConfigError(f"expected an object, got {type(spec).__name__}", file=filename, field=path)
    for key in spec:
        if key not in _OTA_DOC_KEYS:
            report.append(f"{filename}: {path}.{key}: unknown key (left out)")
    doc: dict[str, Any] = {}
    javascript = bool(spec.get("executeClientScripts"))
    filters = _ota_filters(spec.get("filter"), filename, f"{path}.filter", report)
    if "combine" in spec:
        pages = spec["combine"]
        if not isinstance(pages, list) or not pages:
            raise ConfigError("expected a non-empty list of pages", file=filename, field=f"{path}.combine")
        combine = []
        for index, page in enumerate(pages):
            page_path = f"{path}.combine[{index}]"
            if not isinstance(page, dict) or not isinstance(page.get("fetch"), str):
                raise ConfigError("expected an object with a fetch URL", file=filename, field=page_path)
            item: dict[str, Any] = {"url": page["fetch"]}
            select = _ota_selectors(page.get("select", spec.get("select")), filename)
            remove = _ota_selectors(page.get("remove", spec.get("remove")), filename)
            if select:
                item["select"] = select
            if remove:
                item["remove"] = remove
            javascript = javascript or bool(page.get("executeClientScripts"))
            filters += _ota_filters(page.get("filter"), filename, f"{page_path}.filter", report)
            combine.append(item)
        doc["combine"] = combine
    elif isinstance(spec.get("fetch"), str):
        doc["url"] = spec["fetch"]
        if select := _ota_selectors(spec.get("select"), filename):
            doc["select"] = select
        if remove := _ota_selectors(spec.get("remove"), filename):
            doc["remove"] = remove
    else:
        raise ConfigError("missing fetch (or combine)", file=filename, field=path)
    if filters:
        doc["filters"] = list(dict.fromkeys(filters))
    if javascript:
        doc["javascript"] = True
    return doc


def declarations_to_yaml(folder: str | Path) -> tuple[str, list[str], int]:
    """Convert a folder of Open Terms Archive declarations into ``targets.yaml`` text.

    Every ``*.json`` file in ``folder`` and its subfolders is read except ``*.history.json`` (older rules) and
    files in folders whose name starts with ``_`` (collection metadata such as ``_collection/``).
    Returns (YAML text that :func:`tosmonitor.config.parse_config` accepts, report lines, document count).
    Documents whose rules this project cannot express (a bad selector, say) are left out and reported.

    :raises ConfigError: naming the file (and field) of a malformed declaration; nothing is returned then.
    :raises InputError: when the folder is missing or holds no declaration.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root}: no such directory")
    files = sorted(
        p
        for p in root.rglob("*.json")
        if not p.name.endswith(".history.json")
        and not any(part.startswith(("_", ".")) for part in p.relative_to(root).parts[:-1])
    )
    if not files:
        raise InputError(f"{root}: no declaration files (*.json)")
    report: list[str] = []
    services: dict[str, dict[str, Any]] = {}
    for path in files:
        filename = str(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"invalid JSON: {exc.msg} (column {exc.colno})", file=filename, line=exc.lineno
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the file ({exc})", file=filename) from None
        if not isinstance(data, dict):
            raise ConfigError("expected a declaration object with name and terms", file=filename)
        terms = data.get("terms", data.get("documents"))
        if not isinstance(terms, dict):
            raise ConfigError("missing terms (an object of documents)", file=filename, field="terms")
        service = data.get("name") or path.stem
        if not isinstance(service, str):
            raise ConfigError("expected a string", file=filename, field="name")
        documents = services.setdefault(service, {})
        for doc_name, spec in terms.items():
            doc = _ota_document(filename, f"terms.{doc_name}", spec, report)
            if doc is None:
                continue
            if not slugify(service) and slugify(path.stem) and slugify(str(doc_name)):
                doc["id"] = f"{slugify(path.stem)}/{slugify(str(doc_name))}"  # a name in another script
            if doc_name in documents:
                report.append(f"{filename}: terms.{doc_name}: already declared by another file (left out)")
                continue
            problem = _check_document(service, doc_name, doc)
            if problem:
                report.append(f"{filename}: terms.{doc_name}: {problem} (left out)")
                continue
            documents[doc_name] = doc
    services = {name: {"documents": docs} for name, docs in services.items() if docs}
    if not services:
        raise InputError(f"{root}: no declaration could be mapped:\n" + "\n".join(report))
    text = "# Converted from Open Terms Archive declarations by 'tosmonitor import ota-declarations'.\n"
    text += yaml.safe_dump({"services": services}, allow_unicode=True, sort_keys=False, width=110)
    config = parse_config(text, filename="<converted>")  # the output always loads
    return text, report, len(config.documents)


def _check_document(service: str, name: str, doc: dict[str, Any]) -> str | None:
    text = yaml.safe_dump({"services": {service: {"documents": {name: doc}}}}, allow_unicode=True)
    try:
        parse_config(text, filename="<declaration>")
    except ConfigError as exc:
        return f"{exc.field + ': ' if exc.field else ''}{exc.message}"
    return None


# ---------------------------------------------------------------------------------------------------------
# Wayback Machine


def _extract(body: bytes, content_type: str | None, charset: str | None, source: Source) -> str:
    from .extract import extract_pages

    return str(extract_pages([(body, content_type, charset, source)]))


@dataclass(frozen=True)
class _Capture:
    timestamp: str
    original: str
    moment: datetime


def _wayback_moment(timestamp: str) -> datetime:
    digits = (timestamp + "00000000000000")[:14]
    return datetime.strptime(digits, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


class _PoliteClient:
    """A sync HTTP client that spaces requests and retries transient failures with backoff."""

    def __init__(self, client: httpx.Client, *, interval: float, retries: int) -> None:
        self.client = client
        self.interval = interval
        self.retries = retries
        self._last = 0.0
        self.requests = 0

    def get(self, url: str, params: dict[str, str] | None = None) -> httpx.Response:
        delay = 1.0
        for attempt in range(self.retries + 1):
            wait = self._last + self.interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()
            self.requests += 1
            try:
                response = self.client.get(url, params=params)
            except httpx.HTTPError as exc:
                if attempt == self.retries:
                    raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from exc
            else:
                if response.status_code < 400:
                    return response
                transient = response.status_code in (429, 500, 502, 503, 504)
                if not transient or attempt == self.retries:
                    raise FetchError(f"{url}: HTTP {response.status_code}")
                retry_after = response.headers.get("Retry-After", "")
                if retry_after.isdigit():
                    delay = max(delay, float(retry_after))
            time.sleep(min(delay, 30.0) if self.interval else 0)
            delay *= 2
        raise FetchError(f"{url}: gave up")  # pragma: no cover - the loop returns or raises


def _cdx_captures(client: _PoliteClient, cdx_url: str, url: str, start: str, end: str) -> list[_Capture]:
    params = {
        "url": url,
        "from": start,
        "to": end,
        "output": "json",
        "filter": "statuscode:200",
        "collapse": "digest",
    }
    response = client.get(cdx_url, params)
    try:
        rows = response.json() if response.content.strip() else []
    except ValueError as exc:
        raise FetchError(f"{cdx_url}: the CDX answer is not JSON ({exc})") from None
    if not rows:
        return []
    header = rows[0]
    try:
        ts_index, original_index = header.index("timestamp"), header.index("original")
    except ValueError:
        raise FetchError(f"{cdx_url}: the CDX answer has no timestamp/original columns") from None
    captures = [
        _Capture(row[ts_index], row[original_index], _wayback_moment(row[ts_index])) for row in rows[1:]
    ]
    captures.sort(key=lambda c: c.timestamp)
    return captures


def _capture_url(base: str, capture: _Capture) -> str:
    return f"{base.rstrip('/')}/{capture.timestamp}id_/{capture.original}"


def _default_document_id(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    host = parts.hostname or "site"
    service = host.removeprefix("www.")
    name = parts.path.strip("/") or "index"
    return f"{slugify(service)}/{slugify(name)}", service, name


def import_wayback(
    archive: Archive,
    url: str,
    *,
    start: str,
    end: str,
    document_id: str | None = None,
    service: str | None = None,
    name: str | None = None,
    rules: Rules | None = None,
    cdx_url: str | None = None,
    wayback_url: str | None = None,
    interval: float = 1.0,
    retries: int = 3,
    timeout: float = 30.0,
    client: httpx.Client | None = None,
    progress: Callable[[str], Any] | None = None,
) -> ImportReport:
    """Import the Wayback Machine's captures of ``url`` between ``start`` and ``end`` (``YYYYMMDD[hhmmss]``).

    Captures are listed through the CDX API (status 200, identical digests collapsed), each raw page is fetched
    (``id_`` URLs: the page as archived, without the Wayback toolbar), kept as a snapshot, extracted with
    ``rules`` and recorded as an imported version when its text changed. One request per ``interval`` seconds;
    transient failures are retried. Every capture fetched is logged in ``fetches`` (``final_url`` = capture
    URL), so an interrupted import resumes where it stopped: captures already there are not fetched again.

    :raises FetchError: when the CDX API or a capture cannot be fetched after retries (what was imported
        before stays, and the next run resumes after it).
    """
    cdx_url = cdx_url or os.environ.get("TOSMONITOR_CDX_URL") or DEFAULT_CDX_URL
    wayback_url = wayback_url or os.environ.get("TOSMONITOR_WAYBACK_URL") or DEFAULT_WAYBACK_URL
    default_id, default_service, default_name = _default_document_id(url)
    doc_id = document_id or default_id
    existing = archive.document(doc_id)
    service = service or (existing["service"] if existing else default_service)
    name = name or (existing["name"] if existing else default_name)
    source = Source(url=url, rules=rules or Rules())
    own_client = client is None
    http = client or httpx.Client(timeout=timeout, follow_redirects=True, headers={"User-Agent": USER_AGENT})
    polite = _PoliteClient(http, interval=interval, retries=retries)
    report = ImportReport()
    try:
        captures = _cdx_captures(polite, cdx_url, url, start, end)
        archive.ensure_document(doc_id, service, name, url)
        done = {
            row[0]
            for row in archive.db.execute(
                "SELECT final_url FROM fetches WHERE document_id = ? AND fetcher = 'wayback'", [doc_id]
            ).fetchall()
        }
        history = _History(archive, doc_id, service, "wayback")
        report.documents = 1
        report.document_ids.append(doc_id)
        for capture in captures:
            capture_url = _capture_url(wayback_url, capture)
            if capture_url in done or history.is_old(capture.moment):
                report.skipped += 1
                continue
            started = time.monotonic()
            response = polite.get(capture_url)
            report.fetched += 1
            page = _capture_result(capture, capture_url, response, time.monotonic() - started)
            try:
                text = _extract(page.body or b"", page.content_type, page.charset, source)
            except Exception as exc:  # noqa: BLE001 - any extraction failure: a capture without usable text
                text = ""
                report.notes.append(f"{capture_url}: no usable text ({exc})")
            with archive.batch():
                if text.strip():
                    history.add(capture.moment, text, page, report)
                else:
                    archive.record_check(
                        CheckRecord(
                            doc_id,
                            capture.moment,
                            "error",
                            [PageFetch(page)],
                            "extract_error",
                            "no usable text in the capture",
                        )
                    )
                    report.skipped += 1
            if progress:
                progress(f"{capture.timestamp} {capture_url}")
    finally:
        if own_client:
            http.close()
    return report


def _capture_result(
    capture: _Capture, capture_url: str, response: httpx.Response, elapsed: float
) -> FetchResult:
    media = response.headers.get("Content-Type", "text/html")
    content_type, _, params = media.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip('"').lower()
    return FetchResult(
        url=capture.original,
        outcome=FetchOutcome.OK,
        fetched_at=capture.moment,
        final_url=capture_url,
        status=response.status_code,
        body=response.content,
        content_type=content_type.strip().lower() or None,
        charset=charset or "utf-8",
        elapsed=elapsed,
        fetcher="wayback",
    )
