"""The local model server: one process, TF Serving's REST and gRPC APIs, version polling."""
import dataclasses
import logging
import os
from typing import Optional

import uvicorn

from model_server import grpc_api, observability, rest
from model_server.versions import VersionManager


@dataclasses.dataclass(frozen=True)
class ServerConfig:
  model_name: str
  model_base_path: str
  rest_port: int = 8501
  grpc_port: int = 8500
  host: str = '127.0.0.1'
  poll_seconds: float = 2.0
  request_log_dir: Optional[str] = None
  limits: rest.Limits = rest.Limits()


class ModelServer:
  """Starts the poller and the gRPC server, then runs uvicorn until stopped."""

  def __init__(self, config: ServerConfig):
    if not os.path.isdir(config.model_base_path):
      raise FileNotFoundError(f'model base path {config.model_base_path} does not exist; '
                              'push a model first (`ctpipe run`)')
    self.config = config
    self.manager = VersionManager(config.model_name, config.model_base_path,
                                  config.poll_seconds)
    self.observer = observability.Observer(config.request_log_dir)
    self.grpc_server = None
    self.uvicorn_server: Optional[uvicorn.Server] = None

  def start_background(self) -> None:
    """Poller and gRPC; REST is `serve_rest` (blocking)."""
    self.manager.start()
    self.grpc_server = grpc_api.create_server(self.manager, self.config.grpc_port,
                                              self.observer, self.config.host)
    self.grpc_server.start()

  def serve_rest(self) -> None:
    app = rest.create_app(self.manager, self.config.limits, self.observer)
    self.uvicorn_server = uvicorn.Server(uvicorn.Config(
        app, host=self.config.host, port=self.config.rest_port, log_level='warning',
        access_log=False, limit_concurrency=256, timeout_keep_alive=5))
    self.uvicorn_server.run()

  def stop(self) -> None:
    if self.uvicorn_server is not None:
      self.uvicorn_server.should_exit = True
    if self.grpc_server is not None:
      self.grpc_server.stop(grace=2)
    self.manager.stop()

  def run(self) -> None:
    self.start_background()
    logging.info('serving %s from %s: REST %s:%d, gRPC %s:%d', self.config.model_name,
                 self.config.model_base_path, self.config.host, self.config.rest_port,
                 self.config.host, self.grpc_server.bound_port)
    try:
      self.serve_rest()
    finally:
      self.stop()
