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
@click.argument('runs', nargs=-1)
@click.option('--compare', is_flag=True,
              help='One page comparing two or more runs: parameters that differ, metrics '
                   'overall and per slice, curves overlaid.')
@click.option('--output', type=click.Path(dir_okay=False), default=None,
              help='Where to write (default: <home>/reports/run-<RUN>.html, or '
                   'compare-<RUN>-<RUN>....html).')
@_store_options
def report_command(project, runs, compare, output, db, home, mysql_host, mysql_port,
                   mysql_database, mysql_user, mysql_password_file, as_json):
  """Write an HTML report of a run (default: the newest): statistics, anomalies, drift,
  evaluation, lineage; with --compare, of two or more runs side by side."""
  from ctpipe.mlmd_inspect import compare_report, render, report  # pylint: disable=g-import-not-at-top
  from ctpipe.mlmd_inspect import runs as runs_lib  # pylint: disable=g-import-not-at-top
  from ctpipe import console_logs  # pylint: disable=g-import-not-at-top
  default_home = home_of(project, with_mysql=False)
  try:
    if compare and len(runs) < 2:
      raise InspectError('--compare needs two or more runs (see `ctpipe experiments`)')
    if not compare and len(runs) > 1:
      raise InspectError(f'one run at a time ({len(runs)} given); to compare them: '
                         'ctpipe report --compare ' + ' '.join(runs))
    records = _records(default_home.root, db, home, mysql_host, mysql_port, mysql_database,
                       mysql_user, mysql_password_file)
    if not runs:
      newest = runs_lib.list_runs(records, limit=1)
      if not newest:
        raise InspectError('the store holds no runs')
      runs = (newest[0].run,)
    reports = (Home(home).reports_dir if home else
               default_home.reports_dir if db is None else os.path.abspath('reports'))
    what = f'runs {", ".join(runs)}' if compare else f'run {runs[0]}'
    path = output or (report.default_path(reports, '-'.join(runs)).replace(
        os.sep + 'run-', os.sep + 'compare-') if compare else report.default_path(reports, runs[0]))
    with errors.status(f'report of {what}: reading the store and the evaluations…'), \
        console_logs.quiet_stderr():  # TensorFlow's import-time chatter
      if compare:
        compare_report.write(records, runs, path)
      else:
        report.write(records, runs[0], path)
  except (InspectError, LookupError, ValueError) as error:
    errors.print(f'[red]error:[/red] {error.args[0] if error.args else error}', soft_wrap=True)
    sys.exit(1)
  if as_json:
    click.echo(render.to_json({'runs': list(runs), 'report': os.path.abspath(path)}))
  else:
    console.print(f'report of {what}: {os.path.abspath(path)}', soft_wrap=True)


@click.command(name='experiments')
@with_config()
@click.argument('experiment', required=False)
@click.option('--sort', 'sort_metric', default=None, metavar='METRIC',
              help='Best first by this metric (e.g. auc, accuracy, rmse: smaller first).')
@click.option('--limit', type=click.IntRange(min=1), default=50, show_default=True,
              help='Without EXPERIMENT: the newest runs of the store to look at.')
@_store_options
def experiments_command(project, experiment, sort_metric, limit, db, home, mysql_host,
                        mysql_port, mysql_database, mysql_user, mysql_password_file, as_json):
  """Training runs side by side: the parameters that differ, metrics, verdict. EXPERIMENT:
  the runs filed under it (ctpipe run --experiment NAME); none: every training run of the
  store (any TFX store)."""
  from ctpipe.mlmd_inspect import experiments, render  # pylint: disable=g-import-not-at-top
  from ctpipe import console_logs  # pylint: disable=g-import-not-at-top
  try:
    records = _records(home_of(project, with_mysql=False).root, db, home, mysql_host,
                       mysql_port, mysql_database, mysql_user, mysql_password_file)
    with errors.status('experiments: reading the runs and their evaluations…'), \
        console_logs.quiet_stderr():
      found = experiments.list_runs(records, experiment, sort_metric, limit)
      names = experiments.experiment_names(records)
  except (InspectError, LookupError, ValueError) as error:
    errors.print(f'[red]error:[/red] {error.args[0] if error.args else error}', soft_wrap=True)
    sys.exit(1)
  if as_json:
    click.echo(render.to_json({'experiment': experiment, 'experiments': names,
                               'runs': [r.to_dict() for r in found]}))
    return
  if not found:
    console.print('no training runs' + (f' in experiment {experiment}' if experiment else
                                        ' in this store'))
    return
  title = (f'Experiment {experiment}' if experiment else 'Training runs') + (
      f' (best {sort_metric} first)' if sort_metric else ' (oldest first)')
  console.print(render.experiments_table(found, experiments.differing(found), title))
  if not experiment and names:
    console.print(f'experiments in this store: {", ".join(names)}')
  if len(found) > 1:
    console.print(f'compare on one page: ctpipe report --compare '
                  f'{" ".join(r.run for r in found[:4])}', soft_wrap=True)
