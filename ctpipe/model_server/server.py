"""The local model server: one process, TF Serving's REST and gRPC APIs, version polling,
one or several models (TF Serving's model config list: a name and a base path each).

Both ports are bound before anything is loaded or announced, so a taken port is one
error at start-up, never a server that answers on one API only.
"""
import dataclasses
import errno
import logging
import os
import socket
from typing import Optional, Tuple

import uvicorn

from ctpipe.model_server import grpc_api, http_guard, observability, rest
from ctpipe.model_server.grpc_api import PortInUseError
from ctpipe.model_server.limits import Limits
from ctpipe.model_server.versions import ModelSet, VersionManager

__all__ = ['ModelServer', 'PortInUseError', 'ServerConfig', 'listen', 'rest_server']


@dataclasses.dataclass(frozen=True)
class ServerConfig:
  models: Tuple[Tuple[str, str], ...]  # (model name, model base path), one per model
  rest_port: int = 8501
  grpc_port: int = 8500
  host: str = '127.0.0.1'
  poll_seconds: float = 2.0
  request_log_dir: Optional[str] = None
  limits: Limits = Limits()


def listen(host: str, port: int) -> socket.socket:
  """A listening TCP socket on host:port (0: any free port); PortInUseError if taken."""
  family = socket.AF_INET6 if ':' in host else socket.AF_INET
  # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets whose protocol says TCP,
  # and without it every answer waited out the client's delayed ACK (~40 ms).
  sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
  # SO_REUSEADDR lets a restarted server bind over TIME_WAIT; on Linux it never lets two
  # sockets listen on one port (SO_REUSEPORT would, and is not set).
  sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
  try:
    sock.bind((host, port))
    sock.listen(2048)
  except OSError as e:
    sock.close()
    why = 'the port is in use' if e.errno == errno.EADDRINUSE else e.strerror
    raise PortInUseError(f'cannot listen for REST on {host}:{port}: {why}') from e
  sock.set_inheritable(True)
  return sock


def rest_server(app, limits: Limits) -> uvicorn.Server:
  """uvicorn with the connection deadlines and the in-flight bound of `limits`."""
  return uvicorn.Server(uvicorn.Config(
      http_guard.InFlightLimit(app, limits.max_in_flight), log_level='warning',
      access_log=False, timeout_keep_alive=limits.keep_alive_seconds,
      http=http_guard.guarded_protocol(limits.header_seconds, limits.body_seconds),
      lifespan='off'))


class ModelServer:
  """Binds both ports, then starts the poller and gRPC, then runs uvicorn until stopped."""

  def __init__(self, config: ServerConfig):
    for _, base in config.models:
      if not os.path.isdir(base):
        raise FileNotFoundError(f'model base path {base} does not exist; '
                                'push a model first (`ctpipe run`)')
    self.config = config
    self.models = ModelSet([VersionManager(name, base, config.poll_seconds)
                            for name, base in config.models])
    self.observer = observability.Observer(config.request_log_dir,
                                           max_line_bytes=config.limits.max_log_line_bytes)
    self.grpc_server = None
    self.rest_socket: Optional[socket.socket] = None
    self.uvicorn_server: Optional[uvicorn.Server] = None

  def bind(self) -> None:
    """Takes both ports; PortInUseError (and nothing left bound) if either is taken."""
    self.rest_socket = listen(self.config.host, self.config.rest_port)
    try:
      self.grpc_server = grpc_api.create_server(self.models, self.config.grpc_port,
                                                self.observer, self.config.host,
                                                limits=self.config.limits)
    except PortInUseError:
      self.rest_socket.close()
      self.rest_socket = None
      raise

  @property
  def rest_port(self) -> int:
    return self.rest_socket.getsockname()[1]

  @property
  def grpc_port(self) -> int:
    return self.grpc_server.bound_port

  def stop(self) -> None:
    if self.uvicorn_server is not None:
      self.uvicorn_server.should_exit = True
    if self.grpc_server is not None:
      self.grpc_server.stop(grace=2)
    self.models.stop()

  def run(self) -> None:
    """Serves until stopped (Ctrl-C); binds first unless `bind` was called."""
    if self.rest_socket is None:
      self.bind()
    # Everything after binding stops on the way out, Ctrl-C during the first load or
    # before uvicorn takes over the signal included: a started gRPC server left running
    # would keep the process alive.
    try:
      self.models.start()
      self.grpc_server.start()
      logging.info('serving %s: REST %s:%d, gRPC %s:%d',
                   ', '.join(f'{name} from {base}' for name, base in self.config.models),
                   self.config.host, self.rest_port, self.config.host, self.grpc_port)
      app = rest.create_app(self.models, self.config.limits, self.observer)
      self.uvicorn_server = rest_server(app, self.config.limits)
      self.uvicorn_server.run(sockets=[self.rest_socket])
    finally:
      self.stop()
      self.rest_socket.close()
