"""Opening any TFX ML Metadata store read-only, with a one-line error for each way it fails.

A SQLite file (`--db`), a ctpipe home (`--home`: its `metadata.db`), or a
MySQL-compatible server. SQLite files are checked with the standard library before
ML Metadata touches them: MLMD would otherwise try to create its tables in a foreign
file and report a confusing write error.
"""
import os
import sqlite3
from typing import Optional

from ml_metadata.metadata_store import metadata_store

from mlmd_inspect.errors import InspectError
from pipeline.metadata import (MySQLSettings, diagnose_mysql, mysql_config,  # read-only by default
                               sqlite_config)

# The schema version ml-metadata 1.16 (TFX 1.16) reads and writes.
SUPPORTED_SCHEMA_VERSION = 10
HOME_DB = 'metadata.db'


def _check_sqlite(path: str) -> None:
  if not os.path.exists(path):
    raise InspectError(f'no metadata store at {path}')
  if os.path.isdir(path):
    raise InspectError(f'{path} is a folder; give the SQLite file (or --home for a ctpipe home)')
  try:
    connection = sqlite3.connect(f'file:{path}?mode=ro', uri=True)
    try:
      tables = {row[0] for row in connection.execute(
          "SELECT name FROM sqlite_master WHERE type = 'table'")}
      if 'MLMDEnv' not in tables or 'Execution' not in tables:
        raise InspectError(f'{path} is a SQLite database but not an ML Metadata store')
      version = connection.execute('SELECT schema_version FROM MLMDEnv').fetchone()
    finally:
      connection.close()
  except sqlite3.DatabaseError as error:
    raise InspectError(f'{path} is not a SQLite database ({error})') from error
  if version is None:
    raise InspectError(f'{path}: the ML Metadata store records no schema version')
  if version[0] > SUPPORTED_SCHEMA_VERSION:
    raise InspectError(f'{path}: ML Metadata schema version {version[0]} is newer than this '
                       f'ml-metadata reads ({SUPPORTED_SCHEMA_VERSION}); use a newer ctpipe')
  if version[0] < SUPPORTED_SCHEMA_VERSION:
    raise InspectError(f'{path}: ML Metadata schema version {version[0]} is older than '
                       f'{SUPPORTED_SCHEMA_VERSION}; inspect is read-only and does not migrate '
                       'it (any TFX 1.16 run against the store upgrades it)')


def sqlite_path(db: Optional[str] = None, home: Optional[str] = None) -> str:
  return os.path.abspath(db if db is not None else os.path.join(home, HOME_DB))


def open_store(db: Optional[str] = None, home: Optional[str] = None,
               mysql: Optional[MySQLSettings] = None) -> metadata_store.MetadataStore:
  """The store named by exactly one of `db`, `home` or `mysql`, opened read-only."""
  if sum(x is not None for x in (db, home, mysql)) != 1:
    raise InspectError('name one store: --db FILE, --home DIR or --mysql-host ...')
  if mysql is not None:
    config = mysql_config(mysql)
    where = f'mysql://{mysql.user}@{mysql.host}:{mysql.port}/{mysql.database}'
  else:
    path = sqlite_path(db=db, home=home)
    _check_sqlite(path)
    config, where = sqlite_config(path), path
  try:
    return metadata_store.MetadataStore(config)
  except RuntimeError as error:
    first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
    if mysql is not None:
      first_line = diagnose_mysql(mysql)  # MLMD says nothing useful about MySQL failures
    raise InspectError(f'cannot open the metadata store at {where}: {first_line[:200]}') from error
