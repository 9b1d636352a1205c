"""Carrying out a trial's decision: the serving policy, TF Serving's config, ML Metadata, people.

- start (`versions.start_trial`, the Pusher's): a freshly published version goes on trial
  before its folder appears, so a polling server never serves it as stable for a moment;
- promote: the candidate becomes stable; the old stable stays on disk (`ctpipe rollback`
  can go back to it);
- abort: the candidate leaves routing and is marked rejected (never served again unless a
  rollback pins it).

Each decision is a `ctpipe.RolloutDecision` execution in ML Metadata with its evidence, and
a notification.
"""
import dataclasses
import json
import time
from typing import Optional

from ctpipe import notify
from ctpipe.model_server import tf_serving_config, versions
from ctpipe.rollout.online_validation import ABORT, PROMOTE, Decision


@dataclasses.dataclass(frozen=True)
class Outcome:
  action: str
  stable: Optional[int]          # what serves as stable afterwards
  candidate: int
  execution_id: int
  reason: str


def carry_out(model_base: str, model_name: str, decision: Decision, config, pipeline_name: str,
              notifier: notify.Notifier = notify.NO_NOTIFIER, by: str = 'watcher',
              report: str = '') -> Outcome:
  """Promotes or aborts the trial in progress as `decision` says, records and notifies."""
  from ctpipe.metadata import writes  # pylint: disable=g-import-not-at-top
  if decision.action not in (PROMOTE, ABORT):
    raise ValueError(f'nothing to carry out for a {decision.action!r} decision')
  plan = versions.plan(model_base)
  if plan.candidate is None:
    raise ValueError(f'no version of {model_name} is on trial')
  policy = versions.read_policy(model_base)
  trial = policy.pop('trial')
  if decision.action == ABORT:
    policy['rejected'] = sorted(set(policy.get('rejected', [])) | {plan.candidate})
  policy['last_decision'] = {'action': decision.action, 'version': plan.candidate,
                             'stable': plan.stable, 'at': time.time(), 'by': by,
                             'reason': decision.reason}
  versions.write_policy(model_base, policy)
  tf_serving_config.write_for(model_base)
  after = versions.plan(model_base).stable
  execution_id = writes.record_rollout_decision(
      config, pipeline_name, action=decision.action, candidate=plan.candidate,
      stable=plan.stable, strategy=trial.get('strategy', ''), reason=decision.reason,
      evidence=json.dumps(decision.to_dict(), sort_keys=True, default=str), by=by)
  words = 'promoted to stable' if decision.action == PROMOTE else 'aborted'
  notifier.send(notify.Message(
      'promoted' if decision.action == PROMOTE else 'aborted', model_name,
      f'ctpipe {model_name}: v{plan.candidate} {words}',
      f'{trial.get("strategy", "canary")} v{plan.candidate} {words} ({by}); v{after} serves as '
      f'stable. {decision.reason}', plan.candidate,
      report or f'ctpipe rollout status; ctpipe inspect runs (decision execution {execution_id})'))
  return Outcome(decision.action, after, plan.candidate, execution_id, decision.reason)


def wait_for_routing(model_base: str, timeout_s: float = 30.0) -> Optional[dict]:
  """What a running server serves once it follows the policy (None: no server runs)."""
  wanted = versions.plan(model_base)
  deadline = time.time() + timeout_s
  while True:
    state = versions.read_served_state(model_base)
    if state is None:
      return None
    if (state.get('serving') == wanted.stable and state.get('candidate') == wanted.candidate) \
        or time.time() >= deadline:
      return state
    time.sleep(0.2)

