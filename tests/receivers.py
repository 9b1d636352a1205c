"""Real notification receivers on loopback: an HTTP server taking JSON webhooks (apprise's
`json://`) and an SMTP server (aiosmtpd) taking e-mail (`mailto://`)."""
import email
import http.server
import json
import socket
import threading
from typing import List


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


class JsonReceiver:
  """`with JsonReceiver() as r:` notifications to `r.url` arrive in `r.received` (dicts)."""

  def __init__(self):
    self.received: List[dict] = []
    received = self.received

    class Handler(http.server.BaseHTTPRequestHandler):
      def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

      def log_message(self, *args):  # quiet
        del args

    self._server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    self.url = f'json://127.0.0.1:{self._server.server_address[1]}/hook'
    self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

  def __enter__(self) -> 'JsonReceiver':
    self._thread.start()
    return self

  def __exit__(self, *exc) -> None:
    self._server.shutdown()
    self._server.server_close()


class SmtpReceiver:
  """`with SmtpReceiver() as r:` e-mail to `r.url` arrives in `r.messages` (email.Message)."""

  def __init__(self):
    from aiosmtpd.controller import Controller  # pylint: disable=g-import-not-at-top
    self.messages: List[email.message.Message] = []
    messages = self.messages

    class Handler:
      async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        del server, session
        messages.append(email.message_from_bytes(envelope.content))
        return '250 OK'

    port = free_port()
    self._controller = Controller(Handler(), hostname='127.0.0.1', port=port)
    self.url = (f'mailto://127.0.0.1:{port}?from=ctpipe@example.org&to=ops@example.org'
                '&mode=insecure')

  def __enter__(self) -> 'SmtpReceiver':
    self._controller.start()
    return self

  def __exit__(self, *exc) -> None:
    self._controller.stop()

  def bodies(self) -> List[str]:
    """Each message's text (its first text part), decoded."""
    found = []
    for message in self.messages:
      part = next((p for p in message.walk() if p.get_content_maintype() == 'text'), message)
      found.append(part.get_payload(decode=True).decode('utf-8', 'replace'))
    return found
