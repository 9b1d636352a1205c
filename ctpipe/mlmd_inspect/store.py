"""The store inspect reads: a SQLite file (`--db`), a ctpipe home (`--home`) or a
MySQL-compatible server, opened read-only through ctpipe's metadata client; a failure is
an InspectError in one line.
"""
import os
from typing import Optional

from ctpipe.home import Home
from ctpipe.metadata import connection
from ctpipe.metadata.connection import MySQLSettings
from ctpipe.metadata.records import Records
from ctpipe.mlmd_inspect.errors import InspectError

__all__ = ['MySQLSettings', 'open_records', 'sqlite_path']


def sqlite_path(db: Optional[str] = None, home: Optional[str] = None) -> str:
  return os.path.abspath(db) if db is not None else Home(home).metadata_path


def open_records(db: Optional[str] = None, home: Optional[str] = None,
                 mysql: Optional[MySQLSettings] = None) -> Records:
  """Records over the store named by exactly one of `db`, `home` or `mysql`, read-only."""
  if sum(x is not None for x in (db, home, mysql)) != 1:
    raise InspectError('name one store: --db FILE, --home DIR or --mysql-host ...')
  try:
    if mysql is not None:
      return Records(connection.connect(connection.mysql_config(mysql), mysql=mysql))
    path = sqlite_path(db=db, home=home)
    connection.check_mlmd_file(path)
    return Records(connection.connect(connection.sqlite_config(path)), sqlite_path=path)
  except connection.MetadataStoreError as e:
    raise InspectError(str(e)) from None
