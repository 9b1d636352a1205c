"""Opening an ML Metadata store: SQLite or MySQL-compatible, with a one-line error for each way it fails.

`connect` is the only place in ctpipe that constructs a `MetadataStore`; everything
else asks this package (`records`, `reader`, `writes`).
"""
import dataclasses
import os
import sqlite3
from typing import Optional

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

# TFX 1.x's context types: one `pipeline`, one `pipeline_run` per run, one `node`
# (`<pipeline>.<node id>`) per component.
PIPELINE_CONTEXT = 'pipeline'
RUN_CONTEXT = 'pipeline_run'
NODE_CONTEXT = 'node'
# ctpipe's experiments: a context per experiment, parent of its runs' contexts, and a record
# execution per run filed under one (ctpipe/metadata/writes.record_experiment_run).
EXPERIMENT_CONTEXT = 'ctpipe.Experiment'
EXPERIMENT_RUN_TYPE = 'ctpipe.ExperimentRun'


def sqlite_config(path: str, read_only: bool = True) -> metadata_store_pb2.ConnectionConfig:
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = path
  config.sqlite.connection_mode = (
      metadata_store_pb2.SqliteMetadataSourceConfig.READONLY if read_only
      else metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE)
  return config


@dataclasses.dataclass(frozen=True)
class MySQLSettings:
  """A MySQL-compatible ML Metadata store (MySQL, MariaDB, Cloud SQL)."""
  host: str
  database: str
  user: str
  port: int = 3306
  password: str = ''  # read from a file or a prompt by the caller, never stored


def mysql_password(password_file: str, user: str, host: str) -> str:
  """The password from its file, else a prompt on a terminal, else none. Never stored."""
  import getpass  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  if password_file:
    with open(os.path.expanduser(password_file), encoding='utf-8') as f:
      return f.read().strip()
  if sys.stdin.isatty():
    return getpass.getpass(f'MySQL password for {user}@{host}: ')
  return ''


class MetadataStoreError(ValueError):
  """The metadata store cannot be used as it is; the message says why and what to do."""


def check_sqlite_store(path: str) -> None:
  """Raises MetadataStoreError for a SQLite file that is not a healthy database.

  ML Metadata would report a damaged file as a failed `CREATE TABLE` statement; SQLite's
  own check says what is wrong. A missing or empty file is a new store, not an error.
  """
  if not os.path.exists(path) or os.path.getsize(path) == 0:
    return
  import sqlite3  # pylint: disable=g-import-not-at-top
  advice = ('restore it from a backup, or move it aside to start a new store (the home\'s '
            'artifacts stay, but their history is lost)')
  try:
    connection = sqlite3.connect(f'file:{path}?mode=ro', uri=True)
    try:
      verdict = connection.execute('PRAGMA quick_check').fetchone()
    finally:
      connection.close()
  except sqlite3.DatabaseError as e:
    raise MetadataStoreError(f'the metadata store {path} is damaged ({e}); {advice}') from e
  if verdict and verdict[0] != 'ok':
    raise MetadataStoreError(f'the metadata store {path} is damaged ({verdict[0]}); {advice}')


def diagnose_mysql(settings: 'MySQLSettings', timeout_s: float = 5.0) -> str:
  """Why a MySQL store could not be opened, told apart by a plain TCP connection (ML
  Metadata's own message is empty for both a stopped server and a refused login)."""
  import socket  # pylint: disable=g-import-not-at-top
  where = f'{settings.host}:{settings.port}'
  try:
    with socket.create_connection((settings.host, settings.port), timeout=timeout_s):
      pass
  except ConnectionRefusedError:
    return f'nothing listens on {where}: is the MySQL server running?'
  except socket.timeout:
    return f'no answer from {where} within {timeout_s:.0f} s (a firewall, or the wrong host?)'
  except OSError as e:
    return f'cannot reach {where}: {e.strerror or e}'
  return (f'the server on {where} refused user {settings.user!r} for database '
          f'{settings.database!r}: a wrong password, an unknown user, or no access to it')


def mysql_config(settings: MySQLSettings) -> metadata_store_pb2.ConnectionConfig:
  config = metadata_store_pb2.ConnectionConfig()
  config.mysql.host = settings.host
  config.mysql.port = settings.port
  config.mysql.database = settings.database
  config.mysql.user = settings.user
  config.mysql.password = settings.password
  return config


def describe(config: metadata_store_pb2.ConnectionConfig) -> str:
  """Where a connection points, for messages (no password)."""
  if config.HasField('mysql'):
    m = config.mysql
    return f'mysql://{m.user}@{m.host}:{m.port}/{m.database}'
  return config.sqlite.filename_uri


def connect(config: metadata_store_pb2.ConnectionConfig,
            mysql: Optional[MySQLSettings] = None) -> metadata_store.MetadataStore:
  """The store behind `config`; a failure is MetadataStoreError in one line.

  `mysql`: the settings `config` was made from, so that a refused connection is told
  apart (ML Metadata's own message is empty for a stopped server and a refused login).
  """
  try:
    return metadata_store.MetadataStore(config)
  except RuntimeError as error:
    first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
    if mysql is not None:
      first_line = diagnose_mysql(mysql)
    raise MetadataStoreError(
        f'cannot open the metadata store at {describe(config)}: {first_line[:200]}') from error


# The schema version ml-metadata 1.16 (TFX 1.16) reads and writes.
SUPPORTED_SCHEMA_VERSION = 10


def check_mlmd_file(path: str) -> None:
  """Raises MetadataStoreError unless `path` is an ML Metadata SQLite store this version reads.

  Checked with the standard library before ML Metadata touches it: MLMD would otherwise
  try to create its tables in a foreign file and report a confusing write error.
  """
  if not os.path.exists(path):
    raise MetadataStoreError(f'no metadata store at {path}')
  if os.path.isdir(path):
    raise MetadataStoreError(f'{path} is a folder; give the SQLite file (or --home for a ctpipe home)')
  try:
    connection = sqlite3.connect(f'file:{path}?mode=ro', uri=True)
    try:
      tables = {row[0] for row in connection.execute(
          "SELECT name FROM sqlite_master WHERE type = 'table'")}
      if 'MLMDEnv' not in tables or 'Execution' not in tables:
        raise MetadataStoreError(f'{path} is a SQLite database but not an ML Metadata store')
      version = connection.execute('SELECT schema_version FROM MLMDEnv').fetchone()
    finally:
      connection.close()
  except sqlite3.DatabaseError as error:
    raise MetadataStoreError(f'{path} is not a SQLite database ({error})') from error
  if version is None:
    raise MetadataStoreError(f'{path}: the ML Metadata store records no schema version')
  if version[0] > SUPPORTED_SCHEMA_VERSION:
    raise MetadataStoreError(f'{path}: ML Metadata schema version {version[0]} is newer than this '
                       f'ml-metadata reads ({SUPPORTED_SCHEMA_VERSION}); use a newer ctpipe')
  if version[0] < SUPPORTED_SCHEMA_VERSION:
    raise MetadataStoreError(f'{path}: ML Metadata schema version {version[0]} is older than '
                       f'{SUPPORTED_SCHEMA_VERSION}; inspect is read-only and does not migrate '
                       'it (any TFX 1.16 run against the store upgrades it)')
