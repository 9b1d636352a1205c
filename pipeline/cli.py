"""`ctpipe`: the command line. Thin: parses options, calls the runner, prints for people.

Exit codes of `ctpipe run`: 0 the run completed (pushed or not blessed), 3 the data
gate stopped it, 4 the home is in use by another run, 1 any other failure, 2 usage.
`ctpipe serve`: 5 a port it was asked to listen on is taken.
"""
import json
import os
import sys
import time
import traceback
from typing import Optional

import click
from rich.console import Console
from rich.table import Table

from pipeline.beam_modes import BEAM_MODE_NAMES

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_DATA_GATE = 3
EXIT_HOME_BUSY = 4
EXIT_PORT_BUSY = 5
EXIT_USAGE = 2

# The repository (or installed tree) this package sits in: defaults live there.
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA_ROOT = os.path.join(PROJECT_ROOT, 'data', 'taxi')
DEFAULT_SCHEMA = os.path.join(PROJECT_ROOT, 'schema', 'schema.pbtxt')
DEFAULT_HOME = os.path.join(PROJECT_ROOT, '.ctpipe')
DEFAULT_CONFIG = os.path.join(PROJECT_ROOT, 'config', 'ctpipe.yaml')

console = Console(highlight=False, soft_wrap=True)  # a long line stays one line in a pipe
errors = Console(highlight=False, stderr=True, soft_wrap=True)

_STATE_STYLE = {'COMPLETE': ('✓', 'green', 'executed'), 'CACHED': ('↺', 'cyan', 'cached'),
                'FAILED': ('✗', 'red', 'failed'), 'CANCELED': ('✗', 'red', 'canceled')}


@click.group()
def main() -> None:
  """ctpipe: a continuous-training TFX pipeline (MLOps level 1)."""


def _print_phase(text: str) -> None:
  console.print(f'[bold]{text}[/bold]')


def _print_start(node_id: str) -> None:
  console.print(f'  [dim]▶ {node_id} started {time.strftime("%H:%M:%S")}[/dim]')


def _print_end(execution) -> None:
  mark, color, word = _STATE_STYLE.get(execution.state, ('?', 'yellow', execution.state.lower()))
  console.print(f'  [{color}]{mark}[/{color}] {execution.node_id:<18} {word:<9} '
                f'{execution.seconds:6.1f} s')


def _fmt(value: Optional[float]) -> str:
  return '—' if value is None else f'{value:.4f}'


def _print_summary(summary, result, log_path: str) -> None:
  table = Table(title='Components', show_edge=False, header_style='bold')
  table.add_column('component')
  table.add_column('outcome')
  table.add_column('seconds', justify='right')
  for execution in summary.executions:
    _, color, word = _STATE_STYLE.get(execution.state, ('?', 'yellow', execution.state.lower()))
    table.add_row(execution.node_id, f'[{color}]{word}[/{color}]', f'{execution.seconds:.1f}')
  console.print(table)
  if summary.candidate:
    metrics = Table(title='Evaluation (held-out split of the window)', show_edge=False,
                    header_style='bold')
    metrics.add_column('metric')
    metrics.add_column('candidate', justify='right')
    metrics.add_column('baseline (in production)', justify='right')
    for name in ('auc', 'binary_accuracy', 'accuracy_lift', 'precision', 'recall',
                 'calibration', 'example_count'):
      if name in summary.candidate:
        metrics.add_row(name, _fmt(summary.candidate.get(name)), _fmt(summary.baseline.get(name)))
    console.print(metrics)
  if summary.schema_proposals:
    console.print(f'[yellow]Schema review:[/yellow] {len(summary.schema_proposals)} proposed '
                  'update(s) to the curated schema (not applied; see `ctpipe schema`):')
    for line in summary.schema_proposals:
      console.print(f'  - {line}')
  if summary.blessed is None:
    verdict = '[yellow]not evaluated[/yellow]'
  elif summary.blessed:
    verdict = '[green]BLESSED[/green]' + ('' if summary.baseline else
                                          ' (first model: judged on value thresholds alone)')
  else:
    verdict = '[red]NOT BLESSED[/red]'
  console.print(f'Verdict: {verdict}')
  for failure in summary.failures:
    console.print(f'  - failed: {failure.sentence()}')
  if summary.serving_check is not None:
    color = 'green' if summary.serving_check_passed else 'red'
    console.print(f'Serving check: [{color}]{summary.serving_check}[/{color}]')
  pusher_cached = 'Pusher' in summary.cached()
  if summary.pushed_version and not pusher_cached:
    console.print(f'Pushed version {summary.pushed_version} to {summary.pushed_path}')
    if summary.rollback_in_effect:
      console.print(f'[yellow]Rollback in effect:[/yellow] {summary.rollback_in_effect}')
    if summary.edge_export:
      color = 'green' if summary.edge_exported else 'yellow'
      console.print(f'Edge model: [{color}]{summary.edge_export}[/{color}]')
  elif summary.pushed_version:
    console.print(f'Nothing new to push: serving version {summary.pushed_version} is unchanged')
  else:
    console.print('Nothing pushed.')
  console.print(f'[dim]{result.seconds:.1f} s; spans in window: {result.plan.window}; '
                f'log: {log_path}[/dim]')


@main.command()
@click.option('--config', 'config_path', type=click.Path(dir_okay=False), default=DEFAULT_CONFIG,
              show_default=True, help='Project config: pipeline.* and local.* (local.mysql: '
                                      'a shared MySQL-compatible metadata store).')
@click.option('--set', 'overrides', multiple=True, metavar='KEY=VALUE',
              help='Override a config value, e.g. --set local.mysql.host=db.internal.')
@click.option('--data-root', type=click.Path(file_okay=False), default=None,
              help='Folder of span-<N>/*.csv spans (default: local.data_root, data/taxi).')
@click.option('--home', type=click.Path(file_okay=False), default=None,
              help='Pipeline root, metadata store and serving base (default: local.home).')
@click.option('--schema', 'schema_file', type=click.Path(dir_okay=False), default=None,
              help='The curated schema (default: local.schema).')
@click.option('--window', type=click.IntRange(min=1), default=None,
              help='Number of newest spans to train on (default 4).')
@click.option('--epochs', type=click.IntRange(min=1), default=None, help='Training epochs.')
@click.option('--min-auc', type=click.FloatRange(0, 1), default=None,
              help='Overall AUC a candidate needs to be blessed (default 0.90).')
@click.option('--beam-mode', type=click.Choice(BEAM_MODE_NAMES),
              default=None, help='Beam DirectRunner mode (default: local.beam_mode, auto: '
                                 'chosen from the window\'s size, printed).')
@click.option('--verbose', is_flag=True, help='Show TensorFlow and Beam logs in the terminal.')
def run(config_path, overrides, data_root, home, schema_file, window, epochs, min_auc, beam_mode,
        verbose) -> None:
  """Run the pipeline once on the newest span (backfilling the window on a new home)."""
  from pipeline import console_logs, import_gc  # pylint: disable=g-import-not-at-top
  with import_gc.frozen():  # the config imports the model's code: TensorFlow
    project = _local_config(config_path, overrides)
  local = project.local
  data_root = data_root or _in_project(local.data_root)
  home = home or _in_project(local.home)
  schema_file = schema_file or _in_project(local.schema)
  beam_mode = beam_mode or local.beam_mode
  console.print(f'ctpipe run: data {os.path.abspath(data_root)} → home {os.path.abspath(home)}')
  log_dir = os.path.join(os.path.abspath(home), 'logs')
  mysql = _mysql_settings(local.mysql)
  with console_logs.to_file(log_dir, enabled=not verbose) as log_path:
    # TensorFlow, TFX and Google's client libraries print while importing: inside the redirect.
    with import_gc.frozen():
      from pipeline import beam_modes, config, local_runner  # pylint: disable=g-import-not-at-top
      from pipeline import run_summary, spans  # pylint: disable=g-import-not-at-top
    settings = config.replace_settings(project.pipeline, window_spans=window, epochs=epochs,
                                       min_auc=min_auc)
    runner_home = local_runner.Home(os.path.abspath(home), mysql=mysql)
    observer = local_runner.RunObserver(_print_phase, _print_start, _print_end)
    runner = local_runner.LocalRun(runner_home, data_root, schema_file, settings,
                                   beam_modes.BeamMode(beam_mode), observer)
    try:
      result = runner.run()
    except local_runner.HomeBusyError as e:
      console.print(f'[red]error:[/red] {e}')  # last_run.json is the other run's to write
      sys.exit(EXIT_HOME_BUSY)
    except (spans.SpanLayoutError, FileNotFoundError, ValueError) as e:
      _write_failure_record(runner_home, str(e), log_path)
      console.print(f'[red]error:[/red] {e}')
      sys.exit(EXIT_FAILURE)
    except Exception as e:  # pylint: disable=broad-except
      traceback.print_exc()  # into the log file
      last = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
      _write_failure_record(runner_home, f'{type(e).__name__}: {last}', log_path)
      console.print(f'[red]error:[/red] the run failed: {type(e).__name__}: {last} '
                    f'(full trace in {log_path})', soft_wrap=True)
      sys.exit(EXIT_FAILURE)
    reader = runner_home.reader(settings.pipeline_name)
    summary = run_summary.summarize(reader, result.first_execution_id)
    report_path = _write_report(runner_home.root, runner_home.metadata_path, mysql)
  _write_run_record(runner_home, result, summary, log_path, report_path)
  if result.status == 'data_gate':
    gate = result.gate_error
    console.print(f'[red]Data gate: the run stopped before Transform.[/red] '
                  f'{len(gate.anomalies)} anomal{"y" if len(gate.anomalies) == 1 else "ies"}:')
    for anomaly in gate.anomalies:
      console.print(f'  - {anomaly.sentence()}')
    console.print('Nothing was trained or pushed. Fix the data, or declare the change in '
                  f'{schema_file} (see `ctpipe schema`). Log: {log_path}')
    if report_path:
      console.print(f'Report: {report_path}', soft_wrap=True)
    sys.exit(EXIT_DATA_GATE)
  _print_summary(summary, result, log_path)
  if report_path:
    console.print(f'Report: {report_path}', soft_wrap=True)
  sys.exit(EXIT_OK)


def _in_project(path: str) -> str:
  """Config paths are relative to the project (where config/ctpipe.yaml lives)."""
  return path if os.path.isabs(path) else os.path.join(PROJECT_ROOT, path)


def _local_config(config_path: str, overrides):
  """The config's pipeline and local sections (defaults when the default file is absent)."""
  from pipeline import console_logs  # pylint: disable=g-import-not-at-top
  with console_logs.quiet_stderr():  # the settings import TensorFlow
    from pipeline import targets  # pylint: disable=g-import-not-at-top
    try:
      if not os.path.exists(config_path) and config_path == DEFAULT_CONFIG:
        return targets.parse({}, overrides, sections=('pipeline', 'local'))
      return targets.load(config_path, overrides, sections=('pipeline', 'local'))
    except targets.ConfigError as e:
      console.print(f'[red]error:[/red] {e}')
      sys.exit(EXIT_USAGE)


def _mysql_settings(store):
  """MySQLSettings with the password read now (file or prompt); None for SQLite."""
  if store is None:
    return None
  from pipeline import metadata  # pylint: disable=g-import-not-at-top
  password = metadata.mysql_password(store.password_file, store.user, store.host)
  return metadata.MySQLSettings(store.host, store.database, store.user, store.port, password)


def _write_report(home: str, metadata_path: str, mysql=None) -> Optional[str]:
  """The HTML report of this invocation's (newest) run; a failure only warns."""
  from mlmd_inspect import records, report, runs  # pylint: disable=g-import-not-at-top
  try:
    reader = (records.open_records(mysql=mysql) if mysql is not None
              else records.open_records(db=metadata_path))
    newest = runs.list_runs(reader, limit=1)
    if not newest:
      return None
    return report.write(reader, newest[0].run, report.default_path(home, newest[0].run))
  except Exception:  # pylint: disable=broad-except
    traceback.print_exc()  # into the log file; the run itself succeeded
    console.print('[yellow]warning:[/yellow] the run report could not be written (see the log)')
    return None


def _write_run_record(home, result, summary, log_path: str, report_path: Optional[str]) -> None:
  """`<home>/last_run.json`: the run's outcome for scripts (benchmarks, schedulers)."""
  record = {
      'status': result.status, 'pipeline_seconds': round(result.seconds, 2),
      'window': result.plan.window, 'backfill': result.plan.backfill,
      'blessed': summary.blessed,
      'serving_check': summary.serving_check,
      'edge_export': summary.edge_export,
      'pushed_version': None if 'Pusher' in summary.cached() else summary.pushed_version,
      'candidate': summary.candidate, 'baseline': summary.baseline,
      'failures': [f.sentence() for f in summary.failures],
      'anomalies': [a.sentence() for a in result.gate_error.anomalies] if result.gate_error else [],
      'executions': [{'node': e.node_id, 'state': e.state, 'seconds': round(e.seconds, 2)}
                     for e in summary.executions],
      'log': log_path,
      'report': report_path,
  }
  _write_record(home, record)


def _write_failure_record(home, error: str, log_path: str) -> None:
  """`last_run.json` after a failed run: nothing from an earlier run is left in it."""
  _write_record(home, {'status': 'failed', 'error': error, 'pushed_version': None,
                       'blessed': None, 'log': log_path, 'report': None})


def _write_record(home, record: dict) -> None:
  path = os.path.join(home.root, 'last_run.json')
  try:
    with open(path + '.tmp', 'w', encoding='utf-8') as f:
      json.dump(record, f, indent=2, sort_keys=True)
    os.replace(path + '.tmp', path)
  except OSError as e:  # e.g. the disk that failed the run is full
    if os.path.exists(path + '.tmp'):
      os.remove(path + '.tmp')
    if os.path.exists(path):
      os.remove(path)  # better no record than a stale one
    console.print(f'[yellow]warning:[/yellow] {path} could not be written: {e.strerror}')


@main.command()
@click.option('--data-root', type=click.Path(file_okay=False), default=DEFAULT_DATA_ROOT,
              show_default=True)
@click.option('--schema', 'schema_file', type=click.Path(dir_okay=False), default=DEFAULT_SCHEMA,
              show_default=True)
@click.option('--yes', is_flag=True, help='Write without asking.')
@click.option('--check', is_flag=True, help='Only show the diff; exit 1 if there is one.')
def schema(data_root, schema_file, yes, check) -> None:
  """Bootstrap or refresh the curated schema from the data, shown as a diff first."""
  from pipeline import console_logs, schema_review, schema_tool, spans  # pylint: disable=g-import-not-at-top
  try:
    with console_logs.quiet_stderr():
      current, proposed = schema_tool.plan(schema_file, data_root)
  except spans.SpanLayoutError as e:
    console.print(f'[red]error:[/red] {e}')
    sys.exit(EXIT_FAILURE)
  diff = schema_review.text_diff(current, proposed, f'a/{os.path.basename(schema_file)}',
                                 f'b/{os.path.basename(schema_file)}')
  if not diff:
    console.print(f'{schema_file} already accepts the data in {data_root}: nothing to change.')
    return
  console.print(diff, markup=False, highlight=False)
  if check:
    sys.exit(EXIT_FAILURE)
  if not yes and not click.confirm(f'Write this to {schema_file}?', default=False):
    console.print('Not written.')
    return
  schema_tool.write(schema_file, proposed)
  console.print(f'Wrote {schema_file}. Review and commit it: it is the data contract.')


@main.command()
@click.option('--home', type=click.Path(file_okay=False), default=None,
              help='Home for logs and the request log; its pushed models are served unless '
                   '--model-base-path is given (default: .ctpipe).')
@click.option('--model-base-path', type=click.Path(file_okay=False), default=None,
              help='A TF Serving model base path (<dir>/<version>/saved_model.pb).')
@click.option('--model-name', default=None, help='Model name in the API (default: taxi).')
@click.option('--rest-port', type=click.IntRange(0, 65535), default=8501, show_default=True)
@click.option('--grpc-port', type=click.IntRange(0, 65535), default=8500, show_default=True)
@click.option('--host', default='127.0.0.1', show_default=True)
@click.option('--poll-seconds', type=click.FloatRange(min=0.1), default=2.0, show_default=True)
def serve(home, model_base_path, model_name, rest_port, grpc_port, host, poll_seconds) -> None:
  """Serve every pushed version through TF Serving's REST and gRPC APIs."""
  import logging  # pylint: disable=g-import-not-at-top
  from pipeline import console_logs, import_gc  # pylint: disable=g-import-not-at-top
  home_dir = os.path.abspath(home or DEFAULT_HOME)
  with console_logs.to_file(os.path.join(home_dir, 'logs')), import_gc.frozen():
    # TensorFlow prints while importing: into the log file. The server's own log
    # (versions loaded, retired, failed) goes to the terminal below.
    from model_server import server as server_lib  # pylint: disable=g-import-not-at-top
    from pipeline import config  # pylint: disable=g-import-not-at-top
  name = model_name or config.PipelineSettings().model_name
  base = os.path.abspath(model_base_path or os.path.join(home_dir, 'serving', name))
  logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s',
                      stream=sys.stdout, force=True)
  try:
    server = server_lib.ModelServer(server_lib.ServerConfig(
        model_name=name, model_base_path=base, rest_port=rest_port, grpc_port=grpc_port,
        host=host, poll_seconds=poll_seconds,
        request_log_dir=os.path.join(home_dir, 'requests')))
  except FileNotFoundError as e:
    errors.print(f'[red]error:[/red] {e}')
    sys.exit(EXIT_FAILURE)
  try:
    server.bind()  # both ports, before anything is announced
  except server_lib.PortInUseError as e:
    errors.print(f'[red]error:[/red] {e}; pass another --rest-port/--grpc-port or stop '
                 'the server holding it')
    sys.exit(EXIT_PORT_BUSY)
  console.print(f'serving [bold]{name}[/bold] from {base}\n'
                f'  REST http://{host}:{server.rest_port}/v1/models/{name}\n'
                f'  gRPC {host}:{server.grpc_port}')
  try:
    server.run()
  except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown
    pass
  console.print('server stopped')


@main.command()
@click.option('--home', type=click.Path(file_okay=False), default=DEFAULT_HOME,
              show_default=True, help='The home whose pushed versions to roll back.')
@click.option('--to', 'to_version', type=click.IntRange(min=1), default=None,
              help='Version to serve (default: the one before the version now served).')
@click.option('--clear', is_flag=True, help='Drop the pin: serve the newest version again.')
@click.option('--reason', default='', help='Why; recorded in ML Metadata.')
def rollback(home, to_version, clear, reason) -> None:
  """Serve a previous version (recorded in ML Metadata); --clear to follow the newest."""
  from pipeline import config, console_logs, local_runner, metadata  # pylint: disable=g-import-not-at-top
  with console_logs.quiet_stderr():  # TensorFlow prints while importing
    from pipeline import rollback as rollback_lib  # pylint: disable=g-import-not-at-top
  if clear and to_version is not None:
    raise click.UsageError('give --to or --clear, not both')
  settings = config.PipelineSettings()
  home_obj = local_runner.Home(os.path.abspath(home))
  if not os.path.exists(home_obj.metadata_path):
    console.print(f'[red]error:[/red] no metadata store at {home_obj.metadata_path}; '
                  'run the pipeline first')
    sys.exit(EXIT_FAILURE)
  base = os.path.join(home_obj.serving_base, settings.model_name)
  try:
    with console_logs.quiet_stderr():  # loading a version to check it: TensorFlow's chatter
      result = rollback_lib.rollback(
          base, metadata.sqlite_config(home_obj.metadata_path, read_only=False),
          settings.pipeline_name, to_version=to_version, reason=reason, clear=clear)
  except ValueError as e:
    errors.print(f'[red]error:[/red] {e}')
    sys.exit(EXIT_FAILURE)
  for version, why in result.skipped:
    console.print(f'[yellow]skipped version {version}:[/yellow] it does not load ({why})',
                  soft_wrap=True)
  recorded = f'recorded as execution {result.execution_id}'
  if result.to_version is None:
    if not result.was_pinned:
      console.print(f'No pin to clear: the newest version already serves; {recorded}')
    elif result.server_running:
      console.print(f'Pin cleared: the server now serves version {result.now_serving} '
                    f'(was {result.from_version}); {recorded}')
    else:
      console.print(f'Pin cleared: the newest version will serve; {recorded}')
  elif not result.server_running:
    console.print(f'Pinned version {result.to_version} (it loads); no server is running on '
                  f'{base}: `ctpipe serve` will serve it; {recorded}', soft_wrap=True)
  elif result.now_serving == result.to_version:
    console.print(f'Serving version {result.to_version} instead of {result.from_version}; '
                  f'{recorded}')
  else:
    console.print(f'[yellow]Pinned version {result.to_version}, but the server still serves '
                  f'version {result.now_serving}[/yellow] (see its log); {recorded}',
                  soft_wrap=True)


@main.command()
@click.option('--input', 'input_path', required=True, type=click.Path(exists=True),
              help='A CSV file or a folder of CSV files (the raw columns, no label needed).')
@click.option('--output', 'output_dir', required=True, type=click.Path(file_okay=False),
              help='Folder for the prediction shards (input columns + probability, big_tipper).')
@click.option('--home', type=click.Path(file_okay=False), default=DEFAULT_HOME, show_default=True)
@click.option('--version', 'version', type=click.IntRange(min=1), default=None,
              help='Model version (default: the one being served).')
@click.option('--verbose', is_flag=True, help='Show TensorFlow and Beam logs in the terminal.')
def predict(input_path, output_dir, home, version, verbose) -> None:
  """Batch prediction with a pushed model on Beam."""
  from pipeline import console_logs  # pylint: disable=g-import-not-at-top
  error = None
  with console_logs.to_file(os.path.join(os.path.abspath(home), 'logs'), enabled=not verbose):
    # TensorFlow and Beam print while importing: inside the redirect.
    from model_server import batch_predict, versions  # pylint: disable=g-import-not-at-top
    from pipeline import config  # pylint: disable=g-import-not-at-top
    base = os.path.join(os.path.abspath(home), 'serving', config.PipelineSettings().model_name)
    chosen = version or versions.target_version(base)
    model_dir = os.path.join(base, str(chosen)) if chosen else None
    if model_dir is None or not os.path.isdir(model_dir):
      which = f'version {version}' if version else 'pushed model'
      error = f'no {which} under {base}; run the pipeline first (`ctpipe run`)'
    else:
      try:
        pattern = batch_predict.run(input_path, output_dir, model_dir)
      except (FileNotFoundError, ValueError) as e:
        error = str(e)
  if error:
    console.print(f'[red]error:[/red] {error}')
    sys.exit(EXIT_FAILURE)
  console.print(f'Scored with version {chosen}: {pattern}')


def _register_inspect() -> None:
  from mlmd_inspect.cli import make_group, make_report_command  # pylint: disable=g-import-not-at-top
  main.add_command(make_group(DEFAULT_HOME))
  main.add_command(make_report_command(DEFAULT_HOME))


def _register_continuous() -> None:
  from continuous.cli import make_commands  # pylint: disable=g-import-not-at-top
  for command in make_commands(DEFAULT_HOME, DEFAULT_DATA_ROOT, DEFAULT_SCHEMA, console,
                               _print_phase, _write_report):
    main.add_command(command)


def _register_vertex() -> None:
  from pipeline.vertex_cli import make_commands  # pylint: disable=g-import-not-at-top
  for command in make_commands(PROJECT_ROOT, console):
    main.add_command(command)


_register_inspect()
_register_continuous()
_register_vertex()

if __name__ == '__main__':
  main()
