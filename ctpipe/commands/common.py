"""What every command shares: the consoles, the exit codes, and the configuration options.

Every command takes `--config FILE` and `--set key=value`; the decorator `with_config`
adds both, loads the file once and hands the command a `ProjectConfig`. A mistake is
one line on stderr naming the key (and the `--set` option when one introduced it), exit 2.
"""
import functools
import os
import sys
from typing import Optional, Sequence

import click
from rich.console import Console

from ctpipe import config as config_lib, console_logs

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_DATA_GATE = 3
EXIT_HOME_BUSY = 4
EXIT_PORT_BUSY = 5

# The repository (or installed tree) this package sits in: the config and its relative
# paths (data, schema, home) are the project's.
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_CONFIG = os.path.join(PROJECT_ROOT, 'config', 'ctpipe.yaml')
LOCAL_SECTIONS = ('dataset', 'pipeline', 'local')

# Into a pipe or a file nothing wraps: rich would wrap tables at 80 columns there (or at a
# COLUMNS that a parent process exported); a terminal gives the real width.
PIPE_WIDTH = 1000


def _console(stderr: bool) -> Console:
  stream = sys.stderr if stderr else sys.stdout
  wide = not stream.isatty()
  # stdout is looked up at each print (tests swap it); errors go to the terminal's stderr
  # even while a command keeps TensorFlow's chatter in its log (console_logs).
  return Console(highlight=False, soft_wrap=True,
                 file=console_logs.TerminalStderr() if stderr else None,
                 width=PIPE_WIDTH if wide else None)


console = _console(stderr=False)  # a long line stays one line in a pipe
errors = _console(stderr=True)


def fail(message: str, code: int = EXIT_FAILURE) -> None:
  """One line on stderr, then exit."""
  errors.print(f'[red]error:[/red] {message}')
  sys.exit(code)


def load_config(config_path: str, overrides: Sequence[str] = (),
                sections: Sequence[str] = LOCAL_SECTIONS) -> config_lib.ProjectConfig:
  try:
    return config_lib.load(config_path, overrides, sections)
  except config_lib.ConfigError as e:
    fail(str(e), EXIT_USAGE)
  raise AssertionError('unreachable')


def with_config(sections: Sequence[str] = LOCAL_SECTIONS):
  """Adds --config and --set to a command; it receives `project` (a ProjectConfig)."""
  def decorate(fn):
    @functools.wraps(fn)
    def wrapper(config_path, overrides, **kwargs):
      return fn(project=load_config(config_path, overrides, sections), **kwargs)
    wrapper = click.option(
        '--set', 'overrides', multiple=True, metavar='KEY=VALUE',
        help='Override a config value, e.g. --set pipeline.epochs=6 (repeatable).')(wrapper)
    return click.option(
        '--config', 'config_path', type=click.Path(dir_okay=False), default=DEFAULT_CONFIG,
        show_default='config/ctpipe.yaml',
        help='The project config: the data set, pipeline.*, local.*, vertex.*.')(wrapper)
  return decorate


def home_of(project: config_lib.ProjectConfig, home: Optional[str] = None,
            with_mysql: bool = True):
  """The Home a command works in: `--home`, else local.home; with the configured MySQL
  store (its password read now, from its file or a prompt) unless `with_mysql` is off."""
  from ctpipe.home import Home  # pylint: disable=g-import-not-at-top
  root = os.path.abspath(home or project.path(project.local.home))
  return Home(root, mysql=mysql_settings(project.local.mysql) if with_mysql else None)


def mysql_settings(store: Optional[config_lib.MySQLStore]):
  """MySQLSettings with the password read now (file or prompt); None for SQLite."""
  if store is None:
    return None
  from ctpipe.metadata import connection  # pylint: disable=g-import-not-at-top
  password = connection.mysql_password(store.password_file, store.user, store.host)
  return connection.MySQLSettings(store.host, store.database, store.user, store.port, password)


def data_root_of(project: config_lib.ProjectConfig, data_root: Optional[str] = None) -> str:
  return os.path.abspath(data_root or project.path(project.data_root()))


def schema_of(project: config_lib.ProjectConfig, schema_file: Optional[str] = None) -> str:
  return os.path.abspath(schema_file or project.path(project.local.schema))


def notifier_of(project: config_lib.ProjectConfig, home_root: str):
  """The configured channels (the `notifications` section), checked now: a URL apprise
  cannot read is a configuration error (exit 2), not a message lost later."""
  from ctpipe import notify  # pylint: disable=g-import-not-at-top
  settings = project.notifications
  try:
    for url in settings.urls:
      notify.check_url(url)
  except ValueError as e:
    fail(f'notifications.urls: {e}', EXIT_USAGE)
  return notify.Notifier.of(settings, home_root)
