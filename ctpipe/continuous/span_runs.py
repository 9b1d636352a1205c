"""Acting on one event: a span that arrived, or a trigger without new data.

Two retrain policies:
- `every-span`: every new span is ingested, validated and trained on (trigger: new data).
- `on-trigger`: a new span is ingested, validated and checked for drift; training
  follows only when a trigger fires: the span drifted from the training window, there
  is no model in production yet, or (outside this module) the schedule, skew or degraded
  live metrics. A span that is not trained on still joins the next training window.
A span older than one already handled (late data) is ingested only.
"""
import dataclasses
import enum
import os
import time
from typing import Callable, Dict, List, Optional, Sequence

from pipeline.components.drift_check import drift as drift_lib
from pipeline import local_runner, run_summary
from pipeline.components.atomic_pusher import publishing


class RetrainPolicy(enum.Enum):
  EVERY_SPAN = 'every-span'
  ON_TRIGGER = 'on-trigger'


# Statuses of an outcome, in words people read in the timeline.
TRAINED = 'trained'
INGESTED = 'ingested only'
HALTED = 'halted by the data gate'

# (reason, tune: always | auto | never) -> a LocalRun for this home
MakeRun = Callable[..., local_runner.LocalRun]


@dataclasses.dataclass
class Outcome:
  """What one event led to; `to_dict` is what the ledger and the timeline keep."""
  span: Optional[int]
  trigger: str  # the reason recorded in ML Metadata for the run that decided
  status: str
  seconds: float
  drift: List[drift_lib.Measurement] = dataclasses.field(default_factory=list)
  summary: Optional[run_summary.RunSummary] = None
  anomalies: List[str] = dataclasses.field(default_factory=list)
  rows: Optional[int] = None
  period: Optional[str] = None

  def decision(self) -> str:
    """Blessed or not, and why, in one phrase."""
    if self.status == HALTED:
      return 'halted: ' + '; '.join(self.anomalies)
    if self.status == INGESTED:
      return 'not trained: no trigger fired'
    s = self.summary
    if s is None or s.blessed is None:
      return 'not evaluated'
    if not s.blessed:
      reasons = '; '.join(f.sentence() for f in s.failures[:3]) or 'thresholds not met'
      return f'not blessed: {reasons}'
    if s.serving_check_passed is False:
      return f'blessed, failed the serving check: {s.serving_check}'
    return 'blessed' + ('' if s.baseline else ' (first model)')

  def pushed_version(self) -> Optional[str]:
    s = self.summary
    if s is None or not s.pushed_version or 'Pusher' in s.cached():
      return None
    return s.pushed_version

  def to_dict(self) -> Dict[str, object]:
    s = self.summary
    return {
        'span': self.span, 'period': self.period, 'rows': self.rows, 'trigger': self.trigger,
        'status': self.status, 'seconds': round(self.seconds, 1),
        'drift': [m.to_dict() for m in drift_lib.beyond(self.drift)],
        'candidate': dict(s.candidate) if s else {}, 'production': dict(s.baseline) if s else {},
        'blessed': s.blessed if s else None, 'decision': self.decision(),
        'pushed_version': self.pushed_version(), 'anomalies': list(self.anomalies),
    }


def _short_anomalies(anomalies) -> List[str]:
  """'<feature>: Column dropped', once per feature and problem (the splits say the same)."""
  seen: List[str] = []
  for a in anomalies:
    text = f"{a.feature or 'data set'}: {a.short}"
    if text not in seen:
      seen.append(text)
  return seen


def _summary(home: local_runner.Home, settings, first_id: int) -> run_summary.RunSummary:
  reader = home.reader(settings.pipeline_name)
  return run_summary.summarize(reader, first_id)


class SpanRunner:
  """Runs the pipeline for events under one retrain policy."""

  def __init__(self, home: local_runner.Home, make_run: MakeRun, policy: RetrainPolicy):
    self.home = home
    self.make_run = make_run
    self.policy = policy

  def _has_production_model(self, settings) -> bool:
    return bool(publishing.versions(os.path.join(self.home.serving_base, settings.model_name)))

  def _outcome(self, run: local_runner.LocalRun, result: local_runner.RunResult,
               span: Optional[int], start: float) -> Outcome:
    if result.status == 'data_gate':
      return Outcome(span, result.reason, HALTED, time.time() - start, drift=result.drift,
                     summary=_summary(self.home, run.settings, result.first_execution_id),
                     anomalies=_short_anomalies(result.gate_error.anomalies))
    status = TRAINED if result.status == 'completed' else INGESTED
    summary = (_summary(self.home, run.settings, result.first_execution_id)
               if status == TRAINED else None)
    return Outcome(span, result.reason, status, time.time() - start, drift=result.drift,
                   summary=summary)

  def new_span(self, span: int, available: Sequence[int], late: bool = False) -> Outcome:
    """A span that just became ready (`late`: older than one already handled)."""
    start = time.time()
    if late:
      run = self.make_run(f'late data: span {span}')
      return self._outcome(run, run.run(newest=span, available=available, ingest_only=True),
                           span, start)
    if self.policy is RetrainPolicy.EVERY_SPAN:
      run = self.make_run(f'new data: span {span}')
      return self._outcome(run, run.run(newest=span, available=available), span, start)
    run = self.make_run(f'new data: span {span}')
    ingested = run.run(newest=span, available=available, ingest_only=True)
    if ingested.status == 'data_gate':
      return self._outcome(run, ingested, span, start)
    if ingested.drifted:
      reason = f'retrain on drift: span {span}'  # the runner appends the drifted features
    elif not self._has_production_model(run.settings):
      reason = f'new data: span {span} (no model in production yet)'
    else:
      return self._outcome(run, ingested, span, start)
    run = self.make_run(reason)
    return self._outcome(run, run.run(newest=span, available=available), span, start)

  def triggered(self, reason: str, newest: int, available: Sequence[int],
                tune: bool = False) -> Outcome:
    """A full run on the window ending at `newest`, for a trigger other than new data
    (`tune`: searching hyperparameters first)."""
    start = time.time()
    run = self.make_run(reason, local_runner.TUNE_ALWAYS) if tune else self.make_run(reason)
    return self._outcome(run, run.run(newest=newest, available=available), None, start)
