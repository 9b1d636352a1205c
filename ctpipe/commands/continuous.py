"""`ctpipe watch`, `replay` and `feedback`: continuous training (thin: parse, run, print)."""
import json
import os
import sys
import time
import traceback

import click

from ctpipe.commands.common import (console, data_root_of, errors, home_of, notifier_of,
                                    schema_of, with_config)
from ctpipe.commands.run import print_end, print_phase, print_start, print_trial, write_report

POLICIES = ['every-span', 'on-trigger']


def _training_options(fn):
  fn = click.option('--warm-start', is_flag=True,
                    help='Start training from the latest blessed model.')(fn)
  fn = click.option('--no-edge-export', 'no_edge_export', is_flag=True,
                    help='Skip the TFLite export of pushed versions.')(fn)
  fn = click.option('--verbose', is_flag=True,
                    help='Show TensorFlow and Beam logs in the terminal.')(fn)
  fn = click.option('--min-auc', type=click.FloatRange(0, 1), default=None,
                    help='Overall AUC a candidate needs to be blessed (default 0.90).')(fn)
  fn = click.option('--epochs', type=click.IntRange(min=1), default=None,
                    help='Training epochs.')(fn)
  fn = click.option('--window', type=click.IntRange(min=1), default=None,
                    help='Number of newest spans to train on (default 4).')(fn)
  fn = click.option('--retrain', type=click.Choice(POLICIES), default='every-span',
                    show_default=True,
                    help='every-span: train on each new span. on-trigger: ingest and '
                         'validate each span; train on drift, a schedule, skew, degraded '
                         'live metrics, or when nothing is in production yet.')(fn)
  return fn


# Phase lines that every run of a span repeats (its ingestion, then its training run): the
# Beam mode, the spans a window leaves out. Said again only when they change.
_REPEATED_PHASES = ('Beam: ', 'spans ')


def _phases_once():
  """A phase printer that says a repeated line (`_REPEATED_PHASES`) only when it changed."""
  last = {}

  def say(text: str) -> None:
    kind = next((k for k in _REPEATED_PHASES if text.startswith(k)), None)
    if kind is not None:
      if last.get(kind) == text:
        return
      last[kind] = text
    print_phase('  ' + text)
  return say


def build(project, runner_home, data_root, schema_file, window, epochs, min_auc, retrain,
          no_edge_export, warm_start, ledger_dir=None, periods=None, extra_triggers=None,
          cron=None, interval=60.0, notifier=None, tune_cron=None):
  """The Watcher that runs the pipeline for each span (and each trigger); each outcome is
  told to `notifier`'s channels (ctpipe/notices.py)."""
  from ctpipe import notices  # pylint: disable=g-import-not-at-top
  from ctpipe import import_gc  # pylint: disable=g-import-not-at-top
  with import_gc.frozen():  # a long-lived process: see ctpipe/import_gc.py
    from ctpipe.continuous.span_runs import RetrainPolicy, SpanRunner  # pylint: disable=g-import-not-at-top
    from ctpipe.continuous.watch import Watcher, WatchOptions  # pylint: disable=g-import-not-at-top
    from pipeline import local_runner  # pylint: disable=g-import-not-at-top
  settings = project.pipeline.replace(window_spans=window, epochs=epochs, min_auc=min_auc,
                                      edge_export=False if no_edge_export else None,
                                      warm_start=warm_start or None)
  # Each component as it starts and ends, as `ctpipe run` shows them (a training run of a
  # watch takes a minute or more).
  observer = local_runner.RunObserver(on_phase=_phases_once(), on_start=print_start,
                                      on_end=print_end, on_trial=print_trial)

  def make_run(reason: str, tune: str = local_runner.TUNE_AUTO) -> local_runner.LocalRun:
    return local_runner.LocalRun(runner_home, data_root, schema_file, settings,
                                 observer=observer, reason=reason, tune=tune)

  options = WatchOptions(policy=RetrainPolicy(retrain), interval_seconds=interval, cron=cron,
                         tune_cron=tune_cron)

  def on_outcome(outcome) -> None:
    _print_outcome(console, outcome)
    path = None
    if outcome.summary is not None or outcome.anomalies:
      path = write_report(runner_home)
      if path:
        console.print(f'    report: {path}', soft_wrap=True)
    if notifier is not None:
      for message in notices.of_run(settings.model_name, outcome.status, outcome.trigger,
                                    outcome.summary, outcome.drift, outcome.anomalies,
                                    path or '', outcome.span):
        notifier.send(message)

  return Watcher(runner_home, data_root, SpanRunner(runner_home, make_run, options.policy),
                 options, settings.pipeline_name,
                 on_event=lambda text: console.print(f'[bold]{time.strftime("%H:%M:%S")}'
                                                     f'[/bold] {text}'),
                 on_outcome=on_outcome, extra_triggers=extra_triggers,
                 ledger_dir=ledger_dir, periods=periods)



def feedback_trigger(project, home, schema_file, labels, notifier=None):
  """The watcher's feedback check: skew and degradation start a run; a degraded version is
  rolled back first when rollout.auto_rollback is on (ctpipe/rollout/degradation_guard.py)."""
  from ctpipe import notify  # pylint: disable=g-import-not-at-top
  from ctpipe.continuous import feedback as feedback_lib  # pylint: disable=g-import-not-at-top
  from ctpipe.rollout.degradation_guard import DegradationGuard  # pylint: disable=g-import-not-at-top
  from pipeline import schema_tool  # pylint: disable=g-import-not-at-top
  settings = project.pipeline
  trigger = feedback_lib.FeedbackTrigger(
      home, settings.pipeline_name, settings.model_name,
      schema_tool.load(schema_file), labels,
      on_report=lambda report: _print_feedback(console, report, brief=True),
      task=feedback_lib.Task.of(project.dataset))
  stamp = lambda: time.strftime('%H:%M:%S')  # noqa: E731
  return DegradationGuard(
      trigger, home, project, notifier or notify.NO_NOTIFIER,
      on_rollback=lambda r: console.print(
          f'[bold]{stamp()}[/bold] [yellow]rolled back[/yellow] v{r.from_version} → '
          f'v{r.to_version} (degraded); recorded as execution {r.execution_id}'),
      on_error=lambda text: errors.print(f'[yellow]warning:[/yellow] {text}'))


def trial_watch(project, home, labels, notifier):
  """The watcher's check of a version on trial: promoted or aborted once the evidence is in."""
  from ctpipe.rollout import review  # pylint: disable=g-import-not-at-top

  def said(outcome) -> None:
    words = 'promoted to stable' if outcome.action == 'promote' else 'aborted'
    console.print(f'[bold]{time.strftime("%H:%M:%S")}[/bold] rollout: v{outcome.candidate} '
                  f'{words}; v{outcome.stable} serves as stable ({outcome.reason}); recorded '
                  f'as execution {outcome.execution_id}', soft_wrap=True)
  return review.TrialWatch(home, project, labels, notifier, on_decision=said)



@click.command(name='watch')
@with_config()
@click.option('--home', type=click.Path(file_okay=False), default=None,
              help='The home to run in (default: local.home).')
@click.option('--data-root', type=click.Path(file_okay=False), default=None,
              help='Folder where span-<N>/ folders arrive (default: local.data_root).')
@click.option('--schema', 'schema_file', type=click.Path(dir_okay=False), default=None,
              help='The curated schema (default: local.schema).')
@click.option('--interval', type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help='Seconds between polls.')
@click.option('--once', is_flag=True, help='Check once, run what is new, exit.')
@click.option('--cron', default=None,
              help='Also train on a schedule (UTC), e.g. "0 3 * * *".')
@click.option('--tune-cron', default=None,
              help='Also search hyperparameters, then train with the best, on a schedule '
                   '(UTC), e.g. "0 4 * * 0" (Sundays 04:00).')
@click.option('--feedback', is_flag=True,
              help='Each poll, check served requests for skew (and live metrics with '
                   '--labels); a finding starts a run.')
@click.option('--labels', type=click.Path(exists=True, dir_okay=False), default=None,
              help='CSV of request_id,label[,row] for served requests.')
@_training_options
def watch(project, home, data_root, schema_file, interval, once, cron, tune_cron, feedback,
          labels, retrain, window, epochs, min_auc, verbose, no_edge_export, warm_start):
  """Run the pipeline when a span arrives (span-<N>/_SUCCESS written) or a trigger fires."""
  from ctpipe import console_logs  # pylint: disable=g-import-not-at-top
  if once and (cron or tune_cron):
    raise click.UsageError('--once checks once and exits; --cron and --tune-cron need a '
                           'running watcher')
  data_root = data_root_of(project, data_root)
  schema_file = schema_of(project, schema_file)
  runner_home = home_of(project, home)
  with console_logs.to_file(runner_home.log_dir, enabled=not verbose) as log_path:
    if labels and not feedback:
      raise click.UsageError('--labels needs --feedback')
    notifier = notifier_of(project, runner_home.root)
    try:
      # A trial is decided before the feedback check: a promoted candidate is the version
      # whose served behaviour that check then judges.
      extra = ([trial_watch(project, runner_home, labels, notifier),
                feedback_trigger(project, runner_home, schema_file, labels, notifier)]
               if feedback else [])
      watcher = build(project, runner_home, data_root, schema_file, window, epochs, min_auc,
                      retrain, no_edge_export, warm_start, cron=cron, interval=interval,
                      extra_triggers=extra, notifier=notifier, tune_cron=tune_cron)
    except ValueError as e:
      errors.print(f'[red]error:[/red] {e}')
      sys.exit(1)
    console.print(f'watching {data_root} → home {runner_home.root} '
                  f'(retrain: {retrain}'
                  + (f', schedule: {cron} UTC' if cron else '')
                  + (f', tuning: {tune_cron} UTC' if tune_cron else '')
                  + ('' if once else f', every {interval:g} s') + f'); log: {log_path}')
    from ctpipe import notices  # pylint: disable=g-import-not-at-top
    _guarded(console, log_path, lambda: (watcher.poll() if once else watcher.run_forever()),
             on_failure=lambda text: notifier.send(
                 notices.of_failure(project.pipeline.model_name, text, log_path)))
    if once:
      console.print('done: nothing more is pending')


@click.command(name='replay')
@with_config()
@click.option('--home', type=click.Path(file_okay=False), default=None,
              help='A fresh home for the replay, or one a replay was interrupted in '
                   '(default: local.home with -replay appended).')
@click.option('--data-root', type=click.Path(file_okay=False), default=None,
              help='The history to replay: span-<N>/ folders (default: local.data_root).')
@click.option('--schema', 'schema_file', type=click.Path(dir_okay=False), default=None,
              help='The curated schema (default: local.schema).')
@click.option('--from', 'from_span', type=click.IntRange(min=0), default=None,
              help='The first span to replay (default: the oldest).')
@click.option('--to', 'to_span', type=click.IntRange(min=0), default=None,
              help='The last span to replay (default: the newest).')
@click.option('--demo', is_flag=True,
              help='Replay a copy of the data with a drifted and a schema-broken span '
                   'inserted (written under <home>/demo-data).')
@_training_options
def replay(project, home, data_root, schema_file, from_span, to_span, demo, retrain, window,
           epochs, min_auc, verbose, no_edge_export, warm_start):
  """Replay the history in time order as if each span had just arrived; print a timeline."""
  from ctpipe import console_logs  # pylint: disable=g-import-not-at-top
  runner_home = home_of(project, home or project.path(project.local.home).rstrip('/') + '-replay')
  schema_file = schema_of(project, schema_file)
  with console_logs.to_file(runner_home.log_dir, enabled=not verbose) as log_path:
    from ctpipe.continuous import demo_data, replay as replay_lib  # pylint: disable=g-import-not-at-top
    source = data_root_of(project, data_root)
    ledger_dir = runner_home.replay_dir
    if runner_home.has_metadata() and not os.path.exists(os.path.join(ledger_dir, 'ledger.jsonl')):
      errors.print(f'[red]error:[/red] {runner_home.root} holds runs that no replay made; '
                    'pass a fresh --home')
      sys.exit(1)
    periods = replay_lib.periods(source)
    if demo and not (project.dataset.demo.scaled and project.dataset.demo.dropped):
      errors.print('[red]error:[/red] the data set defines no demo changes (dataset.demo: '
                    'scaled, dropped, garbled); `ctpipe init` writes them')
      sys.exit(2)
    if demo:
      demo_root = runner_home.demo_data_dir
      labels_path = os.path.join(demo_root, 'demo.json')
      if not os.path.exists(labels_path):
        described = demo_data.write_demo(source, demo_root, periods, project.dataset.demo)
        with open(labels_path, 'w', encoding='utf-8') as f:
          json.dump(described, f)
      with open(labels_path, encoding='utf-8') as f:
        periods = {int(k): v for k, v in json.load(f).items()}
      console.print('demo data: ' + ', '.join(f'span {k}: {v}' for k, v in periods.items()))
      source = demo_root
    staging = runner_home.arrivals_dir
    os.makedirs(staging, exist_ok=True)
    try:
      watcher = build(project, runner_home, staging, schema_file, window, epochs, min_auc,
                      retrain, no_edge_export, warm_start, ledger_dir=ledger_dir, periods=periods)
    except ValueError as e:
      errors.print(f'[red]error:[/red] {e}')
      sys.exit(1)
    console.print(f'replaying {source} → home {runner_home.root} (retrain: {retrain}); log: {log_path}')
    rows = _guarded(console, log_path, lambda: replay_lib.replay(
        watcher, source, from_span, to_span,
        on_span=lambda span: print_phase(f'— span {span.number} arrives —')))
    paths = replay_lib.write_timeline(rows, ledger_dir)
  _print_timeline(console, rows)
  console.print(f'Timeline: {paths["markdown"]} and {paths["json"]}', soft_wrap=True)


@click.command(name='feedback')
@with_config()
@click.option('--home', type=click.Path(file_okay=False), default=None,
              help='The home whose served requests to check (default: local.home).')
@click.option('--schema', 'schema_file', type=click.Path(dir_okay=False), default=None,
              help='The curated schema (default: local.schema).')
@click.option('--labels', type=click.Path(exists=True, dir_okay=False), default=None,
              help='CSV of request_id,label[,row] for served requests.')
@click.option('--json', 'as_json', is_flag=True, help='Machine-readable output.')
def feedback(project, home, schema_file, labels, as_json):
  """Skew of served requests against the training data, and live metrics from labels."""
  from ctpipe import console_logs  # pylint: disable=g-import-not-at-top
  checked_home = home_of(project, home)
  with console_logs.to_file(checked_home.log_dir) as log_path:
    from ctpipe.continuous import feedback as feedback_lib  # pylint: disable=g-import-not-at-top
    from pipeline import schema_tool  # pylint: disable=g-import-not-at-top
    settings = project.pipeline
    if not checked_home.has_metadata():
      errors.print(f'[red]error:[/red] no metadata store in {checked_home.root}; '
                    'run the pipeline first')
      sys.exit(1)
    report = _guarded(console, log_path, lambda: feedback_lib.check(
        checked_home, settings.pipeline_name, settings.model_name,
        schema_tool.load(schema_of(project, schema_file)), labels,
        task=feedback_lib.Task.of(project.dataset)))
  if as_json:
    click.echo(json.dumps(report.to_dict(), indent=2, sort_keys=True))
  else:
    _print_feedback(console, report, brief=False)



def _guarded(console, log_path: str, fn, on_failure=lambda text: None):
  """Runs `fn`; any failure is one line on the terminal (and `on_failure`'s), the trace in
  the log."""
  from ctpipe.home import HomeBusyError  # pylint: disable=g-import-not-at-top
  from pipeline import spans  # pylint: disable=g-import-not-at-top
  try:
    return fn()
  except KeyboardInterrupt:
    console.print('stopped; a restart takes up an unfinished span again')
    sys.exit(130)
  except HomeBusyError as e:
    errors.print(f'[red]error:[/red] {e}')
    sys.exit(4)
  except (spans.SpanLayoutError, FileNotFoundError, ValueError) as e:
    on_failure(str(e))
    errors.print(f'[red]error:[/red] {e}')
    sys.exit(1)
  except Exception as e:  # pylint: disable=broad-except
    traceback.print_exc()
    last = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
    on_failure(f'{type(e).__name__}: {last}')
    errors.print(f'[red]error:[/red] {type(e).__name__}: {last} (full trace in {log_path})')
    sys.exit(1)


def _print_outcome(console, outcome) -> None:
  where = f'span {outcome.span}' if outcome.span is not None else 'run'
  detail = [outcome.status, outcome.decision()]
  pushed = outcome.pushed_version()
  if pushed:
    detail.append(f'pushed version {pushed}')
  color = {'trained': 'green', 'ingested only': 'cyan'}.get(outcome.status, 'red')
  console.print(f'  [{color}]{where}[/{color}]: ' + ' — '.join(detail)
                + f' ({outcome.seconds:.0f} s)\n    trigger: {outcome.trigger}', soft_wrap=True)
  summary = outcome.summary
  if summary is not None and summary.candidate:
    from pipeline import run_summary  # pylint: disable=g-import-not-at-top
    from ctpipe.commands import run_view  # pylint: disable=g-import-not-at-top
    shown = [name for name in run_summary.HEADLINE_METRICS if name in summary.candidate][:4]
    console.print('    metrics: ' + ', '.join(
        f'{name} {run_view.metric_text(name, summary.candidate[name])}'
        + (f' (production {run_view.metric_text(name, summary.baseline[name])})'
           if name in summary.baseline else '') for name in shown), soft_wrap=True)


def _print_timeline(console, rows) -> None:
  """The timeline at a glance; the full triggers and reasons are in timeline.md/json."""
  from rich.table import Table  # pylint: disable=g-import-not-at-top
  from ctpipe.continuous.replay import _metric  # pylint: disable=g-import-not-at-top
  table = Table(title='Replay timeline', header_style='bold', show_edge=False)
  for name in ('span', 'period', 'rows', 'trigger', 'drift', 'AUC new/prod', 'decision',
               'pushed'):
    table.add_column(name, overflow='fold')
  for row in rows:
    drift = ', '.join(d['feature'] for d in row.get('drift') or []) or '—'
    decision = str(row['decision'])
    table.add_row(
        str(row['span']), str(row.get('period') or '—'), str(row.get('rows') or '—'),
        str(row['trigger']).split(':', 1)[0], drift,
        f"{_metric(row.get('candidate'), 'auc')}/{_metric(row.get('production'), 'auc')}",
        decision if len(decision) < 60 else decision[:57] + '...',
        str(row.get('pushed_version') or '—'))
  console.print(table)


def _print_feedback(console, report, brief: bool) -> None:
  head = (f'feedback: version {report.version}, {report.served_rows} served rows'
          + (f', {report.labelled_rows} labelled' if report.labelled_rows else ''))
  found = report.triggers()
  console.print(head + (': ' + '; '.join(found) if found else ': nothing beyond thresholds'),
                soft_wrap=True)
  for note in report.notes:
    console.print(f'  note: {note}', soft_wrap=True)
  if brief:
    return
  if report.skew:
    from rich.table import Table  # pylint: disable=g-import-not-at-top
    table = Table(title='skew (served vs training data, schema skew_comparator)',
                  show_edge=False, header_style='bold', title_justify='left')
    for column, justify in (('feature', 'left'), ('comparator', 'left'), ('distance', 'right'),
                            ('threshold', 'right'), ('', 'left')):
      table.add_column(column, justify=justify)
    for m in report.skew:
      table.add_row(m.feature, m.comparator, f'{m.value:.4f}', f'{m.threshold:.4f}',
                    '[red]beyond[/red]' if m.beyond else 'ok')
    console.print(table)
  if report.live:
    for name, value in sorted(report.live.items()):
      evaluated = report.evaluation.get(name)
      console.print(f'  live {name}: {value:.4f}' + (
          f' (evaluation: {evaluated:.4f})' if evaluated is not None else ''))
