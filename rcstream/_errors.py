"""Error mapping for replies that arrive over the WebSocket (``ClientRequest`` answers and
``Error`` frames), without building a fake HTTP response.

REST answers over HTTPS are mapped by :func:`rcstream._http.error_from_response`; both
use the same rules (status and ``errorCode`` -> exception type), so a refusal means the
same thing whichever way it came.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rcstream._http import Response, error_from_response

__all__ = ["error_from_frame", "error_from_reply"]


def error_from_reply(what: str, status: int, headers: Mapping[str, str], body: Any) -> Exception:
    """The rcstream exception for a non-2xx ``ClientRequest`` reply over the socket."""
    return error_from_response(what, Response(status=status, headers=dict(headers), body=body))


def error_from_frame(
    what: str,
    *,
    status: int | None,
    headers: Mapping[str, Any],
    body: Any,
) -> Exception:
    """The rcstream exception for a gateway ``Error`` frame (status defaults to 400, the
    value the docs' samples carry when the header has none)."""
    clean = {str(k): str(v) for k, v in headers.items()}
    return error_from_response(
        what, Response(status=status or 400, headers=clean, body=body if body else None)
    )
