"""What the server checks and records around each request.

- Schema checks (the model's own curated schema) before a request reaches TensorFlow.
- Prometheus metrics under TF Serving's own names (`:tensorflow:serving:request_count`
  by model and status code, `:tensorflow:serving:request_latency` in microseconds by
  model, API and entrypoint), so dashboards built for TF Serving read them; and ours,
  by model, version, API and status (HTTP status, or gRPC code name).
- A request log under the server's home: one JSON line per served request with its
  prediction, rotated by size; a later step turns it into skew and drift statistics.
  A line is bounded: a request too large to log whole is logged without its rows.
"""
import dataclasses
import logging
import logging.handlers
import os
import re
import threading
import time
import uuid
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np
import orjson
import prometheus_client

from ctpipe.model_server import schema_check
from ctpipe.model_server.served_model import ServedModel

# TF Serving writes no `_created` series; neither do we.
prometheus_client.disable_created_metrics()

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
# TF Serving's request_latency buckets: microseconds, 10 * 1.8^i (util.cc).
_TF_SERVING_BUCKETS = tuple(10 * 1.8 ** i for i in range(33))
# HTTP status -> the canonical error code TF Serving counts a request under.
HTTP_CODES = {200: 'OK', 400: 'INVALID_ARGUMENT', 404: 'NOT_FOUND', 408: 'DEADLINE_EXCEEDED',
              413: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE'}


_REQUEST_ID = re.compile(r'^[A-Za-z0-9._:-]{1,128}$')


def request_id(supplied: Optional[str]) -> str:
  """The client's request id when it is a plain token (≤128 characters), else a new one."""
  if supplied and _REQUEST_ID.match(supplied):
    return supplied
  return uuid.uuid4().hex


class Observer:

  def __init__(self, request_log_dir: Optional[str] = None, max_log_bytes: int = 16 << 20,
               log_backups: int = 5, max_line_bytes: int = 4 << 20):
    self.registry = prometheus_client.CollectorRegistry()
    self._requests = prometheus_client.Counter(
        'ctpipe_serving_requests', 'Requests by model, version, API and status '
        '(HTTP status for REST, gRPC code name for gRPC)',
        ['model', 'version', 'api', 'status'], registry=self.registry)
    self._latency = prometheus_client.Histogram(
        'ctpipe_serving_request_latency_seconds', 'Request latency',
        ['model', 'api'], buckets=_LATENCY_BUCKETS, registry=self.registry)
    self._tf_latency = prometheus_client.Histogram(
        ':tensorflow:serving:request_latency',
        'Distribution of wall time (in microseconds) for Tensorflow Serving request.',
        ['model_name', 'API', 'entrypoint'], buckets=_TF_SERVING_BUCKETS,
        registry=self.registry)
    self._shadow_dropped = prometheus_client.Counter(
        'ctpipe_serving_shadow_dropped', 'Request copies a busy shadow candidate never got',
        ['model'], registry=self.registry)
    self._tf_counts: Dict[Tuple[str, str], int] = {}
    self._max_line_bytes = max_line_bytes
    self._checks: Dict[str, Optional[schema_check.SchemaCheck]] = {}
    self._lock = threading.Lock()
    self._log: Optional[logging.Logger] = None
    if request_log_dir:
      os.makedirs(request_log_dir, exist_ok=True)
      self._log = logging.getLogger(f'ctpipe.requests.{uuid.uuid4().hex}')
      self._log.propagate = False
      self._log.setLevel(logging.INFO)
      handler = logging.handlers.RotatingFileHandler(
          os.path.join(request_log_dir, 'requests.jsonl'), maxBytes=max_log_bytes,
          backupCount=log_backups)
      handler.setFormatter(logging.Formatter('%(message)s'))
      self._log.addHandler(handler)

  def _check(self, served: ServedModel) -> Optional[schema_check.SchemaCheck]:
    with self._lock:
      if served.model_dir not in self._checks:
        raw = ([spec.name for spec in served.input_specs('serving_raw')]
               if 'serving_raw' in served.signature_defs else None)
        self._checks[served.model_dir] = schema_check.load(served.model_dir, raw)
      return self._checks[served.model_dir]

  def check_inputs(self, served: ServedModel, signature: str,
                   inputs: Mapping[str, np.ndarray]) -> None:
    check = self._check(served)
    if check is None:
      return
    if signature == 'serving_raw':
      check.check_columns(inputs)
    elif set(inputs) == {'examples'}:
      check.check_examples(list(np.asarray(inputs['examples'], dtype=object).reshape(-1)))

  def float_features(self, served: ServedModel) -> frozenset:
    """Features the model's schema types as floats (a JSON `12` for one is 12.0)."""
    check = self._check(served)
    return check.float_features if check is not None else frozenset()

  def check_examples(self, served: ServedModel, examples: List[bytes]) -> None:
    check = self._check(served)
    if check is not None:
      check.check_examples(examples)

  def count(self, model: str, version: str, api: str, status: str, code: str,
            seconds: float, entrypoint: str) -> None:
    """One answered request. `status`: the HTTP status or gRPC code name ctpipe's own
    series carry; `code`: the canonical code TF Serving's request_count carries."""
    self._requests.labels(model, version, api, status).inc()
    self._latency.labels(model, api).observe(seconds)
    self._tf_latency.labels(model, api.removeprefix('grpc_'), entrypoint).observe(seconds * 1e6)
    with self._lock:
      key = (model, code)
      self._tf_counts[key] = self._tf_counts.get(key, 0) + 1

  @property
  def logging(self) -> bool:
    """Whether served requests are written to a request log."""
    return self._log is not None

  def log_request(self, model_name: str, served: ServedModel, api: str,
                  request: Mapping[str, Any], response: Mapping[str, Any],
                  request_id: str, seconds: Optional[float] = None,
                  shadow: bool = False) -> None:
    """One answered request. `seconds`: the version's time on it (online validation's
    latency); `shadow`: answered by a shadow candidate, never returned to the client."""
    if self._log is None:
      return
    # orjson: a large request logs several times faster than with the json module. It
    # writes a NaN (the float missing marker) as null, which is what it means.
    record = {'request_id': request_id, 'time': time.time(), 'model': model_name,
              'version': served.version, 'api': api, 'request': request, 'response': response}
    if seconds is not None:
      record['latency_ms'] = round(seconds * 1000, 3)
    if shadow:
      record['shadow'] = True
    line = orjson.dumps(record, default=str)
    if len(line) > self._max_line_bytes:
      record['request'] = record['response'] = None
      record['omitted'] = (f'a record of {len(line)} bytes, over the request log\'s '
                           f'{self._max_line_bytes}-byte line limit')
      line = orjson.dumps(record, default=str)
    self._log.info(line.decode())

  def log_failure(self, model_name: str, version: int, api: str, status: int,
                  request_id: str, seconds: float, shadow: bool = False) -> None:
    """A request the version failed on (a server error): counted against it online."""
    if self._log is None:
      return
    record = {'request_id': request_id, 'time': time.time(), 'model': model_name,
              'version': version, 'api': api, 'status': status,
              'latency_ms': round(seconds * 1000, 3), 'request': None, 'response': None}
    if shadow:
      record['shadow'] = True
    self._log.info(orjson.dumps(record).decode())

  def count_shadow_dropped(self, model: str) -> None:
    self._shadow_dropped.labels(model).inc()

  def prometheus_payload(self) -> Tuple[bytes, str]:
    """Our registry, then TF Serving's request_count as TF Serving writes it (a counter
    without prometheus_client's `_total` suffix)."""
    name = ':tensorflow:serving:request_count'
    lines = [f'# HELP {name} The total number of requests.', f'# TYPE {name} counter']
    with self._lock:
      counts = sorted(self._tf_counts.items())
    for (model, code), value in counts:
      lines.append(f'{name}{{model_name="{_label(model)}",status="{code}"}} {value}')
    payload = prometheus_client.generate_latest(self.registry) + ('\n'.join(lines) + '\n').encode()
    return payload, prometheus_client.CONTENT_TYPE_LATEST


def _label(value: str) -> str:
  """A Prometheus label value, escaped as the text format asks."""
  return value.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


@dataclasses.dataclass
class ShadowCopy:
  """One request copied for the shadow candidate."""
  served: ServedModel
  model_name: str
  verb: str
  body: Any
  request_id: str


class ShadowCopies:
  """Copies of unversioned requests for a shadow candidate, answered off the client's path.

  A background thread takes the copies that queued up while it worked (up to `max_batch`)
  and hands them to `answer(copies)` at once, which may answer them in one model call: the
  shadow then costs a fraction of stable's work instead of as much again. Its answers are
  logged as a shadow's, never returned. At most `max_pending` copies wait; beyond that a
  copy is dropped and counted, so a slow candidate never slows or queues stable's answers.
  """

  def __init__(self, answer: Callable[[List[ShadowCopy]], None], observer: Observer,
               max_pending: int = 256, max_batch: int = 64, gather_seconds: float = 0.05):
    self._answer = answer
    self._observer = observer
    self._max_pending = max_pending
    self._max_batch = max_batch
    self._gather_seconds = gather_seconds
    self._pending: List[ShadowCopy] = []
    self._ready = threading.Condition()
    self._thread: Optional[threading.Thread] = None

  def copy(self, manager, model_name: str, verb: str, body: Any, request_id: str) -> None:
    served = manager.shadow()
    if served is None:
      return
    with self._ready:
      if len(self._pending) >= self._max_pending:
        self._observer.count_shadow_dropped(model_name)
        return
      self._pending.append(ShadowCopy(served, model_name, verb, body, request_id))
      if self._thread is None:
        self._thread = threading.Thread(target=self._run, name='shadow', daemon=True)
        self._thread.start()
      self._ready.notify()

  def _run(self) -> None:
    while True:
      with self._ready:
        while not self._pending:
          self._ready.wait()
      time.sleep(self._gather_seconds)  # let a few more arrive: one call answers them all
      with self._ready:
        batch, self._pending = (self._pending[:self._max_batch],
                                self._pending[self._max_batch:])
      start = time.perf_counter()
      try:
        self._answer(batch)
      except Exception:  # pylint: disable=broad-except  # the clients already have answers
        logging.exception('the shadow version failed on %d copied requests', len(batch))
        for copied in batch:
          self._observer.log_failure(copied.model_name, copied.served.version, copied.verb,
                                     500, copied.request_id, time.perf_counter() - start,
                                     shadow=True)
