"""URL credentials are never shown: user-info and secret-looking query values become ***, the rest stays."""
from __future__ import annotations

import logging

import pytest

from rag.core.secrets import RedactingFilter, redact, redact_url


@pytest.mark.parametrize("url, shown", [
    ("https://user:key@host/v1", "https://***@host/v1"),
    ("https://sk-only-a-key@host:8443/v1", "https://***@host:8443/v1"),
    ("https://u:p%40ss@a@b.example/x", "https://***@b.example/x"),          # the last '@' ends the user-info
    ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),              # nothing secret: unchanged
    ("https://host/v1?api_key=abc&model=m", "https://host/v1?api_key=***&model=m"),
    ("https://host/v1?access_token=abc", "https://host/v1?access_token=***"),
    ("https://USER:PW@Host/v1?Sig=zz#frag", "https://***@Host/v1?Sig=***#frag"),
    ("not a url", "not a url"),
])
def test_redact_url(url, shown):
    assert redact_url(url) == shown
    assert redact_url(redact_url(url)) == shown                              # stable


def test_redact_finds_urls_inside_free_text():
    text = "POST https://alice:s3cret@api.example/v1/chat failed; retry http://h/x?token=abc&n=1 'ftp://b:c@d/'"
    clean = redact(text)
    assert "s3cret" not in clean and "alice" not in clean and "abc" not in clean and "b:c" not in clean
    assert "https://***@api.example/v1/chat" in clean and "token=***&n=1" in clean


def test_the_log_filter_redacts_urls():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "server %s down", ("https://u:pw123@h/v1",), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == "server https://***@h/v1 down"
