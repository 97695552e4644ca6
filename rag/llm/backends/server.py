"""What an OpenAI-compatible server says about itself: how many requests it serves at once, and which model
it serves under a name.

* llama.cpp's ``llama-server``: ``GET /props`` (``total_slots``, ``model_path``, ``chat_template``), else the
  length of ``GET /slots``;
* llama-cpp-python's ``python -m llama_cpp.server``: one request at a time (its requests wait on one lock),
  recognised by the title of its ``/openapi.json``;
* vLLM and hosted APIs give no limit (the configured ``concurrency`` is used);
* ``GET {base_url}/models``: the entry of the configured model (vLLM's ``root`` is the weights' path or hub
  name; llama.cpp and llama-cpp-python list the model file or its alias), without the fields that change at
  every start (``created``, permission ids).

Every probe is best effort: a server that does not answer one is asked the next; nothing here raises.
"""
from __future__ import annotations

import base64
import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

log = logging.getLogger(__name__)
VOLATILE = ("created", "permission", "permissions")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))   # a local server: no proxy
LLAMA_CPP_PYTHON_TITLE = "llama.cpp Python API"


@dataclass
class ServerInfo:
    """``slots``: requests the server serves at once (None: it does not say); ``source``: who said so;
    ``served``: what it reports serving (a JSON-able mapping; empty when it reports nothing); ``answered``:
    whether it answered the model list (False: unreachable or busy; then ``served`` is not to be trusted)."""

    slots: int | None = None
    source: str = "not reported"
    served: dict[str, Any] = field(default_factory=dict)
    answered: bool = False


def server_root(base_url: str) -> str:
    """``base_url`` without a trailing ``/v1`` (where llama.cpp's ``/props`` and ``/slots`` live)."""
    parts = urlsplit(base_url)
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[:-3]
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def _join(base: str, path: str) -> str:
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + path, parts.query, parts.fragment))


def _without_userinfo(url: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    """``url`` without ``user:password@`` (sent as HTTP basic authentication instead, as the requests are)."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, headers
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    token = base64.b64encode(f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()).decode()
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), \
        {"Authorization": f"Basic {token}", **headers}


class _Unreachable(Exception):
    """No connection to the server (or no answer in time)."""


def _get_json(url: str, headers: dict[str, str], timeout: float) -> Any:
    """The JSON a GET of ``url`` answers; None when it answers something else (an error status, not JSON);
    :class:`_Unreachable` when it does not answer."""
    request = urllib.request.Request(url, headers=headers, method="GET")
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            data = response.read()
    except urllib.error.HTTPError:   # the server answered: it has no such endpoint
        return None
    except Exception as exc:  # noqa: BLE001 - refused, unresolvable, timed out, a bad URL
        raise _Unreachable(str(exc)) from None
    try:
        return json.loads(data)
    except ValueError:
        return None


def probe(base_url: str, model: str, headers: dict[str, str], timeout: float) -> ServerInfo:
    """Ask the server at ``base_url`` (see the module docstring). Each probe waits at most 10 s, the model list
    at most ``timeout`` (up to 60 s: llama-cpp-python answers it only between two requests it serves); a server
    that does not answer the first is not asked the others. ``answered`` says whether the model list came."""
    base_url, headers = _without_userinfo(base_url, headers)
    root = server_root(base_url)
    info = ServerInfo()
    quick = min(timeout, 10.0)
    try:
        props = _get_json(_join(root, "/props"), headers, quick)
    except _Unreachable as exc:
        log.debug("LLM server %s does not answer (%s)", root, exc)
        return info
    try:
        if isinstance(props, dict):
            slots = props.get("total_slots")
            if isinstance(slots, int) and not isinstance(slots, bool) and slots >= 1:
                info.slots, info.source = slots, "/props total_slots"
            for key in ("model_path", "model_alias", "chat_template"):
                if isinstance(props.get(key), str):
                    info.served[key] = props[key]
        if info.slots is None:
            slots = _get_json(_join(root, "/slots"), headers, quick)
            if isinstance(slots, list) and slots:
                info.slots, info.source = len(slots), "/slots"
        if info.slots is None:
            spec = _get_json(_join(root, "/openapi.json"), headers, quick)
            title = spec.get("info", {}).get("title") if isinstance(spec, dict) and \
                isinstance(spec.get("info"), dict) else None
            if isinstance(title, str) and LLAMA_CPP_PYTHON_TITLE in title:
                info.slots, info.source = 1, "llama-cpp-python's server (one request at a time)"
        listed = _get_json(_join(base_url, "/models"), headers, min(timeout, 60.0))
    except _Unreachable as exc:
        log.debug("LLM server %s stopped answering (%s)", root, exc)
        return info
    info.answered = True
    entries = listed.get("data") if isinstance(listed, dict) else None
    if isinstance(entries, list):
        models = [e for e in entries if isinstance(e, dict)]
        chosen = [e for e in models if e.get("id") == model] or (models if len(models) == 1 else [])
        if chosen:
            info.served["model"] = {k: v for k, v in chosen[0].items() if k not in VOLATILE}
        elif models:
            info.served["models"] = sorted(str(e.get("id")) for e in models)
    return info
