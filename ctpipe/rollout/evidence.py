"""The evidence of a trial, per version, from the server's request log and arriving labels.

The server logs every answered request (its version, latency and, for a shadow, that the
answer was never returned) and every server error. Only entries since the trial began
count; a label joins its (request id, row) to the answer of each version that answered it.
"""
from typing import Dict, Optional, Tuple

from ctpipe.continuous import feedback
from ctpipe.model_server.serving_plan import CANDIDATE_LABELS, Plan
from ctpipe.rollout.online_validation import VersionEvidence


def gather(request_dir: str, model_name: str, plan: Plan,
           labels: Optional[Dict[Tuple[str, int], object]] = None,
           task: feedback.Task = feedback.BINARY_TASK
           ) -> Tuple[VersionEvidence, VersionEvidence]:
  """(stable's, the candidate's) evidence since `plan.started`."""
  if plan.candidate is None or plan.stable is None:
    raise ValueError('no trial in progress: nothing to gather evidence for')
  stable = VersionEvidence(plan.stable, 'stable')
  candidate = VersionEvidence(plan.candidate, CANDIDATE_LABELS[plan.strategy])
  labels = labels or {}
  by_version = {plan.stable: stable, plan.candidate: candidate}
  for entry in feedback.log_entries(request_dir, plan.started, model_name):
    version = int(entry.get('version', -1))
    target = by_version.get(version)
    if target is None or bool(entry.get('shadow')) != (target is candidate and
                                                        plan.strategy == 'shadow'):
      continue
    target.requests += 1
    if int(entry.get('status', 200)) >= 500:
      target.errors += 1
      continue
    if entry.get('latency_ms') is not None:
      target.latencies_ms.append(float(entry['latency_ms']))
    request_id = str(entry.get('request_id'))
    for row, (_, answer) in enumerate(feedback.rows_of(entry, task)):
      key = (request_id, row)
      if answer is not None and key in labels:
        target.labelled[key] = (labels[key], answer)
        target.times[key] = float(entry.get('time', 0.0))
  return stable, candidate
