"""Benchmark: online validation's decisions, and what routing and shadowing cost a request.

Decisions. The pushed model (`make run` first) answers every row of the embedded history;
the history is replayed as live traffic, one row per request with its own id, the canary
taking its share by the server's own routing (serving_plan.routes_to_candidate). Labels
come back for a fraction of the requests, a delay of requests later; the watcher's check
(online_validation.decide, the default rollout policy) runs every `--poll` requests. Three
candidates: `equal` (the same model: must be promoted), `subtle` (its scores blurred by
noise: a few AUC points worse, must be aborted) and `inverted` (its scores reversed: must
be stopped fast). Over `--seeds` replays each (other request ids, other labelled rows),
it prints the labelled rows each decision needed, the wrong decisions (goal: none) and the
requests the bad candidate answered before it was stopped.

Overhead. `ctpipe serve` as its own process on one model base, three ways: direct, a
20 % canary (the candidate a copy of the model) and a shadow; single-row REST requests
from one client; p50 and p99 of each, and the ratios to direct (goal: p50 within 10 %).

    .venv/bin/python bench/rollout.py [--home .ctpipe] [--seeds 10] [--requests 3000]

Prints one table per part and a JSON line (`RESULT`).
"""
import argparse
import csv
import dataclasses
import glob
import json
import os
import shutil
import sys
import tempfile
import time
from typing import Dict, List

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, 'bench'))

import serving_latency as serving  # noqa: E402  pylint: disable=wrong-import-position

MODEL = 'taxi'


def _history() -> List[Dict[str, str]]:
  rows = []
  for path in sorted(glob.glob(os.path.join(REPO, 'data', MODEL, 'span-*', 'data.csv'))):
    with open(path, newline='') as f:
      rows.extend(csv.DictReader(f))
  return rows


def _answers(model_dir: str, rows: List[Dict[str, str]]) -> np.ndarray:
  """The model's probability for every row, through its serving_raw signature."""
  from ctpipe.model_server.served_model import ServedModel  # pylint: disable=g-import-not-at-top
  served = ServedModel(model_dir, 1)
  specs = {s.name: s.dtype.name for s in served.input_specs('serving_raw')}
  found = []
  for start in range(0, len(rows), 2000):
    inputs = serving.Inputs(specs, rows[start:start + 2000])
    found.append(served.predict('serving_raw', inputs.columns, ('probability',))['probability'])
  return np.concatenate(found).reshape(-1).astype(np.float64)


def _labels(rows: List[Dict[str, str]]) -> np.ndarray:
  """models.taxi's label in whole cents: tips over a fifth of a known fare."""
  from models import taxi  # pylint: disable=g-import-not-at-top

  def cents(text: str) -> int:
    return round(float(text) * 100) if text else 0
  return np.array([int(bool(r['fare']) and bool(r['tips']) and
                       cents(r['tips']) * taxi.BIG_TIP_DENOMINATOR >
                       cents(r['fare']) * taxi.BIG_TIP_NUMERATOR) for r in rows], dtype=np.int64)


def _candidate(kind: str, stable: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  if kind == 'equal':
    return stable
  if kind == 'inverted':
    return 1.0 - stable
  logit = np.log(np.clip(stable, 1e-6, 1 - 1e-6) / np.clip(1 - stable, 1e-6, 1))
  return 1.0 / (1.0 + np.exp(-(logit + rng.normal(0, 1.5, len(stable)))))  # subtle


@dataclasses.dataclass
class Replay:
  kind: str
  seed: int
  action: str = 'undecided'
  labelled_rows: int = 0        # the candidate's, when decided
  candidate_requests: int = 0   # requests the candidate answered until the decision
  requests: int = 0             # all requests until the decision
  seconds: float = 0.0          # the decisions' own compute time


def replay(kind: str, seed: int, stable: np.ndarray, labels: np.ndarray, policy, args) -> Replay:
  """One replay of live traffic against one candidate."""
  from ctpipe.model_server import serving_plan  # pylint: disable=g-import-not-at-top
  from ctpipe.rollout import online_validation as ov  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  order = rng.permutation(np.resize(np.arange(len(labels)), args.max_requests))
  candidate_scores = _candidate(kind, stable, rng)
  plan = serving_plan.Plan(1, 2, serving_plan.CANARY, policy.canary_percent, started=1.0)
  evidence = {1: ov.VersionEvidence(1, 'stable'), 2: ov.VersionEvidence(2, 'canary')}
  labelled_later = rng.random(len(order)) < args.label_rate
  result = Replay(kind, seed)
  spent = 0.0
  next_look = policy.min_labelled_rows
  for n, row in enumerate(order):
    request_id = f's{seed}-r{n}'
    version = 2 if serving_plan.routes_to_candidate(plan, request_id) else 1
    target = evidence[version]
    target.requests += 1
    target.latencies_ms.append(1.0)
    arrived = n - args.label_delay  # this request's label is back once `delay` more came
    if arrived >= 0 and labelled_later[arrived]:
      past = order[arrived]
      past_id = f's{seed}-r{arrived}'
      past_version = 2 if serving_plan.routes_to_candidate(plan, past_id) else 1
      answer = (candidate_scores if past_version == 2 else stable)[past]
      evidence[past_version].labelled[(past_id, 0)] = (int(labels[past]), float(answer))
      evidence[past_version].times[(past_id, 0)] = float(arrived)
    # The watcher polls every `poll` requests; between two look sizes a check sees the
    # same rows (online_validation._look), so only polls that reach a new size are run.
    if (n + 1) % args.poll == 0 and len(evidence[2].labelled) >= next_look:
      next_look = policy.min_labelled_rows * 2 ** min(
          int(np.log2(len(evidence[2].labelled) / policy.min_labelled_rows)) + 1,
          policy.max_looks)
      start = time.perf_counter()
      decision = ov.decide('binary', evidence[1], evidence[2], policy, started=1.0, now=2.0)
      spent += time.perf_counter() - start
      if decision.action != ov.WAIT:
        result.action = decision.action
        break
  result.labelled_rows = len(evidence[2].labelled)
  result.candidate_requests = evidence[2].requests
  result.requests = evidence[1].requests + evidence[2].requests
  result.seconds = spent
  return result


def decisions(args, policy) -> dict:
  from ctpipe.rollout import online_validation as ov  # pylint: disable=g-import-not-at-top
  rows = _history()
  model_dir = _newest_version(args.home)
  stable, labels = _answers(model_dir, rows), _labels(rows)
  out = {'rows': len(rows), 'stable_auc': ov.metric_value(
      'binary', list(zip(labels.tolist(), stable.tolist())))}
  for kind in ('equal', 'subtle', 'inverted'):
    runs = [replay(kind, seed, stable, labels, policy, args) for seed in range(args.seeds)]
    expected = ov.PROMOTE if kind == 'equal' else ov.ABORT
    rng = np.random.default_rng(0)
    out[kind] = {
        'candidate_auc': ov.metric_value('binary', list(zip(
            labels.tolist(), _candidate(kind, stable, rng).tolist()))),
        'decisions': {a: sum(r.action == a for r in runs) for a in ('promote', 'abort',
                                                                    'undecided')},
        'wrong': sum(r.action not in (expected, 'undecided') for r in runs),
        'labelled_rows_p50': float(np.median([r.labelled_rows for r in runs])),
        'labelled_rows_max': max(r.labelled_rows for r in runs),
        'candidate_requests_p50': float(np.median([r.candidate_requests for r in runs])),
        'candidate_requests_max': max(r.candidate_requests for r in runs),
        'decide_seconds_p50': float(np.median([r.seconds for r in runs])),
    }
  return out


def _newest_version(home: str) -> str:
  base = os.path.join(home, 'serving', MODEL)
  found = sorted((int(v) for v in os.listdir(base) if v.isdigit())) if os.path.isdir(base) else []
  if not found:
    sys.exit(f'no pushed model under {base}: run `make run` first')
  return os.path.join(base, str(found[-1]))


def overhead(args) -> dict:
  """p50/p99 of single-row REST requests: direct, canary (20 %), shadow. The three servers
  run side by side and are measured in alternating rounds (direct, canary, shadow, direct,
  ...): the machine's drift over the minutes of the run falls on all three alike."""
  from ctpipe.model_server import versions  # pylint: disable=g-import-not-at-top
  model_dir = _newest_version(args.home)
  modes = ('direct', 'canary', 'shadow')
  servers, clients = {}, {}
  try:
    for mode in modes:
      work = tempfile.mkdtemp(prefix=f'rollout-{mode}-')
      base = os.path.join(work, 'serving', MODEL)
      shutil.copytree(model_dir, os.path.join(base, '1'))
      if mode != 'direct':
        versions.start_trial(base, 2, mode, 20.0)
        shutil.copytree(model_dir, os.path.join(base, '2'))
      rest_port, grpc_port = serving._free_port(), serving._free_port()  # pylint: disable=protected-access
      servers[mode] = (serving.start_server(base, work, rest_port, grpc_port), work, rest_port)
      clients[mode] = serving.Clients(rest_port, grpc_port)
    for mode in modes:
      serving.wait_for_version(servers[mode][2], 1)
      if mode != 'direct':
        serving.wait_for_version(servers[mode][2], 2)
    import requests  # pylint: disable=g-import-not-at-top
    metadata = requests.get(f'http://127.0.0.1:{servers["direct"][2]}/v1/models/{MODEL}/metadata',
                            timeout=10).json()
    inputs = metadata['metadata']['signature_def']['signature_def']['serving_raw']['inputs']
    specs = {name: {'DT_STRING': 'string', 'DT_FLOAT': 'float32'}.get(spec['dtype'], 'int64')
             for name, spec in inputs.items()}
    body = serving.Inputs(specs, _history()[:1]).rest_body()
    for mode in modes:
      serving.load(clients[mode].rest(body, 1), 1, 300, 10)  # warm
    rounds: Dict[str, List[dict]] = {mode: [] for mode in modes}
    for _ in range(args.rounds):
      for mode in modes:
        rounds[mode].append(serving.load(clients[mode].rest(body, 1), 1,
                                         args.requests // args.rounds, args.seconds))
  finally:
    for proc, work, _ in servers.values():
      proc.terminate()
      proc.wait(timeout=30)
      shutil.rmtree(work, ignore_errors=True)
  out = {mode: {'p50_ms': float(np.median([r['p50_ms'] for r in rounds[mode]])),
                'p99_ms': float(np.median([r['p99_ms'] for r in rounds[mode]])),
                'requests': sum(r['requests'] for r in rounds[mode]),
                'failures': sum(r['failures'] for r in rounds[mode])} for mode in modes}
  for mode in ('canary', 'shadow'):
    out[mode]['p50_ratio'] = out[mode]['p50_ms'] / out['direct']['p50_ms']
    out[mode]['p99_ratio'] = out[mode]['p99_ms'] / out['direct']['p99_ms']
  return out


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--home', default=os.path.join(REPO, '.ctpipe'))
  parser.add_argument('--seeds', type=int, default=10)
  parser.add_argument('--canary-percent', type=float, default=20.0)
  parser.add_argument('--label-rate', type=float, default=0.5,
                      help='share of requests whose label comes back')
  parser.add_argument('--label-delay', type=int, default=500,
                      help='requests between an answer and its label')
  parser.add_argument('--poll', type=int, default=1000, help='requests between checks')
  parser.add_argument('--max-requests', type=int, default=200_000)
  parser.add_argument('--requests', type=int, default=6000, help='overhead: per mode')
  parser.add_argument('--seconds', type=float, default=4.0, help='overhead: per round')
  parser.add_argument('--rounds', type=int, default=6, help='overhead: alternating rounds')
  parser.add_argument('--skip-overhead', action='store_true')
  parser.add_argument('--skip-decisions', action='store_true')
  args = parser.parse_args()
  from ctpipe import config  # pylint: disable=g-import-not-at-top
  policy = dataclasses.replace(config.RolloutPolicy(), strategy='canary',
                               canary_percent=args.canary_percent)
  started = time.time()
  result = {'policy': dataclasses.asdict(policy),
            'traffic': {'label_rate': args.label_rate, 'label_delay': args.label_delay,
                        'poll': args.poll}}
  if not args.skip_decisions:
    result['decisions'] = decisions(args, policy)
  if not args.skip_overhead:
    result['overhead'] = overhead(args)
  result['seconds'] = time.time() - started
  report(result)
  print('RESULT ' + json.dumps(result, default=float))


def report(r: dict) -> None:
  if 'decisions' in r:
    report_decisions(r)
  if 'overhead' in r:
    report_overhead(r['overhead'])


def report_decisions(r: dict) -> None:
  d = r['decisions']
  p = r['policy']
  print(f'Decisions: {d["rows"]:,} rows of history replayed as traffic, canary '
        f'{p["canary_percent"]:g} %, labels for {r["traffic"]["label_rate"]:.0%} of requests '
        f'{r["traffic"]["label_delay"]} requests later, a check every {r["traffic"]["poll"]} '
        f'requests; rule: AUC no worse by more than {p["max_metric_drop"]:g} at '
        f'{p["confidence"]:.0%} (stable AUC {d["stable_auc"]:.4f})')
  print(f'{"candidate":10} {"AUC":>7} {"promote":>8} {"abort":>6} {"undecided":>10} {"wrong":>6} '
        f'{"labelled p50":>13} {"max":>7} {"its requests p50":>17} {"max":>7} {"check s":>8}')
  for kind in ('equal', 'subtle', 'inverted'):
    k = d[kind]
    print(f'{kind:10} {k["candidate_auc"]:7.4f} {k["decisions"]["promote"]:8} '
          f'{k["decisions"]["abort"]:6} {k["decisions"]["undecided"]:10} {k["wrong"]:6} '
          f'{k["labelled_rows_p50"]:13,.0f} {k["labelled_rows_max"]:7,} '
          f'{k["candidate_requests_p50"]:17,.0f} {k["candidate_requests_max"]:7,} '
          f'{k["decide_seconds_p50"]:8.2f}')


def report_overhead(o: dict) -> None:
  print('Serving overhead (single-row REST, one client; medians of alternating rounds):')
  for mode in ('direct', 'canary', 'shadow'):
    ratio = '' if mode == 'direct' else (f'  p50 ×{o[mode]["p50_ratio"]:.3f}, '
                                         f'p99 ×{o[mode]["p99_ratio"]:.3f}')
    print(f'  {mode:7} p50 {o[mode]["p50_ms"]:.3f} ms, p99 {o[mode]["p99_ms"]:.3f} ms, '
          f'{o[mode]["requests"]} requests, {o[mode]["failures"]} failed{ratio}')


if __name__ == '__main__':
  main()
