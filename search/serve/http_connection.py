"""How one HTTP connection is read: uvicorn's h11 protocol, with both ends of a request
bounded before any of it reaches the app (and its token check).

- Size: a request's head (its request line and headers) is refused past ``MAX_HEAD_BYTES``,
  with a 431 and the connection closed. h11 holds at most that much of an unfinished head
  (its ``max_incomplete_event_size``); httptools, uvicorn's default parser, has no limit,
  and four unfinished 100 MB heads took the server from 223 to 735 MB.
- Time: from the moment a connection opens, or its last answer is sent, the client has
  ``request_timeout`` seconds to send its whole next request, or the connection is closed.
  uvicorn's keep-alive timeout only runs while a connection sends nothing, so a head that
  never ended, or came a byte at a time, held its connection open for ever.
"""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from search.query.contract import MAX_DAY_CHARS, MAX_FILTER_VALUES, MAX_QUERY_CHARS

__all__ = ["MAX_HEAD_BYTES", "REQUEST_TIMEOUT", "BoundedH11Protocol"]

# Room for every request the query contract admits (a query, and each outlet and field value,
# at its longest; two days), each character percent-encoded from four UTF-8 bytes, and 64 KiB
# for the parameters' names and the other headers (a token, cookies).
_LONGEST_QUERY_CHARS = MAX_QUERY_CHARS * (1 + 2 * MAX_FILTER_VALUES) + 2 * MAX_DAY_CHARS
MAX_HEAD_BYTES = 12 * _LONGEST_QUERY_CHARS + 64 * 1024
REQUEST_TIMEOUT = 10.0  # seconds for a whole request, from the connection or the last answer


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a bounded head and a deadline on each request: uvicorn's
    ``http`` setting takes the class (``bounded_h11`` makes one with another deadline)."""

    request_timeout = REQUEST_TIMEOUT
    max_head_bytes = MAX_HEAD_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Made here, not from uvicorn's config: the bound is this class's, whatever that says.
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.max_head_bytes)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_deadline()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED):
            self._stop_deadline()  # the request is in: the time to answer it is not bounded

    def on_response_complete(self) -> None:
        # Started first: a pipelined request that is already whole stops it again below.
        self._start_deadline()
        super().on_response_complete()

    def send_400_response(self, msg: str) -> None:
        """Say why, as JSON like every other error: a head over the limit (431), or a
        request that is not HTTP/1.1 (400). The connection then closes."""
        if len(self.conn.trailing_data[0]) > self.max_head_bytes:
            status = 431
            message = f"the request's head is over {self.max_head_bytes:,} bytes"
        else:
            status, message = 400, "this is not a valid HTTP/1.1 request"
        body = json.dumps({"error": message}, separators=(",", ":")).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        reason = HTTPStatus(status).phrase.encode()
        answer = h11.Response(status_code=status, headers=headers, reason=reason)
        self.transport.write(self.conn.send(answer))
        self.transport.write(self.conn.send(h11.Data(data=body)))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        self.transport.close()

    def _start_deadline(self) -> None:
        self._stop_deadline()
        self._deadline = self.loop.call_later(self.request_timeout, self._too_slow)

    def _stop_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def bounded_h11(request_timeout: float = REQUEST_TIMEOUT) -> type[BoundedH11Protocol]:
    """The protocol class for uvicorn's ``http`` setting, with this deadline."""
    return type("BoundedH11Protocol", (BoundedH11Protocol,), {"request_timeout": request_timeout})
