"""`ctpipe run`: one pipeline run on the newest span. Thin: options in, the runner, a summary out.

Exit codes: 0 the run completed (pushed or not blessed), 3 the data gate stopped it,
4 the home is in use by another run, 1 any other failure, 2 usage.
"""
import json
import os
import sys
import time
import traceback
from typing import Optional

import click

from ctpipe import notices
from ctpipe.commands import run_view
from ctpipe.commands.common import (EXIT_DATA_GATE, EXIT_FAILURE, EXIT_HOME_BUSY, EXIT_OK,
                                    console, data_root_of, errors, home_of, notifier_of, schema_of,
                                    with_config)
from ctpipe.config import BEAM_MODE_NAMES



def print_phase(text: str) -> None:
  console.print(f'[bold]{text}[/bold]')


def print_start(node_id: str) -> None:
  console.print(f'  [dim]▶ {node_id} started {time.strftime("%H:%M:%S")}[/dim]')


def print_end(execution) -> None:
  mark, color, word = run_view.STATE_STYLE.get(execution.state, ('?', 'yellow', execution.state.lower()))
  console.print(f'  [{color}]{mark}[/{color}] {execution.node_id:<18} {word:<9} '
                f'{execution.seconds:6.1f} s')


def _print_summary(summary, result, log_path: str) -> None:
  from pipeline import run_summary  # pylint: disable=g-import-not-at-top
  console.print(run_view.components_table(summary.executions,
                                          result.plan.backfill + [result.plan.newest]))
  if summary.candidate:
    console.print(run_view.metrics_table(summary.candidate, summary.baseline,
                                         run_summary.HEADLINE_METRICS))
  if summary.hyperparameters is not None:
    console.print(summary.hyperparameters.sentence(), soft_wrap=True)
  if summary.checks:
    console.print(run_view.decision_table(summary.checks))
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
  explained = {(c.metric, c.slice_name) for c in summary.checks if c.passed is False}
  for failure in summary.failures:
    if (failure.metric, failure.slice_name) not in explained:
      console.print(f'  - failed: {failure.sentence()}')
  if summary.serving_check is not None:
    color = 'green' if summary.serving_check_passed else 'red'
    console.print(f'Serving check: [{color}]{summary.serving_check}[/{color}]')
  for line in run_view.push_lines(summary):
    console.print(line)
  console.print(f'[dim]{result.seconds:.1f} s; spans in window: {result.plan.window}; '
                f'log: {log_path}[/dim]')


def _run_options(fn):
  for option in reversed((
      click.option('--data-root', type=click.Path(file_okay=False), default=None,
                   help='Folder of span-<N>/*.csv spans (default: local.data_root).'),
      click.option('--home', type=click.Path(file_okay=False), default=None,
                   help='Pipeline root, metadata store and serving base (default: local.home).'),
      click.option('--schema', 'schema_file', type=click.Path(dir_okay=False), default=None,
                   help='The curated schema (default: local.schema).'),
      click.option('--window', type=click.IntRange(min=1), default=None,
                   help='Number of newest spans to train on (default: pipeline.window_spans).'),
      click.option('--epochs', type=click.IntRange(min=1), default=None, help='Training epochs.'),
      click.option('--min-auc', type=click.FloatRange(0, 1), default=None,
                   help='Overall AUC a candidate needs to be blessed (default: pipeline.min_auc).'),
      click.option('--beam-mode', type=click.Choice(BEAM_MODE_NAMES), default=None,
                   help='Beam DirectRunner mode (default: local.beam_mode, auto: chosen from '
                        'the window\'s size, printed).'),
      click.option('--experiment', default=None, metavar='NAME',
                   help='Record this run under experiment NAME in ML Metadata, with its '
                        'parameters and metrics (see `ctpipe experiments NAME`).'),
      click.option('--verbose', is_flag=True, help='Show TensorFlow and Beam logs in the terminal.'),
  )):
    fn = option(fn)
  return fn


@click.command(name='run')
@with_config()
@_run_options
@click.option('--tune/--no-tune', 'tune', default=None,
              help='Search hyperparameters first (--tune), or never (--no-tune). Default: only '
                   'when the data set has no tuned hyperparameters yet and tuning.auto is on.')
@click.option('--configured-hparams', is_flag=True,
              help='Train with the configured hyperparameters even when tuned ones exist (no '
                   'search): e.g. the baseline of an experiment.')
def run(project, tune, configured_hparams, **options) -> None:
  """Run the pipeline once on the newest span (backfilling the window on a new home).

  The Trainer takes the newest tuned hyperparameters of the data set (ML Metadata), or the
  configured ones when none were tuned; tuned values take precedence over pipeline.epochs.
  """
  if configured_hparams and tune:
    raise click.UsageError('--configured-hparams trains without a search: drop --tune')
  execute(project, tune='configured' if configured_hparams else
          {True: 'always', False: 'never', None: 'auto'}[tune], **options)


@click.command(name='tune')
@with_config()
@_run_options
@click.option('--max-trials', type=click.IntRange(min=1), default=None,
              help='Trial budget (default: tuning.max_trials).')
@click.option('--max-minutes', type=click.FloatRange(min=0, min_open=True), default=None,
              help='Wall-time budget of the search (default: tuning.max_minutes).')
@click.option('--strategy', type=click.Choice(['bayesian', 'random', 'hyperband']), default=None,
              help='Search strategy (default: tuning.strategy).')
def tune(project, max_trials, max_minutes, strategy, **options) -> None:
  """Search hyperparameters on the newest window, then train, evaluate and push with the best.

  Trials read the training split alone (tuning.validation_share of it validates them);
  the best hyperparameters are recorded in ML Metadata and every later run reuses them.
  """
  import dataclasses  # pylint: disable=g-import-not-at-top
  changes = {k: v for k, v in (('max_trials', max_trials), ('max_minutes', max_minutes),
                               ('strategy', strategy)) if v is not None}
  if changes:
    settings = project.pipeline
    project = dataclasses.replace(project, pipeline=dataclasses.replace(
        settings, tuning=dataclasses.replace(settings.tuning, **changes)))
  execute(project, tune='always', **options)


def print_trial(trial) -> None:
  values = ', '.join(f'{k}={v:.3g}' if isinstance(v, float) else f'{k}={v}'
                     for k, v in sorted(trial['hyperparameters'].items()))
  best = (', [green]the best so far[/green]' if trial['value'] == trial['best_value']
          else f' (best so far {trial["best_value"]:.4f})')
  console.print(f'  [cyan]trial {trial["trial"]}/{trial["max_trials"]}[/cyan] '
                f'{trial["objective"]} {trial["value"]:.4f}{best}; best at epoch '
                f'{trial["epochs"]}, {trial["seconds"]:.0f} s; {values}; '
                f'{trial["seconds_left"]:.0f} s left of the budget')


def execute(project, data_root, home, schema_file, window, epochs, min_auc, beam_mode, verbose,
            tune: str = 'auto', experiment: Optional[str] = None) -> None:
  """One run from the command line: the runner, its summary, its record; exits."""
  from ctpipe import console_logs, import_gc  # pylint: disable=g-import-not-at-top
  data_root = data_root_of(project, data_root)
  runner_home = home_of(project, home)
  schema_file = schema_of(project, schema_file)
  beam_mode = beam_mode or project.local.beam_mode
  console.print(f'ctpipe run: data {data_root} → home {runner_home.root}')
  notifier = notifier_of(project, runner_home.root)
  busy = runner_home.busy_message()  # before ~20 s of imports
  if busy:
    errors.print(f'[red]error:[/red] {busy}')
    sys.exit(EXIT_HOME_BUSY)
  log_dir = runner_home.log_dir
  with console_logs.to_file(log_dir, enabled=not verbose) as log_path:
    # TensorFlow, TFX and Google's client libraries print while importing: inside the redirect.
    with import_gc.frozen():
      from pipeline import beam_modes, local_runner  # pylint: disable=g-import-not-at-top
      from pipeline import run_summary, spans  # pylint: disable=g-import-not-at-top
      from ctpipe.home import HomeBusyError  # pylint: disable=g-import-not-at-top
    settings = project.pipeline.replace(window_spans=window, epochs=epochs, min_auc=min_auc)
    observer = local_runner.RunObserver(print_phase, print_start, print_end, print_trial)
    runner = local_runner.LocalRun(runner_home, data_root, schema_file, settings,
                                   beam_modes.BeamMode(beam_mode), observer,
                                   reason='manual tuning' if tune == 'always' else 'manual',
                                   tune=tune)
    try:
      result = runner.run()
    except HomeBusyError as e:
      errors.print(f'[red]error:[/red] {e}')  # last_run.json is the other run's to write
      sys.exit(EXIT_HOME_BUSY)
    except (spans.SpanLayoutError, FileNotFoundError, ValueError) as e:
      _write_failure_record(runner_home, project.dataset.name, str(e), log_path)
      notifier.send(notices.of_failure(settings.model_name, str(e), log_path))
      errors.print(f'[red]error:[/red] {e}')
      sys.exit(EXIT_FAILURE)
    except Exception as e:  # pylint: disable=broad-except
      traceback.print_exc()  # into the log file
      last = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
      _write_failure_record(runner_home, project.dataset.name, f'{type(e).__name__}: {last}',
                            log_path)
      notifier.send(notices.of_failure(settings.model_name, f'{type(e).__name__}: {last}',
                                       log_path))
      errors.print(f'[red]error:[/red] the run failed: {type(e).__name__}: {last} '
                    f'(full trace in {log_path})', soft_wrap=True)
      sys.exit(EXIT_FAILURE)
    reader = runner_home.reader(settings.pipeline_name)
    summary = run_summary.summarize(reader, result.first_execution_id)
    experiment_line = _record_experiment(runner_home, experiment, settings.pipeline_name,
                                         summary) if experiment else ''
    report_path = write_report(runner_home)
  _write_run_record(runner_home, project.dataset.name, result, summary, log_path, report_path)
  gate_anomalies = ([a.sentence() for a in result.gate_error.anomalies]
                    if result.status == 'data_gate' and result.gate_error else [])
  for message in notices.of_run(settings.model_name, result.status, result.reason, summary,
                                result.drift or [], gate_anomalies, report_path or '',
                                result.plan.newest if result.plan else None):
    notifier.send(message)
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
  if experiment_line:
    console.print(experiment_line, soft_wrap=True)
  if report_path:
    console.print(f'Report: {report_path}', soft_wrap=True)
  sys.exit(EXIT_OK)


def _record_experiment(home, experiment: str, pipeline_name: str, summary) -> str:
  """Files the run under `experiment`; returns the line that says so (or why not)."""
  from ctpipe import experiments  # pylint: disable=g-import-not-at-top
  try:
    run_name = experiments.record(home, experiment, pipeline_name, summary.executions)
  except ValueError as e:
    return f'[yellow]Experiment {experiment}: not recorded: {e}[/yellow]'
  return f'Experiment {experiment}: recorded run {run_name} (compare: ctpipe experiments {experiment})'


def write_report(home) -> Optional[str]:
  """The HTML report of this invocation's (newest) run; a failure only warns."""
  from ctpipe.mlmd_inspect import report, runs, store  # pylint: disable=g-import-not-at-top
  try:
    reader = (store.open_records(mysql=home.mysql) if home.mysql is not None
              else store.open_records(db=home.metadata_path))
    newest = runs.list_runs(reader, limit=1)
    if not newest:
      return None
    return report.write(reader, newest[0].run, report.default_path(home.reports_dir,
                                                                   newest[0].run))
  except Exception:  # pylint: disable=broad-except
    traceback.print_exc()  # into the log file; the run itself succeeded
    console.print('[yellow]warning:[/yellow] the run report could not be written (see the log)')
    return None


def _write_run_record(home, dataset: str, result, summary, log_path: str,
                      report_path: Optional[str]) -> None:
  """`<home>/last_run.json`: the home's last run's outcome for scripts (benchmarks,
  schedulers), with the data set it ran (a home may hold several)."""
  record = {
      'dataset': dataset, 'status': result.status, 'pipeline_seconds': round(result.seconds, 2),
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


def _write_failure_record(home, dataset: str, error: str, log_path: str) -> None:
  """`last_run.json` after a failed run: nothing from an earlier run is left in it."""
  _write_record(home, {'dataset': dataset, 'status': 'failed', 'error': error, 'pushed_version': None,
                       'blessed': None, 'log': log_path, 'report': None})


def _write_record(home, record: dict) -> None:
  path = home.last_run_path
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
