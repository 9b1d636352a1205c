"""`ctpipe inspect ...`: read-only views of any TFX metadata store. Thin: options in, tables out.

Every command takes the store as `--db FILE`, `--home DIR` (a ctpipe home) or
`--mysql-host ... --mysql-database ... --mysql-user ... [--mysql-password-file F]`,
and `--json` for scripts. Errors are one line on stderr and exit code 1.
"""
import functools
import os
import sys
from typing import Optional

import click

from ctpipe.commands.common import console, errors, home_of, with_config
from ctpipe.home import Home
from ctpipe.mlmd_inspect.errors import InspectError

# The query modules import ml_metadata (and gRPC): loaded by the commands that use them,
# so `ctpipe run` and `ctpipe --help` do not pay for it at start-up.



def _store_options(command):
  options = [
      click.option('--db', type=click.Path(dir_okay=True), default=None,
                   help='An ML Metadata SQLite file (any TFX pipeline\'s).'),
      click.option('--home', type=click.Path(file_okay=False), default=None,
                   help='A ctpipe home (its metadata.db). Default: the project\'s .ctpipe.'),
      click.option('--mysql-host', default=None, help='A MySQL-compatible MLMD server.'),
      click.option('--mysql-port', type=int, default=3306, show_default=True,
                   help='With --mysql-host: the server\'s port.'),
      click.option('--mysql-database', default='mlmd', show_default=True,
                   help='With --mysql-host: the ML Metadata database.'),
      click.option('--mysql-user', default='root', show_default=True,
                   help='With --mysql-host: the user (its password: --mysql-password-file, '
                        'else prompted).'),
      click.option('--mysql-password-file', type=click.Path(dir_okay=False, exists=True),
                   default=None, help='File holding the password (else prompted if needed).'),
      click.option('--json', 'as_json', is_flag=True, help='Machine-readable output.'),
  ]
  for option in reversed(options):
    command = option(command)
  return command


def _records(ctx_home: str, db, home, mysql_host, mysql_port, mysql_database, mysql_user,
             mysql_password_file):
  from ctpipe.mlmd_inspect.store import MySQLSettings, open_records  # pylint: disable=g-import-not-at-top
  mysql = None
  if mysql_host:
    if db or home:
      raise InspectError('give one store: --db, --home or --mysql-host')
    from ctpipe.metadata.connection import mysql_password  # pylint: disable=g-import-not-at-top
    password = mysql_password(mysql_password_file or '', mysql_user, mysql_host)
    mysql = MySQLSettings(mysql_host, mysql_database, mysql_user, mysql_port, password)
  elif db is None and home is None:
    home = ctx_home
  if db is not None and home is not None:
    raise InspectError('give one store: --db, --home or --mysql-host')
  return open_records(db=db, home=home, mysql=mysql)


def _command(fn):
  """Opens the store, runs `fn(records, ...)`, and turns known failures into one line."""
  @functools.wraps(fn)
  @click.pass_context
  def wrapper(ctx, db, home, mysql_host, mysql_port, mysql_database, mysql_user,
              mysql_password_file, as_json, **kwargs):
    try:
      records = _records(ctx.obj['default_home'], db, home, mysql_host, mysql_port,
                         mysql_database, mysql_user, mysql_password_file)
      # A spinner on a terminal while the store (and for diff or --metrics, TFMA's results)
      # is read; nothing in a pipe.
      with errors.status(f'inspect {ctx.info_name}: reading the store…'):
        result, renderable = fn(records, **kwargs)
    except (InspectError, LookupError, ValueError) as error:
      message = error.args[0] if error.args else str(error)
      errors.print(f'[red]error:[/red] {message}', soft_wrap=True)
      sys.exit(1)
    from ctpipe.mlmd_inspect import render  # pylint: disable=g-import-not-at-top
    if as_json:
      click.echo(render.to_json(result))
    else:
      console.print(renderable)
  return _store_options(wrapper)


@click.group(name='inspect')
@with_config()
@click.pass_context
def inspect_group(ctx, project) -> None:
  """Read-only views of a TFX ML Metadata store: runs, artifacts, executions, lineage, diff."""
  ctx.ensure_object(dict)
  ctx.obj['default_home'] = home_of(project, with_mysql=False).root

@inspect_group.command(name='runs')
@click.option('--limit', type=click.IntRange(min=1), default=20, show_default=True,
              help='Runs per page, newest first.')
@click.option('--offset', type=click.IntRange(min=0), default=0, show_default=True,
              help='Runs to skip (the next page: --offset 20).')
@click.option('--wide', is_flag=True,
              help='Name the executed components instead of counting them.')
@_command
def runs_command(records, limit, offset, wide):
  """Pipeline runs, newest first: data set, timing, status, trigger, executed/cached, push."""
  from ctpipe.mlmd_inspect import render, runs  # pylint: disable=g-import-not-at-top
  rows = runs.list_runs(records, limit, offset)
  return rows, render.runs_table(rows, wide=wide)

@inspect_group.command(name='artifacts')
@click.option('--type', 'type_name', default=None, help='e.g. Model, Examples, PushedModel.')
@click.option('--limit', type=click.IntRange(min=1), default=50, show_default=True,
              help='Rows per page, newest first.')
@click.option('--offset', type=click.IntRange(min=0), default=0, show_default=True,
              help='Rows to skip (the next page: --offset 50).')
@_command
def artifacts_command(records, type_name, limit, offset):
  """Artifacts, newest first, with URIs, states and properties."""
  from ctpipe.mlmd_inspect import catalog, render  # pylint: disable=g-import-not-at-top
  rows = catalog.list_artifacts(records, type_name, limit, offset)
  return rows, render.artifacts_table(rows)

@inspect_group.command(name='executions')
@click.option('--run', default=None, help='A run id from `inspect runs`.')
@click.option('--limit', type=click.IntRange(min=1), default=50, show_default=True,
              help='Rows per page, newest first.')
@click.option('--offset', type=click.IntRange(min=0), default=0, show_default=True,
              help='Rows to skip (the next page: --offset 50).')
@_command
def executions_command(records, run, limit, offset):
  """Executions (of one run, or the newest), with states, inputs and outputs."""
  from ctpipe.mlmd_inspect import catalog, render  # pylint: disable=g-import-not-at-top
  rows = catalog.list_executions(records, run, limit, offset)
  return rows, render.executions_table(rows)

@inspect_group.command(name='lineage')
@click.argument('target', required=False)
@click.option('--span', type=click.IntRange(min=0), default=None,
              help='Instead of a target: every model trained on this span.')
@click.option('--metrics', is_flag=True,
              help='Also read each evaluation\'s metrics (loads TFMA: about 10 s more).')
@_command
def lineage_command(records, target: Optional[str], span: Optional[int], metrics: bool):
  """What produced a model or pushed version (42, v3); or --span N: where a span went."""
  from ctpipe.mlmd_inspect import lineage, render  # pylint: disable=g-import-not-at-top
  if (target is None) == (span is None):
    raise InspectError('give a model or version (e.g. 42 or v3), or --span N')
  if span is not None:
    uses = lineage.span_uses(records, span)
    return uses, render.span_table(span, uses)
  found = lineage.upstream(records, lineage.resolve_target(records, target), metrics)
  return found, render.lineage_tree(found)

@inspect_group.command(name='diff')
@click.argument('a')
@click.argument('b')
@_command
def diff_command(records, a: str, b: str):
  """What changed from A to B: two runs, models (ids) or pushed versions (v2 v3)."""
  from ctpipe.mlmd_inspect import diff, render  # pylint: disable=g-import-not-at-top
  from ctpipe import console_logs  # pylint: disable=g-import-not-at-top
  with console_logs.quiet_stderr():  # TFMA/TFDV import chatter
    difference = diff.compare(records, a, b)
  return difference, render.diff_view(difference)



@click.command(name='report')
@with_config()
@click.argument('run', required=False)
@click.option('--output', type=click.Path(dir_okay=False), default=None,
              help='Where to write (default: <home>/reports/run-<RUN>.html).')
@_store_options
def report_command(project, run, output, db, home, mysql_host, mysql_port, mysql_database,
                   mysql_user, mysql_password_file, as_json):
  """Write an HTML report of a run: statistics, anomalies, drift, evaluation, lineage."""
  from ctpipe.mlmd_inspect import render, report, runs  # pylint: disable=g-import-not-at-top
  from ctpipe import console_logs  # pylint: disable=g-import-not-at-top
  default_home = home_of(project, with_mysql=False)
  try:
    records = _records(default_home.root, db, home, mysql_host, mysql_port, mysql_database,
                       mysql_user, mysql_password_file)
    if run is None:
      newest = runs.list_runs(records, limit=1)
      if not newest:
        raise InspectError('the store holds no runs')
      run = newest[0].run
    reports = (Home(home).reports_dir if home else
               default_home.reports_dir if db is None else os.path.abspath('reports'))
    path = output or report.default_path(reports, run)
    with errors.status(f'report of run {run}: reading statistics, drift and the evaluation…'), \
        console_logs.quiet_stderr():  # TensorFlow's import-time chatter
      report.write(records, run, path)
  except (InspectError, LookupError, ValueError) as error:
    errors.print(f'[red]error:[/red] {error.args[0] if error.args else error}', soft_wrap=True)
    sys.exit(1)
  if as_json:
    click.echo(render.to_json({'run': run, 'report': os.path.abspath(path)}))
  else:
    console.print(f'report of run {run}: {os.path.abspath(path)}', soft_wrap=True)

