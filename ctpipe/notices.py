"""What people are told, and when: one message per event of a run, a feedback check, a
trial or a rollback (delivered by ctpipe/notify.py to the configured channels)."""
from typing import List, Optional, Sequence

from ctpipe.notify import Message


def of_run(dataset: str, status: str, trigger: str, summary=None, drift: Sequence = (),
           anomalies: Sequence[str] = (), report: str = '', span: Optional[int] = None
           ) -> List[Message]:
  """The messages of one finished run: stopped at the data gate, drifted, not blessed,
  pushed (or put on trial). `status`: completed, ingested, data_gate (a RunResult's) or a
  watcher outcome's words."""
  from pipeline.components.drift_check import drift as drift_lib  # pylint: disable=g-import-not-at-top
  where = report or 'ctpipe inspect runs'
  of_span = f'span {span}' if span is not None else 'the run'
  found: List[Message] = []
  if status in ('data_gate', 'halted by the data gate'):
    found.append(Message('data_gate', dataset, f'ctpipe {dataset}: {of_span} stopped at the '
                         'data gate', f'{of_span} stopped at the data gate; nothing trained or '
                         f'pushed. {"; ".join(anomalies[:5])}'.rstrip('. ') + '.', None, where))
  beyond = drift_lib.beyond(list(drift))
  if beyond:
    found.append(Message('drift', dataset, f'ctpipe {dataset}: {of_span} drifted',
                         drift_lib.summary(list(drift), drift_lib.DRIFT) + f' (trigger: {trigger})', None, where))
  if summary is None:
    return found
  if summary.blessed is False:
    reasons = '; '.join(f.sentence() for f in summary.failures[:3]) or 'thresholds not met'
    found.append(Message('not_blessed', dataset, f'ctpipe {dataset}: candidate not blessed',
                         f'The candidate of {of_span} was not blessed: {reasons}. '
                         'Production is unchanged.', None, where))
  pushed = summary.pushed_version and 'Pusher' not in summary.cached()
  if pushed:
    version = int(summary.pushed_version)
    if summary.on_trial:
      found.append(Message('canary_started', dataset,
                           f'ctpipe {dataset}: v{version} on trial',
                           f'v{version} was pushed on trial: {summary.on_trial}.', version,
                           'ctpipe rollout status'))
    else:
      found.append(Message('pushed', dataset, f'ctpipe {dataset}: v{version} pushed',
                           f'v{version} was blessed and pushed to {summary.pushed_path}.',
                           version, where))
  return found


def of_failure(dataset: str, error: str, log: str) -> Message:
  return Message('run_failed', dataset, f'ctpipe {dataset}: run failed', error, None, log)


def of_feedback(dataset: str, report) -> List[Message]:
  """A feedback check's findings: skew, degradation of the served version."""
  from pipeline.components.drift_check import drift as drift_lib  # pylint: disable=g-import-not-at-top
  found = []
  if drift_lib.beyond(report.skew):
    found.append(Message('skew', dataset, f'ctpipe {dataset}: served requests are skewed',
                         drift_lib.summary(report.skew, drift_lib.SKEW), report.version,
                         'ctpipe feedback'))
  if report.degraded:
    found.append(Message('degradation', dataset, f'ctpipe {dataset}: v{report.version} degraded',
                         'Live metrics beyond their thresholds: ' + '; '.join(report.degraded),
                         report.version, 'ctpipe feedback --labels ...'))
  return found


def of_rollback(dataset: str, result, reason: str) -> Message:
  return Message('rolled_back', dataset,
                 f'ctpipe {dataset}: rolled back v{result.from_version} → v{result.to_version}',
                 f'v{result.from_version} was rolled back automatically; v{result.to_version} '
                 f'serves again. Why: {reason}. A retraining run follows.', result.from_version,
                 f'ctpipe inspect runs; rollback recorded as execution {result.execution_id}')
