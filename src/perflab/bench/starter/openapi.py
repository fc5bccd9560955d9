"""A starter study from an OpenAPI document: one request per operation, values from the
document's examples and defaults or generated (`perflab.bench.starter.values`), the
documented success status as ``expect``, a login each user runs first when the API names an
OAuth2 password flow, and a flow wherever the paths make it obvious that one operation
creates what another reads (``POST /items`` + ``/items/{item_id}``: create, capture the id,
then read, update and delete it). Every guess is kept as a note for the writer's comments.

Usage::

    starter = starter_from_openapi(document, source="http://127.0.0.1:8000/openapi.json")
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlsplit

from perflab.bench.starter.model import Starter, StarterFlow, StarterRequest
from perflab.bench.starter.values import NoValue, example_value, resolve
from perflab.loadgen.capture import NAME

METHODS = ("get", "post", "put", "patch", "delete")
FLOW_ORDER = ("get", "post", "put", "patch", "delete")  # after the create: read, change, remove
_JSON = re.compile(r"^application/([a-z0-9.+-]*\+)?json")
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def request_name(method: str, path: str) -> str:
    """``get_items_item_id`` for ``GET /items/{item_id}``. Usage: ``request_name("get", "/")``"""
    slug = re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_") or "root"
    return f"{method.lower()}_{slug}"


def _success(operation: dict[str, Any]) -> int | None:
    codes = sorted(int(c) for c in operation.get("responses", {}) if str(c).isdigit())
    return next((code for code in codes if 200 <= code < 300), None)


def _parameters(path_item: dict[str, Any], operation: dict[str, Any], components: Any) -> list[Any]:
    by_key = {}
    for parameter in [*path_item.get("parameters", []), *operation.get("parameters", [])]:
        parameter = resolve(parameter, components)
        by_key[(parameter.get("in"), parameter.get("name"))] = parameter
    return list(by_key.values())


def _parameter_value(parameter: dict[str, Any], components: Any) -> tuple[Any, str]:
    if "example" in parameter:
        return parameter["example"], "example"
    examples = parameter.get("examples")
    if isinstance(examples, dict) and examples:
        first = next(iter(examples.values()))
        if isinstance(first, dict) and "value" in first:
            return first["value"], "example"
    return example_value(parameter.get("schema", {}), components, str(parameter.get("name")))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _body(request: StarterRequest, operation: dict[str, Any], components: Any) -> None:
    body = resolve(operation.get("requestBody"), components)
    if not isinstance(body, dict) or not body.get("content"):
        return
    content: dict[str, Any] = body["content"]
    json_type = next((t for t in content if _JSON.match(t)), None)
    chosen = json_type or next((t for t in content if t in _FORMS), None)
    if chosen is None:
        request.disabled = f"its body is {', '.join(content)}: give one (body_file = ...)"
        return
    media = content[chosen] or {}
    try:
        if "example" in media:
            value, origin = media["example"], "example"
        elif isinstance(media.get("examples"), dict) and media["examples"]:
            first = next(iter(media["examples"].values()))
            value, origin = first.get("value"), "example"
        else:
            value, origin = example_value(media.get("schema", {}), components, "body")
    except NoValue as exc:
        request.disabled = (
            f"no body could be built ({exc}): a file upload needs form = {{ field = '@file' }}"
        )
        return
    if origin == "generated":
        request.notes.append("body generated from the schema: put in realistic values")
    if json_type:
        request.json = value
    elif isinstance(value, dict):
        request.form = {str(k): _text(v) for k, v in value.items()}


def _operation_request(
    path: str,
    method: str,
    path_item: dict[str, Any],
    operation: dict[str, Any],
    components: Any,
    captured: dict[str, str],
) -> StarterRequest:
    """The request for one operation; path parameters named in `captured` stay placeholders."""
    request = StarterRequest(request_name(method, path), method.upper(), path)
    request.expect_status = _success(operation)
    if request.expect_status is None:
        request.notes.append("no 2xx answer documented: add expect = { status = ... }")
    target, query, skipped = path, [], []
    for parameter in _parameters(path_item, operation, components):
        where, name = parameter.get("in"), str(parameter.get("name"))
        if where == "path" and name in captured:
            target = target.replace(f"{{{name}}}", f"{{{captured[name]}}}")
            continue
        if where not in ("path", "query", "header") or not (
            parameter.get("required") or where == "path"
        ):
            skipped.append(name)
            continue
        try:
            value, origin = _parameter_value(parameter, components)
        except NoValue as exc:
            request.disabled = f"no value for {where} parameter {name}: {exc}"
            continue
        if where == "path":
            target = target.replace(f"{{{name}}}", quote(_text(value), safe=""))
            if origin == "generated":
                request.disabled = (
                    f"{{{name}}} = {_text(value)!r} is generated: put a real one in the path"
                )
        elif where == "query":
            query.append(f"{quote(name)}={quote(_text(value))}")
        else:
            request.headers[name] = _text(value)
        if origin == "generated" and where != "path":
            request.notes.append(f"{where} parameter {name} generated: put a realistic value")
    if skipped:
        request.notes.append(f"optional parameters left out: {', '.join(skipped)}")
    request.path = target + (("?" + "&".join(query)) if query else "")
    _body(request, operation, components)
    return request


def _server_prefix(document: dict[str, Any]) -> str:
    servers = document.get("servers") or []
    url = str(servers[0].get("url", "")) if servers and isinstance(servers[0], dict) else ""
    return urlsplit(url).path.rstrip("/")


def _capture_field(post: dict[str, Any], parameter: str, components: Any) -> tuple[str, bool]:
    """The field of the create's answer that holds the new id, and whether it is a guess."""
    code = str(_success(post) or "")
    media = post.get("responses", {}).get(code, {}).get("content", {})
    schema_ = next((m.get("schema") for t, m in media.items() if _JSON.match(t)), None)
    try:
        properties = resolve(schema_, components).get("properties", {}) if schema_ else {}
    except (NoValue, AttributeError):
        properties = {}
    for name in (parameter, "id"):
        if name in properties:
            return name, False
    ids = [p for p in properties if p.endswith("id")]
    return (ids[0], True) if ids else ("id", True)


def _creators(paths: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """item path -> (collection path, its id parameter), where the collection has a POST."""
    found = {}
    for path in paths:
        match = re.fullmatch(r"(?P<collection>.*)/\{(?P<param>[^}/]+)\}/?", path)
        if match is None or "{" in match["collection"]:
            continue
        for collection in (match["collection"], match["collection"] + "/"):
            if isinstance(paths.get(collection), dict) and "post" in paths[collection]:
                found[path] = (collection, match["param"])
                break
    return found


def starter_from_openapi(document: dict[str, Any], source: str) -> Starter:
    """Every operation of `document` as a starter study (see module). Usage: see module."""
    components = document.get("components", {})
    title = str(document.get("info", {}).get("title") or "my service")
    starter = Starter(title=title, source=source)
    prefix = _server_prefix(document)
    paths: dict[str, Any] = document.get("paths", {})
    login = _login(starter, document, components, prefix)
    creators = _creators(paths)
    capture_names: dict[str, str] = {}
    for item_path, (_, parameter) in creators.items():
        capture_names[item_path] = parameter if NAME.fullmatch(parameter) else "item_id"
    flows: dict[str, StarterFlow] = {}
    for path, path_item in paths.items():
        for method in METHODS:
            operation = path_item.get(method) if isinstance(path_item, dict) else None
            if not isinstance(operation, dict) or (method == "post" and path == login):
                continue
            captured = {}
            if path in creators:
                captured = {creators[path][1]: capture_names[path]}
            request = _operation_request(path, method, path_item, operation, components, captured)
            request.path = prefix + request.path
            if _secured(document, operation) and starter.on_start:
                request.headers["Authorization"] = "Bearer {token}"
            starter.requests.append(request)
            _join_flows(request, path, method, operation, creators, capture_names, flows,
                        components)  # fmt: skip
    by_name = {request.name: request for request in starter.requests}
    for item_path, flow in flows.items():
        if flow.steps and by_name[flow.steps[0]].capture:
            starter.flows.append(flow)
            continue
        for step in flow.steps:  # an id that nothing in the document creates
            by_name[step].disabled = f"needs a real {{{creators[item_path][1]}}} in its path"
            by_name[step].path = by_name[step].path.replace(
                f"{{{capture_names[item_path]}}}", f"{{{creators[item_path][1]}}}"
            )
    return starter


def _join_flows(
    request: StarterRequest,
    path: str,
    method: str,
    operation: dict[str, Any],
    creators: dict[str, tuple[str, str]],
    capture_names: dict[str, str],
    flows: dict[str, StarterFlow],
    components: Any,
) -> None:
    """Put a create (POST on a collection) or an operation on its items into their flow."""
    if request.disabled:
        return
    for item_path, (collection, parameter) in creators.items():
        name = capture_names[item_path]
        flow = flows.setdefault(
            item_path, StarterFlow(collection.strip("/").replace("/", "_") or "items", [])
        )
        if method == "post" and path == collection and not flow.steps:
            field_name, guessed = _capture_field(operation, parameter, components)
            request.capture[name] = f"json:{field_name}"
            if guessed:
                request.notes.append(f"guessed: the new id is the answer's `{field_name}`")
            flow.steps.insert(0, request.name)
            flow.notes.append(
                f"guessed from the paths: POST {collection} creates what {item_path} reads "
                f"(its {{{parameter}}} is the created `{request.capture[name][5:]}`)"
            )
        elif path == item_path and method in FLOW_ORDER:
            flow.steps.append(request.name)
            flow.steps[1:] = sorted(
                flow.steps[1:], key=lambda step: FLOW_ORDER.index(step.split("_")[0])
            )


def _secured(document: dict[str, Any], operation: dict[str, Any]) -> bool:
    return bool(operation.get("security", document.get("security", [])))


def _login(starter: Starter, document: dict[str, Any], components: Any, prefix: str) -> str | None:
    """The on_start login of an OAuth2 password flow; the login path, or None."""
    for name, scheme in components.get("securitySchemes", {}).items():
        token_url = scheme.get("flows", {}).get("password", {}).get("tokenUrl")
        if scheme.get("type") != "oauth2" or not token_url:
            if scheme.get("type") in ("http", "apiKey"):
                starter.notes.append(
                    f"security scheme {name} ({scheme.get('type')}): add its header to the "
                    "requests that need it (a var keeps the secret in one place)"
                )
            continue
        path = urlsplit(str(token_url)).path
        path = path if path.startswith("/") else "/" + path
        operation = document.get("paths", {}).get(path, {}).get("post", {})
        login = StarterRequest(
            "login", "POST", prefix + path, expect_status=_success(operation) or 200
        )
        login.form = {"username": "user", "password": "password"}
        login.notes.append(f"the login of security scheme {name} (OAuth2 password flow)")
        login.notes.append("guessed credentials: use a real user's")
        if operation:
            _body(login, operation, components)
            login.disabled = None
        login.capture = {"token": "json:access_token"}
        starter.on_start.append(login)
        return path
    return None
