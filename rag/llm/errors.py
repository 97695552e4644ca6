"""Errors of the LLM layer: a server that cannot be used, and a reply that carries no answer."""
from __future__ import annotations

from rag.core.errors import RagifError


class LLMServerError(RagifError):
    """The LLM server could not be reached, refused the request, or kept failing after the retries."""


class EmptyReplyError(LLMServerError):
    """The server answered, but the reply carries no text (an empty ``choices`` list, ``content: null``, an
    error object in a 200 body, a malformed body) or, for ``option_probs``, no log-probabilities.

    Such replies are retried, never cached, and raised once the retries are spent. Stages that tolerate
    unparsable answers (judges) may catch this and count the item instead.
    """
