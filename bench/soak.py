"""Soak benchmark: the real server under mixed good and hostile load, a new version every minute.

`ctpipe serve` runs as its own process on loopback with a copy of a pushed model. For
`--minutes` (default 10) this process sends, on both APIs at once:
- good requests (REST `serving_raw`, gRPC Predict), whose every failure is counted;
- hostile requests (the reliability review's findings: bad values, lying tensor
  shapes, oversized rows, truncated gzip, garbage bytes), which must be answered 4xx or
  INVALID_ARGUMENT / RESOURCE_EXHAUSTED, never 5xx / INTERNAL / UNKNOWN;
- idle and slow sockets (opened, left silent, re-opened as the server closes them).
Every `--swap-seconds` (default 60) a new version is published (copy, then rename) and
the server swaps to it under load. Bounded in time and count; loopback only.

    .venv/bin/python bench/soak.py [--home .ctpipe] [--minutes 10]

Prints requests, good failures (goal 0), 5xx (goal 0), p50/p99 of good requests, the
versions that answered, and the server's RSS at start and end (goal: growth within
--rss-growth-mib, default 150), then a JSON line (`RESULT`). Exits 1 when a goal is missed.
"""
import argparse
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List

import grpc
import numpy as np
import requests
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from tests.taxi_requests import MODEL, ROW, grpc_raw_request, tensor as _tensor  # pylint: disable=wrong-import-position

GOOD_BODY = json.dumps({'signature_name': 'serving_raw', 'instances': [ROW] * 4})


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _rss_mib(pid: int) -> float:
  with open(f'/proc/{pid}/status', encoding='ascii') as f:
    for line in f:
      if line.startswith('VmRSS:'):
        return int(line.split()[1]) / 1024
  return float('nan')


def _grpc_request(**replace) -> predict_pb2.PredictRequest:
  return grpc_raw_request(rows=4, **replace)


def hostile_rest() -> List[tuple]:
  """(body, headers) pairs that must each be answered 4xx."""
  good = json.dumps({'signature_name': 'serving_raw', 'instances': [ROW]})
  stream = gzip.compress(good.encode())
  return [
      (good.replace('12.5', '9' * 5001), {}), (good.replace('"Credit Card"', '"\\ud800"'), {}),
      (good.replace('12.5', 'Infinity'), {}), (good.replace('12.5', '1e39'), {}),
      (good.replace('720', str(-2**63 - 1)), {}),
      (json.dumps({'signature_name': 'serving_raw', 'instances': [ROW], 'output_filter': 5}), {}),
      (json.dumps({'signature_name': 'classify', 'examples': [{**ROW, 'fare': [1.0, 2.0]}]}), {}),
      (json.dumps({'signature_name': 'serving_raw', 'instances': [ROW] * 10_001}), {}),
      ('{"instances": ' + '[' * 5000 + ']' * 5000 + '}', {}),
      (stream[:len(stream) // 2], {'Content-Encoding': 'gzip'}),
      (stream + b'junk', {'Content-Encoding': 'gzip'}),
      (b'\x00\xff garbage', {}),
  ]


def hostile_grpc() -> List[predict_pb2.PredictRequest]:
  """Predict requests that must be answered INVALID_ARGUMENT or RESOURCE_EXHAUSTED."""
  return [_grpc_request(fare=p) for p in (
      _tensor(types_pb2.DT_FLOAT, [200_000], float_val=[1.0]),
      _tensor(types_pb2.DT_FLOAT, [10**12], float_val=[1.0]),
      _tensor(types_pb2.DT_VARIANT, [1]), _tensor(types_pb2.DT_RESOURCE, [4]),
      _tensor(types_pb2.DT_FLOAT, [4], float_val=[float('inf')] * 4))]


class Tally:
  def __init__(self):
    self.lock = threading.Lock()
    self.counts: Dict[str, int] = {}
    self.latencies: List[float] = []
    self.versions: Dict[str, int] = {}
    self.examples: Dict[str, str] = {}

  def add(self, kind: str, seconds: float = None, version: str = None, example: str = None):
    with self.lock:
      self.counts[kind] = self.counts.get(kind, 0) + 1
      if seconds is not None:
        self.latencies.append(seconds)
      if version is not None:
        self.versions[version] = self.versions.get(version, 0) + 1
      if example and kind not in self.examples:
        self.examples[kind] = example[:300]


def good_rest(url: str, tally: Tally, stop: threading.Event) -> None:
  session = requests.Session()
  while not stop.is_set():
    start = time.perf_counter()
    try:
      response = session.post(f'{url}/v1/models/{MODEL}:predict', data=GOOD_BODY, timeout=30)
      ok = response.status_code == 200
      tally.add('good_ok' if ok else 'good_failed', time.perf_counter() - start,
                example=None if ok else f'{response.status_code} {response.text}')
      if response.status_code >= 500:
        tally.add('5xx', example=response.text)
    except requests.RequestException as e:
      tally.add('good_failed', example=repr(e))


def good_grpc(target: str, tally: Tally, stop: threading.Event) -> None:
  request = _grpc_request()
  with grpc.insecure_channel(target) as channel:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    while not stop.is_set():
      start = time.perf_counter()
      try:
        response = stub.Predict(request, timeout=30)
        tally.add('good_ok', time.perf_counter() - start, str(response.model_spec.version.value))
      except grpc.RpcError as e:
        tally.add('good_failed', example=f'{e.code()} {e.details()}')
        if e.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
          tally.add('5xx', example=e.details())


def bad_rest(url: str, tally: Tally, stop: threading.Event) -> None:
  cases = hostile_rest()
  session = requests.Session()
  i = 0
  while not stop.is_set():
    body, headers = cases[i % len(cases)]
    i += 1
    try:
      response = session.post(f'{url}/v1/models/{MODEL}:predict', data=body, headers=headers,
                              timeout=30)
      kind = 'hostile_4xx' if 400 <= response.status_code < 500 else (
          '5xx' if response.status_code >= 500 else 'hostile_accepted')
      tally.add(kind, example=f'{response.status_code} {response.text}')
    except requests.RequestException as e:
      tally.add('hostile_dropped', example=repr(e))
    time.sleep(0.005)


def bad_grpc(target: str, tally: Tally, stop: threading.Event) -> None:
  cases = hostile_grpc()
  with grpc.insecure_channel(target) as channel:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    garbage = channel.unary_unary('/tensorflow.serving.PredictionService/Predict',
                                  request_serializer=lambda b: b,
                                  response_deserializer=lambda b: b)
    i = 0
    while not stop.is_set():
      try:
        if i % (len(cases) + 1) == len(cases):
          garbage(b'\xff\x00 not a message', timeout=30)
        else:
          stub.Predict(cases[i % (len(cases) + 1)], timeout=30)
        tally.add('hostile_accepted')
      except grpc.RpcError as e:
        bad = e.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
        tally.add('5xx' if bad else 'hostile_4xx', example=f'{e.code()} {e.details()}')
      i += 1
      time.sleep(0.005)


def idle_sockets(port: int, count: int, tally: Tally, stop: threading.Event) -> None:
  """Keeps `count` silent sockets open, re-opening those the server closes."""
  open_sockets: List[socket.socket] = []
  while not stop.is_set():
    alive = []
    for s in open_sockets:
      try:
        s.setblocking(False)
        if s.recv(1) == b'':
          s.close()
          tally.add('idle_closed_by_server')
          continue
      except BlockingIOError:
        pass
      except OSError:
        s.close()
        continue
      alive.append(s)
    open_sockets = alive
    while len(open_sockets) < count:
      try:
        open_sockets.append(socket.create_connection(('127.0.0.1', port), timeout=5))
      except OSError:
        tally.add('idle_refused')
        break
    stop.wait(0.5)
  for s in open_sockets:
    s.close()


def publish(base: str, source: str, version: int) -> None:
  hidden = os.path.join(base, f'.incoming-{version}')
  shutil.copytree(source, hidden)
  os.rename(hidden, os.path.join(base, str(version)))


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--home', default=os.path.join(REPO, '.ctpipe'))
  parser.add_argument('--minutes', type=float, default=10.0)
  parser.add_argument('--swap-seconds', type=float, default=60.0)
  parser.add_argument('--idle-sockets', type=int, default=300)
  parser.add_argument('--rss-growth-mib', type=float, default=150.0)
  parser.add_argument('--load', default='good,hostile,idle',
                      help='which load to send (comma-separated; to tell what costs memory)')
  args = parser.parse_args()
  source_base = os.path.join(args.home, 'serving', MODEL)
  versions = sorted(int(n) for n in os.listdir(source_base) if n.isdigit()) \
      if os.path.isdir(source_base) else []
  if not versions:
    print(f'error: no pushed model under {source_base}; run `make run` first', file=sys.stderr)
    return 2
  work = tempfile.mkdtemp(prefix='ctpipe-soak-')
  base = os.path.join(work, MODEL)
  os.makedirs(base)
  source = os.path.join(source_base, str(versions[-1]))
  publish(base, source, 1)
  rest_port, grpc_port = _free_port(), _free_port()
  server = subprocess.Popen(
      [os.path.join(os.path.dirname(sys.executable), 'ctpipe'), 'serve', '--home', work,
       '--model-base-path', base, '--rest-port', str(rest_port), '--grpc-port', str(grpc_port),
       '--poll-seconds', '1'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  url, target = f'http://127.0.0.1:{rest_port}', f'127.0.0.1:{grpc_port}'
  try:
    deadline = time.time() + 120
    while True:
      try:
        if requests.post(f'{url}/v1/models/{MODEL}:predict', data=GOOD_BODY,
                         timeout=5).status_code == 200:
          break
      except requests.RequestException:
        pass
      if time.time() > deadline or server.poll() is not None:
        print('error: the server did not start', file=sys.stderr)
        return 2
      time.sleep(0.5)
    rss_start = _rss_mib(server.pid)
    tally, stop = Tally(), threading.Event()
    load = set(args.load.split(','))
    workers = []
    if 'good' in load:
      workers += [threading.Thread(target=good_rest, args=(url, tally, stop)),
                  threading.Thread(target=good_rest, args=(url, tally, stop)),
                  threading.Thread(target=good_grpc, args=(target, tally, stop))]
    if 'hostile' in load:
      workers += [threading.Thread(target=bad_rest, args=(url, tally, stop)),
                  threading.Thread(target=bad_grpc, args=(target, tally, stop))]
    if 'idle' in load:
      workers.append(threading.Thread(target=idle_sockets,
                                      args=(rest_port, args.idle_sockets, tally, stop)))
    for worker in workers:
      worker.start()
    end = time.time() + args.minutes * 60
    next_swap, version, rss_samples = time.time() + args.swap_seconds, 1, [rss_start]
    rss_at_swaps = []
    while time.time() < end:
      time.sleep(min(5.0, max(0.0, end - time.time())))
      rss_samples.append(_rss_mib(server.pid))
      if time.time() >= next_swap and time.time() < end:
        rss_at_swaps.append(round(rss_samples[-1]))
        version += 1
        publish(base, source, version)
        old = os.path.join(base, str(version - 3))
        if os.path.isdir(old):
          shutil.rmtree(old)  # keep the disk bounded; the server serves the newest
        next_swap += args.swap_seconds
    stop.set()
    for worker in workers:
      worker.join(timeout=60)
    rss_end = _rss_mib(server.pid)
  finally:
    server.terminate()
    try:
      server.wait(timeout=30)
    except subprocess.TimeoutExpired:
      server.kill()
    shutil.rmtree(work, ignore_errors=True)
  latencies = np.array(tally.latencies) * 1000
  counts = tally.counts
  result = {
      'minutes': args.minutes, 'swaps': version - 1,
      'good_requests': counts.get('good_ok', 0) + counts.get('good_failed', 0),
      'good_failed': counts.get('good_failed', 0),
      'hostile_requests': sum(counts.get(k, 0) for k in
                              ('hostile_4xx', 'hostile_accepted', 'hostile_dropped')),
      'hostile_accepted': counts.get('hostile_accepted', 0),
      'hostile_dropped': counts.get('hostile_dropped', 0),
      'server_errors_5xx': counts.get('5xx', 0),
      'idle_closed_by_server': counts.get('idle_closed_by_server', 0),
      'idle_refused': counts.get('idle_refused', 0),
      'good_p50_ms': round(float(np.percentile(latencies, 50)), 2) if latencies.size else None,
      'good_p99_ms': round(float(np.percentile(latencies, 99)), 2) if latencies.size else None,
      'grpc_versions_answering': dict(sorted(tally.versions.items(), key=lambda kv: int(kv[0]))),
      'rss_start_mib': round(rss_start, 1), 'rss_end_mib': round(rss_end, 1),
      'rss_max_mib': round(max(rss_samples + [rss_end]), 1),
      'rss_before_each_swap_mib': rss_at_swaps,
      'examples': tally.examples,
  }
  met = (result['good_failed'] == 0 and result['server_errors_5xx'] == 0
         and result['hostile_accepted'] == 0
         and rss_end - rss_start <= args.rss_growth_mib)
  for key, value in result.items():
    if key != 'examples':
      print(f'{key:26} {value}')
  print(f"{'goals':26} {'met' if met else 'MISSED'} (0 good failed, 0 5xx, 0 hostile accepted, "
        f'RSS growth <= {args.rss_growth_mib:.0f} MiB)')
  print('RESULT ' + json.dumps(result))
  return 0 if met else 1


if __name__ == '__main__':
  sys.exit(main())
