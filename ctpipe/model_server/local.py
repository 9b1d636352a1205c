"""A model server on free loopback ports, in this process, for checks and tests."""
import socket
import threading
import time
from typing import Optional, Sequence, Tuple

import uvicorn

from ctpipe.model_server import grpc_api, observability, rest, server
from ctpipe.model_server.limits import Limits
from ctpipe.model_server.versions import ModelSet, VersionManager


class LocalServer:
  """REST and gRPC on ephemeral ports; `with LocalServer(...) as s: s.rest_url`.

  Serves `model_name` from `base_path`, and the `more_models` ((name, base path) pairs)
  beside it; `manager` is the first model's VersionManager."""

  def __init__(self, model_name: str, base_path: str, poll_seconds: float = 0.5,
               limits: Limits = Limits(), request_log_dir: Optional[str] = None,
               more_models: Sequence[Tuple[str, str]] = ()):
    self.manager = VersionManager(model_name, base_path, poll_seconds)
    self.models = ModelSet([self.manager] + [VersionManager(name, base, poll_seconds)
                                             for name, base in more_models])
    self.observer = observability.Observer(request_log_dir,
                                           max_line_bytes=limits.max_log_line_bytes)
    self.limits = limits
    self._socket: Optional[socket.socket] = None
    self._uvicorn: Optional[uvicorn.Server] = None
    self._thread: Optional[threading.Thread] = None
    self._grpc = None
    self.rest_port = 0
    self.grpc_port = 0

  @property
  def rest_url(self) -> str:
    return f'http://127.0.0.1:{self.rest_port}'

  @property
  def grpc_target(self) -> str:
    return f'127.0.0.1:{self.grpc_port}'

  def __enter__(self) -> 'LocalServer':
    self.models.start()
    self._grpc = grpc_api.create_server(self.models, 0, self.observer, limits=self.limits)
    self._grpc.start()
    self.grpc_port = self._grpc.bound_port
    self._socket = server.listen('127.0.0.1', 0)
    self.rest_port = self._socket.getsockname()[1]
    app = rest.create_app(self.models, self.limits, self.observer)
    self._uvicorn = server.rest_server(app, self.limits)
    self._thread = threading.Thread(target=self._uvicorn.run,
                                    kwargs={'sockets': [self._socket]}, daemon=True)
    self._thread.start()
    deadline = time.time() + 30
    while not self._uvicorn.started:
      if time.time() > deadline or not self._thread.is_alive():
        raise RuntimeError('the REST server did not start')
      time.sleep(0.05)
    return self

  def __exit__(self, *exc) -> None:
    if self._uvicorn is not None:
      self._uvicorn.should_exit = True
    if self._thread is not None:
      self._thread.join(timeout=10)
    if self._grpc is not None:
      self._grpc.stop(grace=1)
    self.models.stop()
    if self._socket is not None:
      self._socket.close()
