"""The trial's decision rule, on evidence whose truth is known: a candidate as good as stable
is promoted, a much worse one aborted, a slow or failing one aborted, too little evidence
waits (then aborts when time is up), and the bootstrap bounds cover the true difference."""
import numpy as np
import pytest

from ctpipe.config import RolloutPolicy
from ctpipe.rollout import online_validation as ov
from models import outputs

LIMITS = RolloutPolicy(min_requests=100, min_labelled_rows=100, max_hours=24,
                       max_metric_drop=0.02, confidence=0.95)


def _binary(version, role, n, auc_noise, seed, ids=None):
  """n labelled rows whose scores separate the classes less as the noise grows."""
  rng = np.random.default_rng(seed)
  y = rng.integers(0, 2, n)
  score = y + rng.normal(0, auc_noise, n)
  ids = ids if ids is not None else [f'{role}-{i}' for i in range(n)]
  evidence = ov.VersionEvidence(version, role, requests=n, latencies_ms=[2.0] * n)
  evidence.labelled = {(ids[i], 0): (int(y[i]), float(score[i])) for i in range(n)}
  return evidence


def test_an_equally_good_canary_is_promoted():
  stable = _binary(1, 'stable', 2000, 0.4, seed=1)
  canary = _binary(2, 'canary', 1500, 0.4, seed=2)
  decision = ov.decide(outputs.BINARY, stable, canary, LIMITS, started=1.0, now=2.0)
  assert decision.action == ov.PROMOTE, decision.reason
  assert decision.low > -LIMITS.max_metric_drop
  assert 'no worse than stable' in decision.reason


def test_a_canary_answering_noise_is_aborted():
  stable = _binary(1, 'stable', 2000, 0.5, seed=1)
  canary = _binary(2, 'canary', 300, 50.0, seed=3)  # AUC near 0.5
  decision = ov.decide(outputs.BINARY, stable, canary, LIMITS, started=1.0, now=2.0)
  assert decision.action == ov.ABORT, decision.reason
  assert decision.high < -LIMITS.max_metric_drop
  assert decision.candidate_value < 0.6 < 0.9 < decision.stable_value


def test_too_few_labels_wait_then_abort_when_the_trial_runs_out_of_time():
  stable = _binary(1, 'stable', 2000, 0.5, seed=1)
  canary = _binary(2, 'canary', 40, 0.5, seed=2)
  canary.requests = 500
  waiting = ov.decide(outputs.BINARY, stable, canary, LIMITS, started=0.0 + 1, now=3600.0)
  assert waiting.action == ov.WAIT and '40/100 labelled rows' in waiting.reason
  late = ov.decide(outputs.BINARY, stable, canary, LIMITS, started=1.0, now=1 + 25 * 3600.0)
  assert late.action == ov.ABORT and 'not proven' in late.reason


def test_server_errors_or_slow_answers_abort_before_any_label():
  stable = _binary(1, 'stable', 2000, 0.5, seed=1)
  failing = ov.VersionEvidence(2, 'canary', requests=300, errors=12, latencies_ms=[2.0] * 288)
  decision = ov.decide(outputs.BINARY, stable, failing, LIMITS, started=1.0, now=2.0)
  assert decision.action == ov.ABORT and 'server errors in 4.0% of 300' in decision.reason
  slow = ov.VersionEvidence(2, 'canary', requests=300, latencies_ms=[400.0] * 300)
  decision = ov.decide(outputs.BINARY, stable, slow, LIMITS, started=1.0, now=2.0)
  assert decision.action == ov.ABORT and 'p99 latency 400.0 ms' in decision.reason


def test_a_shadow_is_judged_on_the_very_requests_stable_answered():
  ids = [f'r{i}' for i in range(400)]
  stable = _binary(1, 'stable', 400, 0.5, seed=1, ids=ids)
  worse = _binary(2, 'shadow', 400, 0.5, seed=1, ids=ids)
  rng = np.random.default_rng(9)
  for key, (label, score) in list(worse.labelled.items()):  # the same rows, noisier scores
    worse.labelled[key] = (label, score + rng.normal(0, 2.0))
  decision = ov.decide(outputs.BINARY, stable, worse, LIMITS, started=1.0, now=2.0)
  assert decision.action == ov.ABORT, decision.reason
  assert '400 labelled rows' in decision.reason and 'for stable' not in decision.reason


def test_bootstrap_bounds_cover_the_true_accuracy_difference_about_as_often_as_stated():
  """Multiclass accuracy 0.80 against 0.75 (true difference +0.05): the one-sided 95 % lower
  bound lies below the truth in about 95 % of repeated experiments."""
  covered = 0
  trials = 60
  for seed in range(trials):
    rng = np.random.default_rng(seed)
    stable = {(f's{i}', 0): ('a', 'a' if rng.random() < 0.75 else 'b') for i in range(400)}
    canary = {(f'c{i}', 0): ('a', 'a' if rng.random() < 0.80 else 'b') for i in range(400)}
    _, low, _ = ov.bootstrap_difference(outputs.MULTICLASS, stable, canary, False, 0.95,
                                        seed=seed, samples=400)
    covered += low <= 0.05
  assert covered / trials >= 0.85, covered


def test_regression_compares_rmse_relative_to_stable():
  rng = np.random.default_rng(4)
  y = rng.normal(100, 30, 600)
  stable = ov.VersionEvidence(1, 'stable', requests=600, latencies_ms=[1.0])
  stable.labelled = {(f's{i}', 0): (float(y[i]), float(y[i] + rng.normal(0, 10)))
                     for i in range(600)}
  canary = ov.VersionEvidence(2, 'canary', requests=600, latencies_ms=[1.0])
  canary.labelled = {(f'c{i}', 0): (float(y[i]), float(y[i] + rng.normal(0, 20)))
                     for i in range(600)}
  decision = ov.decide(outputs.REGRESSION, stable, canary, LIMITS, started=1.0, now=2.0)
  assert decision.action == ov.ABORT, decision.reason
  assert decision.candidate_value == pytest.approx(20, rel=0.15)
  assert decision.stable_value == pytest.approx(10, rel=0.15)
  # The difference is stable's RMSE minus the candidate's, relative to stable's: about −1.
  assert decision.difference == pytest.approx(
      (decision.stable_value - decision.candidate_value) / decision.stable_value)
  assert decision.difference < -0.5


def test_the_resampled_auc_is_exactly_the_auc_of_the_resampled_rows_ties_included():
  from sklearn.metrics import roc_auc_score  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  y = rng.integers(0, 2, 300).astype(float)
  scores = np.round(y + rng.normal(0, 1, 300), 1)  # rounded: many ties
  counts = rng.multinomial(300, np.full(300, 1 / 300), size=8)
  found = ov._resampled(outputs.BINARY, y, scores, counts)  # pylint: disable=protected-access
  expected = [roc_auc_score(np.repeat(y, k), np.repeat(scores, k)) for k in counts]
  np.testing.assert_allclose(found, expected, rtol=0, atol=1e-12)
