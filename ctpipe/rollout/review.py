"""A trial's review: its evidence so far and the decision it supports, for one model of a home.

`ctpipe rollout status` shows it; `ctpipe watch --feedback` acts on it after every poll
(`TrialWatch`), so a candidate is promoted or aborted as soon as the evidence is in.
"""
import dataclasses
from typing import Callable, Optional

from ctpipe import notify
from ctpipe.continuous import feedback
from ctpipe.home import Home, HomeBusyError
from ctpipe.model_server import versions
from ctpipe.rollout import actions, evidence, online_validation
from ctpipe.rollout.online_validation import Decision, VersionEvidence


@dataclasses.dataclass(frozen=True)
class Review:
  plan: object                              # serving_plan.Plan
  stable: Optional[VersionEvidence] = None
  candidate: Optional[VersionEvidence] = None
  decision: Optional[Decision] = None       # None: nothing on trial

  def to_dict(self, task: str) -> dict:
    return {'plan': self.plan.to_dict(),
            'stable': self.stable.summary(task) if self.stable else None,
            'candidate': self.candidate.summary(task) if self.candidate else None,
            'decision': self.decision.to_dict() if self.decision else None}


def review(home: Home, model_name: str, policy, task: feedback.Task,
           labels_path: Optional[str] = None, request_dir: Optional[str] = None,
           now: Optional[float] = None) -> Review:
  """The trial of `model_name` in `home` as the request log and labels show it now."""
  plan = versions.plan(home.model_base(model_name))
  if plan.candidate is None or plan.stable is None:
    return Review(plan)
  labels = feedback.read_labels(labels_path, task) if labels_path else {}
  stable, candidate = evidence.gather(request_dir or home.request_log_dir, model_name, plan,
                                      labels, task)
  decision = online_validation.decide(task.kind, stable, candidate, policy, plan.started, now)
  return Review(plan, stable, candidate, decision)


class TrialWatch:
  """A watcher's check of the trial in progress: carries out a promote or abort decision
  once, records it and notifies. Never asks for a run (returns None)."""

  def __init__(self, home: Home, project, labels_path: Optional[str],
               notifier: notify.Notifier = notify.NO_NOTIFIER,
               on_decision: Callable[[actions.Outcome], None] = lambda outcome: None,
               on_review: Callable[[Review], None] = lambda found: None,
               request_dir: Optional[str] = None):
    self.home = home
    self.project = project
    self.labels_path = labels_path
    self.notifier = notifier
    self.on_decision = on_decision
    self.on_review = on_review
    self.request_dir = request_dir

  def __call__(self) -> Optional[str]:
    settings = self.project.pipeline
    found = review(self.home, settings.model_name, settings.rollout,
                   feedback.Task.of(settings.dataset), self.labels_path, self.request_dir)
    self.on_review(found)
    if found.decision is None or found.decision.action == online_validation.WAIT:
      return None
    try:
      with self.home.locked():  # a run in another process: decided at the next poll
        outcome = actions.carry_out(
            self.home.model_base(settings.model_name), settings.model_name, found.decision,
            self.home.metadata_config(), settings.pipeline_name, self.notifier, by='watcher')
    except HomeBusyError:
      return None
    self.on_decision(outcome)
    return None
