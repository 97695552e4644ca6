"""Secrets (API keys, tokens) come only from the environment; this keeps their values out of logs.

:func:`install_log_redaction` adds a filter to the root logging handlers that replaces the value of any
environment variable whose name looks secret (``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``, ``*PASSWORD*``)
with ``[redacted]`` in every record.
"""
from __future__ import annotations

import logging
import os
import re

SECRET_NAME = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD)", re.IGNORECASE)
MIN_LENGTH = 6  # shorter values would redact ordinary words


def secret_values() -> list[str]:
    """Values of the secret-looking environment variables (longest first)."""
    values = {v for k, v in os.environ.items() if SECRET_NAME.search(k) and len(v) >= MIN_LENGTH}
    return sorted(values, key=len, reverse=True)


def redact(text: str) -> str:
    for value in secret_values():
        text = text.replace(value, "[redacted]")
    return text


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
