"""`ctpipe watch` and `ctpipe replay`: the continuous-training commands (thin: parse, run, print)."""
import os
import sys
import time
import traceback
from typing import Callable, Optional

import click

POLICIES = ['every-span', 'on-trigger']


def _training_options(fn):
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


def make_commands(default_home: str, default_data_root: str, default_schema: str,
                  console, print_phase: Callable[[str], None],
                  write_report: Callable[[str, str], Optional[str]]):
  """The `watch` and `replay` commands, wired to the main CLI's console and report writer."""

  def build(home, data_root, schema_file, window, epochs, min_auc, retrain, ledger_dir=None,
            periods=None, extra_triggers=None, cron=None, interval=60.0):
    from continuous.span_runs import RetrainPolicy, SpanRunner  # pylint: disable=g-import-not-at-top
    from continuous.watch import Watcher, WatchOptions  # pylint: disable=g-import-not-at-top
    from pipeline import config, local_runner  # pylint: disable=g-import-not-at-top
    settings = config.replace_settings(config.PipelineSettings(), window_spans=window,
                                       epochs=epochs, min_auc=min_auc)
    runner_home = local_runner.Home(os.path.abspath(home))
    observer = local_runner.RunObserver(on_phase=lambda text: print_phase('  ' + text))

    def make_run(reason: str) -> local_runner.LocalRun:
      return local_runner.LocalRun(runner_home, data_root, schema_file, settings,
                                   observer=observer, reason=reason)

    options = WatchOptions(policy=RetrainPolicy(retrain), interval_seconds=interval, cron=cron)

    def on_outcome(outcome) -> None:
      _print_outcome(console, outcome)
      if outcome.summary is not None or outcome.anomalies:
        path = write_report(runner_home.root, runner_home.metadata_path)
        if path:
          console.print(f'    report: {path}', soft_wrap=True)

    return Watcher(runner_home, data_root, SpanRunner(runner_home, make_run, options.policy),
                   options, settings.pipeline_name,
                   on_event=lambda text: console.print(f'[bold]{time.strftime("%H:%M:%S")}'
                                                       f'[/bold] {text}'),
                   on_outcome=on_outcome, extra_triggers=extra_triggers,
                   ledger_dir=ledger_dir, periods=periods)

  @click.command(name='watch')
  @click.option('--home', type=click.Path(file_okay=False), default=default_home,
                show_default=True)
  @click.option('--data-root', type=click.Path(file_okay=False), default=default_data_root,
                show_default=True, help='Folder where span-<N>/ folders arrive.')
  @click.option('--schema', 'schema_file', type=click.Path(dir_okay=False),
                default=default_schema, show_default=True)
  @click.option('--interval', type=click.FloatRange(min=0.1), default=60.0, show_default=True,
                help='Seconds between polls.')
  @click.option('--once', is_flag=True, help='Check once, run what is new, exit.')
  @click.option('--cron', default=None,
                help='Also train on a schedule (UTC), e.g. "0 3 * * *".')
  @_training_options
  def watch(home, data_root, schema_file, interval, once, cron, retrain, window, epochs,
            min_auc, verbose):
    """Run the pipeline when a span arrives (span-<N>/_SUCCESS written) or a trigger fires."""
    from pipeline import console_logs  # pylint: disable=g-import-not-at-top
    if once and cron:
      raise click.UsageError('--once checks once and exits; --cron needs a running watcher')
    data_root = os.path.abspath(data_root)
    with console_logs.to_file(os.path.join(os.path.abspath(home), 'logs'),
                              enabled=not verbose) as log_path:
      try:
        watcher = build(home, data_root, os.path.abspath(schema_file), window, epochs, min_auc,
                        retrain, cron=cron, interval=interval)
      except ValueError as e:
        console.print(f'[red]error:[/red] {e}')
        sys.exit(1)
      console.print(f'watching {data_root} → home {os.path.abspath(home)} '
                    f'(retrain: {retrain}'
                    + (f', schedule: {cron} UTC' if cron else '')
                    + ('' if once else f', every {interval:g} s') + f'); log: {log_path}')
      _guarded(console, log_path, lambda: (watcher.poll() if once else watcher.run_forever()))
      if once:
        console.print('done: nothing more is pending')

  @click.command(name='replay')
  @click.option('--home', type=click.Path(file_okay=False),
                default=default_home.rstrip('/') + '-replay', show_default=True,
                help='A fresh home for the replay (or one a replay was interrupted in).')
  @click.option('--data-root', type=click.Path(file_okay=False), default=default_data_root,
                show_default=True, help='The history to replay: span-<N>/ folders.')
  @click.option('--schema', 'schema_file', type=click.Path(dir_okay=False),
                default=default_schema, show_default=True)
  @click.option('--from', 'from_span', type=click.IntRange(min=0), default=None)
  @click.option('--to', 'to_span', type=click.IntRange(min=0), default=None)
  @click.option('--demo', is_flag=True,
                help='Replay a copy of the data with a drifted and a schema-broken span '
                     'inserted (written under <home>/demo-data).')
  @_training_options
  def replay(home, data_root, schema_file, from_span, to_span, demo, retrain, window, epochs,
             min_auc, verbose):
    """Replay the history in time order as if each span had just arrived; print a timeline."""
    from pipeline import console_logs  # pylint: disable=g-import-not-at-top
    home = os.path.abspath(home)
    with console_logs.to_file(os.path.join(home, 'logs'), enabled=not verbose) as log_path:
      from continuous import demo_data, replay as replay_lib  # pylint: disable=g-import-not-at-top
      source = os.path.abspath(data_root)
      ledger_dir = os.path.join(home, 'replay')
      if os.path.exists(os.path.join(home, 'metadata.db')) and not os.path.exists(
          os.path.join(ledger_dir, 'ledger.jsonl')):
        console.print(f'[red]error:[/red] {home} holds runs that no replay made; '
                      'pass a fresh --home')
        sys.exit(1)
      periods = replay_lib.periods(source)
      if demo:
        demo_root = os.path.join(home, 'demo-data')
        if not os.path.exists(demo_root):
          described = demo_data.write_demo(source, demo_root)
          console.print('demo data: ' + ', '.join(f'span {k}: {v}' for k, v in described.items()))
        source, periods = demo_root, {}
      staging = os.path.join(home, 'arrivals')
      os.makedirs(staging, exist_ok=True)
      try:
        watcher = build(home, staging, os.path.abspath(schema_file), window, epochs, min_auc,
                        retrain, ledger_dir=ledger_dir, periods=periods)
      except ValueError as e:
        console.print(f'[red]error:[/red] {e}')
        sys.exit(1)
      console.print(f'replaying {source} → home {home} (retrain: {retrain}); log: {log_path}')
      rows = _guarded(console, log_path, lambda: replay_lib.replay(
          watcher, source, from_span, to_span,
          on_span=lambda span: print_phase(f'— span {span.number} arrives —')))
      paths = replay_lib.write_timeline(rows, ledger_dir)
    _print_timeline(console, rows)
    console.print(f'Timeline: {paths["markdown"]} and {paths["json"]}', soft_wrap=True)

  return [watch, replay]


def _guarded(console, log_path: str, fn):
  """Runs `fn`; any failure is one line on the terminal, the trace in the log."""
  from pipeline import local_runner, spans  # pylint: disable=g-import-not-at-top
  try:
    return fn()
  except KeyboardInterrupt:
    console.print('stopped; a restart takes up an unfinished span again')
    sys.exit(130)
  except local_runner.HomeBusyError as e:
    console.print(f'[red]error:[/red] {e}')
    sys.exit(4)
  except (spans.SpanLayoutError, FileNotFoundError, ValueError) as e:
    console.print(f'[red]error:[/red] {e}')
    sys.exit(1)
  except Exception as e:  # pylint: disable=broad-except
    traceback.print_exc()
    last = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
    console.print(f'[red]error:[/red] {type(e).__name__}: {last} (full trace in {log_path})')
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


def _print_timeline(console, rows) -> None:
  from rich.table import Table  # pylint: disable=g-import-not-at-top
  from continuous.replay import _metric  # pylint: disable=g-import-not-at-top
  table = Table(title='Replay timeline', header_style='bold', show_lines=False)
  for name in ('span', 'period', 'rows', 'trigger', 'drift', 'candidate AUC/acc',
               'production AUC/acc', 'decision', 'pushed'):
    table.add_column(name, overflow='fold')
  for row in rows:
    table.add_row(
        str(row['span']), str(row.get('period') or '—'), str(row.get('rows') or '—'),
        str(row['trigger']), ', '.join(d['feature'] for d in row.get('drift') or []) or '—',
        f"{_metric(row.get('candidate'), 'auc')}/{_metric(row.get('candidate'), 'binary_accuracy')}",
        f"{_metric(row.get('production'), 'auc')}/{_metric(row.get('production'), 'binary_accuracy')}",
        str(row['decision']), str(row.get('pushed_version') or '—'))
  console.print(table)
