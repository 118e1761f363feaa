# SPDX-License-Identifier: Apache-2.0
"""Tests of targets.yaml loading, validation errors (file, line, field), parsers and rules.json loading."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from tosmonitor.config import (
    KNOWN_FILTERS,
    check_channel_environment,
    load_config,
    load_rules_json,
    parse_config,
    parse_duration,
    parse_size,
    slugify,
)
from tosmonitor.errors import ConfigError
from tosmonitor.models import RangeSelector, Rules, Settings, Source

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "targets.yaml"


def parse(text: str, filename: str = "targets.yaml"):
    return parse_config(textwrap.dedent(text), filename=filename)


def error_of(text: str, filename: str = "targets.yaml") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text, filename)
    return info.value


def assert_error(err: ConfigError, *, line: int, field: str | None, contains: str) -> None:
    assert err.file == "targets.yaml"
    assert err.line == line, str(err)
    assert err.field == field, str(err)
    text = str(err)
    assert text.startswith(f"targets.yaml:{line}: ")
    if field:
        assert f": {field}: " in text
    assert contains in text, text


MINIMAL = """\
services:
  Acme:
    documents:
      Privacy Policy:
        url: https://acme.example/privacy
"""


# -- the shipped file ----------------------------------------------------------------------------------------


def test_shipped_targets_load():
    config = load_config(SHIPPED)
    services = {doc.service for doc in config.documents}
    ids = [doc.id for doc in config.documents]
    assert len(services) >= 15
    assert len(config.documents) >= 40
    assert len(ids) == len(set(ids))
    for name in ("LinkedIn", "Facebook", "Instagram", "X", "Google", "Reddit", "OpenAI", "Anthropic", "Zoom"):
        assert name in services
    for doc in config.documents:
        assert re.fullmatch(r"[a-z0-9-]+/[a-z0-9-]+", doc.id), doc.id
        assert doc.url.startswith("https://"), doc.id
        assert ("Accept-Language", "en-US,en;q=0.9") in doc.headers
        assert "tosmonitor" in doc.user_agent
    assert [c.type for c in config.channels] == ["log"]
    linkedin = config.document("linkedin/privacy-policy")
    assert linkedin.interval == 6 * 3600
    assert linkedin.sources[0].rules.select == ("#component-container",)
    assert config.document("google/terms-of-service").interval == 12 * 3600


def test_shipped_commented_channels_are_valid(tmp_path):
    """Uncommenting the example channels of the shipped file gives a valid configuration."""
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()
    start = lines.index("channels:")
    end = lines.index("settings:")
    out = lines[:start]
    for line in lines[start:end]:
        if line.startswith("  # -") or line.startswith("  #   "):
            line = "  " + line[4:]
        out.append(line)
    out += lines[end:]
    path = tmp_path / "targets.yaml"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    config = load_config(path)
    assert [c.type for c in config.channels] == ["log", "email", "webhook", "apprise", "feed"]
    env = {"SMTP_USER": "u", "SMTP_PASSWORD": "p", "TOSMONITOR_HOOK_SECRET": "s"}
    check_channel_environment(config, env)
    with pytest.raises(ConfigError, match="SMTP_PASSWORD"):
        check_channel_environment(config, {k: v for k, v in env.items() if k != "SMTP_PASSWORD"})


# -- documents, defaults and merging -------------------------------------------------------------------------


def test_minimal_document_gets_built_in_defaults():
    config = parse(MINIMAL)
    (doc,) = config.documents
    assert doc.id == "acme/privacy-policy"
    assert (doc.service, doc.name, doc.url) == ("Acme", "Privacy Policy", "https://acme.example/privacy")
    assert doc.interval == 12 * 3600 and doc.cron is None and doc.timeout == 30.0
    assert doc.javascript is None
    assert doc.sources == (Source(url="https://acme.example/privacy", rules=Rules()),)
    assert config.channels == () and config.settings == Settings()
    assert config.path == "targets.yaml"


def test_defaults_are_merged_and_document_wins():
    config = parse(
        """\
        defaults:
          interval: 1h30m
          timeout: 10s
          user_agent: "monitor/1 (+https://example.org)"
          headers: {Accept-Language: "en-US", X-Team: watchdog}
          javascript: false
          max_bytes: 2MB
        services:
          Acme:
            documents:
              Terms:
                url: https://acme.example/terms
                cron: "30 */6 * * *"
                headers: {accept-language: fr-FR, X-Extra: "1"}
                max_bytes: 512KiB
                javascript: true
              Privacy:
                url: https://acme.example/privacy
                timeout: 45s
                user_agent: other/2
        """
    )
    terms, privacy = config.documents
    assert terms.cron == "30 */6 * * *" and terms.interval is None
    assert terms.timeout == 10.0
    assert dict(terms.headers) == {"accept-language": "fr-FR", "X-Team": "watchdog", "X-Extra": "1"}
    assert terms.max_bytes == 512 * 1024
    assert terms.javascript is True
    assert privacy.interval == 5400.0 and privacy.cron is None
    assert privacy.timeout == 45.0 and privacy.user_agent == "other/2"
    assert dict(privacy.headers) == {"Accept-Language": "en-US", "X-Team": "watchdog"}
    assert privacy.javascript is False and privacy.max_bytes == 2_000_000


def test_document_interval_overrides_default_cron():
    config = parse(
        """\
        defaults: {cron: "0 3 * * *"}
        services:
          Acme:
            documents:
              A: {url: "https://acme.example/a"}
              B: {url: "https://acme.example/b", interval: 2d}
        """
    )
    a, b = config.documents
    assert (a.cron, a.interval) == ("0 3 * * *", None)
    assert (b.cron, b.interval) == (None, 2 * 86400.0)


def test_selectors_ranges_filters_and_explicit_id():
    config = parse(
        """\
        services:
          X (Twitter):
            documents:
              Privacy Policy:
                id: x/privacy
                url: https://x.example/privacy
                select: main
                remove:
                  - ".banner"
                  - {startBefore: "#old", endAfter: "footer"}
                filters: [remove_query_params, decode_emails]
              Terms of Service:
                url: https://x.example/tos
        """
    )
    privacy, terms = config.documents
    assert privacy.id == "x/privacy"
    assert terms.id == "x-twitter/terms-of-service"
    rules = privacy.sources[0].rules
    assert rules.select == ("main",)
    assert rules.remove == (".banner", RangeSelector(start_before="#old", end_after="footer"))
    assert rules.filters == ("remove_query_params", "decode_emails")


def test_combine_sources_override_document_rules():
    config = parse(
        """\
        services:
          Acme:
            documents:
              Privacy Policy:
                select: [article]
                remove: [.ad]
                filters: [remove_dates]
                combine:
                  - url: https://acme.example/privacy
                  - url: https://acme.example/privacy/eu
                    select: ["#eu"]
                  - {url: "https://acme.example/privacy/kids", remove: [".nav"]}
        """
    )
    (doc,) = config.documents
    assert [s.url for s in doc.sources] == [
        "https://acme.example/privacy",
        "https://acme.example/privacy/eu",
        "https://acme.example/privacy/kids",
    ]
    assert doc.sources[0].rules == Rules(select=("article",), remove=(".ad",), filters=("remove_dates",))
    assert doc.sources[1].rules == Rules(select=("#eu",), remove=(".ad",), filters=("remove_dates",))
    assert doc.sources[2].rules == Rules(select=("article",), remove=(".nav",), filters=("remove_dates",))


def test_yaml_anchors_and_merge_keys_are_allowed():
    config = parse(
        """\
        services:
          Acme:
            documents:
              A: &base
                url: https://acme.example/a
                select: [main]
              B:
                <<: *base
                url: https://acme.example/b
        """
    )
    a, b = config.documents
    assert b.url == "https://acme.example/b"
    assert b.sources[0].rules.select == ("main",)


def test_settings_are_parsed():
    config = parse(
        MINIMAL
        + """\
settings:
  concurrency: 4
  host_spacing: 500ms
  full_fetch_every: 2d
  suspect_shrink: 0.3
  web_base_url: https://watch.example.org/
"""
    )
    assert config.settings == Settings(
        concurrency=4,
        host_spacing=0.5,
        full_fetch_every=172800.0,
        suspect_shrink=0.3,
        web_base_url="https://watch.example.org/",
    )


def test_load_config_reads_a_file_and_names_it(tmp_path):
    path = tmp_path / "watch.yaml"
    path.write_text(MINIMAL.replace("https://acme.example/privacy", "ftp://acme.example/p"), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:5: services.Acme.documents.Privacy Policy.url: bad URL")
    path.write_text(MINIMAL, encoding="utf-8")
    assert load_config(path).path == str(path)


def test_load_config_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")


# -- one error kind at a time: file, line and field ---------------------------------------------------------


def test_yaml_syntax_error_has_its_line():
    err = error_of(
        """\
        services:
          Acme:
            documents:
              Privacy: {url: https://acme.example/p
              Terms: {url: https://acme.example/t}
        """
    )
    assert err.file == "targets.yaml" and err.line in (4, 5)
    assert "YAML syntax error" in str(err)
    assert str(err).startswith(f"targets.yaml:{err.line}: ")


def test_bad_indentation_is_a_syntax_error():
    err = error_of("services:\n  Acme:\n    documents:\n  bad: [\n")
    assert "YAML syntax error" in str(err) and err.line is not None


def test_unknown_top_level_key_suggests_nearest():
    err = error_of(MINIMAL + "setings:\n  retries: 2\n")
    assert_error(
        err,
        line=6,
        field="setings",
        contains="unknown key 'setings' in the top level (did you mean 'settings'?)",
    )


def test_unknown_document_key_suggests_nearest():
    err = error_of(MINIMAL + "        intervall: 6h\n")
    assert_error(
        err,
        line=6,
        field="services.Acme.documents.Privacy Policy.intervall",
        contains="(did you mean 'interval'?)",
    )


def test_unknown_key_without_close_match_lists_known_keys():
    err = error_of(MINIMAL + "        colour: blue\n")
    assert_error(
        err, line=6, field="services.Acme.documents.Privacy Policy.colour", contains="known keys: url"
    )


def test_wrong_type():
    err = error_of(
        """\
        services:
          Acme:
            documents:
              Privacy Policy:
                url: https://acme.example/p
                javascript: "sometimes"
        """
    )
    assert_error(
        err,
        line=6,
        field="services.Acme.documents.Privacy Policy.javascript",
        contains="expected true or false, got text ('sometimes')",
    )


def test_wrong_type_for_documents():
    err = error_of("services:\n  Acme:\n    documents: [a, b]\n")
    assert_error(
        err, line=3, field="services.Acme.documents", contains="expected a mapping of keys, got a list"
    )


def test_missing_url():
    err = error_of(
        """\
        services:
          Acme:
            documents:
              Terms:
                url: https://acme.example/t
              Privacy Policy:
                select: main
        """
    )
    assert_error(err, line=6, field="services.Acme.documents.Privacy Policy", contains="missing url")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("acme.example/privacy", "use an http:// or https:// address"),
        ("ftp://acme.example/privacy", "use an http:// or https:// address"),
        ("https:///privacy", "no host name"),
        ("https://acme.example:99999/", "Port out of range"),
    ],
)
def test_bad_url(url, reason):
    err = error_of(MINIMAL.replace("https://acme.example/privacy", url))
    assert_error(err, line=5, field="services.Acme.documents.Privacy Policy.url", contains=f"bad URL '{url}'")
    assert reason in str(err)


def test_bad_duration_message_matches_contract():
    text = (
        "defaults:\n  timeout: 30s\n\n\n\n\nservices:\n  LinkedIn:\n    documents:\n      Privacy Policy:\n"
        "        url: https://www.linkedin.example/legal/privacy-policy\n        interval: 6x\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, filename="targets.yaml")
    assert str(info.value) == (
        "targets.yaml:12: services.LinkedIn.documents.Privacy Policy.interval: bad duration '6x' "
        "(use 30s, 15m, 12h or 2d)"
    )


def test_bad_duration_in_defaults():
    err = error_of("defaults:\n  timeout: soon\n" + MINIMAL)
    assert_error(err, line=2, field="defaults.timeout", contains="bad duration 'soon'")


def test_zero_interval_is_rejected():
    err = error_of(MINIMAL + "        interval: 0s\n")
    assert_error(
        err, line=6, field="services.Acme.documents.Privacy Policy.interval", contains="longer than zero"
    )


def test_interval_and_cron_together():
    err = error_of(MINIMAL + "        interval: 1h\n        cron: '0 * * * *'\n")
    assert_error(err, line=7, field="services.Acme.documents.Privacy Policy.cron", contains="not both")


def test_bad_cron_expression():
    err = error_of(MINIMAL + "        cron: '61 * * * *'\n")
    assert_error(
        err,
        line=6,
        field="services.Acme.documents.Privacy Policy.cron",
        contains="bad cron expression '61 * * * *'",
    )
    err = error_of(MINIMAL + "        cron: 'every day'\n")
    assert_error(
        err, line=6, field="services.Acme.documents.Privacy Policy.cron", contains="bad cron expression"
    )


def test_bad_css_selector():
    err = error_of(MINIMAL + "        select: [main, 'div[']\n")
    assert_error(
        err,
        line=6,
        field="services.Acme.documents.Privacy Policy.select[1]",
        contains="bad CSS selector 'div['",
    )


def test_bad_css_selector_on_its_own_line_in_a_block_list():
    err = error_of(MINIMAL + "        remove:\n          - .ok\n          - 'a >> b'\n")
    assert_error(
        err, line=8, field="services.Acme.documents.Privacy Policy.remove[1]", contains="bad CSS selector"
    )


def test_bad_range_selector():
    err = error_of(
        MINIMAL + "        select:\n          - {startBefore: h1, startAfter: h2, endBefore: footer}\n"
    )
    assert_error(
        err, line=7, field="services.Acme.documents.Privacy Policy.select[0]", contains="exactly one of"
    )
    err = error_of(MINIMAL + "        select:\n          - {startBefore: h1, endBefor: footer}\n")
    assert_error(
        err,
        line=7,
        field="services.Acme.documents.Privacy Policy.select[0].endBefor",
        contains="did you mean 'endBefore'?",
    )


def test_duplicate_document_key():
    err = error_of(
        """\
        services:
          Acme:
            documents:
              Privacy Policy:
                url: https://acme.example/p
              Terms:
                url: https://acme.example/t
              Privacy Policy:
                url: https://acme.example/p2
        """
    )
    assert_error(
        err,
        line=8,
        field="services.Acme.documents.Privacy Policy",
        contains="duplicate key 'Privacy Policy' (first defined at line 4)",
    )


def test_duplicate_key_inside_a_document():
    err = error_of(MINIMAL + "        url: https://acme.example/other\n")
    assert_error(
        err, line=6, field="services.Acme.documents.Privacy Policy.url", contains="duplicate key 'url'"
    )


def test_two_documents_with_the_same_id():
    err = error_of(
        """\
        services:
          Acme:
            documents:
              Privacy Policy:
                url: https://acme.example/p
              Privacy-Policy:
                url: https://acme.example/p2
        """
    )
    assert_error(
        err,
        line=6,
        field="services.Acme.documents.Privacy-Policy",
        contains="duplicate document id 'acme/privacy-policy' (also services.Acme.documents.Privacy Policy at line 4)",
    )


def test_explicit_id_collision_across_services():
    err = error_of(
        """\
        services:
          Acme:
            documents:
              Terms: {url: "https://acme.example/t"}
          Other:
            documents:
              Terms: {url: "https://other.example/t", id: acme/terms}
        """
    )
    assert_error(
        err, line=7, field="services.Other.documents.Terms", contains="duplicate document id 'acme/terms'"
    )


def test_unknown_filter():
    err = error_of(MINIMAL + "        filters: [remove_query_params, remove_date]\n")
    assert_error(
        err,
        line=6,
        field="services.Acme.documents.Privacy Policy.filters[1]",
        contains="unknown filter 'remove_date' (did you mean 'remove_dates'?)",
    )


def test_known_filters_are_the_contract_names():
    assert {
        "remove_query_params",
        "decode_emails",
        "remove_dates",
        "remove_session_tokens",
        "normalise_whitespace",
    } == KNOWN_FILTERS


@pytest.mark.parametrize(
    ("text", "line", "field", "contains"),
    [
        ("", None, None, "the file is empty"),
        ("defaults: {interval: 1h}\n", 1, "services", "no services"),
        ("services: {}\n", 1, "services", "no services defined"),
        ("services:\n", 1, "services", "no services defined"),
        ("services:\n  Acme:\n    documents: {}\n", 3, "services.Acme.documents", "no documents defined"),
        ("services:\n  Acme: {}\n", 2, "services.Acme", "missing documents"),
        ("- a\n- b\n", 1, None, "expected a mapping of keys, got a list"),
    ],
)
def test_empty_or_missing_services(text, line, field, contains):
    with pytest.raises(ConfigError) as info:
        parse_config(text, filename="targets.yaml")
    err = info.value
    assert err.file == "targets.yaml"
    assert (err.line, err.field) == (line, field), str(err)
    assert contains in str(err)


def test_unknown_service_key():
    err = error_of("services:\n  Acme:\n    url: https://acme.example\n    documents: {}\n")
    assert_error(err, line=3, field="services.Acme.url", contains="unknown key 'url' in a service")


def test_bad_explicit_id():
    err = error_of(MINIMAL + "        id: 'acme / privacy'\n")
    assert_error(
        err, line=6, field="services.Acme.documents.Privacy Policy.id", contains="bad id 'acme / privacy'"
    )


def test_unsluggable_name_needs_an_id():
    err = error_of("services:\n  文心:\n    documents:\n      条款:\n        url: https://ex.example/t\n")
    assert_error(err, line=4, field="services.文心.documents.条款", contains="give one with id:")
    config = parse(
        "services:\n  文心:\n    documents:\n      条款:\n        url: https://ex.example/t\n        id: wx/terms\n"
    )
    assert config.documents[0].id == "wx/terms"


def test_bad_size_and_settings():
    err = error_of(MINIMAL + "        max_bytes: 10 parsecs\n")
    assert_error(err, line=6, field="services.Acme.documents.Privacy Policy.max_bytes", contains="bad size")
    err = error_of(MINIMAL + "settings:\n  concurrency: 0\n")
    assert_error(err, line=7, field="settings.concurrency", contains="must be at least 1")
    err = error_of(MINIMAL + "settings:\n  retries: many\n")
    assert_error(err, line=7, field="settings.retries", contains="expected a whole number")
    err = error_of(MINIMAL + "settings:\n  jitter: 2\n")
    assert_error(err, line=7, field="settings.jitter", contains="between 0.0 and 1.0")
    err = error_of(MINIMAL + "settings:\n  conccurency: 2\n")
    assert_error(err, line=7, field="settings.conccurency", contains="did you mean 'concurrency'?")


# -- channels ------------------------------------------------------------------------------------------------

CHANNEL_BASE = """\
services:
  Acme:
    documents:
      Privacy Policy: {url: "https://acme.example/p"}
  Globex:
    documents:
      Terms: {url: "https://globex.example/t"}
channels:
"""


def channels_of(text: str):
    return parse(CHANNEL_BASE + textwrap.dedent(text)).channels


def channel_error(text: str) -> ConfigError:
    return error_of(CHANNEL_BASE + textwrap.dedent(text))


def test_channels_all_types():
    channels = channels_of(
        """\
        - type: email
          to: alerts@example.org
          from: monitor@example.org
          host: smtp.example.org
          starttls: true
          username_env: SMTP_USER
          password_env: SMTP_PASSWORD
          min_severity: high
        - {type: webhook, url: "https://hooks.example.org/x", secret_env: HOOK_SECRET, headers: {X-A: b}}
        - {type: apprise, url: "slack://a/b/c", only: ai_training, services: [Acme]}
        - {type: feed, path: feeds/, title: Watch, digest: daily}
        - {type: log, stream: stderr, format: json, exclude_services: Globex, max_attempts: 2}
        - {type: log}
        """
    )
    assert [c.name for c in channels] == ["email", "webhook", "apprise", "feed", "log-1", "log-2"]
    email, webhook, apprise, feed, log1, log2 = channels
    assert email.options == {
        "to": ["alerts@example.org"],
        "from": "monitor@example.org",
        "host": "smtp.example.org",
        "port": 587,
        "starttls": True,
        "tls": False,
        "username_env": "SMTP_USER",
        "password_env": "SMTP_PASSWORD",
        "timeout": 30.0,
        "ca_file": None,
    }
    assert email.min_severity == "high"
    assert webhook.options == {
        "url": "https://hooks.example.org/x",
        "secret_env": "HOOK_SECRET",
        "headers": {"X-A": "b"},
        "timeout": 30.0,
    }
    assert apprise.options == {"url": "slack://a/b/c"}
    assert (apprise.only, apprise.services) == ("ai_training", ("Acme",))
    assert feed.options == {"path": "feeds/", "title": "Watch", "base_url": None}
    assert feed.digest == "daily"
    assert log1.options == {"stream": "stderr", "format": "json"}
    assert (log1.exclude_services, log1.max_attempts) == (("Globex",), 2)
    assert log2.options == {"stream": "stdout", "format": "text"} and log2.max_attempts == 6


@pytest.mark.parametrize(
    ("extra", "port"), [("tls: true", 465), ("starttls: true", 587), ("", 25), ("port: 2525", 2525)]
)
def test_email_port_defaults(extra, port):
    (email,) = channels_of(f"- {{type: email, to: [a@x.org], from: b@x.org, host: smtp.x.org, {extra}}}\n")
    assert email.options["port"] == port


def test_email_certificate_authorities_file(tmp_path):
    (email,) = channels_of("- {type: email, to: a@x.org, from: b@x.org, host: h, starttls: true}\n")
    assert email.options["ca_file"] is None
    missing = tmp_path / "relay-ca.pem"
    spec = f"- {{type: email, to: a@x.org, from: b@x.org, host: h, starttls: true, ca_file: '{missing}'}}\n"
    assert_error(
        channel_error(spec),
        line=9,
        field="channels[0].ca_file",
        contains="cannot read certificate authorities",
    )
    missing.write_text("not a certificate\n")
    assert_error(channel_error(spec), line=9, field="channels[0].ca_file", contains=str(missing))
    plain = f"- {{type: email, to: a@x.org, from: b@x.org, host: h, ca_file: '{missing}'}}\n"
    assert_error(channel_error(plain), line=9, field="channels[0].ca_file", contains="needs starttls or tls")


def test_named_channels_and_duplicates():
    channels = channels_of("- {type: log, name: audit}\n- {type: log}\n")
    assert [c.name for c in channels] == ["audit", "log"]
    err = channel_error("- {type: log, name: main}\n- {type: feed, path: out, name: main}\n")
    assert_error(
        err, line=10, field="channels[1].name", contains="duplicate channel name 'main' (also used at line 9)"
    )


@pytest.mark.parametrize(
    ("text", "line", "field", "contains"),
    [
        ("- {type: pager}\n", 9, "channels[0].type", "unknown channel type 'pager'"),
        ("- {type: emial}\n", 9, "channels[0].type", "did you mean 'email'?"),
        ("- {name: x}\n", 9, "channels[0].type", "missing type"),
        ("- {type: log}\n- {type: webhook}\n", 10, "channels[1].url", "missing url"),
        ("- {type: webhook, url: 'hooks.example.org'}\n", 9, "channels[0].url", "bad URL"),
        ("- {type: apprise, url: 'not a url'}\n", 9, "channels[0].url", "bad Apprise URL"),
        ("- {type: feed}\n", 9, "channels[0].path", "missing path"),
        ("- {type: log, stream: stdlog}\n", 9, "channels[0].stream", "expected one of stdout, stderr"),
        ("- {type: log, format: xml}\n", 9, "channels[0].format", "expected one of text, json"),
        ("- {type: log, url: 'https://x.org'}\n", 9, "channels[0].url", "unknown key 'url' in a log channel"),
        (
            "- {type: log, min_severity: urgent}\n",
            9,
            "channels[0].min_severity",
            "info, low, medium, high, critical",
        ),
        ("- {type: log, only: privacy}\n", 9, "channels[0].only", "expected one of ai_training"),
        ("- {type: log, digest: weekly}\n", 9, "channels[0].digest", "expected one of run, daily"),
        ("- {type: log, max_attempts: 0}\n", 9, "channels[0].max_attempts", "must be at least 1"),
        (
            "- {type: log, services: [Acme, Initech]}\n",
            9,
            "channels[0].services[1]",
            "unknown service 'Initech'",
        ),
        ("- {type: log, exclude_services: Acm}\n", 9, "channels[0].exclude_services", "did you mean 'Acme'?"),
        ("- {type: email, from: a@x.org, host: h}\n", 9, "channels[0].to", "missing to"),
        (
            "- {type: email, to: nobody, from: a@x.org, host: h}\n",
            9,
            "channels[0].to",
            "not an e-mail address",
        ),
        (
            "- {type: email, to: a@x.org, from: a@x.org, host: h, tls: true, starttls: true}\n",
            9,
            "channels[0].tls",
            "not both",
        ),
        (
            "- {type: email, to: a@x.org, from: a@x.org, host: h, password_env: 'smtp-pass'}\n",
            9,
            "channels[0].password_env",
            "not an environment variable name",
        ),
        (
            "- {type: email, to: a@x.org, from: a@x.org, host: h, port: 70000}\n",
            9,
            "channels[0].port",
            "bad port",
        ),
        (
            "- {type: webhook, url: 'https://h.example', secret: abc}\n",
            9,
            "channels[0].secret",
            "did you mean 'secret_env'?",
        ),
        ("- log\n", 9, "channels[0]", "expected a mapping of keys"),
    ],
)
def test_bad_channels(text, line, field, contains):
    assert_error(channel_error(text), line=line, field=field, contains=contains)


def test_channels_must_be_a_list():
    err = error_of(CHANNEL_BASE + "  type: log\n  stream: stdout\n")
    assert_error(err, line=9, field="channels", contains="expected a list of channels, got a mapping")


def test_check_channel_environment():
    config = parse(
        CHANNEL_BASE
        + """\
  - {type: email, to: a@x.org, from: b@x.org, host: h, username_env: SMTP_USER, password_env: SMTP_PASSWORD}
  - {type: webhook, url: "https://h.example/hook", secret_env: HOOK_SECRET}
  - {type: webhook, name: open, url: "https://h.example/open"}
"""
    )
    check_channel_environment(config, {"SMTP_USER": "u", "SMTP_PASSWORD": "p", "HOOK_SECRET": "s"})
    with pytest.raises(ConfigError) as info:
        check_channel_environment(config, {"SMTP_USER": "u"})
    err = info.value
    assert err.file == "targets.yaml" and err.field == "channels.email.password_env"
    assert "SMTP_PASSWORD (channel 'email', password_env)" in str(err)
    assert "HOOK_SECRET (channel 'webhook', secret_env)" in str(err)
    assert "SMTP_USER" not in str(err)
    with pytest.raises(ConfigError, match="HOOK_SECRET"):
        check_channel_environment(config, {"SMTP_USER": "u", "SMTP_PASSWORD": "p", "HOOK_SECRET": ""})


# -- parsers -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30s", 30.0),
        ("15m", 900.0),
        ("12h", 43200.0),
        ("2d", 172800.0),
        ("1h30m", 5400.0),
        ("1h 30m 15s", 5415.0),
        ("1.5h", 5400.0),
        ("500ms", 0.5),
        ("1w", 604800.0),
        ("45", 45.0),
        (90, 90.0),
        (0.25, 0.25),
        ("12H", 43200.0),
    ],
)
def test_parse_duration(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value", ["6x", "", "h", "12h5", "-5s", "1h-30m", "twelve hours", True, -1, None, [1]]
)
def test_parse_duration_rejects(value):
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("10MB", 10_000_000),
        ("512KiB", 524_288),
        ("1MiB", 1_048_576),
        ("1.5GB", 1_500_000_000),
        ("2 kb", 2000),
        ("100B", 100),
        ("4096", 4096),
        (1048576, 1048576),
    ],
)
def test_parse_size(value, size):
    assert parse_size(value) == size


@pytest.mark.parametrize("value", ["10XB", "MB", "", "-1MB", -5, True, 1.5])
def test_parse_size_rejects(value):
    with pytest.raises(ValueError, match="bad size"):
        parse_size(value)


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Privacy Policy", "privacy-policy"),
        ("X (Twitter)", "x-twitter"),
        ("DALL·E", "dall-e"),
        ("Café Terms", "cafe-terms"),
        ("  Terms -- of   Service!  ", "terms-of-service"),
        ("Stack Overflow", "stack-overflow"),
        ("文心", ""),
    ],
)
def test_slugify(text, slug):
    assert slugify(text) == slug


# -- rules.json ----------------------------------------------------------------------------------------------


def write_json(tmp_path: Path, data: object, name: str = "rules.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def test_rules_json_single_page(tmp_path):
    path = write_json(
        tmp_path,
        {
            "url": "https://acme.example/privacy",
            "select": ["article", {"startAfter": "h1", "endBefore": ".footer"}],
            "remove": ".ad, .nav",
            "filter": ["removeTrackingIDs", {"removeQueryParams": ["utm_source"]}, "someServiceSpecificFix"],
            "combine": None,
            "executeClientScripts": True,
        },
    )
    assert load_rules_json(path) == (
        Source(
            url="https://acme.example/privacy",
            rules=Rules(
                select=("article", RangeSelector(start_after="h1", end_before=".footer")),
                remove=(".ad, .nav",),
                filters=("remove_query_params",),
            ),
        ),
    )


def test_rules_json_declaration_shape_with_combine(tmp_path):
    path = write_json(
        tmp_path,
        {
            "select": ["main"],
            "remove": [".banner"],
            "combine": [
                {"fetch": "https://acme.example/a"},
                {"fetch": "https://acme.example/b", "select": ["table"], "executeClientScripts": True},
                {"fetch": "https://acme.example/c", "remove": [], "filter": ["decode_emails"]},
            ],
        },
    )
    a, b, c = load_rules_json(path)
    assert a == Source("https://acme.example/a", Rules(select=("main",), remove=(".banner",)))
    assert b == Source("https://acme.example/b", Rules(select=("table",), remove=(".banner",)))
    assert c == Source("https://acme.example/c", Rules(select=("main",), filters=("decode_emails",)))


def test_rules_json_without_url(tmp_path):
    path = write_json(tmp_path, {"url": None, "select": "div#content", "remove": None, "filter": None})
    assert load_rules_json(path) == (Source(url="", rules=Rules(select=("div#content",))),)
    path = write_json(
        tmp_path, {"fetch": "https://acme.example/t", "select": {"startBefore": "h1", "endAfter": "p"}}
    )
    (source,) = load_rules_json(path)
    assert source.url == "https://acme.example/t"
    assert source.rules.select == (RangeSelector(start_before="h1", end_after="p"),)


@pytest.mark.parametrize(
    ("data", "field", "contains"),
    [
        (["main"], None, "expected a JSON object"),
        (
            {"url": "https://a.example", "select": [3]},
            "select[0]",
            "expected a CSS selector or a range selector",
        ),
        ({"url": "https://a.example", "select": ["div["]}, "select[0]", "bad CSS selector"),
        ({"url": "https://a.example", "remove": [{"startBefore": "h1"}]}, "remove[0]", "exactly one of"),
        ({"url": "https://a.example", "selct": ["main"]}, "selct", "did you mean 'select'?"),
        ({"url": "ftp://a.example"}, "url", "bad URL"),
        ({"combine": "https://a.example"}, "combine", "expected a non-empty list"),
        (
            {"combine": [{"fetch": "https://a.example", "selector": "x"}]},
            "combine[0].selector",
            "unknown key",
        ),
        ({"combine": ["https://a.example"]}, "combine[0]", "expected an object"),
        ({"url": "https://a.example", "filter": "cleanUrls"}, "filter", "expected a list of filter names"),
        (
            {"name": "Acme", "terms": {"Privacy Policy": {}}},
            "terms",
            "whole service declaration (Privacy Policy)",
        ),
    ],
)
def test_rules_json_errors_name_file_and_field(tmp_path, data, field, contains):
    path = write_json(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_rules_json(path)
    err = info.value
    assert err.file == str(path)
    assert err.field == (field or None), str(err)
    assert contains in str(err)
    assert str(err).startswith(str(path))


def test_rules_json_syntax_error_has_line(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text('{\n "url": "https://a.example",\n "select": [main]\n}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_rules_json(path)
    assert info.value.line == 3 and "invalid JSON" in str(info.value)
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules_json(tmp_path / "missing.json")


# -- the reference documents every key ----------------------------------------------------------------------


def test_configuration_reference_documents_every_key():
    from dataclasses import fields

    from tosmonitor import config as cfg

    reference = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    keys = {*cfg.TOP_KEYS, *cfg.DEFAULT_KEYS, *cfg.DOCUMENT_KEYS, *cfg.ROUTING_KEYS, *cfg.RANGE_KEYS}
    keys |= {key for options, _ in cfg._CHANNEL_OPTIONS.values() for key in options}
    keys |= {f.name for f in fields(Settings)} | set(KNOWN_FILTERS) | set(cfg.CHANNEL_TYPES)
    missing = sorted(key for key in keys if f"`{key}`" not in reference)
    assert not missing, f"docs/configuration.md does not document: {missing}"
