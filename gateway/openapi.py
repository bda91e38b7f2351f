"""The OpenAPI 3.1 document of the webhook and the admin API.

Each route module states the paths it serves in an ``OPENAPI`` mapping next
to its routes, built with ``operation`` here; ``document`` joins them. A test
checks that every registered route is documented with the scope it enforces.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gateway import __version__

Json = dict[str, Any]

PROBLEM = "application/problem+json"
_PROBLEM_TEXT = {
    400: "The request or a query parameter is malformed",
    401: "No valid token, or no valid signature",
    403: "The token lacks the scope this call needs",
    404: "No such object",
    413: "The body is over the size limit",
    415: "The body is not sent as JSON (Content-Type: application/json)",
    422: "The input is invalid; errors[] names each field",
    429: "Too many failed attempts; see Retry-After",
    503: "Try again later; see Retry-After",
}


def ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def json_body(schema: Json, description: str) -> Json:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def path_param(name: str, description: str) -> Json:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "minLength": 1},
    }


def query_param(name: str, description: str, schema: Json) -> Json:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def operation(
    summary: str,
    *,
    scope: str | None,
    ok: Mapping[int, Json],
    problems: Sequence[int] = (),
    parameters: Sequence[Json] = (),
    body: Json | None = None,
) -> Json:
    """One operation. ``scope`` is the token scope it needs, ``None`` for a public
    one; a JSON ``body`` is read by ``gateway.json_input``, with its answers."""
    codes = set(problems) | ({401, 403, 429} if scope else set())
    if body is not None:
        codes |= {400, 415, 422}
    responses: Json = {str(code): answer for code, answer in ok.items()}
    for code in sorted(codes):
        responses[str(code)] = {
            "description": _PROBLEM_TEXT[code],
            "content": {PROBLEM: {"schema": ref("Problem")}},
        }
    result: Json = {"summary": summary, "responses": responses}
    if parameters:
        result["parameters"] = list(parameters)
    if body is not None:
        result["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    # OpenAPI 3.1 §4.8.30: for a non-OAuth scheme the array lists roles; here, the scope.
    result["security"] = [{"bearer": [scope]}] if scope else []
    return result


def simple(scope: str, *operations: tuple[str, str, str]) -> dict[str, Json]:
    """Paths for ``(method, path, summary)`` operations taking and answering
    JSON objects, with their path parameters named by the template."""
    paths: dict[str, Json] = {}
    for method, path, summary in operations:
        writes = method != "get"
        paths.setdefault(path, {})[method] = operation(
            summary,
            scope=scope,
            ok={200: json_body({"type": "object"}, summary)},
            problems=(400, 404, 422) if writes else (404,),
            parameters=[
                path_param(name, name.replace("_", " ")) for name in re.findall(r"{(\w+)}", path)
            ],
            body={"type": "object"} if method in ("put", "patch") else None,
        )
    return paths


SCHEMAS: Json = {
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"pointer": {"type": "string"}, "detail": {"type": "string"}},
                },
            },
        },
    },
}


def document(
    fragments: Iterable[Mapping[str, Json]], schemas: Iterable[Mapping[str, Json]]
) -> Json:
    paths: Json = {}
    for fragment in fragments:
        for path, operations in fragment.items():
            paths.setdefault(path, {}).update(operations)
    components: Json = dict(SCHEMAS)
    for extra in schemas:
        components.update(extra)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Herald",
            "version": __version__,
            "description": "Platform events in on a signed webhook; runs, settings and logins"
            " through the admin API. Errors are RFC 9457 problem+json.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An admin token (`herald tokens create`); each call names"
                    " the scope it needs.",
                }
            },
        },
    }
