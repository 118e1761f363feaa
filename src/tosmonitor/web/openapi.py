# SPDX-License-Identifier: Apache-2.0
"""The OpenAPI 3.1 description of the JSON API (served at ``/api/openapi.json``)."""

from __future__ import annotations

from typing import Any


def _param(name: str, description: str, schema: dict[str, Any], where: str = "query") -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": schema,
    }


_LIMIT = _param("limit", "Items per page (1-1000).", {"type": "integer", "minimum": 1, "maximum": 1000})
_OFFSET = _param("offset", "Items to skip.", {"type": "integer", "minimum": 0})
_DOC_ID = _param(
    "doc_id", "Document id, e.g. linkedin/privacy-policy (the slash stays as is).", {"type": "string"}, "path"
)


def _listing(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "count", "limit", "next"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
            "count": {"type": "integer"},
            "limit": {"type": "integer"},
            "next": {
                "type": ["string", "null"],
                "description": "URL of the next page; null on the last page.",
            },
        },
    }


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {
        "200": {"description": description, "content": {"application/json": {"schema": schema}}},
        "304": {"description": "Not modified (If-None-Match matched the ETag)."},
        "400": {
            "description": "Invalid parameter",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
    }


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def openapi_spec(version: str, root_path: str = "") -> dict[str, Any]:
    """The API description; ``root_path`` becomes the server URL behind a reverse proxy."""
    nullable_str = {"type": ["string", "null"]}
    stance = {"type": ["string", "null"], "enum": ["none", "never", "opt-in", "opt-out", "no-choice", None]}
    severity = {"type": "string", "enum": ["info", "low", "medium", "high", "critical"]}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tosmonitor archive API",
            "version": version,
            "description": "Read-only access to the archived versions of terms of service and privacy policies, "
            "their changes and what they say about training AI on users' data. Every GET answers with an "
            "ETag; send If-None-Match to get 304 when the archive has not changed.",
        },
        "servers": [{"url": root_path or "/"}],
        "paths": {
            "/api/documents": {
                "get": {
                    "summary": "Every watched document, by id",
                    "parameters": [_LIMIT, _OFFSET],
                    "responses": _ok(_listing("Document")),
                }
            },
            "/api/documents/{doc_id}": {
                "get": {
                    "summary": "One document",
                    "parameters": [_DOC_ID],
                    "responses": _ok(_ref("Document")),
                }
            },
            "/api/documents/{doc_id}/versions": {
                "get": {
                    "summary": "A document's versions, oldest first",
                    "parameters": [_DOC_ID, _LIMIT, _OFFSET],
                    "responses": _ok(_listing("Version")),
                }
            },
            "/api/versions/{version_id}": {
                "get": {
                    "summary": "One version with its normalised text",
                    "parameters": [_param("version_id", "Version id.", {"type": "integer"}, "path")],
                    "responses": _ok(_ref("VersionText")),
                }
            },
            "/api/changes": {
                "get": {
                    "summary": "Changes in id order (oldest first), with cursor pagination",
                    "parameters": [
                        _param(
                            "since",
                            "Only changes detected at or after this ISO date/time.",
                            {"type": "string"},
                        ),
                        _param(
                            "ai",
                            "1: only changes to what the document says about AI training.",
                            {"type": "boolean"},
                        ),
                        _param("severity", "Only changes of at least this severity.", severity),
                        _param(
                            "service",
                            "Only this service (the first part of document ids).",
                            {"type": "string"},
                        ),
                        _param("document", "Only this document id.", {"type": "string"}),
                        _param(
                            "cursor",
                            "Changes after this change id (from the `next` link).",
                            {"type": "integer"},
                        ),
                        _LIMIT,
                    ],
                    "responses": _ok(_listing("Change")),
                }
            },
            "/api/changes/{change_id}": {
                "get": {
                    "summary": "One change with its stances and stored diff",
                    "parameters": [_param("change_id", "Change id.", {"type": "integer"}, "path")],
                    "responses": _ok(_ref("ChangeDetail")),
                }
            },
            "/api/search": {
                "get": {
                    "summary": "Full-text search over every version",
                    "parameters": [
                        {
                            **_param(
                                "q", 'Words (all must appear); "quoted phrases" kept.', {"type": "string"}
                            ),
                            "required": True,
                        },
                        _LIMIT,
                        _OFFSET,
                    ],
                    "responses": _ok(_listing("SearchHit")),
                }
            },
            "/api/deliveries": {
                "get": {
                    "summary": "Alert deliveries, newest first",
                    "parameters": [
                        _param(
                            "status",
                            "Only this status.",
                            {"type": "string", "enum": ["pending", "sent", "failed"]},
                        ),
                        _LIMIT,
                        _OFFSET,
                    ],
                    "responses": _ok(_listing("Delivery")),
                }
            },
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {"status": {"type": "integer"}, "message": {"type": "string"}},
                        }
                    },
                },
                "Document": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "service": {"type": "string"},
                        "name": {"type": "string"},
                        "url": {"type": "string"},
                        "health": {"type": "string"},
                        "consecutive_failures": {"type": "integer"},
                        "last_error": nullable_str,
                        "first_seen_at": nullable_str,
                        "last_checked_at": nullable_str,
                        "last_success_at": nullable_str,
                        "latest_version_id": {"type": ["integer", "null"]},
                        "training": stance,
                        "latest_change_id": {"type": ["integer", "null"]},
                        "links": {"type": "object"},
                    },
                },
                "Version": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "document_id": {"type": "string"},
                        "sha256": {"type": "string"},
                        "first_seen_at": {"type": "string"},
                        "size": {"type": "integer"},
                        "training": stance,
                        "technical": {"type": "boolean"},
                        "imported": {"type": "boolean"},
                        "previous_version_id": {"type": ["integer", "null"]},
                        "change_id": {"type": ["integer", "null"]},
                        "snapshots": {"type": "array", "items": {"type": "string"}},
                        "links": {"type": "object"},
                    },
                },
                "VersionText": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "document_id": {"type": "string"},
                        "sha256": {"type": "string"},
                        "first_seen_at": {"type": "string"},
                        "training": stance,
                        "technical": {"type": "boolean"},
                        "previous_version_id": {"type": ["integer", "null"]},
                        "text": {"type": "string"},
                    },
                },
                "Finding": {
                    "type": "object",
                    "properties": {
                        "rule": {"type": "string"},
                        "severity": severity,
                        "summary": {"type": "string"},
                        "old": nullable_str,
                        "new": nullable_str,
                    },
                },
                "Change": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "document_id": {"type": "string"},
                        "service": {"type": "string"},
                        "document": {"type": "string"},
                        "from_version": {"type": "integer"},
                        "to_version": {"type": "integer"},
                        "detected_at": {"type": "string"},
                        "severity": severity,
                        "ai_training_change": {"type": "boolean"},
                        "technical": {"type": "boolean"},
                        "cosmetic": {"type": "boolean"},
                        "training_before": stance,
                        "training_after": stance,
                        "headline": nullable_str,
                        "findings": {"type": "array", "items": _ref("Finding")},
                        "stats": {"type": ["object", "null"]},
                        "links": {"type": "object"},
                    },
                },
                "ChangeDetail": {
                    "allOf": [
                        _ref("Change"),
                        {
                            "type": "object",
                            "properties": {
                                "stance_before": {"type": ["object", "null"]},
                                "stance_after": {"type": ["object", "null"]},
                                "diff": {"type": ["object", "null"]},
                            },
                        },
                    ]
                },
                "SearchHit": {
                    "type": "object",
                    "properties": {
                        "version_id": {"type": "integer"},
                        "document_id": {"type": "string"},
                        "service": {"type": "string"},
                        "document": {"type": "string"},
                        "first_seen_at": {"type": "string"},
                        "training": stance,
                        "current": {"type": "boolean"},
                        "snippet": {"type": "string", "description": "Matches between [ and ]."},
                        "links": {"type": "object"},
                    },
                },
                "Delivery": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "event_kind": {"type": "string"},
                        "event_id": {"type": "string"},
                        "change_id": {"type": ["integer", "null"]},
                        "document_id": nullable_str,
                        "channel": {"type": "string"},
                        "severity": severity,
                        "status": {"type": "string", "enum": ["pending", "sent", "failed"]},
                        "attempts": {"type": "integer"},
                        "last_error": nullable_str,
                    },
                },
            }
        },
    }
