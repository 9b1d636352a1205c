"""Benchmark: the served model over REST and gRPC against the in-process SavedModel call.

One pushed model, one session. The floor is the SavedModel's `serving_raw` called in
this process. Then `ctpipe serve` runs as its own process on loopback and this
process, the load generator, sends bounded runs of requests (count and time):
single examples at several concurrency levels (p50, p99, requests/s) and 100- and
1,000-row requests (rows/s). Last, a new version is pushed while load runs, and every
failed request is counted (the goal is zero) along with which versions answered.

    .venv/bin/python bench/serving_latency.py [--home .ctpipe] [--seconds 6]

Needs a pushed model (`make run` first). Prints one table and a JSON line (`RESULT`).
"""
import argparse
import concurrent.futures
import csv
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable, Dict, List, Optional

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
MODEL = 'taxi'
SIGNATURE = 'serving_raw'


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _rows(n: int) -> List[Dict[str, str]]:
  """Evaluation-like rows from the embedded data (the last span), cycled to n."""
  with open(os.path.join(REPO, 'data', 'taxi', 'span-4', 'data.csv'), newline='') as f:
    rows = list(csv.DictReader(f))
  return [rows[i % len(rows)] for i in range(n)]


class Inputs:
  """The same rows as numpy columns, JSON instances, JSON columns and a gRPC request."""

  def __init__(self, specs: Dict[str, str], rows: List[Dict[str, str]]):
    self.columns = {}
    for name, dtype in specs.items():
      values = [r.get(name, '') for r in rows]
      if dtype == 'string':
        self.columns[name] = np.array([v.encode() for v in values], dtype=object)
      elif dtype.startswith('float'):
        self.columns[name] = np.array([float(v) if v else np.nan for v in values], np.float32)
      else:
        self.columns[name] = np.array([int(float(v)) if v else -1 for v in values], np.int64)
    self.n = len(rows)

  def json_columns(self) -> dict:
    out = {}
    for name, values in self.columns.items():
      if values.dtype == object:
        out[name] = [v.decode() for v in values]
      elif values.dtype == np.float32:
        out[name] = [float(v) for v in values]  # NaN (the missing marker) as JSON's NaN
      else:
        out[name] = [int(v) for v in values]
    return out

  def rest_body(self) -> bytes:
    columns = self.json_columns()
    if self.n == 1:  # row format, as a single-example client sends it
      return json.dumps({'signature_name': SIGNATURE, 'instances': [
          {k: v[0] for k, v in columns.items()}]}).encode()
    return json.dumps({'signature_name': SIGNATURE, 'inputs': columns}).encode()

  def grpc_request(self):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from tensorflow_serving.apis import predict_pb2  # pylint: disable=g-import-not-at-top
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = SIGNATURE
    for name, values in self.columns.items():
      request.inputs[name].CopyFrom(tf.make_tensor_proto(values))
    return request


def percentile(values: List[float], q: float) -> float:
  return float(np.percentile(np.array(values), q)) if values else float('nan')


def in_process(model_dir: str, single: Inputs, batch: Inputs, repeats: int) -> dict:
  """The floor: the signature called in this process on numpy inputs, as a caller has them."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  fn = tf.saved_model.load(model_dir).signatures[SIGNATURE]

  def call(inputs: Inputs):
    return fn(**{k: tf.constant(v) for k, v in inputs.columns.items()})

  for _ in range(20):
    call(single)
  call(batch)
  latencies = []
  for _ in range(repeats):
    start = time.perf_counter()
    call(single)
    latencies.append(time.perf_counter() - start)
  start = time.perf_counter()
  batches = max(5, repeats // 50)
  for _ in range(batches):
    call(batch)
  rows_per_s = batches * batch.n / (time.perf_counter() - start)
  return {'p50_ms': percentile(latencies, 50) * 1e3, 'p99_ms': percentile(latencies, 99) * 1e3,
          'rows_per_s': rows_per_s}


def load(call: Callable[[], Optional[int]], concurrency: int, max_requests: int,
         max_seconds: float, stop: Optional[threading.Event] = None) -> dict:
  """Runs `call` from `concurrency` threads until a bound (or `stop`); latencies, failures."""
  latencies: List[float] = []
  failures: List[str] = []
  versions: Dict[int, int] = {}
  lock = threading.Lock()
  deadline = time.perf_counter() + max_seconds
  remaining = [max_requests]

  def worker():
    while True:
      with lock:
        if remaining[0] <= 0 or time.perf_counter() > deadline or (stop and stop.is_set()):
          return
        remaining[0] -= 1
      start = time.perf_counter()
      try:
        version = call()
      except Exception as error:  # pylint: disable=broad-except
        with lock:
          failures.append(f'{type(error).__name__}: {str(error)[:200]}')
        continue
      elapsed = time.perf_counter() - start
      with lock:
        latencies.append(elapsed)
        if version is not None:
          versions[version] = versions.get(version, 0) + 1

  started = time.perf_counter()
  threads = [threading.Thread(target=worker) for _ in range(concurrency)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  wall = time.perf_counter() - started
  return {'requests': len(latencies), 'failures': len(failures),
          'failure_examples': failures[:3], 'p50_ms': percentile(latencies, 50) * 1e3,
          'p99_ms': percentile(latencies, 99) * 1e3, 'per_s': len(latencies) / wall,
          'versions': versions}


class Clients:
  """One REST connection and one gRPC channel per thread."""

  def __init__(self, rest_port: int, grpc_port: int):
    self.rest_port = rest_port
    self.rest_path = f'/v1/models/{MODEL}:predict'
    self.grpc_target = f'127.0.0.1:{grpc_port}'
    self._local = threading.local()

  def _connection(self):
    """A keep-alive HTTP/1.1 connection per thread (the standard library's, no extras)."""
    if not hasattr(self._local, 'connection'):
      self._local.connection = http.client.HTTPConnection('127.0.0.1', self.rest_port,
                                                          timeout=30)
    return self._local.connection

  def _stub(self):
    import grpc  # pylint: disable=g-import-not-at-top
    from tensorflow_serving.apis import prediction_service_pb2_grpc  # pylint: disable=g-import-not-at-top
    if not hasattr(self._local, 'stub'):
      channel = grpc.insecure_channel(self.grpc_target, options=[
          ('grpc.max_send_message_length', 64 << 20),
          ('grpc.max_receive_message_length', 64 << 20)])
      self._local.stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    return self._local.stub

  def rest(self, body: bytes, expect: int) -> Callable[[], Optional[int]]:
    def call():
      connection = self._connection()
      try:
        connection.request('POST', self.rest_path, body=body,
                           headers={'Content-Type': 'application/json'})
        response = connection.getresponse()
        payload = response.read()
      except (http.client.HTTPException, OSError):
        connection.close()  # reconnects on the next request
        raise
      if response.status != 200:
        raise RuntimeError(f'HTTP {response.status}: {payload[:200]!r}')
      payload = json.loads(payload)
      got = len(payload['outputs']['probability']) if 'outputs' in payload else len(
          payload['predictions'])
      if got != expect:
        raise RuntimeError(f'{got} predictions for {expect} rows')
      return None
    return call

  def grpc(self, request, expect: int) -> Callable[[], Optional[int]]:
    def call():
      response = self._stub().Predict(request, timeout=30)
      got = response.outputs['probability'].tensor_shape.dim[0].size
      if got != expect:
        raise RuntimeError(f'{got} predictions for {expect} rows')
      return response.model_spec.version.value
    return call


def start_server(base: str, home: str, rest_port: int, grpc_port: int) -> subprocess.Popen:
  ctpipe = os.path.join(os.path.dirname(sys.executable), 'ctpipe')
  log = open(os.path.join(home, 'serve.out'), 'w')  # pylint: disable=consider-using-with
  proc = subprocess.Popen([ctpipe, 'serve', '--home', home, '--model-base-path', base,
                           '--model-name', MODEL, '--rest-port', str(rest_port),
                           '--grpc-port', str(grpc_port), '--poll-seconds', '0.5'],
                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
  return proc


def wait_for_version(rest_port: int, version: int, timeout: float = 120) -> float:
  import requests  # pylint: disable=g-import-not-at-top
  start = time.time()
  while time.time() - start < timeout:
    try:
      status = requests.get(f'http://127.0.0.1:{rest_port}/v1/models/{MODEL}', timeout=2).json()
      states = {int(s['version']): s['state'] for s in status.get('model_version_status', [])}
      if states.get(version) == 'AVAILABLE':
        return time.time() - start
    except Exception:  # pylint: disable=broad-except
      pass
    time.sleep(0.2)
  raise TimeoutError(f'version {version} was not AVAILABLE within {timeout} s')


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--home', default=os.path.join(REPO, '.ctpipe'))
  parser.add_argument('--seconds', type=float, default=6.0, help='bound of each load run')
  parser.add_argument('--requests', type=int, default=3000, help='bound of each load run')
  parser.add_argument('--concurrency', default='1,4,8')
  args = parser.parse_args()
  source_base = os.path.join(args.home, 'serving', MODEL)
  pushed = sorted((int(v) for v in os.listdir(source_base) if v.isdigit()), reverse=True) if (
      os.path.isdir(source_base)) else []
  if not pushed:
    sys.exit(f'no pushed model under {source_base}: run `make run` first')
  source = os.path.join(source_base, str(pushed[0]))

  from ctpipe.model_server.served_model import input_specs_of, read_signature_defs  # pylint: disable=g-import-not-at-top
  specs = {s.name: s.dtype.name for s in input_specs_of(read_signature_defs(source)[SIGNATURE])}
  single, hundred, thousand = (Inputs(specs, _rows(n)) for n in (1, 100, 1000))
  results: dict = {'model': source}
  results['in_process'] = in_process(source, single, thousand, repeats=1000)

  work = tempfile.mkdtemp(prefix='ctpipe-serving-bench-')
  base = os.path.join(work, 'models', MODEL)
  shutil.copytree(source, os.path.join(base, '1'))
  rest_port, grpc_port = _free_port(), _free_port()
  server = start_server(base, work, rest_port, grpc_port)
  try:
    results['first_version_ready_s'] = wait_for_version(rest_port, 1)
    clients = Clients(rest_port, grpc_port)
    bounds = dict(max_requests=args.requests, max_seconds=args.seconds)
    for api in ('rest', 'grpc'):
      make = (lambda i: clients.rest(i.rest_body(), i.n)) if api == 'rest' else (
          lambda i: clients.grpc(i.grpc_request(), i.n))
      load(make(single), 1, 50, 5)  # warm connections
      for c in (int(x) for x in args.concurrency.split(',')):
        results[f'{api}_single_c{c}'] = load(make(single), c, **bounds)
      for inputs in (hundred, thousand):
        run = load(make(inputs), 2, max_requests=max(20, args.requests // inputs.n * 10),
                   max_seconds=args.seconds)
        run['rows_per_s'] = run['per_s'] * inputs.n
        results[f'{api}_rows{inputs.n}'] = run

    # A new version arrives while single-example load runs over both APIs; the load
    # goes on until the new version has served for a few seconds (at most 3 minutes).
    swap: dict = {}
    stop = threading.Event()

    def push_version_2():
      try:
        time.sleep(2)
        staging = os.path.join(work, 'staging-2')
        shutil.copytree(source, staging)
        os.replace(staging, os.path.join(base, '2'))  # atomic, as the Pusher publishes
        swap['ready_after_push_s'] = wait_for_version(rest_port, 2, timeout=170)
        time.sleep(3)
      finally:
        stop.set()

    pusher = threading.Thread(target=push_version_2)
    pusher.start()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
      rest_run = pool.submit(load, clients.rest(single.rest_body(), 1), 3, 10 ** 9, 180, stop)
      grpc_run = pool.submit(load, clients.grpc(single.grpc_request(), 1), 3, 10 ** 9, 180, stop)
      swap['rest'], swap['grpc'] = rest_run.result(), grpc_run.result()
    pusher.join()
    results['swap_under_load'] = swap
  finally:
    server.terminate()
    server.wait(30)
    shutil.rmtree(work, ignore_errors=True)
  report(results)


def report(r: dict) -> None:
  floor = r['in_process']
  print(f"model {r['model']}")
  print(f"in-process SavedModel: 1 example p50 {floor['p50_ms']:.2f} ms, p99 "
        f"{floor['p99_ms']:.2f} ms; 1,000-row batches {floor['rows_per_s']:,.0f} rows/s")
  print(f"{'run':<18}{'requests':>9}{'failed':>7}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}"
        f"{'rows/s':>11}")
  for key, run in r.items():
    if not isinstance(run, dict) or 'requests' not in run:
      continue
    rows = f"{run['rows_per_s']:,.0f}" if 'rows_per_s' in run else ''
    print(f"{key:<18}{run['requests']:>9}{run['failures']:>7}{run['p50_ms']:>9.2f}"
          f"{run['p99_ms']:>9.2f}{run['per_s']:>9.0f}{rows:>11}")
  swap = r['swap_under_load']
  failed = swap['rest']['failures'] + swap['grpc']['failures']
  print(f"swap under load: version 2 AVAILABLE {swap.get('ready_after_push_s', float('nan')):.1f} s after the "
        f"push; {swap['rest']['requests']} REST + {swap['grpc']['requests']} gRPC requests, "
        f"{failed} failed; gRPC answers by version {swap['grpc']['versions']}")
  for example in swap['rest']['failure_examples'] + swap['grpc']['failure_examples']:
    print(f'  failure: {example}')
  rest1, grpc1 = r['rest_single_c1'], r['grpc_single_c1']
  print('goals:')
  print(f"  REST single p50 {rest1['p50_ms']:.2f} ms = {rest1['p50_ms'] / floor['p50_ms']:.2f}x "
        f"in-process (goal <= 2x); p99 {rest1['p99_ms']:.2f} ms (goal <= 10 ms)")
  print(f"  gRPC single p50 {grpc1['p50_ms']:.2f} ms (goal <= REST's {rest1['p50_ms']:.2f} ms)")
  for api in ('rest', 'grpc'):
    share = r[f'{api}_rows1000']['rows_per_s'] / floor['rows_per_s']
    print(f"  {api} 1,000-row requests: {share:.0%} of in-process rows/s (goal >= 50%)")
  print(f'  failed requests during the swap: {failed} (goal 0)')
  print('RESULT ' + json.dumps(r, default=str))


if __name__ == '__main__':
  main()
