"""A ctpipe home: the one type that knows every path inside it.

Everything a run, the server, the continuous loop and inspect write or read locally
lives under one folder (default `.ctpipe/` in the project):

  pipeline/            artifacts of every component, by component and execution id
  metadata.db          ML Metadata (SQLite), unless a MySQL-compatible store is configured
  serving/<model>/<n>/ pushed models in TF Serving's layout; serving/<model>.edge/<n>/ TFLite
  serving/models.config  TF Serving's model config
  requests/            `ctpipe serve`'s request log
  logs/                run logs
  reports/             one HTML report per run
  last_run.json        the last run's outcome, for scripts
  feedback/            what `watch --feedback` last fired for
  replay/, arrivals/, demo-data/   what `ctpipe replay` keeps
"""
import contextlib
import dataclasses
import fcntl
import os
from typing import Iterator, Optional

from ctpipe.config import PipelinePaths
from ctpipe.metadata import connection


class HomeBusyError(RuntimeError):
  """Another ctpipe process holds the home's lock."""


def _busy_message(root: str, holder: str) -> str:
  return (f'home {root} is in use by another ctpipe run (pid {holder}); wait for it to '
          'finish or pass another --home')


@dataclasses.dataclass(frozen=True)
class Home:
  """Where ctpipe writes; its metadata store is SQLite in the home unless `mysql` names one."""
  root: str
  mysql: Optional[connection.MySQLSettings] = None

  def __post_init__(self):
    object.__setattr__(self, 'root', os.path.abspath(self.root))

  # --- paths -----------------------------------------------------------------------
  @property
  def pipeline_root(self) -> str:
    return os.path.join(self.root, 'pipeline')

  @property
  def metadata_path(self) -> str:
    return os.path.join(self.root, 'metadata.db')

  @property
  def serving_base(self) -> str:
    return os.path.join(self.root, 'serving')

  def model_base(self, model_name: str) -> str:
    """TF Serving's model base path: <serving>/<model>/<version>/."""
    return os.path.join(self.serving_base, model_name)

  @property
  def log_dir(self) -> str:
    return os.path.join(self.root, 'logs')

  @property
  def request_log_dir(self) -> str:
    return os.path.join(self.root, 'requests')

  @property
  def reports_dir(self) -> str:
    return os.path.join(self.root, 'reports')

  @property
  def last_run_path(self) -> str:
    return os.path.join(self.root, 'last_run.json')

  @property
  def lock_path(self) -> str:
    return os.path.join(self.root, '.lock')

  @property
  def replay_dir(self) -> str:
    """The replay's ledger and timeline."""
    return os.path.join(self.root, 'replay')

  @property
  def arrivals_dir(self) -> str:
    """Where a replay lets spans arrive, one at a time."""
    return os.path.join(self.root, 'arrivals')

  @property
  def feedback_dir(self) -> str:
    """What `watch --feedback` last fired for, and each check's report."""
    return os.path.join(self.root, 'feedback')

  @property
  def demo_data_dir(self) -> str:
    return os.path.join(self.root, 'demo-data')

  def paths(self, data_root: str, schema_file: str) -> PipelinePaths:
    """What a local run's pipeline definition reads and writes."""
    return PipelinePaths(pipeline_root=self.pipeline_root, data_root=data_root,
                         schema_file=schema_file, serving_base=self.serving_base)

  # --- the metadata store ------------------------------------------------------------
  def metadata_config(self, read_only: bool = False):
    if self.mysql is not None:
      return connection.mysql_config(self.mysql)
    return connection.sqlite_config(self.metadata_path, read_only=read_only)

  def has_metadata(self) -> bool:
    """Whether a store exists to read (a zero-byte SQLite file is a new, empty one)."""
    return self.mysql is not None or (os.path.exists(self.metadata_path)
                                      and os.path.getsize(self.metadata_path) > 0)

  def check_store(self) -> None:
    """Raises connection.MetadataStoreError, in one line, for a store a run cannot use."""
    if self.mysql is None:
      connection.check_sqlite_store(self.metadata_path)
      return
    connection.connect(connection.mysql_config(self.mysql), mysql=self.mysql)

  def reader(self, pipeline_name: str):
    """A `MetadataReader` of the home's store (None before the first run wrote one)."""
    from ctpipe.metadata.reader import MetadataReader  # pylint: disable=g-import-not-at-top
    if not self.has_metadata():
      return None
    return MetadataReader(self.metadata_config(read_only=self.mysql is None), pipeline_name)

  def describe_store(self) -> str:
    return connection.describe(self.metadata_config(read_only=True))

  # --- exclusive use ---------------------------------------------------------------
  @contextlib.contextmanager
  def locked(self) -> Iterator[None]:
    """Exclusive use of the home for one process; a second one fails at once (HomeBusyError)."""
    os.makedirs(self.root, exist_ok=True)
    fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors='replace').strip() or 'unknown'
        raise HomeBusyError(_busy_message(self.root, holder)) from None
      os.ftruncate(fd, 0)
      os.pwrite(fd, str(os.getpid()).encode(), 0)
      yield
    finally:
      os.close(fd)  # closing releases the flock

  def busy_message(self) -> Optional[str]:
    """Why the home cannot be used now (another process holds its lock), or None: asked
    before a command pays for its imports; the run itself then takes the lock."""
    if not os.path.exists(self.lock_path):
      return None
    try:
      with self.locked():
        return None
    except HomeBusyError as e:
      return str(e)
