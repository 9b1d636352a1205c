"""uvicorn's HTTP/1.1 protocol with the deadlines it lacks: slow or idle clients are closed.

uvicorn closes a keep-alive connection idle after a response, but a connection that
never completes its headers (slowloris), a body that stalls, or a socket opened and
left silent is held forever, and its `limit_concurrency` counts such sockets against
good clients. Here each connection has one deadline at a time:

- headers: from the connection's start, or from the end of its previous response;
- body: from the request's headers until its last byte.

A connection past its deadline is closed; one whose request is being answered has
no deadline (the model call is bounded by the request's size). The number of
requests answered at once is bounded separately (`InFlightLimit`), not the number of
open sockets.

Private uvicorn (0.54, pinned) internals this leans on: H11Protocol's `handle_events`,
`on_response_complete`, `conn` (h11 state), `cycle`, `loop` and `transport`, and
RequestResponseCycle's `more_body`, `response_complete`, `disconnected` and
`message_event`. Guarded by tests/model_server/test_server_hostile.py
(`test_slow_headers_and_stalled_bodies_are_closed`,
`test_idle_sockets_do_not_lock_out_clients_and_are_closed`).
"""
import asyncio
import time
from typing import Optional, Type

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

_HEADERS, _BODY, _ANSWERING = 'headers', 'body', 'answering'


def guarded_protocol(header_seconds: float, body_seconds: float) -> Type[H11Protocol]:
  """An H11Protocol class with these deadlines (uvicorn's `http=` takes a class)."""

  class GuardedH11Protocol(H11Protocol):

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
      super().connection_made(transport)
      self._guard: Optional[asyncio.TimerHandle] = None
      self._phase = _HEADERS
      self._arm(header_seconds)

    def _arm(self, seconds: float) -> None:
      if self._guard is not None:
        self._guard.cancel()
      self._deadline = time.monotonic() + seconds
      self._guard = self.loop.call_later(seconds, self._check)

    def _check(self) -> None:
      self._guard = None
      if self.transport.is_closing() or self._phase == _ANSWERING:
        return
      if self._phase == _BODY and self.cycle is not None and not self.cycle.more_body:
        self._phase = _ANSWERING  # the body arrived; the answer is being computed
        return
      remaining = self._deadline - time.monotonic()
      if remaining > 0:  # re-armed meanwhile
        self._guard = self.loop.call_later(remaining, self._check)
        return
      if self.cycle is not None and not self.cycle.response_complete:
        self.cycle.disconnected = True
        self.cycle.message_event.set()  # the app's receive() sees the disconnect
      self.transport.close()

    def handle_events(self) -> None:
      before = self.cycle
      super().handle_events()
      if self.cycle is not before and self.cycle is not None:
        if self.conn.their_state is h11.SEND_BODY:
          self._phase = _BODY
          self._arm(body_seconds)
        else:  # a request without a body (GET) is answered at once
          self._phase = _ANSWERING
      elif self._phase == _BODY and self.cycle is not None and not self.cycle.more_body:
        self._phase = _ANSWERING

    def on_response_complete(self) -> None:
      self._phase = _HEADERS
      if not self.transport.is_closing():
        self._arm(header_seconds)  # uvicorn's keep-alive timer closes an idle one sooner
      super().on_response_complete()

    def connection_lost(self, exc: Optional[Exception]) -> None:
      if self._guard is not None:
        self._guard.cancel()
        self._guard = None
      super().connection_lost(exc)

  return GuardedH11Protocol


class InFlightLimit:
  """ASGI wrapper: at most `limit` HTTP requests answered at once; the rest get 503."""

  def __init__(self, app, limit: int):
    self.app = app
    self.limit = limit
    self.in_flight = 0

  async def __call__(self, scope, receive, send) -> None:
    if scope['type'] != 'http':
      await self.app(scope, receive, send)
      return
    if self.in_flight >= self.limit:
      body = b'{"error": "server busy: too many requests in flight; retry"}'
      await send({'type': 'http.response.start', 'status': 503, 'headers': [
          (b'content-type', b'application/json'), (b'content-length', str(len(body)).encode()),
          (b'retry-after', b'1')]})
      await send({'type': 'http.response.body', 'body': body})
      return
    self.in_flight += 1
    try:
      await self.app(scope, receive, send)
    finally:
      self.in_flight -= 1
