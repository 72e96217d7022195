"""The OpenAPI 3.1 document of ``/api/v1``, built from the app's own routes.

Paths, methods and path parameters come from Flask's URL map, so the document cannot list a route
that does not exist or miss one that does. What the map cannot know — query parameters, the request
body, the success status — each view declares next to its route with :func:`api_doc`; a test fails for
any API route without one. Errors share one schema (``{"error": {"code", "message"}}``) everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask

F = TypeVar("F", bound=Callable[..., Any])

ERROR_STATUSES = {"400": "Invalid request (the message says what to fix)", "401": "Not logged in / bad token",
                  "403": "The caller's role does not allow this", "404": "No such object",
                  "409": "Conflicts with the current state", "413": "Request too large",
                  "429": "Too many requests (see Retry-After)"}


@dataclass(frozen=True)
class ApiDoc:
    summary: str
    query: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> schema (+ "description")
    body: dict[str, Any] | None = None  # JSON schema of the request body
    status: int = 200
    response: dict[str, Any] | None = None  # JSON schema of the success body (default: an object)
    tag: str = ""
    path: dict[str, dict[str, Any]] = field(default_factory=dict)  # a path parameter's schema beyond its type


def api_doc(summary: str, *, query: dict[str, dict[str, Any]] | None = None, body: dict[str, Any] | None = None,
            status: int = 200, response: dict[str, Any] | None = None, tag: str = "",
            path: dict[str, dict[str, Any]] | None = None) -> Callable[[F], F]:
    """Declare what the URL map cannot tell about an API view (put it under the route decorator)."""
    def mark(view: F) -> F:
        view.__api_doc__ = ApiDoc(summary, query or {}, body, status, response, tag,  # type: ignore[attr-defined]
                                  path or {})
        return view
    return mark


def obj(properties: dict[str, Any], *, required: tuple[str, ...] = (), closed: bool = True) -> dict[str, Any]:
    """A JSON object schema; ``closed`` (no other fields) matches the API's 400 for unknown fields."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
ID = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
BOOLEAN = {"type": "boolean"}
NUMBER = {"type": "number"}
def tag_names(kind: str, *, untagged: bool = False) -> dict[str, Any]:
    """A persona or stage parameter: its allowed values are the deployment's configured names (admins may
    change them at run time), filled in when the document is served."""
    return {"type": "string", "x-kb-tags": kind, "x-kb-untagged": untagged,
            "description": f"a configured {kind[:-1]}" + (", or 'none' for untagged" if untagged else "")}


def _resolve_tags(value: Any, settings: Any) -> Any:
    if isinstance(value, dict):
        if "x-kb-tags" in value:
            names = [tag.name for tag in getattr(settings, value["x-kb-tags"])]
            rest = {k: v for k, v in value.items() if not k.startswith("x-kb-")}
            return {**rest, "enum": names + (["none"] if value.get("x-kb-untagged") else [])}
        return {key: _resolve_tags(item, settings) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve_tags(item, settings) for item in value]
    return value


PAGING = {"limit": {"type": "integer", "description": "rows per page (clamped to 1..max_page_size)"},
          "offset": {"type": "integer", "description": "rows to skip (negative counts as 0)"}}

_CONVERTERS = {"int": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},  # web.converters.IdConverter
               "default": STRING, "string": STRING, "path": STRING}
_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def _path_and_params(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params = [{"name": name, "in": "path", "required": True, "schema": _CONVERTERS.get(conv or "default", STRING)}
              for conv, name in _PARAM.findall(rule)]
    return _PARAM.sub(lambda m: "{" + m.group(2) + "}", rule), params


def _operation(endpoint: str, doc: ApiDoc, params: list[dict[str, Any]], required_role: str) -> dict[str, Any]:
    params = [{**param, "schema": doc.path.get(param["name"], param["schema"])} for param in params]
    parameters = params + [{"name": name, "in": "query", "required": bool(schema.get("required")),
                            "schema": {k: v for k, v in schema.items() if k not in ("description", "required")},
                            **({"description": schema["description"]} if "description" in schema else {})}
                           for name, schema in doc.query.items()]
    responses: dict[str, Any] = {str(doc.status): {"description": "Success", "content": {
        "application/json": {"schema": doc.response or {"type": "object"}}}}}
    for status, text in ERROR_STATUSES.items():
        responses[status] = {"description": text, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    operation: dict[str, Any] = {"operationId": endpoint.replace(".", "_"), "summary": doc.summary,
                                 "tags": [doc.tag or "api"], "parameters": parameters, "responses": responses,
                                 "description": f"Role required: {required_role}."}
    if required_role == "public":
        operation["security"] = []
    if doc.body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": doc.body}}}
    return operation


def openapi_document(app: Flask) -> dict[str, Any]:
    """The document for every ``/api/v1`` route of ``app``."""
    from web.access_rules import RULES

    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/api/v1"):
            continue
        doc = view_doc(app, rule.endpoint)
        path, params = _path_and_params(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(rule.endpoint, doc, params,
                                                                    RULES.get(rule.endpoint, "none"))
    document = {
        "openapi": "3.1.0",
        "info": {"title": "Smarketing KB API", "version": "1",
                 "description": "Search content, ask prospect questions, work the backlog, run the weekly review. "
                                "Authenticate with `Authorization: Bearer <token>` (create tokens under Account); "
                                "lists are paged with `limit` and `offset`."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": {"Error": obj({"error": obj({"code": STRING, "message": STRING}, required=("code", "message"))},
                                     required=("error",))},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                "session": {"type": "apiKey", "in": "cookie", "name": "__Host-kb_session",
                                            "description": "The browser session; writes also need X-CSRFToken."}},
        },
        "security": [{"bearer": []}, {"session": []}],
    }
    return _resolve_tags(document, app.extensions["kb"].settings)


def view_doc(app: Flask, endpoint: str) -> ApiDoc:
    """The view's :func:`api_doc`, or (never for long: a test demands one) its docstring's first line."""
    view = app.view_functions[endpoint]
    doc = getattr(view, "__api_doc__", None)
    if doc is None:
        doc = ApiDoc(((view.__doc__ or endpoint).strip().splitlines() or [endpoint])[0])
    return doc
