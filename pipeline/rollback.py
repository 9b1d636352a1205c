"""`ctpipe rollback`: serve a previous version, and say so in ML Metadata.

The choice is a pin in the model base path's `serving_policy.json`, which the model
server polls (as TF Serving's `specific` version policy would). A later push still
publishes its version but does not take over while the pin holds: the Pusher records
and the run prints that a rollback is in effect. `--clear` follows the newest again.

A version is pinned only once it has loaded and replayed its warmup requests the way
the server loads it; "from" is what a running server actually serves (its
`served_state.json`), and when a server runs, the rollback waits until it has switched.
"""
import dataclasses
import os
import time
from typing import Callable, List, Optional

from ml_metadata.proto import metadata_store_pb2

from ctpipe.metadata import writes
from ctpipe.model_server import tf_serving_config, versions


@dataclasses.dataclass(frozen=True)
class RollbackResult:
  from_version: Optional[int]  # served by a running server, else the policy's target
  to_version: Optional[int]  # None: cleared, the newest version serves
  execution_id: int
  server_running: bool = False
  now_serving: Optional[int] = None  # what the running server serves once it switched
  skipped: tuple = ()  # (version, why) of older versions passed over: they do not load
  was_pinned: bool = True  # --clear: whether there was a pin to clear


def load_error(model_base: str, version: int) -> Optional[str]:
  """Why `version` would not serve (loaded and warmed up as the server does), or None."""
  try:
    versions.load_and_warm(os.path.join(model_base, str(version)), version)
  except Exception as e:  # pylint: disable=broad-except
    text = str(e).strip().splitlines()
    return f'{type(e).__name__}: {text[-1] if text else ""}'.rstrip(': ')
  return None


def _first_that_loads(model_base: str, candidates: List[int],
                      check: Callable[[str, int], Optional[str]]) -> tuple:
  """(the first of `candidates` that loads or None, the (version, why) passed over before it)."""
  skipped: List[tuple] = []
  for candidate in candidates:
    why = check(model_base, candidate)
    if why is None:
      return candidate, skipped
    skipped.append((candidate, why))
  return None, skipped


def _wait_for(model_base: str, version: Optional[int], timeout_s: float) -> Optional[int]:
  """What the running server serves once it serves `version` (or when time is up)."""
  deadline = time.time() + timeout_s
  while True:
    state = versions.read_served_state(model_base)
    serving = state.get('serving') if state else None
    if serving == version or time.time() >= deadline:
      return serving
    time.sleep(0.2)


def rollback(model_base: str, config: metadata_store_pb2.ConnectionConfig, pipeline_name: str,
             to_version: Optional[int] = None, reason: str = '', clear: bool = False,
             wait_seconds: float = 30.0,
             check: Callable[[str, int], Optional[str]] = load_error) -> RollbackResult:
  """Pins `to_version` (default: the newest version older than the one served that loads)."""
  available = versions.list_versions(model_base)
  if not available:
    raise ValueError(f'no versions under {model_base}: nothing to roll back')
  state = versions.read_served_state(model_base)
  running = state is not None
  current = state.get('serving') if running else versions.target_version(model_base)
  policy = versions.read_policy(model_base)
  if clear:
    was_pinned = 'pinned' in policy
    policy.pop('pinned', None)
    policy.update(cleared_at=time.strftime('%Y-%m-%dT%H:%M:%S'), reason=reason)
    versions.write_policy(model_base, policy)
    tf_serving_config.write_for(model_base)
    execution_id = writes.record_rollback(config, pipeline_name, current, None, reason)
    now = _wait_for(model_base, versions.target_version(model_base), wait_seconds) \
        if running else None
    return RollbackResult(current, None, execution_id, running, now, was_pinned=was_pinned)
  skipped: List[tuple] = []
  if to_version is None:
    older = [v for v in reversed(available) if current is not None and v < current]
    if not older:
      raise ValueError(f'version {current} is the oldest under {model_base}; give --to')
    to_version, skipped = _first_that_loads(model_base, older, check)
    if to_version is None:
      listed = '; '.join(f'version {v}: {why}' for v, why in skipped)
      raise ValueError(f'no older version loads ({listed}); nothing changed')
  else:
    if to_version not in available:
      raise ValueError(f'version {to_version} not found under {model_base}; '
                       f'available: {available}')
    why = check(model_base, to_version)
    if why is not None:
      served = f'version {current} still serves' if current is not None else 'nothing changed'
      raise ValueError(f'version {to_version} does not load ({why}); not pinned, {served}')
  policy.update(pinned=to_version, pinned_at=time.strftime('%Y-%m-%dT%H:%M:%S'),
                previous=current, reason=reason)
  versions.write_policy(model_base, policy)
  tf_serving_config.write_for(model_base)
  execution_id = writes.record_rollback(config, pipeline_name, current, to_version, reason)
  now = _wait_for(model_base, to_version, wait_seconds) if running else None
  return RollbackResult(current, to_version, execution_id, running, now, tuple(skipped))


def reject(model_base: str, config: metadata_store_pb2.ConnectionConfig, pipeline_name: str,
           version: int, reason: str, wait_seconds: float = 30.0,
           check: Callable[[str, int], Optional[str]] = load_error) -> RollbackResult:
  """The automatic rollback of a degraded version: `version` is marked rejected, so the
  newest older version that loads serves again, and a later push serves as usual (unlike a
  pin, which holds until cleared). Any trial in progress ends with it."""
  policy = versions.read_policy(model_base)
  rejected = set(int(v) for v in policy.get('rejected', []))
  to_version, skipped = _first_that_loads(
      model_base, [v for v in reversed(versions.list_versions(model_base))
                   if v < version and v not in rejected], check)
  if to_version is None:
    raise ValueError(f'no version older than {version} loads'
                     + (f' ({"; ".join(f"version {v}: {w}" for v, w in skipped)})'
                        if skipped else '') + '; nothing changed')
  running = versions.read_served_state(model_base) is not None
  # Versions between the two that do not load are rejected too: they must not serve next.
  policy['rejected'] = sorted(rejected | {version} | {v for v, _ in skipped})
  policy.pop('trial', None)
  policy['rolled_back'] = {'from': version, 'to': to_version, 'reason': reason,
                           'at': time.strftime('%Y-%m-%dT%H:%M:%S')}
  versions.write_policy(model_base, policy)
  tf_serving_config.write_for(model_base)
  execution_id = writes.record_rollback(config, pipeline_name, version, to_version, reason,
                                        action='reject')
  now = _wait_for(model_base, to_version, wait_seconds) if running else None
  return RollbackResult(version, to_version, execution_id, running, now, tuple(skipped))
