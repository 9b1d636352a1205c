"""Benchmark: `ctpipe run` and TFX's own taxi example at 15k, 150k and 1.5M rows, one session.

For each size it generates the data (bench/scaled_data.py; 15k is the embedded data),
runs `ctpipe run` on a fresh home and TFX's example (`../shared/bench/peer_taxi.py`)
on the same rows, each as a separate process, and prints per-component wall time
(from each store's ML Metadata), rows per second, the peak memory of the whole process
tree (PSS and RSS, summed over its processes every 0.25 s), the ratio ours/peer, our start-up time (launch
to the first component), the statistics' row counts against the input rows, the
model's quality, and the re-run times (the second run re-evaluates against the new
baseline; the third is fully cached).

    .venv/bin/python bench/scaling.py [--sizes 15k,150k,1.5m] [--peer-sizes 15k,150k] \
        [--rerun-sizes 15k] [--work DIR]

Figures go to stdout and to <work>/scaling.json. Nothing here is a test: figures on
these machines vary by ±20 % between sessions, so compare ratios from one session.
"""
import argparse
import json
import warnings
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional

import psutil

# The figures, not TensorFlow's and Google's import chatter (this process reads statistics).
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
warnings.filterwarnings('ignore', category=FutureWarning)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import scaled_data  # pylint: disable=g-import-not-at-top,wrong-import-position

PEER = os.path.join(os.path.dirname(REPO), 'shared', 'bench', 'peer_taxi.py')
CTPIPE = os.path.join(os.path.dirname(sys.executable), 'ctpipe')
EMBEDDED_ROWS = 15002
SIZES = {'15k': EMBEDDED_ROWS, '150k': 150_000, '1.5m': 1_500_000}


class PeakMemory:
  """Peak memory of a process and all its descendants, sampled in a thread.

  Two sums: RSS (counts the pages of shared libraries once per process: TensorFlow's
  alone are ~0.5 GiB in each Beam worker) and PSS (shared pages split between the
  processes that share them: what the tree really occupies). `peak_at` is when the
  PSS peak was seen.
  """

  def __init__(self, pid: int, interval: float = 0.25):
    self._root = psutil.Process(pid)
    self._interval = interval
    self.peak_rss = self.peak_pss = 0
    self.peak_at = 0.0
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._sample, daemon=True)
    self._thread.start()

  def _sample(self) -> None:
    while not self._stop.is_set():
      rss = pss = 0
      try:
        processes = [self._root] + self._root.children(recursive=True)
      except psutil.NoSuchProcess:
        return
      for process in processes:
        try:
          info = process.memory_full_info()
          rss += info.rss
          pss += info.pss
        except psutil.Error:
          pass
      self.peak_rss = max(self.peak_rss, rss)
      if pss > self.peak_pss:
        self.peak_pss, self.peak_at = pss, time.time()
      self._stop.wait(self._interval)

  def stop(self) -> Dict[str, float]:
    self._stop.set()
    self._thread.join()
    return {'peak_gib': self.peak_pss / 2**30, 'peak_rss_sum_gib': self.peak_rss / 2**30,
            'peak_at': self.peak_at}


def run_measured(command: List[str], log_path: str) -> Dict[str, object]:
  """Runs `command` with its output in `log_path`; wall seconds, peak GiB, exit code."""
  with open(log_path, 'w', encoding='utf-8') as log:
    start = time.time()
    # Wide: rich wraps the printed lines at 80 columns when not on a terminal.
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                               env={**os.environ, 'COLUMNS': '200'})
    memory = PeakMemory(process.pid)
    code = process.wait()
    wall = time.time() - start
  return {'launched': start, 'command_seconds': wall, 'exit_code': code, **memory.stop()}


def running_at(db_path: str, pipeline_name: str, moment: float) -> str:
  """The component that was executing at `moment` (epoch seconds), if any."""
  from ctpipe.metadata import reader as metadata  # pylint: disable=g-import-not-at-top
  reader = metadata.MetadataReader.open_sqlite(db_path, pipeline_name)
  for execution in reader.executions_after(0):
    if execution.created_ms / 1000 <= moment <= execution.updated_ms / 1000:
      return execution.node_id
  return 'between components'


def components(db_path: str, pipeline_name: str, after_id: int = 0):
  """Per node: total seconds and count of this invocation's executions; first start."""
  from ctpipe.metadata import reader as metadata  # pylint: disable=g-import-not-at-top
  reader = metadata.MetadataReader.open_sqlite(db_path, pipeline_name)
  per_node: Dict[str, Dict[str, float]] = {}
  first_ms, last_id = None, after_id
  for execution in reader.executions_after(after_id):
    entry = per_node.setdefault(execution.node_id, {'seconds': 0.0, 'count': 0, 'cached': 0})
    entry['seconds'] += execution.seconds
    entry['count'] += 1
    entry['cached'] += execution.state == 'CACHED'
    first_ms = execution.created_ms if first_ms is None else min(first_ms, execution.created_ms)
    last_id = max(last_id, execution.id)
  return per_node, first_ms, last_id


def statistics_rows(db_path: str, pipeline_name: str, node_id: str, after_id: int) -> int:
  """Examples counted by `node_id`'s statistics (all splits) in executions after `after_id`."""
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  from ctpipe.metadata import reader as metadata  # pylint: disable=g-import-not-at-top
  reader = metadata.MetadataReader.open_sqlite(db_path, pipeline_name)
  total = 0
  for execution in reader.executions_after(after_id):
    if execution.node_id != node_id or execution.state != 'COMPLETE':
      continue
    for artifact in reader.execution_outputs(execution.id).get('statistics', []):
      for split in sorted(os.listdir(artifact.uri)):
        path = os.path.join(artifact.uri, split, 'FeatureStats.pb')
        if os.path.exists(path):
          total += tfdv.load_stats_binary(path).datasets[0].num_examples
  return total


def run_ours(work: str, label: str, data_root: str, rows: int, reruns: int) -> Dict[str, object]:
  home = os.path.join(work, f'ours-{label}')
  shutil.rmtree(home, ignore_errors=True)
  db = os.path.join(home, 'metadata.db')
  result = run_measured([CTPIPE, 'run', '--home', home, '--data-root', data_root],
                        os.path.join(work, f'ours-{label}.log'))
  if result['exit_code'] != 0:
    raise RuntimeError(f'ctpipe run failed at {label}; see {work}/ours-{label}.log')
  with open(os.path.join(home, 'last_run.json'), encoding='utf-8') as f:
    record = json.load(f)
  per_node, first_ms, last_id = components(db, 'ctpipe-taxi')
  result.update(
      pipeline_seconds=record['pipeline_seconds'], components=per_node,
      startup_seconds=first_ms / 1000 - result['launched'],
      statistics_rows=statistics_rows(db, 'ctpipe-taxi', 'StatisticsGen', 0),
      input_rows=rows, quality=record['candidate'], blessed=record['blessed'],
      peak_component=running_at(db, 'ctpipe-taxi', result['peak_at']),
      pushed=record['pushed_version'], beam=_beam_choice(os.path.join(work, f'ours-{label}.log')))
  result['reruns'] = []
  for i in range(reruns):
    again = run_measured([CTPIPE, 'run', '--home', home, '--data-root', data_root],
                         os.path.join(work, f'ours-{label}-rerun{i + 1}.log'))
    with open(os.path.join(home, 'last_run.json'), encoding='utf-8') as f:
      rerun_record = json.load(f)
    rerun_nodes, rerun_first_ms, last_id = components(db, 'ctpipe-taxi', last_id)
    again.update(pipeline_seconds=rerun_record['pipeline_seconds'],
                 startup_seconds=rerun_first_ms / 1000 - again['launched'],
                 executed=sorted(n for n, e in rerun_nodes.items() if e['cached'] < e['count']))
    result['reruns'].append(again)
  return result


def _beam_choice(log_path: str) -> str:
  with open(log_path, encoding='utf-8', errors='replace') as f:
    match = re.search(r'^Beam: (.*)$', f.read(), re.M)
  return match.group(1).strip() if match else 'n/a'


def run_peer(work: str, label: str, data_root: Optional[str], rows: int) -> Dict[str, object]:
  peer_work = os.path.join(work, f'peer-{label}')
  shutil.rmtree(peer_work, ignore_errors=True)
  command = [sys.executable, PEER, '--work', peer_work]
  if data_root:
    command += ['--data-root', data_root]
  log = os.path.join(work, f'peer-{label}.log')
  result = run_measured(command, log)
  with open(log, encoding='utf-8', errors='replace') as f:
    text = f.read()
  match = re.search(r'^PEER_WALL_S (\S+)', text, re.M)
  if result['exit_code'] != 0 or not match:
    raise RuntimeError(f'the peer failed at {label}; see {log}')
  db = os.path.join(peer_work, 'metadata.db')
  per_node, _, _ = components(db, 'peer_taxi')
  metrics = re.search(r'^PEER_METRICS (.*)$', text, re.M)
  result.update(pipeline_seconds=float(match.group(1)), components=per_node, input_rows=rows,
                peak_component=running_at(db, 'peer_taxi', result['peak_at']),
                statistics_rows=statistics_rows(db, 'peer_taxi', 'StatisticsGen', 0),
                quality=json.loads(metrics.group(1)) if metrics else {})
  return result


def _component_line(entry: Dict[str, object]) -> str:
  parts = []
  for node, info in sorted(entry['components'].items(), key=lambda kv: -kv[1]['seconds']):
    if info['seconds'] >= 0.5:
      times = f'×{int(info["count"])}' if info['count'] > 1 else ''
      parts.append(f'{node}{times} {info["seconds"]:.1f}')
  return ', '.join(parts)


def report(label: str, ours: Dict[str, object], peer: Optional[Dict[str, object]]) -> None:
  rows = ours['input_rows']
  quality = ours['quality'] or {}
  print(f'\n== {label}: {rows:,} rows ==')
  print(f'ours: pipeline {ours["pipeline_seconds"]:.1f} s ({rows / ours["pipeline_seconds"]:,.0f} '
        f'rows/s), command {ours["command_seconds"]:.1f} s, start-up '
        f'{ours["startup_seconds"]:.1f} s, peak memory {ours["peak_gib"]:.2f} GiB PSS '
        f'({ours["peak_rss_sum_gib"]:.2f} GiB RSS summed) during {ours["peak_component"]}, '
        f'beam {ours["beam"]}')
  print(f'      AUC {quality.get("auc", float("nan")):.4f}, accuracy '
        f'{quality.get("binary_accuracy", float("nan")):.4f}, blessed {ours["blessed"]}, '
        f'pushed {ours["pushed"]}; statistics rows {ours["statistics_rows"]:,} of {rows:,} '
        f'input rows ({"equal" if ours["statistics_rows"] == rows else "DIFFERENT"})')
  print(f'      components (s): {_component_line(ours)}')
  for i, again in enumerate(ours['reruns'], start=2):
    print(f'      run {i}: pipeline {again["pipeline_seconds"]:.1f} s, command '
          f'{again["command_seconds"]:.1f} s, start-up {again["startup_seconds"]:.1f} s; '
          f'executed: {", ".join(again["executed"]) or "nothing"}')
  if peer:
    pq = peer['quality'] or {}
    print(f'peer: pipeline {peer["pipeline_seconds"]:.1f} s ({rows / peer["pipeline_seconds"]:,.0f}'
          f' rows/s), command {peer["command_seconds"]:.1f} s, peak memory '
          f'{peer["peak_gib"]:.2f} GiB PSS ({peer["peak_rss_sum_gib"]:.2f} RSS summed) during '
          f'{peer["peak_component"]}, accuracy {pq.get("binary_accuracy", float("nan")):.4f}, '
          f'statistics rows {peer["statistics_rows"]:,}')
    print(f'      components (s): {_component_line(peer)}')
    print(f'RATIO {label}: ours/peer pipeline {ours["pipeline_seconds"] / peer["pipeline_seconds"]:.2f}'
          f', command {ours["command_seconds"] / peer["command_seconds"]:.2f}')
  sys.stdout.flush()


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--sizes', default='15k,150k,1.5m')
  parser.add_argument('--peer-sizes', default='15k,150k')
  parser.add_argument('--rerun-sizes', default='15k',
                      help='sizes at which ctpipe runs twice more on the same home')
  parser.add_argument('--work', default=None, help='scratch folder (default: a temp folder)')
  args = parser.parse_args()
  work = os.path.abspath(args.work or tempfile.mkdtemp(prefix='ctpipe-scaling-'))
  os.makedirs(work, exist_ok=True)
  peer_sizes = set(filter(None, args.peer_sizes.split(',')))
  rerun_sizes = set(filter(None, args.rerun_sizes.split(',')))
  results = {}
  for label in filter(None, args.sizes.split(',')):
    if label not in SIZES:
      parser.error(f'unknown size {label!r}; one of {", ".join(SIZES)}')
    rows = SIZES[label]
    if rows == EMBEDDED_ROWS:
      ours_root, peer_root = os.path.join(REPO, 'data', 'taxi'), None
    else:
      data = os.path.join(work, f'data-{label}')
      written = scaled_data.generate(rows, data)
      rows = sum(written.values())
      ours_root, peer_root = data, os.path.join(data, 'flat')
    ours = run_ours(work, label, ours_root, rows, 2 if label in rerun_sizes else 0)
    peer = run_peer(work, label, peer_root, rows) if label in peer_sizes else None
    report(label, ours, peer)
    results[label] = {'ours': ours, 'peer': peer}
    with open(os.path.join(work, 'scaling.json'), 'w', encoding='utf-8') as f:
      json.dump(results, f, indent=2, sort_keys=True, default=str)
  print(f'\nfigures: {os.path.join(work, "scaling.json")}')


if __name__ == '__main__':
  main()
