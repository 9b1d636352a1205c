"""Online validation: is the candidate on trial as good as the stable version on live traffic?

Evidence per version comes from the server's request log (answers, server errors, latency)
and the labels that arrive later (the feedback CSV). The test is a bootstrap confidence
bound of the difference of the task's metric, candidate minus stable (binary: AUC;
multiclass: accuracy; regression: RMSE, relative to the stable version's):

- promote when, at the configured confidence, the candidate is no worse than stable by more
  than the margin (a one-sided non-inferiority test: the lower bound is above −margin);
- abort when, at that confidence, it is worse by more than the margin (the upper bound is
  below −margin), when its server-error rate or p99 latency is beyond its limit, or when the
  trial ran out of time without the evidence to decide (not proven is not promoted);
- wait otherwise, saying what is missing.

A canary's and stable's labelled rows are different requests (two independent samples); a
shadow answered the very requests stable answered, so its rows are paired.
"""
import dataclasses
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from models import outputs

PROMOTE, ABORT, WAIT = 'promote', 'abort', 'wait'
BOOTSTRAP_SAMPLES = 2000


@dataclasses.dataclass(frozen=True)
class Limits:
  """The promotion rule (the data set's `rollout` section, ctpipe.config.RolloutPolicy)."""
  min_requests: int = 200
  min_labelled_rows: int = 200
  max_hours: float = 24.0
  max_metric_drop: float = 0.01
  confidence: float = 0.95
  max_error_rate: float = 0.01
  max_p99_latency_ms: float = 250.0

  @classmethod
  def of(cls, policy) -> 'Limits':
    return cls(**{f.name: getattr(policy, f.name) for f in dataclasses.fields(cls)})


@dataclasses.dataclass
class VersionEvidence:
  """What one version did on live traffic since the trial began."""
  version: int
  role: str                      # stable | canary | shadow
  requests: int = 0              # answered requests (an error is one too)
  errors: int = 0                # server errors (5xx / INTERNAL), the version's own fault
  latencies_ms: List[float] = dataclasses.field(default_factory=list)
  labelled: Dict[Tuple[str, int], Tuple[object, object]] = dataclasses.field(
      default_factory=dict)      # (request id, row) -> (label, answer)

  @property
  def error_rate(self) -> float:
    return self.errors / self.requests if self.requests else 0.0

  @property
  def p99_ms(self) -> Optional[float]:
    return float(np.percentile(self.latencies_ms, 99)) if self.latencies_ms else None

  def summary(self, task: str) -> Dict[str, object]:
    pairs = list(self.labelled.values())
    value = metric_value(task, pairs) if pairs else None
    return {'version': self.version, 'role': self.role, 'requests': self.requests,
            'errors': self.errors, 'error_rate': round(self.error_rate, 6),
            'p99_ms': None if self.p99_ms is None else round(self.p99_ms, 3),
            'labelled_rows': len(pairs), metric_name(task): value}


@dataclasses.dataclass(frozen=True)
class Decision:
  action: str                    # promote | abort | wait
  reason: str                    # one line a person can act on
  metric: str = ''
  stable_value: Optional[float] = None
  candidate_value: Optional[float] = None
  difference: Optional[float] = None   # candidate − stable (regression: relative, negated)
  low: Optional[float] = None          # one-sided bounds at the confidence
  high: Optional[float] = None
  evidence: Tuple[Dict[str, object], ...] = ()

  def to_dict(self) -> Dict[str, object]:
    found = dataclasses.asdict(self)
    found['evidence'] = list(self.evidence)
    return found


def metric_name(task: str) -> str:
  return {outputs.BINARY: 'auc', outputs.MULTICLASS: 'accuracy',
          outputs.REGRESSION: 'rmse'}[task]


def _auc(y: np.ndarray, p: np.ndarray) -> float:
  """ROC AUC by ranks (Mann-Whitney U), ties counted half; NaN with one class only."""
  from scipy import stats  # pylint: disable=g-import-not-at-top
  positives = y == 1
  n_pos, n_neg = int(positives.sum()), int((~positives).sum())
  if not n_pos or not n_neg:
    return float('nan')
  ranks = stats.rankdata(p)
  return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _arrays(task: str, pairs: Sequence[Tuple[object, object]]):
  if task == outputs.MULTICLASS:
    return (np.array([str(y) for y, _ in pairs], dtype=object),
            np.array([str(a) for _, a in pairs], dtype=object))
  return (np.array([float(y) for y, _ in pairs]), np.array([float(a) for _, a in pairs]))


def _value(task: str, y: np.ndarray, a: np.ndarray) -> float:
  if task == outputs.BINARY:
    return _auc(y, a)
  if task == outputs.MULTICLASS:
    return float(np.mean(y == a))
  return float(np.sqrt(np.mean((y - a) ** 2)))


def metric_value(task: str, pairs: Sequence[Tuple[object, object]]) -> Optional[float]:
  if not pairs:
    return None
  value = _value(task, *_arrays(task, pairs))
  return None if np.isnan(value) else value


def _score_difference(task: str, candidate: float, stable: float, scale: float) -> float:
  """Candidate minus stable as a score (higher is better): RMSE relative to stable's."""
  if task == outputs.REGRESSION:
    return (stable - candidate) / scale
  return candidate - stable


def bootstrap_difference(task: str, stable: Dict[tuple, tuple], candidate: Dict[tuple, tuple],
                         paired: bool, confidence: float, seed: int = 0,
                         samples: int = BOOTSTRAP_SAMPLES) -> Tuple[float, float, float]:
  """(difference, lower bound, upper bound) of candidate − stable, each bound one-sided at
  `confidence`. Paired: the same keys in both, resampled together."""
  rng = np.random.default_rng(seed)
  if paired:
    keys = sorted(set(stable) & set(candidate))
    ys, a_s = _arrays(task, [stable[k] for k in keys])
    _, a_c = _arrays(task, [candidate[k] for k in keys])
    yc = ys
  else:
    ys, a_s = _arrays(task, list(stable.values()))
    yc, a_c = _arrays(task, list(candidate.values()))
  stable_full = _value(task, ys, a_s)
  scale = stable_full if task == outputs.REGRESSION and stable_full > 0 else 1.0
  point = _score_difference(task, _value(task, yc, a_c), stable_full, scale)
  found = []
  for _ in range(samples):
    i = rng.integers(0, len(ys), len(ys))
    j = i if paired else rng.integers(0, len(yc), len(yc))
    d = _score_difference(task, _value(task, yc[j], a_c[j]), _value(task, ys[i], a_s[i]), scale)
    if not np.isnan(d):
      found.append(d)
  if len(found) < samples // 2:  # e.g. AUC of resamples with one class only
    return point, float('nan'), float('nan')
  return (point, float(np.quantile(found, 1 - confidence)), float(np.quantile(found, confidence)))


def decide(task: str, stable: VersionEvidence, candidate: VersionEvidence, limits: Limits,
           started: float, now: Optional[float] = None) -> Decision:
  """The decision on a trial from the evidence gathered so far (see the module's docstring)."""
  now = time.time() if now is None else now
  name = metric_name(task)
  evidence = (stable.summary(task), candidate.summary(task))
  what = f'{candidate.role} v{candidate.version}'
  if candidate.requests >= limits.min_requests:
    if candidate.error_rate > limits.max_error_rate:
      return Decision(ABORT, f'{what}: server errors in {candidate.error_rate:.1%} of '
                      f'{candidate.requests} requests (limit {limits.max_error_rate:.1%})',
                      name, evidence=evidence)
    p99 = candidate.p99_ms
    if p99 is not None and p99 > limits.max_p99_latency_ms:
      return Decision(ABORT, f'{what}: p99 latency {p99:.1f} ms over {candidate.requests} '
                      f'requests (limit {limits.max_p99_latency_ms:g} ms)', name,
                      evidence=evidence)
  paired = candidate.role == 'shadow'
  counts = ((len(set(stable.labelled) & set(candidate.labelled)),) * 2 if paired else
            (len(stable.labelled), len(candidate.labelled)))
  enough = (candidate.requests >= limits.min_requests and min(counts) >= limits.min_labelled_rows)
  hours = (now - started) / 3600.0 if started else 0.0
  if enough:
    seed = int(candidate.version) * 1_000_003 + sum(counts)
    point, low, high = bootstrap_difference(task, stable.labelled, candidate.labelled, paired,
                                            limits.confidence, seed)
    values = dict(metric=name, stable_value=metric_value(task, list(stable.labelled.values())),
                  candidate_value=metric_value(task, list(candidate.labelled.values())),
                  difference=point, low=None if np.isnan(low) else low,
                  high=None if np.isnan(high) else high, evidence=evidence)
    words = (f'{name} {values["candidate_value"]:.4g} against stable v{stable.version}\'s '
             f'{values["stable_value"]:.4g}' if values['candidate_value'] is not None
             and values['stable_value'] is not None else name)
    bounds = (f'difference {point:+.4f}, {limits.confidence:.0%} bounds [{low:+.4f}, {high:+.4f}]'
              if not np.isnan(low) else 'no interval (one class only in the labels)')
    rows = f'{counts[1]} labelled rows' + ('' if paired else f' ({counts[0]} for stable)')
    if not np.isnan(low) and low > -limits.max_metric_drop:
      return Decision(PROMOTE, f'{what}: {words}; {bounds}: no worse than stable by more than '
                      f'{limits.max_metric_drop:g} ({rows})', **values)
    if not np.isnan(high) and high < -limits.max_metric_drop:
      return Decision(ABORT, f'{what}: {words}; {bounds}: worse than stable by more than '
                      f'{limits.max_metric_drop:g} ({rows})', **values)
    if hours >= limits.max_hours:
      return Decision(ABORT, f'{what}: undecided after {hours:.1f} h (limit '
                      f'{limits.max_hours:g} h): {words}; {bounds}; not proven, not promoted',
                      **values)
    return Decision(WAIT, f'{what}: {words}; {bounds}: not yet decided ({rows})', **values)
  missing = []
  if candidate.requests < limits.min_requests:
    missing.append(f'{candidate.requests}/{limits.min_requests} requests')
  if min(counts) < limits.min_labelled_rows:
    missing.append(f'{min(counts)}/{limits.min_labelled_rows} labelled rows'
                   + (' (paired)' if paired else ''))
  if hours >= limits.max_hours:
    return Decision(ABORT, f'{what}: not enough evidence after {hours:.1f} h (limit '
                    f'{limits.max_hours:g} h): {", ".join(missing)}; not proven, not promoted',
                    name, evidence=evidence)
  return Decision(WAIT, f'{what}: gathering evidence: {", ".join(missing)}', name,
                  evidence=evidence)
