"""MCP's stdio transport with a reply to every request: the SDK's, fed only lines it can read.

The SDK reads each line of stdin as a JSON-RPC message and drops, without a word, a line it
cannot: a line that is not JSON, one that is not a message (``{}``, ``[]``), a request whose
id is not a string or a number (it passes for a notification), and a string holding a lone
surrogate (``"\\ud800"``, which its JSON parser refuses). The client then waits for ever.
Here every line is read first: one the SDK can take is passed on unchanged, any other is
answered with JSON-RPC's error, ``-32700`` (not JSON) or ``-32600`` (not a request;
``-32602`` for a surrogate among its params), under the request's id where it has a usable
one. A blank line, or a malformed response to a request of ours, is no request and gets no
reply.

The SDK still writes every reply, and still points the process's stdout at stderr while it
serves. Its stdin is given to it here, so fd 0 is left as it is: nothing of ours reads it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp.types import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    ErrorData,
    JSONRPCError,
    jsonrpc_message_adapter,
)

from search.domain.text import is_text

__all__ = ["checked_line", "stdio_streams"]


@asynccontextmanager
async def stdio_streams() -> AsyncIterator[tuple[Any, Any]]:
    """The SDK's stdio streams (read, write), over stdin lines that ``checked_line`` has
    passed; the others are answered on the write stream."""
    lines = _Lines()
    # The SDK types stdin as an anyio file; it only iterates over its lines.
    async with stdio_server(stdin=lines) as (read, write):  # type: ignore[arg-type]
        lines.answer_on(write)
        yield read, write


class _Lines:
    """stdin's lines that the SDK can read, as text; the rest answered on its write stream."""

    def __init__(self) -> None:
        self._stdin = anyio.wrap_file(sys.stdin.buffer)
        self._replies: Any = None
        self._ready = anyio.Event()

    def answer_on(self, write: Any) -> None:
        self._replies = write
        self._ready.set()

    async def __aiter__(self) -> AsyncIterator[str]:
        async for line in self._stdin:
            checked = checked_line(line)
            if isinstance(checked, str):
                yield checked
            elif checked is not None:
                await self._ready.wait()
                await self._replies.send(SessionMessage(checked))


def checked_line(line: bytes) -> str | JSONRPCError | None:
    """A line of stdin as the SDK may read it (its text), the error that answers it, or
    None for a line that wants no answer."""
    if not line.strip():
        return None
    try:
        text = line.decode("utf-8")  # not json.loads(line): it would take UTF-16 as well
        message = json.loads(text)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested past reason
        return _error(None, PARSE_ERROR, "Parse error: the line is not JSON in UTF-8")
    if not isinstance(message, dict):
        return _error(None, INVALID_REQUEST, "Invalid Request: a message is one JSON object")
    request = "method" in message
    response = not request and ("result" in message or "error" in message)
    ident = message.get("id")
    if not _usable_id(ident):
        if request and "id" in message:  # the SDK would take it for a notification
            return _error(None, INVALID_REQUEST, _BAD_ID)
        ident = None
    if not _all_text(message):
        if response:
            return None
        code, kind = (
            (INVALID_PARAMS, "Invalid params") if not _all_text(message.get("params")) else
            (INVALID_REQUEST, "Invalid Request")
        )  # fmt: skip
        return _error(ident, code, f"{kind}: a string holds a lone surrogate, which is not text")
    try:
        jsonrpc_message_adapter.validate_json(line, by_name=False)  # as the SDK reads it
    except ValueError:
        if response:
            return None
        return _error(ident, INVALID_REQUEST, "Invalid Request: not a JSON-RPC 2.0 message")
    return text


_BAD_ID = "Invalid Request: an id is a string or a whole number"


def _usable_id(ident: object) -> bool:
    """A request id the SDK takes: a string or a whole number."""
    if isinstance(ident, str):
        return is_text(ident)
    return isinstance(ident, int) and not isinstance(ident, bool)


def _all_text(value: object) -> bool:
    """Whether every string in a JSON value, keys too, is text (no lone surrogate)."""
    return is_text(json.dumps(value, ensure_ascii=False))


def _error(ident: str | int | None, code: int, message: str) -> JSONRPCError:
    return JSONRPCError(jsonrpc="2.0", id=ident, error=ErrorData(code=code, message=message))
