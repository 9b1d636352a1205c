"""Which versions of a model serve, and how requests are shared between them.

One owner of the rules, read by the model server, `ctpipe rollback`, `ctpipe rollout`, the
Pusher and TF Serving's `models.config`. The inputs are the version folders under the
model's base path and its `serving_policy.json`:

- `pinned`: a version `ctpipe rollback` chose. It alone serves; a trial in progress is
  suspended while the pin holds.
- `trial`: a blessed version on trial (`{"version", "stable", "strategy", "percent",
  "started"}`), published by the Pusher under `rollout.strategy: canary | shadow`. The
  stable version keeps serving; the candidate takes `percent` of the requests that name no
  version (canary) or a copy of every request whose answer is logged, never returned
  (shadow), until `ctpipe rollout promote | abort` (or the watcher) decides.
- `rejected`: versions a trial aborted; never served again unless pinned.

Without a pin or a trial the newest version that was not rejected serves, as TF Serving's
`latest` policy does.
"""
import dataclasses
import hashlib
from typing import Dict, List, Optional, Sequence

DIRECT, CANARY, SHADOW = 'direct', 'canary', 'shadow'
STRATEGIES = (DIRECT, CANARY, SHADOW)
STABLE_LABEL = 'stable'
# The label a candidate carries, by strategy (TF Serving's version_labels).
CANDIDATE_LABELS = {CANARY: 'canary', SHADOW: 'shadow'}


@dataclasses.dataclass(frozen=True)
class Plan:
  stable: Optional[int]            # answers every request that names no version (bar a canary's share)
  candidate: Optional[int] = None  # the version on trial, if any
  strategy: str = DIRECT           # canary | shadow while a candidate is on trial
  percent: float = 0.0             # canary: share of unversioned requests, in percent
  started: float = 0.0             # when the trial began (seconds since the epoch)
  pinned: bool = False             # the stable version is a rollback's pin

  @property
  def versions(self) -> List[int]:
    """The versions to keep loaded, stable first."""
    return [v for v in (self.stable, self.candidate) if v is not None]

  @property
  def labels(self) -> Dict[str, int]:
    """TF Serving's version labels of this plan."""
    found = {STABLE_LABEL: self.stable} if self.stable is not None else {}
    if self.candidate is not None:
      found[CANDIDATE_LABELS[self.strategy]] = self.candidate
    return found

  def to_dict(self) -> Dict[str, object]:
    return dataclasses.asdict(self)


def plan_of(policy: dict, available: Sequence[int]) -> Plan:
  """The plan a serving policy makes of the version folders `available`."""
  available = sorted(int(v) for v in available)
  pinned = policy.get('pinned')
  if pinned is not None and int(pinned) in available:
    return Plan(int(pinned), pinned=True)
  rejected = {int(v) for v in policy.get('rejected', [])}
  trial = policy.get('trial') or {}
  candidate = trial.get('version')
  if candidate is not None and int(candidate) in available and int(candidate) not in rejected:
    candidate = int(candidate)
    stable = trial.get('stable')
    if stable is None or int(stable) not in available:
      older = [v for v in available if v < candidate and v not in rejected]
      stable = older[-1] if older else None
    if stable is not None:
      return Plan(int(stable), candidate, trial.get('strategy', CANARY),
                  float(trial.get('percent', 0.0)), float(trial.get('started', 0.0)))
    return Plan(candidate)  # nothing to compare with: the candidate simply serves
  serving = [v for v in available if v not in rejected]
  return Plan(serving[-1] if serving else None)


def bucket(key: str) -> float:
  """A request id's place in [0, 100): uniform, and always the same for the same id."""
  digest = hashlib.blake2b(key.encode('utf-8', 'surrogatepass'), digest_size=8).digest()
  return int.from_bytes(digest, 'big') % 10_000 / 100.0


def routes_to_candidate(plan: Plan, key: str) -> bool:
  """Whether a request with id `key` that names no version goes to the canary."""
  return (plan.strategy == CANARY and plan.candidate is not None
          and bucket(key) < plan.percent)
