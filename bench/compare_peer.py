"""Benchmark: `ctpipe run` against TFX's own taxi example on the same 15,002 rows, same session.

Runs each one from a fresh scratch folder, as a separate process, and prints both
pipeline wall times (LocalDagRunner's run, imports excluded, as the peer measures
it), our whole command's wall time, their ratio, and both models' metrics.

    .venv/bin/python bench/compare_peer.py [--repeats N] [--work DIR]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER = os.path.join(os.path.dirname(REPO), 'shared', 'bench', 'peer_taxi.py')


def run_ours(work: str) -> dict:
  home = os.path.join(work, 'ours')
  start = time.time()
  proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ctpipe'), 'run',
                         '--home', home], capture_output=True, text=True)
  wall = time.time() - start
  if proc.returncode != 0:
    raise RuntimeError(f'ctpipe run failed ({proc.returncode}):\n{proc.stdout[-3000:]}')
  with open(os.path.join(home, 'last_run.json')) as f:
    record = json.load(f)
  record['command_seconds'] = wall
  return record


def run_peer(work: str) -> dict:
  if not os.path.exists(PEER):
    raise FileNotFoundError(f'{PEER} not found: the peer reference lives in ../shared/bench')
  start = time.time()
  proc = subprocess.run([sys.executable, PEER, '--work', os.path.join(work, 'peer')],
                        capture_output=True, text=True)
  wall = time.time() - start
  if proc.returncode != 0:
    raise RuntimeError(f'peer failed ({proc.returncode}):\n{proc.stderr[-3000:]}')
  seconds = float(re.search(r'^PEER_WALL_S (\S+)', proc.stdout, re.M).group(1))
  metrics_line = re.search(r'^PEER_METRICS (.*)$', proc.stdout, re.M)
  metrics = json.loads(metrics_line.group(1)) if metrics_line else {}
  return {'pipeline_seconds': seconds, 'command_seconds': wall, 'metrics': metrics}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--repeats', type=int, default=1)
  parser.add_argument('--work', default=None, help='scratch folder (default: a temp folder)')
  args = parser.parse_args()
  rows = []
  for i in range(args.repeats):
    work = args.work or tempfile.mkdtemp(prefix='ctpipe-bench-')
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    ours = run_ours(work)
    peer = run_peer(work)
    rows.append((ours, peer))
    c = ours['candidate']
    print(f'[{i + 1}/{args.repeats}] ours: pipeline {ours["pipeline_seconds"]:.1f} s '
          f'(command {ours["command_seconds"]:.1f} s), AUC {c.get("auc", float("nan")):.4f}, '
          f'accuracy {c.get("binary_accuracy", float("nan")):.4f}, '
          f'blessed {ours["blessed"]}, pushed {ours["pushed_version"]}')
    pm = peer['metrics']
    print(f'[{i + 1}/{args.repeats}] peer: pipeline {peer["pipeline_seconds"]:.1f} s '
          f'(command {peer["command_seconds"]:.1f} s), AUC {pm.get("auc", "n/a")}, '
          f'accuracy {pm.get("binary_accuracy", "n/a")}')
    per_node = ', '.join(f'{e["node"]} {e["seconds"]:.1f}' for e in ours['executions']
                         if e['seconds'] >= 0.5)
    print(f'    ours per component (s): {per_node}', flush=True)
  best_ours = min(o['pipeline_seconds'] for o, _ in rows)
  best_peer = min(p['pipeline_seconds'] for _, p in rows)
  print(f'BENCH best pipeline seconds: ours {best_ours:.1f}, peer {best_peer:.1f}, '
        f'ratio ours/peer {best_ours / best_peer:.2f}')


if __name__ == '__main__':
  main()
