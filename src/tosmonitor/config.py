# SPDX-License-Identifier: Apache-2.0
"""Load and validate ``targets.yaml`` and Open Terms Archive rules files.

This module owns the configuration: the YAML is composed into nodes so that every error names the file, the
line and the field (``targets.yaml:12: services.LinkedIn.documents.Privacy Policy.interval: bad duration``);
defaults are merged into each document; channels and run-wide settings are checked; duration and size strings
are parsed; secrets stay in environment variables named by ``*_env`` keys and are only checked for presence
(:func:`check_channel_environment`). The result is a :class:`~tosmonitor.models.Config`.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import ssl
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import ConfigError
from .extract import selector_problem
from .models import (
    SEVERITIES,
    ChannelSpec,
    Config,
    DocumentSpec,
    RangeSelector,
    Rules,
    Selector,
    Settings,
    Source,
)

__all__ = [
    "CHANNEL_TYPES",
    "KNOWN_FILTERS",
    "check_channel_environment",
    "load_config",
    "load_rules_json",
    "parse_config",
    "parse_duration",
    "parse_size",
    "slugify",
]

KNOWN_FILTERS = frozenset(
    {"remove_query_params", "decode_emails", "remove_dates", "remove_session_tokens", "normalise_whitespace"}
)
CHANNEL_TYPES = ("email", "webhook", "apprise", "feed", "log")

TOP_KEYS = ("defaults", "services", "channels", "settings")
DEFAULT_KEYS = ("interval", "cron", "timeout", "user_agent", "headers", "javascript", "max_bytes")
DOCUMENT_KEYS = ("url", "combine", "select", "remove", "filters", "id", *DEFAULT_KEYS)
SOURCE_KEYS = ("url", "select", "remove")
SERVICE_KEYS = ("documents",)
ROUTING_KEYS = (
    "type",
    "name",
    "min_severity",
    "only",
    "services",
    "exclude_services",
    "digest",
    "max_attempts",
)
RANGE_KEYS = ("startBefore", "startAfter", "endBefore", "endAfter")

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DOC_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")
_SCHEME_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")


# -- small public parsers ------------------------------------------------------------------------------------


def parse_duration(value: str | int | float) -> float:
    """Seconds in a duration: ``"30s"``, ``"15m"``, ``"12h"``, ``"2d"``, ``"1h30m"``, ``"500ms"`` or a number.

    :raises ValueError: on anything else, or a negative number.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"bad duration {value!r} (use 30s, 15m, 12h or 2d)")
    if isinstance(value, (int, float)):
        if value < 0 or value != value:
            raise ValueError(f"bad duration {value!r} (must not be negative)")
        return float(value)
    text = value.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    total, pos = 0.0, 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(f"bad duration {value!r} (use 30s, 15m, 12h or 2d)")
    return total


def parse_size(value: str | int) -> int:
    """Bytes in a size: ``"10MB"`` (10,000,000), ``"512KiB"`` (524,288), ``"1.5GB"`` or an integer.

    :raises ValueError: on anything else, or a negative number.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"bad size {value!r} (use 512KiB, 10MB or a number of bytes)")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"bad size {value!r} (must not be negative)")
        return value
    match = _SIZE.match(value)
    if not match:
        raise ValueError(f"bad size {value!r} (use 512KiB, 10MB or a number of bytes)")
    unit = (match.group(2) or "b").lower()
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def slugify(text: str) -> str:
    """A lowercase ASCII slug: ``"Privacy Policy"`` -> ``"privacy-policy"``, ``"X (Twitter)"`` -> ``"x-twitter"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))  # "é" -> "e"
    return re.sub(r"[^a-z0-9]+", "-", bare.lower()).strip("-")


# -- YAML nodes with line numbers ----------------------------------------------------------------------------


class YMap(dict[Any, Any]):
    """A mapping read from YAML, with the line of each key and of the mapping itself."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[Any, int] = {}
        self.value_lines: dict[Any, int] = {}


class YList(list[Any]):
    """A sequence read from YAML, with the line of each item."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _compose(text: str, filename: str) -> Any:
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or exc.context or "invalid YAML"
            context = f" ({exc.context})" if exc.context and exc.problem else ""
            raise ConfigError(
                f"YAML syntax error: {problem}{context}", file=filename, line=mark.line + 1 if mark else None
            ) from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"YAML syntax error: {exc}", file=filename) from None
        if node is None:
            return None
        return _value(node, loader, filename, "")
    finally:
        loader.dispose()


def _value(node: Node, loader: yaml.SafeLoader, filename: str, path: str) -> Any:
    if isinstance(node, MappingNode):
        own = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
        try:
            loader.flatten_mapping(node)  # "<<: *anchor" merge keys: inherited pairs come first
        except yaml.MarkedYAMLError as exc:
            raise ConfigError(
                f"YAML error: {exc.problem}", file=filename, line=_line(node), field=path or None
            ) from None
        inherited = len(node.value) - own
        result = YMap(_line(node))
        own_keys: set[str] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            if not isinstance(key_node, ScalarNode):
                raise ConfigError(
                    "keys must be plain text", file=filename, line=_line(key_node), field=path or None
                )
            key = loader.construct_object(key_node)
            if key is None or isinstance(key, (bool, float)):
                key = key_node.value
            key = str(key)
            sub = f"{path}.{key}" if path else key
            if key in own_keys:
                raise ConfigError(
                    f"duplicate key {key!r} (first defined at line {result.key_lines[key]})",
                    file=filename,
                    line=_line(key_node),
                    field=sub,
                )
            result[key] = _value(value_node, loader, filename, sub)
            result.key_lines[key] = _line(key_node)
            if index >= inherited:
                own_keys.add(key)
            result.value_lines[key] = _line(value_node)
        return result
    if isinstance(node, SequenceNode):
        items = YList(_line(node))
        for index, item in enumerate(node.value):
            items.append(_value(item, loader, filename, f"{path}[{index}]"))
            items.item_lines.append(_line(item))
        return items
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise ConfigError(f"bad value: {exc}", file=filename, line=_line(node), field=path or None) from None


# -- validation context --------------------------------------------------------------------------------------


@dataclass
class _Ctx:
    """Where we are in the file, to name it in errors."""

    filename: str
    services: tuple[str, ...] = ()

    def error(self, message: str, line: int | None, path: str) -> ConfigError:
        return ConfigError(message, file=self.filename, line=line, field=path or None)


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"text ({value!r})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _mapping(ctx: _Ctx, value: Any, line: int | None, path: str) -> YMap:
    if not isinstance(value, YMap):
        raise ctx.error(f"expected a mapping of keys, got {_type_name(value)}", line, path)
    return value


def _check_keys(ctx: _Ctx, mapping: YMap, known: Iterable[str], path: str, what: str) -> None:
    known = tuple(known)
    for key in mapping:
        if key in known:
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(known)})"
        sub = f"{path}.{key}" if path else key
        raise ctx.error(f"unknown key {key!r} in {what}{hint}", mapping.key_lines[key], sub)


@dataclass(frozen=True)
class _Field:
    """One key of a mapping: its value, line and dotted path."""

    value: Any
    line: int | None
    path: str


def _get(mapping: YMap, key: str, path: str) -> _Field | None:
    if key not in mapping:
        return None
    return _Field(mapping[key], mapping.value_lines.get(key, mapping.line), f"{path}.{key}" if path else key)


def _str(ctx: _Ctx, f: _Field, *, allow_empty: bool = False) -> str:
    if isinstance(f.value, bool) or not isinstance(f.value, (str, int, float)):
        raise ctx.error(f"expected text, got {_type_name(f.value)}", f.line, f.path)
    text = str(f.value)
    if not allow_empty and not text.strip():
        raise ctx.error("must not be empty", f.line, f.path)
    return text


def _bool(ctx: _Ctx, f: _Field) -> bool:
    if not isinstance(f.value, bool):
        raise ctx.error(f"expected true or false, got {_type_name(f.value)}", f.line, f.path)
    return f.value


def _int(ctx: _Ctx, f: _Field, *, minimum: int) -> int:
    if isinstance(f.value, bool) or not isinstance(f.value, int):
        raise ctx.error(f"expected a whole number, got {_type_name(f.value)}", f.line, f.path)
    if f.value < minimum:
        raise ctx.error(f"must be at least {minimum}, got {f.value}", f.line, f.path)
    return f.value


def _float(ctx: _Ctx, f: _Field, *, low: float, high: float) -> float:
    if isinstance(f.value, bool) or not isinstance(f.value, (int, float)):
        raise ctx.error(f"expected a number, got {_type_name(f.value)}", f.line, f.path)
    if not low <= f.value <= high:
        raise ctx.error(f"must be between {low} and {high}, got {f.value}", f.line, f.path)
    return float(f.value)


def _duration(ctx: _Ctx, f: _Field, *, positive: bool = True) -> float:
    try:
        seconds = parse_duration(f.value)
    except ValueError as exc:
        raise ctx.error(str(exc), f.line, f.path) from None
    if positive and seconds <= 0:
        raise ctx.error(f"must be longer than zero, got {f.value!r}", f.line, f.path)
    return seconds


def _size(ctx: _Ctx, f: _Field) -> int:
    try:
        size = parse_size(f.value)
    except ValueError as exc:
        raise ctx.error(str(exc), f.line, f.path) from None
    if size <= 0:
        raise ctx.error(f"must be more than zero bytes, got {f.value!r}", f.line, f.path)
    return size


def _choice(ctx: _Ctx, f: _Field, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if f.value not in choices:
        raise ctx.error(f"expected one of {', '.join(choices)}, got {f.value!r}", f.line, f.path)
    return str(f.value)


def _http_url(ctx: _Ctx, f: _Field) -> str:
    text = _str(ctx, f).strip()
    problem = _url_problem(text)
    if problem:
        raise ctx.error(f"bad URL {text!r}: {problem}", f.line, f.path)
    return text


def _url_problem(text: str) -> str | None:
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        return str(exc)
    del port
    if parts.scheme not in ("http", "https"):
        return "use an http:// or https:// address"
    if not parts.hostname:
        return "it has no host name"
    if any(ch.isspace() for ch in text):
        return "it contains spaces"
    return None


def _env_name(ctx: _Ctx, f: _Field) -> str:
    name = _str(ctx, f)
    if not _ENV_NAME.match(name):
        raise ctx.error(f"{name!r} is not an environment variable name (e.g. SMTP_PASSWORD)", f.line, f.path)
    return name


def _str_list(ctx: _Ctx, f: _Field) -> list[str]:
    if isinstance(f.value, YList):
        if not f.value:
            raise ctx.error("the list is empty", f.line, f.path)
        return [
            _str(ctx, _Field(item, f.value.item_lines[i], f"{f.path}[{i}]")) for i, item in enumerate(f.value)
        ]
    return [_str(ctx, f)]


def _headers(ctx: _Ctx, f: _Field) -> dict[str, str]:
    mapping = _mapping(ctx, f.value, f.line, f.path)
    headers: dict[str, str] = {}
    for key in mapping:
        value = _get(mapping, key, f.path)
        assert value is not None
        if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", key):
            raise ctx.error(f"{key!r} is not a valid HTTP header name", value.line, value.path)
        headers[key] = _str(ctx, value, allow_empty=True)
    return headers


def _cron(ctx: _Ctx, f: _Field) -> str:
    from apscheduler.triggers.cron import CronTrigger

    text = _str(ctx, f).strip()
    try:
        CronTrigger.from_crontab(text, timezone="UTC")
    except ValueError as exc:
        raise ctx.error(f"bad cron expression {text!r}: {exc}", f.line, f.path) from None
    return text


# -- selectors -----------------------------------------------------------------------------------------------


def _css(ctx: _Ctx, f: _Field) -> str:
    text = _str(ctx, f).strip()
    problem = _selector_problem(text)
    if problem:
        raise ctx.error(f"bad CSS selector {text!r}: {problem}", f.line, f.path)
    return text


def _selector_problem(selector: str) -> str | None:
    """Checked with the extractor's own selector engine, so what loads here also works when fetching."""
    problem = selector_problem(selector)
    if problem is None:
        return None
    return problem.split(": ", 1)[-1].splitlines()[0]


def _selectors(ctx: _Ctx, f: _Field) -> tuple[Selector, ...]:
    items = f.value if isinstance(f.value, YList) else [f.value]
    lines = f.value.item_lines if isinstance(f.value, YList) else [f.line]
    result: list[Selector] = []
    for index, item in enumerate(items):
        path = f"{f.path}[{index}]" if isinstance(f.value, YList) else f.path
        sub = _Field(item, lines[index], path)
        if isinstance(item, YMap):
            result.append(_range(ctx, sub))
        else:
            result.append(_css(ctx, sub))
    return tuple(result)


def _range(ctx: _Ctx, f: _Field) -> RangeSelector:
    mapping: YMap = f.value
    _check_keys(ctx, mapping, RANGE_KEYS, f.path, "a range selector")
    starts = [k for k in ("startBefore", "startAfter") if k in mapping]
    ends = [k for k in ("endBefore", "endAfter") if k in mapping]
    if len(starts) != 1 or len(ends) != 1:
        raise ctx.error(
            "a range selector needs exactly one of startBefore/startAfter and one of endBefore/endAfter",
            f.line,
            f.path,
        )
    values = {key: _css(ctx, _get(mapping, key, f.path)) for key in (*starts, *ends)}  # type: ignore[arg-type]
    return RangeSelector(
        start_before=values.get("startBefore"),
        start_after=values.get("startAfter"),
        end_before=values.get("endBefore"),
        end_after=values.get("endAfter"),
    )


def _filters(ctx: _Ctx, f: _Field) -> tuple[str, ...]:
    names = _str_list(ctx, f)
    lines = f.value.item_lines if isinstance(f.value, YList) else [f.line]
    for index, name in enumerate(names):
        if name not in KNOWN_FILTERS:
            close = difflib.get_close_matches(name, sorted(KNOWN_FILTERS), n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else "known: " + ", ".join(sorted(KNOWN_FILTERS))
            path = f"{f.path}[{index}]" if isinstance(f.value, YList) else f.path
            raise ctx.error(f"unknown filter {name!r} ({hint})", lines[index], path)
    return tuple(dict.fromkeys(names))


# -- defaults and documents ----------------------------------------------------------------------------------


def _fetch_options(ctx: _Ctx, mapping: YMap, path: str) -> dict[str, Any]:
    """The fetch-related keys shared by ``defaults`` and documents, as DocumentSpec keyword arguments."""
    out: dict[str, Any] = {}
    interval, cron = _get(mapping, "interval", path), _get(mapping, "cron", path)
    if interval and cron:
        raise ctx.error("set either interval or cron, not both", cron.line, cron.path)
    if interval:
        out["interval"], out["cron"] = _duration(ctx, interval), None
    if cron:
        out["interval"], out["cron"] = None, _cron(ctx, cron)
    if timeout := _get(mapping, "timeout", path):
        out["timeout"] = _duration(ctx, timeout)
    if user_agent := _get(mapping, "user_agent", path):
        out["user_agent"] = _str(ctx, user_agent).strip()
    if headers := _get(mapping, "headers", path):
        out["headers"] = _headers(ctx, headers)
    if (javascript := _get(mapping, "javascript", path)) is not None:
        out["javascript"] = None if javascript.value is None else _bool(ctx, javascript)
    if max_bytes := _get(mapping, "max_bytes", path):
        out["max_bytes"] = _size(ctx, max_bytes)
    return out


def _merge_headers(base: Mapping[str, str], override: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    merged = {name.lower(): (name, value) for name, value in base.items()}
    merged.update({name.lower(): (name, value) for name, value in override.items()})
    return tuple(merged.values())


def _sources(ctx: _Ctx, doc: YMap, path: str, rules: Rules, line: int) -> tuple[Source, ...]:
    url, combine = _get(doc, "url", path), _get(doc, "combine", path)
    if url and combine:
        raise ctx.error("set either url or combine, not both", combine.line, combine.path)
    if url:
        return (Source(url=_http_url(ctx, url), rules=rules),)
    if not combine:
        raise ctx.error("missing url (or combine: a list of pages)", line, path)
    if not isinstance(combine.value, YList) or not combine.value:
        raise ctx.error(
            f"expected a non-empty list of pages ({{url, select, remove}}), got {_type_name(combine.value)}",
            combine.line,
            combine.path,
        )
    sources = []
    for index, item in enumerate(combine.value):
        item_path = f"{combine.path}[{index}]"
        page = _mapping(ctx, item, combine.value.item_lines[index], item_path)
        _check_keys(ctx, page, SOURCE_KEYS, item_path, "a combined page")
        page_url = _get(page, "url", item_path)
        if page_url is None:
            raise ctx.error("missing url", page.line, item_path)
        select, remove = _get(page, "select", item_path), _get(page, "remove", item_path)
        page_rules = Rules(
            select=_selectors(ctx, select) if select else rules.select,
            remove=_selectors(ctx, remove) if remove else rules.remove,
            filters=rules.filters,
        )
        sources.append(Source(url=_http_url(ctx, page_url), rules=page_rules))
    return tuple(sources)


def _document(
    ctx: _Ctx, service: str, name: str, doc: YMap, path: str, defaults: dict[str, Any], line: int
) -> DocumentSpec:
    _check_keys(ctx, doc, DOCUMENT_KEYS, path, "a document")
    select, remove, filters = (_get(doc, key, path) for key in ("select", "remove", "filters"))
    rules = Rules(
        select=_selectors(ctx, select) if select else (),
        remove=_selectors(ctx, remove) if remove else (),
        filters=_filters(ctx, filters) if filters else (),
    )
    sources = _sources(ctx, doc, path, rules, line)
    own = _fetch_options(ctx, doc, path)
    options = {**defaults, **own}
    options["headers"] = _merge_headers(defaults.get("headers", {}), own.get("headers", {}))
    if explicit := _get(doc, "id", path):
        doc_id = _str(ctx, explicit).strip()
        if not _DOC_ID.match(doc_id):
            raise ctx.error(
                f"bad id {doc_id!r} (use letters, digits, '.', '_', '-' and '/', e.g. 'linkedin/privacy-policy')",
                explicit.line,
                explicit.path,
            )
    else:
        service_slug, doc_slug = slugify(service), slugify(name)
        if not service_slug or not doc_slug:
            raise ctx.error(
                f"cannot make an id from {service!r} / {name!r}: give one with id: service/document",
                line,
                path,
            )
        doc_id = f"{service_slug}/{doc_slug}"
    return DocumentSpec(id=doc_id, service=service, name=name, sources=sources, **options)


def _defaults(ctx: _Ctx, top: YMap) -> dict[str, Any]:
    f = _get(top, "defaults", "")
    if f is None or f.value is None:
        return {}
    mapping = _mapping(ctx, f.value, f.line, f.path)
    _check_keys(ctx, mapping, DEFAULT_KEYS, f.path, "defaults")
    return _fetch_options(ctx, mapping, f.path)


def _documents(ctx: _Ctx, top: YMap, defaults: dict[str, Any]) -> tuple[DocumentSpec, ...]:
    f = _get(top, "services", "")
    if f is None:
        raise ctx.error(
            "no services: add a services: section with at least one document", top.line, "services"
        )
    if not f.value:
        raise ctx.error(
            "no services defined: add at least one service with documents", top.key_lines["services"], f.path
        )
    services = _mapping(ctx, f.value, f.line, f.path)
    documents: list[DocumentSpec] = []
    seen: dict[str, tuple[int, str]] = {}
    for service in services:
        service_path = f"services.{service}"
        line = services.value_lines[service]
        if services[service] is None:
            raise ctx.error("missing documents", services.key_lines[service], service_path)
        body = _mapping(ctx, services[service], line, service_path)
        _check_keys(ctx, body, SERVICE_KEYS, service_path, "a service")
        docs_field = _get(body, "documents", service_path)
        if docs_field is None:
            raise ctx.error("missing documents", services.key_lines[service], service_path)
        docs = _mapping(ctx, docs_field.value, docs_field.line, docs_field.path)
        if not docs:
            raise ctx.error("no documents defined", docs_field.line, docs_field.path)
        for name in docs:
            doc_path = f"{docs_field.path}.{name}"
            doc_line = docs.key_lines[name]
            if docs[name] is None:
                raise ctx.error("missing url (or combine: a list of pages)", doc_line, doc_path)
            doc = _mapping(ctx, docs[name], docs.value_lines[name], doc_path)
            spec = _document(ctx, service, name, doc, doc_path, defaults, doc_line)
            if spec.id in seen:
                first_line, first_path = seen[spec.id]
                raise ctx.error(
                    f"duplicate document id {spec.id!r} (also {first_path} at line {first_line}); "
                    "rename one or give it an explicit id",
                    doc_line,
                    doc_path,
                )
            seen[spec.id] = (doc_line, doc_path)
            documents.append(spec)
    ctx.services = tuple(services)
    return tuple(documents)


# -- channels ------------------------------------------------------------------------------------------------


def _email_options(ctx: _Ctx, ch: YMap, path: str) -> dict[str, object]:
    def need(key: str) -> _Field:
        f = _get(ch, key, path)
        if f is None:
            raise ctx.error(f"missing {key} (required for an email channel)", ch.line, f"{path}.{key}")
        return f

    to = need("to")
    recipients = _str_list(ctx, to)
    for index, address in enumerate(recipients):
        if "@" not in address:
            line = to.value.item_lines[index] if isinstance(to.value, YList) else to.line
            item_path = f"{to.path}[{index}]" if isinstance(to.value, YList) else to.path
            raise ctx.error(f"{address!r} is not an e-mail address", line, item_path)
    sender = _str(ctx, need("from")).strip()
    if "@" not in sender:
        raise ctx.error(f"{sender!r} is not an e-mail address", ch.value_lines["from"], f"{path}.from")
    host = _str(ctx, need("host")).strip()
    starttls = _bool(ctx, f) if (f := _get(ch, "starttls", path)) else False
    tls = _bool(ctx, f) if (f := _get(ch, "tls", path)) else False
    if starttls and tls:
        raise ctx.error("set either starttls or tls, not both", ch.value_lines["tls"], f"{path}.tls")
    port_field = _get(ch, "port", path)
    port = _int(ctx, port_field, minimum=1) if port_field else 465 if tls else 587 if starttls else 25
    if port > 65535:
        raise ctx.error(f"bad port {port}", port_field.line if port_field else None, f"{path}.port")
    username = _env_name(ctx, f) if (f := _get(ch, "username_env", path)) else None
    password = _env_name(ctx, f) if (f := _get(ch, "password_env", path)) else None
    if bool(username) != bool(password):
        missing = "password_env" if username else "username_env"
        raise ctx.error("set both username_env and password_env, or neither", ch.line, f"{path}.{missing}")
    timeout = _duration(ctx, f) if (f := _get(ch, "timeout", path)) else 30.0
    ca_file = _ca_file(ctx, f, tls or starttls) if (f := _get(ch, "ca_file", path)) else None
    return {
        "to": recipients,
        "from": sender,
        "host": host,
        "port": port,
        "starttls": starttls,
        "tls": tls,
        "username_env": username,
        "password_env": password,
        "timeout": timeout,
        "ca_file": ca_file,
    }


def _ca_file(ctx: _Ctx, f: _Field, encrypted: bool) -> str:
    """A PEM file of the certificate authorities that may sign the SMTP server's certificate (a private relay)."""
    name = _str(ctx, f).strip()
    if not encrypted:
        raise ctx.error("ca_file needs starttls or tls (it checks the server's certificate)", f.line, f.path)
    try:
        ssl.create_default_context(cafile=name)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ctx.error(
            f"cannot read certificate authorities from {name!r}: {reason}", f.line, f.path
        ) from exc
    return name


def _webhook_options(ctx: _Ctx, ch: YMap, path: str) -> dict[str, object]:
    url = _get(ch, "url", path)
    if url is None:
        raise ctx.error("missing url (required for a webhook channel)", ch.line, f"{path}.url")
    return {
        "url": _http_url(ctx, url),
        "secret_env": _env_name(ctx, f) if (f := _get(ch, "secret_env", path)) else None,
        "headers": _headers(ctx, f) if (f := _get(ch, "headers", path)) else {},
        "timeout": _duration(ctx, f) if (f := _get(ch, "timeout", path)) else 30.0,
    }


def _apprise_options(ctx: _Ctx, ch: YMap, path: str) -> dict[str, object]:
    url = _get(ch, "url", path)
    if url is None:
        raise ctx.error("missing url (required for an apprise channel)", ch.line, f"{path}.url")
    text = _str(ctx, url).strip()
    if not _SCHEME_URL.match(text):
        raise ctx.error(f"bad Apprise URL {text!r} (use scheme://..., e.g. slack://...)", url.line, url.path)
    return {"url": text}


def _feed_options(ctx: _Ctx, ch: YMap, path: str) -> dict[str, object]:
    where = _get(ch, "path", path)
    if where is None:
        raise ctx.error("missing path (the directory to write Atom feeds to)", ch.line, f"{path}.path")
    directory = _str(ctx, where).strip()
    if Path(directory).is_file():
        raise ctx.error(f"{directory!r} is a file; give a directory", where.line, where.path)
    base_url = _http_url(ctx, f) if (f := _get(ch, "base_url", path)) else None
    return {
        "path": directory,
        "title": _str(ctx, f) if (f := _get(ch, "title", path)) else "tosmonitor",
        "base_url": base_url,
    }


def _log_options(ctx: _Ctx, ch: YMap, path: str) -> dict[str, object]:
    return {
        "stream": _choice(ctx, f, ("stdout", "stderr")) if (f := _get(ch, "stream", path)) else "stdout",
        "format": _choice(ctx, f, ("text", "json")) if (f := _get(ch, "format", path)) else "text",
    }


_CHANNEL_OPTIONS: dict[str, tuple[tuple[str, ...], Callable[[_Ctx, YMap, str], dict[str, object]]]] = {
    "email": (
        (
            "to",
            "from",
            "host",
            "port",
            "starttls",
            "tls",
            "username_env",
            "password_env",
            "timeout",
            "ca_file",
        ),
        _email_options,
    ),
    "webhook": (("url", "secret_env", "headers", "timeout"), _webhook_options),
    "apprise": (("url",), _apprise_options),
    "feed": (("path", "title", "base_url"), _feed_options),
    "log": (("stream", "format"), _log_options),
}


def _service_names(ctx: _Ctx, f: _Field) -> tuple[str, ...]:
    names = _str_list(ctx, f)
    for index, name in enumerate(names):
        if name not in ctx.services:
            close = difflib.get_close_matches(name, ctx.services, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            path = f"{f.path}[{index}]" if isinstance(f.value, YList) else f.path
            line = f.value.item_lines[index] if isinstance(f.value, YList) else f.line
            raise ctx.error(f"unknown service {name!r}: not defined under services{hint}", line, path)
    return tuple(names)


def _channel(ctx: _Ctx, ch: YMap, path: str, name: str) -> ChannelSpec:
    kind = _get(ch, "type", path)
    assert kind is not None
    keys, options = _CHANNEL_OPTIONS[kind.value]
    _check_keys(ctx, ch, (*ROUTING_KEYS, *keys), path, f"a {kind.value} channel")
    spec: dict[str, Any] = {"name": name, "type": kind.value, "options": options(ctx, ch, path)}
    if f := _get(ch, "min_severity", path):
        spec["min_severity"] = _choice(ctx, f, SEVERITIES)
    if f := _get(ch, "only", path):
        spec["only"] = _choice(ctx, f, ("ai_training",))
    if f := _get(ch, "services", path):
        spec["services"] = _service_names(ctx, f)
    if f := _get(ch, "exclude_services", path):
        spec["exclude_services"] = _service_names(ctx, f)
    if (f := _get(ch, "digest", path)) and f.value is not None:
        spec["digest"] = _choice(ctx, f, ("run", "daily"))
    if f := _get(ch, "max_attempts", path):
        spec["max_attempts"] = _int(ctx, f, minimum=1)
    return ChannelSpec(**spec)


def _channels(ctx: _Ctx, top: YMap) -> tuple[ChannelSpec, ...]:
    f = _get(top, "channels", "")
    if f is None or f.value is None:
        return ()
    if not isinstance(f.value, YList):
        raise ctx.error(f"expected a list of channels, got {_type_name(f.value)}", f.line, f.path)
    entries: list[tuple[YMap, str, str]] = []
    for index, item in enumerate(f.value):
        path = f"channels[{index}]"
        ch = _mapping(ctx, item, f.value.item_lines[index], path)
        kind = _get(ch, "type", path)
        if kind is None:
            raise ctx.error(f"missing type (one of {', '.join(CHANNEL_TYPES)})", ch.line, f"{path}.type")
        if kind.value not in CHANNEL_TYPES:
            close = difflib.get_close_matches(str(kind.value), CHANNEL_TYPES, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(CHANNEL_TYPES)}"
            raise ctx.error(f"unknown channel type {kind.value!r} ({hint})", kind.line, kind.path)
        entries.append((ch, path, kind.value))
    counts: dict[str, int] = {}
    for ch, _, kind in entries:
        if "name" not in ch:
            counts[kind] = counts.get(kind, 0) + 1
    numbered: dict[str, int] = {}
    seen: dict[str, int] = {}
    channels = []
    for ch, path, kind in entries:
        if name_field := _get(ch, "name", path):
            name = _str(ctx, name_field).strip()
            line = name_field.line
        else:
            numbered[kind] = numbered.get(kind, 0) + 1
            name = kind if counts[kind] == 1 else f"{kind}-{numbered[kind]}"
            line = ch.line
        if name in seen:
            raise ctx.error(
                f"duplicate channel name {name!r} (also used at line {seen[name]}); give each a unique name",
                line,
                f"{path}.name",
            )
        seen[name] = line
        channels.append(_channel(ctx, ch, path, name))
    return tuple(channels)


# -- settings ------------------------------------------------------------------------------------------------

_SETTING_PARSERS: dict[str, Callable[[_Ctx, _Field], Any]] = {
    "concurrency": lambda ctx, f: _int(ctx, f, minimum=1),
    "per_host": lambda ctx, f: _int(ctx, f, minimum=1),
    "host_spacing": lambda ctx, f: _duration(ctx, f, positive=False),
    "retries": lambda ctx, f: _int(ctx, f, minimum=0),
    "full_fetch_every": lambda ctx, f: _duration(ctx, f),
    "health_after": lambda ctx, f: _int(ctx, f, minimum=1),
    "watchdog_after": lambda ctx, f: _duration(ctx, f),
    "suspect_shrink": lambda ctx, f: _float(ctx, f, low=0.0, high=1.0),
    "jitter": lambda ctx, f: _float(ctx, f, low=0.0, high=1.0),
    "confirm_changes": lambda ctx, f: _bool(ctx, f),
    "confirm_delay": lambda ctx, f: _duration(ctx, f, positive=False),
    "web_base_url": lambda ctx, f: None if f.value is None else _http_url(ctx, f),
}
assert set(_SETTING_PARSERS) == {f.name for f in fields(Settings)}, (
    "settings parsers out of step with Settings"
)


def _settings(ctx: _Ctx, top: YMap) -> Settings:
    f = _get(top, "settings", "")
    if f is None or f.value is None:
        return Settings()
    mapping = _mapping(ctx, f.value, f.line, f.path)
    _check_keys(ctx, mapping, _SETTING_PARSERS, f.path, "settings")
    values = {key: _SETTING_PARSERS[key](ctx, _get(mapping, key, f.path)) for key in mapping}  # type: ignore[arg-type]
    return Settings(**values)


# -- entry points --------------------------------------------------------------------------------------------


def parse_config(text: str, *, filename: str = "<string>") -> Config:
    """Validate the text of a targets.yaml; ``filename`` is used in error messages and as ``Config.path``.

    :raises ConfigError: naming the file, the line and the field of the first problem found.
    """
    ctx = _Ctx(filename)
    top = _compose(text, filename)
    if top is None:
        raise ConfigError("the file is empty: add a services: section", file=filename)
    top = _mapping(ctx, top, 1, "")
    _check_keys(ctx, top, TOP_KEYS, "", "the top level")
    defaults = _defaults(ctx, top)
    documents = _documents(ctx, top, defaults)
    channels = _channels(ctx, top)
    settings = _settings(ctx, top)
    return Config(path=filename, documents=documents, channels=channels, settings=settings)


def load_config(path: str | Path) -> Config:
    """Read and validate a targets.yaml file.

    :raises ConfigError: when the file cannot be read or is invalid (file, line and field named).
    """
    filename = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=filename) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the file ({exc.strerror or exc})", file=filename) from None
    return parse_config(text, filename=filename)


def check_channel_environment(config: Config, environ: Mapping[str, str] = os.environ) -> None:
    """Check that every environment variable named by a channel's ``*_env`` option is set.

    :raises ConfigError: naming each missing variable and its channel.
    """
    missing: list[tuple[str, str, str]] = []
    for channel in config.channels:
        for key, value in channel.options.items():
            if key.endswith("_env") and isinstance(value, str) and value and not environ.get(value):
                missing.append((channel.name, key, value))
    if missing:
        listed = "; ".join(f"{var} (channel {name!r}, {key})" for name, key, var in missing)
        first_name, first_key, _ = missing[0]
        raise ConfigError(
            f"environment variable{'s' if len(missing) > 1 else ''} not set: {listed}",
            file=config.path,
            field=f"channels.{first_name}.{first_key}",
        )


# -- Open Terms Archive rules files --------------------------------------------------------------------------

# Open Terms Archive filters are per-service JavaScript functions; those that do what a built-in filter does
# are mapped to it, the others have no equivalent here and are left out.
_OTA_FILTERS = {
    "removeTrackingIDs": "remove_query_params",
    "cleanUrls": "remove_query_params",
    "removeQueryParams": "remove_query_params",
    "removeRedirectFromLinks": "remove_query_params",
    "removeAmpDeviceId": "remove_session_tokens",
    "removeSessionIds": "remove_session_tokens",
    "decodeEmails": "decode_emails",
}
_RULES_KEYS = ("url", "fetch", "select", "remove", "filter", "combine", "executeClientScripts", "validUntil")
_RULES_SOURCE_KEYS = ("fetch", "url", "select", "remove", "filter", "executeClientScripts")


def _json_error(filename: str, path: str, message: str) -> ConfigError:
    return ConfigError(message, file=filename, field=path or None)


def _json_selectors(filename: str, value: Any, path: str) -> tuple[Selector, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    result: list[Selector] = []
    for index, item in enumerate(items):
        sub = f"{path}[{index}]" if isinstance(value, list) else path
        if isinstance(item, str):
            result.append(_json_css(filename, item, sub))
        elif isinstance(item, dict):
            unknown = [key for key in item if key not in RANGE_KEYS]
            starts = [key for key in ("startBefore", "startAfter") if key in item]
            ends = [key for key in ("endBefore", "endAfter") if key in item]
            if unknown or len(starts) != 1 or len(ends) != 1:
                raise _json_error(
                    filename,
                    sub,
                    "a range selector needs exactly one of startBefore/startAfter and one of endBefore/endAfter"
                    + (f" (unknown keys: {', '.join(map(str, unknown))})" if unknown else ""),
                )
            css = {key: _json_css(filename, item[key], f"{sub}.{key}") for key in (*starts, *ends)}
            result.append(
                RangeSelector(
                    start_before=css.get("startBefore"),
                    start_after=css.get("startAfter"),
                    end_before=css.get("endBefore"),
                    end_after=css.get("endAfter"),
                )
            )
        else:
            raise _json_error(
                filename, sub, f"expected a CSS selector or a range selector, got {_type_name(item)}"
            )
    return tuple(result)


def _json_css(filename: str, value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _json_error(filename, path, f"expected a CSS selector, got {_type_name(value)}")
    problem = _selector_problem(value.strip())
    if problem:
        raise _json_error(filename, path, f"bad CSS selector {value!r}: {problem}")
    return value.strip()


def _json_filters(filename: str, value: Any, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _json_error(filename, path, f"expected a list of filter names, got {_type_name(value)}")
    names: list[str] = []
    for index, item in enumerate(value):
        if isinstance(item, dict) and len(item) == 1:
            item = next(iter(item))  # {"removeQueryParams": ["utm_source", ...]}
        if not isinstance(item, str):
            raise _json_error(filename, f"{path}[{index}]", f"expected a filter name, got {_type_name(item)}")
        mapped = item if item in KNOWN_FILTERS else _OTA_FILTERS.get(item)
        if mapped:
            names.append(mapped)
    return tuple(dict.fromkeys(names))


def _json_url(filename: str, value: Any, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or (value and _url_problem(value)):
        raise _json_error(filename, path, f"bad URL {value!r}: use an http:// or https:// address")
    return value


def _rules_from_json(filename: str, data: Any) -> tuple[Source, ...]:
    if not isinstance(data, dict):
        raise _json_error(filename, "", f"expected a JSON object of rules, got {_type_name(data)}")
    if "terms" in data or "documents" in data:
        names = ", ".join(map(str, data.get("terms") or data.get("documents") or {}))
        raise _json_error(
            filename,
            "terms",
            f"this is a whole service declaration ({names}); pass the rules of one document",
        )
    for key in data:
        if key not in _RULES_KEYS:
            close = difflib.get_close_matches(str(key), _RULES_KEYS, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(_RULES_KEYS)})"
            raise _json_error(filename, str(key), f"unknown key {key!r}{hint}")
    url_key = "fetch" if "fetch" in data else "url"
    url = _json_url(filename, data.get(url_key), url_key)
    rules = Rules(
        select=_json_selectors(filename, data.get("select"), "select"),
        remove=_json_selectors(filename, data.get("remove"), "remove"),
        filters=_json_filters(filename, data.get("filter"), "filter"),
    )
    combine = data.get("combine")
    if combine is None:
        return (Source(url=url, rules=rules),)
    if not isinstance(combine, list) or not combine:
        raise _json_error(
            filename, "combine", f"expected a non-empty list of pages, got {_type_name(combine)}"
        )
    if url:
        raise _json_error(filename, url_key, "set either a URL or combine, not both")
    sources = []
    for index, page in enumerate(combine):
        path = f"combine[{index}]"
        if not isinstance(page, dict):
            raise _json_error(filename, path, f"expected an object with fetch, got {_type_name(page)}")
        for key in page:
            if key not in _RULES_SOURCE_KEYS:
                raise _json_error(filename, f"{path}.{key}", f"unknown key {key!r} in a combined page")
        page_key = "fetch" if "fetch" in page else "url"
        page_rules = Rules(
            select=_json_selectors(filename, page["select"], f"{path}.select")
            if page.get("select") is not None
            else rules.select,
            remove=_json_selectors(filename, page["remove"], f"{path}.remove")
            if page.get("remove") is not None
            else rules.remove,
            filters=tuple(
                dict.fromkeys(
                    (*rules.filters, *_json_filters(filename, page.get("filter"), f"{path}.filter"))
                )
            ),
        )
        sources.append(
            Source(url=_json_url(filename, page.get(page_key), f"{path}.{page_key}"), rules=page_rules)
        )
    return tuple(sources)


def load_rules_json(path: str | Path) -> tuple[Source, ...]:
    """The pages of one document described by an Open Terms Archive rules file, one Source per page.

    Accepts the ``rules.json`` shape (``url``, ``select``, ``remove``, ``filter``, ``combine``,
    ``executeClientScripts``) and the declaration document shape (``fetch`` instead of ``url``). A page
    without a URL gets ``""``. Per-page ``select``/``remove`` replace the document's; filters add up. Open
    Terms Archive filter names with a built-in equivalent are mapped to it; the others are left out.

    :raises ConfigError: naming the file and the field when the file is unreadable or malformed.
    """
    filename = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=filename) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the file ({exc.strerror or exc})", file=filename) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"invalid JSON: {exc.msg} (column {exc.colno})", file=filename, line=exc.lineno
        ) from None
    return _rules_from_json(filename, data)
