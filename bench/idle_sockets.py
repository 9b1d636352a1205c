"""How many idle sockets it takes to lock clients out of the REST API.

`ctpipe serve` runs as its own process on loopback; this process opens idle TCP
connections to its REST port in steps (each sends nothing), and after each step sends
one good request, timing it. Connections are closed by the server after its header
deadline (10 s), so each step is opened in well under that. Bounded: at most
`--max` sockets (this process's file limit caps it too), loopback only.

    .venv/bin/python bench/idle_sockets.py [--home .ctpipe] [--max 18000]

Prints, per step, the sockets open and the good request's status and latency, then
a JSON line (`RESULT`).
"""
import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from soak import GOOD_BODY, MODEL, REPO, _free_port, publish  # pylint: disable=wrong-import-position


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--home', default=os.path.join(REPO, '.ctpipe'))
  parser.add_argument('--max', type=int, default=18000)
  args = parser.parse_args()
  soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
  resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
  source_base = os.path.join(args.home, 'serving', MODEL)
  versions = sorted(int(n) for n in os.listdir(source_base) if n.isdigit())
  work = tempfile.mkdtemp(prefix='ctpipe-idle-')
  base = os.path.join(work, MODEL)
  os.makedirs(base)
  publish(base, os.path.join(source_base, str(versions[-1])), 1)
  rest_port, grpc_port = _free_port(), _free_port()
  server = subprocess.Popen(
      [os.path.join(os.path.dirname(sys.executable), 'ctpipe'), 'serve', '--home', work,
       '--model-base-path', base, '--rest-port', str(rest_port), '--grpc-port', str(grpc_port)],
      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  url = f'http://127.0.0.1:{rest_port}/v1/models/{MODEL}:predict'
  steps = []
  try:
    deadline = time.time() + 120
    while True:
      try:
        if requests.post(url, data=GOOD_BODY, timeout=5).status_code == 200:
          break
      except requests.RequestException:
        pass
      if time.time() > deadline:
        print('error: the server did not start', file=sys.stderr)
        return 2
      time.sleep(0.5)
    sockets = []
    for target in (256, 1000, 4000, 8000, 12000, 16000, args.max):
      target = min(target, args.max)
      opened_at = time.time()
      try:
        while len(sockets) < target:
          sockets.append(socket.create_connection(('127.0.0.1', rest_port), timeout=5))
      except OSError as e:
        steps.append({'idle': len(sockets), 'error': f'cannot open more: {e.strerror}'})
        break
      start = time.perf_counter()
      try:
        status = requests.post(url, data=GOOD_BODY, timeout=10).status_code
      except requests.RequestException as e:
        status = type(e).__name__
      step = {'idle': len(sockets), 'open_seconds': round(time.time() - opened_at, 2),
              'good_status': status, 'good_ms': round((time.perf_counter() - start) * 1000, 1)}
      steps.append(step)
      print(step, flush=True)
      if status != 200 or target == args.max:
        break
    for s in sockets:
      s.close()
  finally:
    server.terminate()
    server.wait(timeout=30)
    shutil.rmtree(work, ignore_errors=True)
  print('RESULT ' + json.dumps({'fd_limit_client': hard, 'steps': steps}))
  return 0


if __name__ == '__main__':
  sys.exit(main())
