"""Automatic rollback of a degraded stable version, around the watcher's feedback trigger.

When the feedback check finds the served version's live metrics beyond their thresholds
and `rollout.auto_rollback` is on, that version is rejected (`pipeline.rollback.reject`):
the newest older version that loads serves again, it is recorded in ML Metadata, people
are told, and the trigger's reason is passed on so the watcher still retrains. Skew and
degradation are notified whether or not anything is rolled back.
"""
from typing import Callable, Optional

from ctpipe import notices, notify
from ctpipe.continuous.feedback import FeedbackTrigger
from ctpipe.home import Home, HomeBusyError


class DegradationGuard:

  def __init__(self, trigger: FeedbackTrigger, home: Home, project,
               notifier: notify.Notifier = notify.NO_NOTIFIER,
               on_rollback: Callable[[object], None] = lambda result: None,
               on_error: Callable[[str], None] = lambda text: None):
    self.trigger = trigger
    self.home = home
    self.project = project
    self.notifier = notifier
    self.on_rollback = on_rollback
    self.on_error = on_error

  def __call__(self) -> Optional[str]:
    reason = self.trigger()  # fires once per finding for a version
    report = self.trigger.last_report
    if not reason or report is None:
      return reason
    settings = self.project.pipeline
    for message in notices.of_feedback(settings.model_name, report):
      self.notifier.send(message)
    if report.degraded and settings.rollout.auto_rollback and report.version is not None:
      from pipeline import rollback  # pylint: disable=g-import-not-at-top
      why = 'automatic: degradation: ' + '; '.join(report.degraded)
      try:
        with self.home.locked():
          result = rollback.reject(self.home.model_base(settings.model_name),
                                   self.home.metadata_config(), settings.pipeline_name,
                                   report.version, why)
      except (ValueError, HomeBusyError) as e:
        self.on_error(f'v{report.version} degraded but was not rolled back: {e}')
        return reason
      self.notifier.send(notices.of_rollback(settings.model_name, result, why))
      self.on_rollback(result)
      reason = f'{reason}; rolled back v{result.from_version} → v{result.to_version}'
    return reason
