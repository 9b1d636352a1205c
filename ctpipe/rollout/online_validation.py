"""Online validation: is the candidate on trial as good as the stable version on live traffic?

Evidence per version comes from the server's request log (answers, server errors, latency)
and the labels that arrive later (the feedback CSV). The test is a bootstrap confidence
bound of the difference of the task's metric, candidate minus stable (binary: AUC;
multiclass: accuracy; regression: RMSE, relative to the stable version's):

- promote when, at the configured confidence, the candidate is no worse than stable by more
  than the margin (a one-sided non-inferiority test: the lower bound is above −margin);
  the evidence is looked at when it doubles (min_labelled_rows × 1, 2, 4, ..., at most
  `max_looks` times), each look at confidence 1 − (1 − confidence) / max_looks, so checking
  repeatedly never inflates the error rates (Bonferroni over the looks);
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

from ctpipe.config import RolloutPolicy
from models import outputs

PROMOTE, ABORT, WAIT = 'promote', 'abort', 'wait'
BOOTSTRAP_SAMPLES = 2000


@dataclasses.dataclass
class VersionEvidence:
  """What one version did on live traffic since the trial began."""
  version: int
  role: str                      # stable | canary | shadow
  requests: int = 0              # answered requests (an error is one too)
  errors: int = 0                # server errors (5xx / INTERNAL), the version's own fault
  latencies_ms: List[float] = dataclasses.field(default_factory=list)
  labelled: Dict[Tuple[str, int], Tuple[object, object]] = dataclasses.field(
      default_factory=dict)      # (request id, row) -> (label, answer), in request order
  times: Dict[Tuple[str, int], float] = dataclasses.field(default_factory=dict)  # when asked

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


def _score_difference(task: str, candidate, stable, scale: float):
  """Candidate minus stable as a score (higher is better): RMSE relative to stable's."""
  if task == outputs.REGRESSION:
    return (stable - candidate) / scale
  return candidate - stable


def _resampled(task: str, y: np.ndarray, a: np.ndarray, counts: np.ndarray) -> np.ndarray:
  """The metric of each bootstrap resample, the resamples given as counts per row (one row
  of `counts` per resample): all resamples at once, without copying the data."""
  n = counts.sum(axis=1).astype(np.float64)
  if task == outputs.MULTICLASS:
    return counts @ (y == a).astype(np.float64) / n
  if task == outputs.REGRESSION:
    return np.sqrt(counts @ ((y - a) ** 2) / n)
  # AUC: rows sorted by score once; each resample's positives count the resampled
  # negatives scored below them, and half of those scored the same.
  order = np.argsort(a, kind='mergesort')
  scores, positive = a[order], (y[order] == 1)
  weights = counts[:, order].astype(np.float64)
  negatives = np.where(positive, 0.0, weights)
  below = np.cumsum(negatives, axis=1)
  _, start, size = np.unique(scores, return_index=True, return_counts=True)
  group = np.repeat(np.arange(len(start)), size)
  first, last = start[group], start[group] + size[group] - 1
  before = np.where(first > 0, below[:, np.maximum(first - 1, 0)], 0.0)
  tied = below[:, last] - before
  pos_weight = np.where(positive, weights, 0.0)
  n_pos, n_neg = pos_weight.sum(axis=1), negatives.sum(axis=1)
  with np.errstate(invalid='ignore', divide='ignore'):
    return (pos_weight * (before + 0.5 * tied)).sum(axis=1) / (n_pos * n_neg)


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
  chunk = max(1, min(samples, 2_000_000 // max(len(ys), len(yc), 1)))  # bounded memory
  for done in range(0, samples, chunk):
    size = min(chunk, samples - done)
    counts_s = rng.multinomial(len(ys), np.full(len(ys), 1 / len(ys)), size=size)
    counts_c = counts_s if paired else rng.multinomial(len(yc), np.full(len(yc), 1 / len(yc)),
                                                       size=size)
    found.append(_score_difference(task, _resampled(task, yc, a_c, counts_c),
                                   _resampled(task, ys, a_s, counts_s), scale))
  found = np.concatenate(found)
  found = found[~np.isnan(found)]
  if len(found) < samples // 2:  # e.g. AUC of resamples with one class only
    return point, float('nan'), float('nan')
  return (point, float(np.quantile(found, 1 - confidence)), float(np.quantile(found, confidence)))


def _look(stable: VersionEvidence, candidate: VersionEvidence, paired: bool,
          limits: RolloutPolicy):
  """(look number, stable's rows, the candidate's rows) of the latest look the evidence
  reached, or None. Looks are taken at min_labelled_rows × 1, 2, 4, ... candidate rows (at
  most `max_looks`); each look uses the candidate's first rows of its size (in request
  order) and stable's rows answered until then, so looking again between two sizes sees
  the same data: how often anyone checks never changes the error rates."""
  keys = [k for k in candidate.labelled if k in stable.labelled] if paired else list(
      candidate.labelled)
  if len(keys) < limits.min_labelled_rows:
    return None
  index = min(int(np.floor(np.log2(len(keys) / limits.min_labelled_rows))) + 1, limits.max_looks)
  chosen = keys[:limits.min_labelled_rows * 2 ** (index - 1)]
  candidate_rows = {k: candidate.labelled[k] for k in chosen}
  if paired:
    return index, {k: stable.labelled[k] for k in chosen}, candidate_rows
  until = max(candidate.times.get(k, 0.0) for k in chosen)
  stable_rows = {k: v for k, v in stable.labelled.items() if stable.times.get(k, 0.0) <= until}
  if len(stable_rows) < limits.min_labelled_rows:
    return None
  return index, stable_rows, candidate_rows


def decide(task: str, stable: VersionEvidence, candidate: VersionEvidence, limits: RolloutPolicy,
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
  look = _look(stable, candidate, paired, limits) if enough else None
  if look is not None:
    index, stable_rows, candidate_rows = look
    last = index == limits.max_looks
    confidence = 1 - (1 - limits.confidence) / limits.max_looks  # Bonferroni over the looks
    seed = int(candidate.version) * 1_000_003 + len(candidate_rows) * 7 + len(stable_rows)
    point, low, high = bootstrap_difference(task, stable_rows, candidate_rows, paired,
                                            confidence, seed)
    values = dict(metric=name, stable_value=metric_value(task, list(stable_rows.values())),
                  candidate_value=metric_value(task, list(candidate_rows.values())),
                  difference=point, low=None if np.isnan(low) else low,
                  high=None if np.isnan(high) else high, evidence=evidence)
    words = (f'{name} {values["candidate_value"]:.4g} against stable v{stable.version}\'s '
             f'{values["stable_value"]:.4g}' if values['candidate_value'] is not None
             and values['stable_value'] is not None else name)
    bounds = (f'difference {point:+.4f}, {confidence:.2%} bounds [{low:+.4f}, {high:+.4f}]'
              if not np.isnan(low) else 'no interval (one class only in the labels)')
    rows = (f'look {index} of {limits.max_looks}: {len(candidate_rows)} labelled rows'
            + ('' if paired else f' ({len(stable_rows)} for stable)'))
    if not np.isnan(low) and low > -limits.max_metric_drop:
      return Decision(PROMOTE, f'{what}: {words}; {bounds}: no worse than stable by more than '
                      f'{limits.max_metric_drop:g} ({rows})', **values)
    if not np.isnan(high) and high < -limits.max_metric_drop:
      return Decision(ABORT, f'{what}: {words}; {bounds}: worse than stable by more than '
                      f'{limits.max_metric_drop:g} ({rows})', **values)
    if last:
      return Decision(ABORT, f'{what}: undecided at the last look: {words}; {bounds} ({rows}); '
                      'not proven, not promoted', **values)
    if hours >= limits.max_hours:
      return Decision(ABORT, f'{what}: undecided after {hours:.1f} h (limit '
                      f'{limits.max_hours:g} h): {words}; {bounds}; not proven, not promoted',
                      **values)
    return Decision(WAIT, f'{what}: {words}; {bounds}: not yet decided ({rows}; the next look '
                    f'at {limits.min_labelled_rows * 2 ** index} rows)', **values)
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
