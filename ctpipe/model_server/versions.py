"""Which version serves: TF Serving's file-system source and availability-preserving swap.

A poller lists the integer version folders under the model base path and reads the
serving policy (`serving_policy.json`: a rollback's pin, a candidate on trial, rejected
versions; serving_plan.py owns the rules). A new version is loaded and warmed up completely
while the current one keeps serving; only then does it take traffic and the old one is
retired. A version that fails to load or warm up never serves; its error stays in the
status. While a candidate is on trial, both it and stable are loaded: promoting or aborting
is a change of routing, never a load under traffic.

A running server says what it serves in `served_state.json` in the base path (the
serving version, the versions that failed, its pid), so `ctpipe rollback` can tell
what is actually served rather than what the folders suggest.
"""
import concurrent.futures
import dataclasses
import json
import logging
import os
import re
import threading
import time
from typing import Dict, List, Optional

from ctpipe.model_server import protos, serving_plan, warmup
from ctpipe.model_server.served_model import NotFoundError, ServedModel

POLICY_FILE = 'serving_policy.json'
STATE_FILE = 'served_state.json'
WARMUP_THREADS = 4  # TF Serving's default num_model_warmup_threads
_VERSION_DIR = re.compile(r'^[0-9]{1,18}$')

# tensorflow.serving.ModelVersionStatus.State values.
START, LOADING, AVAILABLE, UNLOADING, END = 10, 20, 30, 40, 50
STATE_NAMES = {START: 'START', LOADING: 'LOADING', AVAILABLE: 'AVAILABLE',
               UNLOADING: 'UNLOADING', END: 'END'}


@dataclasses.dataclass
class VersionStatus:
  version: int
  state: int
  error: str = ''  # empty: OK


def list_versions(base_path: str) -> List[int]:
  if not os.path.isdir(base_path):
    return []
  return sorted(int(n) for n in os.listdir(base_path)
                if _VERSION_DIR.match(n) and os.path.isdir(os.path.join(base_path, n)))


def read_policy(base_path: str) -> dict:
  path = os.path.join(base_path, POLICY_FILE)
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)


def _write_json(base_path: str, name: str, value: dict) -> None:
  """Atomic: a reader never sees half a file."""
  os.makedirs(base_path, exist_ok=True)
  tmp = os.path.join(base_path, f'.{name}.{os.getpid()}.tmp')
  with open(tmp, 'w') as f:
    json.dump(value, f, indent=2, sort_keys=True)
  os.replace(tmp, os.path.join(base_path, name))


def write_policy(base_path: str, policy: dict) -> None:
  _write_json(base_path, POLICY_FILE, policy)


def start_trial(model_base: str, version: int, strategy: str, percent: float,
                now: Optional[float] = None) -> Optional[int]:
  """Puts `version` (about to be published) on trial against the version serving now;
  returns that stable version, or None when nothing serves yet (then it simply serves)."""
  if strategy not in (serving_plan.CANARY, serving_plan.SHADOW):
    raise ValueError(f'a trial is canary or shadow, got {strategy!r}')
  stable = plan(model_base).stable
  policy = read_policy(model_base)
  if stable is None:
    policy.pop('trial', None)
  else:
    policy['trial'] = {'version': int(version), 'stable': int(stable), 'strategy': strategy,
                       'percent': float(percent) if strategy == serving_plan.CANARY else 0.0,
                       'started': time.time() if now is None else now}
  write_policy(model_base, policy)
  return stable


def end_trial(model_base: str) -> None:
  """A direct push ends any trial: the newest version serves."""
  policy = read_policy(model_base)
  if policy.pop('trial', None) is not None:
    write_policy(model_base, policy)


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def read_served_state(base_path: str) -> Optional[dict]:
  """What a running server on this base path serves ({"serving": N or None, "failed":
  {version: error}}), or None when no live server wrote one."""
  path = os.path.join(base_path, STATE_FILE)
  try:
    with open(path) as f:
      state = json.load(f)
  except (OSError, ValueError):
    return None
  return state if _alive(int(state.get('pid', 0)) or -1) else None


def plan(base_path: str) -> serving_plan.Plan:
  """The versions that should serve from `base_path` now (serving_plan.py has the rules)."""
  return serving_plan.plan_of(read_policy(base_path), list_versions(base_path))


def target_version(base_path: str) -> Optional[int]:
  """The stable version: what answers requests that name no version."""
  return plan(base_path).stable


def load_and_warm(model_dir: str, version: int) -> ServedModel:
  """Loads a version and replays its warmup records, several at a time as TF Serving does.

  Each signature's first call optimizes its graph in TensorFlow's C++ runtime, outside
  the GIL, so the records run on `WARMUP_THREADS` threads (TF Serving's
  `num_model_warmup_threads`, default 4). The first failing record's error is raised.
  """
  served = ServedModel(model_dir, version)
  logs = list(warmup.read(model_dir))
  if logs:
    with concurrent.futures.ThreadPoolExecutor(
        min(WARMUP_THREADS, len(logs)), thread_name_prefix='warmup') as pool:
      list(pool.map(lambda log: protos.replay(served, log), logs))  # raises the first error
  return served


class VersionManager:
  """Thread-safe owner of the versions that serve (stable, and a candidate on trial) and of
  every version's status. A request that names no version goes to stable, or to a canary
  for its share of request ids; a shadow candidate gets copies (see `shadow`)."""

  def __init__(self, model_name: str, base_path: str, poll_seconds: float = 2.0):
    self.model_name = model_name
    self.base_path = os.path.abspath(base_path)
    self.poll_seconds = poll_seconds
    self._lock = threading.Lock()
    self._loaded: Dict[int, ServedModel] = {}
    self._plan = serving_plan.Plan(None)  # what serves: only versions that loaded
    self._status: Dict[int, VersionStatus] = {}
    self._failed_mtime: Dict[int, float] = {}
    self._stop = threading.Event()
    self._thread: Optional[threading.Thread] = None

  # --- reading -------------------------------------------------------------------
  def serving(self) -> Optional[ServedModel]:
    """The stable version."""
    with self._lock:
      return self._loaded.get(self._plan.stable) if self._plan.stable is not None else None

  def current_plan(self) -> serving_plan.Plan:
    with self._lock:
      return self._plan

  def statuses(self) -> List[VersionStatus]:
    with self._lock:
      return [dataclasses.replace(s) for _, s in sorted(self._status.items(), reverse=True)]

  def status(self, version: int) -> VersionStatus:
    with self._lock:
      if version not in self._status:
        raise NotFoundError(f'Could not find version {version} of model {self.model_name}')
      return dataclasses.replace(self._status[version])

  def labels(self) -> Dict[str, int]:
    """TF Serving's version labels: `stable`, and `canary` or `shadow` while a candidate is
    on trial."""
    return self.current_plan().labels

  def resolve(self, version: Optional[int] = None, label: Optional[str] = None,
              request_id: str = '') -> ServedModel:
    """The model answering a request for a version, a label or (neither) the default: stable,
    or the canary for its share of request ids (the same id always the same version)."""
    with self._lock:  # poll_once replaces both, never changes them in place
      plan, loaded = self._plan, self._loaded
    if label is not None:
      if label not in plan.labels:
        raise NotFoundError(f'Unrecognized servable version label: {label}')
      version = plan.labels[label]
    if version is not None:
      if version not in loaded or version not in plan.versions:
        raise NotFoundError(f'Servable not found for request: '
                            f'Specific({self.model_name}, {version})')
      return loaded[version]
    if plan.stable is None or plan.stable not in loaded:
      raise NotFoundError(f'Servable not found for request: Latest({self.model_name})')
    if request_id and serving_plan.routes_to_candidate(plan, request_id):
      return loaded[plan.candidate]
    return loaded[plan.stable]

  def shadow(self) -> Optional[ServedModel]:
    """The shadow candidate that gets a copy of each unversioned request, if one is on trial."""
    with self._lock:
      plan = self._plan
      if plan.strategy == serving_plan.SHADOW and plan.candidate is not None:
        return self._loaded.get(plan.candidate)
    return None

  # --- polling -------------------------------------------------------------------
  def _load(self, version: int) -> Optional[ServedModel]:
    """Loads and warms up `version` (None if it failed, now or before in the same folder)."""
    model_dir = os.path.join(self.base_path, str(version))
    try:
      mtime = os.path.getmtime(model_dir)
    except OSError:
      return None
    if self._failed_mtime.get(version) == mtime:
      return None  # already failed as it is; retried only if the folder changes
    with self._lock:
      self._status[version] = VersionStatus(version, LOADING)
    try:
      served = load_and_warm(model_dir, version)
    except Exception as e:  # pylint: disable=broad-except
      logging.exception('version %d failed to load or warm up', version)
      self._failed_mtime[version] = mtime
      with self._lock:
        self._status[version] = VersionStatus(version, END, f'{type(e).__name__}: {e}')
      return None
    return served

  def poll_once(self) -> None:
    wanted = plan(self.base_path)
    with self._lock:
      current, loaded = self._plan, dict(self._loaded)
    if wanted == current:
      return
    for version in wanted.versions:
      if version not in loaded:
        served = self._load(version)
        if served is not None:
          loaded[version] = served
    # A stable version that does not load leaves the current one serving; a candidate that
    # does not load is simply not on trial.
    stable = wanted.stable if wanted.stable in loaded else current.stable
    candidate = wanted.candidate if wanted.candidate in loaded else None
    effective = dataclasses.replace(wanted, stable=stable, candidate=candidate)
    if candidate is None:
      effective = dataclasses.replace(effective, strategy=serving_plan.DIRECT, percent=0.0)
    keep = set(effective.versions)
    with self._lock:
      retired = [v for v in self._loaded if v not in keep]
      self._loaded = {v: m for v, m in loaded.items() if v in keep}
      self._plan = effective
      for version in keep:
        self._status[version] = VersionStatus(version, AVAILABLE)
      for version in retired:
        self._status[version] = VersionStatus(version, END)
      # Under the same lock: whoever sees the new versions in memory (a request, a test)
      # finds served_state.json already saying so (rollback reads the file).
      self._write_state_locked()
    if effective != current:
      trial = (f', {effective.strategy} v{candidate}'
               + (f' ({effective.percent:g} %)' if effective.strategy == serving_plan.CANARY
                  else '') if candidate is not None else '')
      logging.info('version %s serving%s%s', stable, trial,
                   f' (retired {", ".join(map(str, retired))})' if retired else '')

  def _write_state_locked(self) -> None:
    """served_state.json from the plan and statuses; the caller holds the lock."""
    current = self._plan
    failed = {str(v): s.error for v, s in self._status.items() if s.error}
    try:
      _write_json(self.base_path, STATE_FILE, {
          'serving': current.stable, 'candidate': current.candidate,
          'strategy': current.strategy, 'percent': current.percent, 'failed': failed,
          'pid': os.getpid(), 'updated': time.time()})
    except OSError:  # a read-only base path: serving goes on, rollback cannot tell
      logging.warning('cannot write %s in %s', STATE_FILE, self.base_path)

  def _loop(self) -> None:
    while not self._stop.is_set():
      try:
        self.poll_once()
      except Exception:  # pylint: disable=broad-except
        logging.exception('polling %s failed', self.base_path)
      self._stop.wait(self.poll_seconds)

  def start(self) -> None:
    self.poll_once()
    self._thread = threading.Thread(target=self._loop, name='version-poller', daemon=True)
    self._thread.start()

  def stop(self) -> None:
    self._stop.set()
    if self._thread:
      self._thread.join(timeout=10)
    path = os.path.join(self.base_path, STATE_FILE)
    try:
      with open(path) as f:
        ours = json.load(f).get('pid') == os.getpid()
      if ours:
        os.remove(path)  # a stopped server serves nothing
    except (OSError, ValueError):
      pass

  def wait_for_version(self, version: int, timeout_s: float = 60) -> VersionStatus:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
      with self._lock:
        status = self._status.get(version)
      if status and status.state in (AVAILABLE, END):
        return dataclasses.replace(status)
      time.sleep(0.1)
    raise TimeoutError(f'version {version} not loaded within {timeout_s} s')


class ModelSet:
  """The models one server serves, by name, each with its own VersionManager (TF Serving's
  model config list: one base path per model)."""

  def __init__(self, managers: List[VersionManager]):
    if not managers:
      raise ValueError('a server needs at least one model')
    self._managers = {m.model_name: m for m in managers}
    if len(self._managers) != len(managers):
      raise ValueError(f'model names repeat: {[m.model_name for m in managers]}')

  @classmethod
  def of(cls, models) -> 'ModelSet':
    """A ModelSet as it is, or the one-model set of a VersionManager."""
    return models if isinstance(models, ModelSet) else cls([models])

  @property
  def names(self) -> List[str]:
    return sorted(self._managers)

  @property
  def managers(self) -> List[VersionManager]:
    return [self._managers[name] for name in self.names]

  def get(self, name: str, missing_message: str) -> VersionManager:
    """The model's manager; NotFoundError(`missing_message`) when no such model is served."""
    manager = self._managers.get(name)
    if manager is None:
      raise NotFoundError(missing_message)
    return manager

  def start(self) -> None:
    for manager in self.managers:
      manager.start()

  def stop(self) -> None:
    for manager in self.managers:
      manager.stop()


def model_bases(serving_base: str) -> Dict[str, str]:
  """Model name -> base path of every model pushed under a serving base: the folders that
  hold at least one version folder (a model's TFLite folder, `<name>.edge`, is not one)."""
  found = {}
  if not os.path.isdir(serving_base):
    return found
  for name in sorted(os.listdir(serving_base)):
    path = os.path.join(serving_base, name)
    if '.' in name or not os.path.isdir(path):
      continue
    if any(_VERSION_DIR.match(entry) for entry in os.listdir(path)):
      found[name] = path
  return found
