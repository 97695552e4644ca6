"""Secrets (API keys, tokens) come only from the environment; this keeps their values out of logs.

:func:`install_log_redaction` adds a filter to the root logging handlers that replaces the value of any
environment variable whose name looks secret (``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``, ``*PASSWORD*``)
with ``[redacted]`` in every record. :func:`redact_url` hides credentials written inside a URL
(``https://user:key@host/v1`` -> ``https://***@host/v1``, secret-looking query parameters too); :func:`redact`
does both, on any text.
"""
from __future__ import annotations

import logging
import os
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SECRET_NAME = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD)", re.IGNORECASE)
MIN_LENGTH = 6  # shorter values would redact ordinary words


def secret_values() -> list[str]:
    """Values of the secret-looking environment variables (longest first)."""
    values = {v for k, v in os.environ.items() if SECRET_NAME.search(k) and len(v) >= MIN_LENGTH}
    return sorted(values, key=len, reverse=True)


SECRET_PARAM = re.compile(r"(key|token|secret|passw|sig|auth|credential)", re.IGNORECASE)
HIDDEN = "***"
# scheme://userinfo@ inside any text: up to the last '@' before the first '/' or white space
_USERINFO_IN_TEXT = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s'\"<>]+)@")
_SECRET_PARAM_IN_TEXT = re.compile(r"(?P<name>[?&][^=&#\s'\"<>]*(?:key|token|secret|passw|sig|auth|credential)"
                                   r"[^=&#\s'\"<>]*=)(?P<value>[^&#\s'\"<>]+)", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with its user-info (``user:password@``) and the values of secret-looking query parameters
    (``api_key=``, ``token=``, ...) replaced by ``***``; the rest unchanged, so the result is stable and
    still names the server. Text that does not parse as a URL is redacted as free text."""
    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return redact_urls(text)
    if not parts.scheme or not parts.netloc:
        return redact_urls(text)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = HIDDEN + "@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(SECRET_PARAM.search(name) for name, _ in pairs):
            query = urlencode([(n, HIDDEN if SECRET_PARAM.search(n) else v) for n, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_urls(text: str) -> str:
    """Every URL's user-info and secret-looking query values inside free text replaced by ``***``."""
    text = _USERINFO_IN_TEXT.sub(lambda m: f"{m['scheme']}{HIDDEN}@", text)
    return _SECRET_PARAM_IN_TEXT.sub(lambda m: f"{m['name']}{HIDDEN}", text)


def redact(text: str) -> str:
    """``text`` without secrets: values of secret-looking environment variables and URL credentials."""
    for value in secret_values():
        text = text.replace(value, "[redacted]")
    return redact_urls(text)


class RedactingFilter(logging.Filter):
    """A logging filter replacing the values of secret-looking environment variables with ``[redacted]``."""
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install_log_redaction() -> None:
    """Attach the redacting filter to every handler of the root logger (idempotent)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
