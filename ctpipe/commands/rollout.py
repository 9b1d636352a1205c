"""`ctpipe rollout status | promote | abort`: a pushed version on trial (canary or shadow).

`status` shows stable and the candidate, the share, the evidence per version and the
decision the evidence supports now; `promote` and `abort` carry a decision out by hand
(`ctpipe watch --feedback` takes it by itself once the evidence is in).
"""
import datetime
import json
import time

import click

from ctpipe.commands.common import console, fail, home_of, notifier_of, with_config
from ctpipe.config import ALL_SECTIONS

_LABELS = click.option('--labels', 'labels_path', type=click.Path(exists=True, dir_okay=False),
                       default=None, help='CSV of request_id,label[,row]: labels that arrived '
                       'for served requests (live metrics per version).')
_HOME = click.option('--home', type=click.Path(file_okay=False), default=None,
                     help='The home whose model is on trial (default: local.home).')


@click.group(name='rollout')
def rollout_group() -> None:
  """A pushed version on trial: status, promote, abort (rollout.strategy canary | shadow)."""


def _review(project, home_obj, labels_path):
  from ctpipe.continuous import feedback  # pylint: disable=g-import-not-at-top
  from ctpipe.rollout import review  # pylint: disable=g-import-not-at-top
  settings = project.pipeline
  try:
    return review.review(home_obj, settings.model_name, settings.rollout,
                         feedback.Task.of(settings.dataset), labels_path)
  except (OSError, ValueError) as e:
    fail(str(e))


def _since(started: float) -> str:
  when = datetime.datetime.fromtimestamp(started).strftime('%Y-%m-%d %H:%M')
  minutes = (time.time() - started) / 60
  return f'{when} ({minutes:.0f} min)' if minutes < 120 else f'{when} ({minutes / 60:.1f} h)'


@rollout_group.command(name='status')
@with_config()
@_HOME
@_LABELS
@click.option('--json', 'as_json', is_flag=True, help='One JSON object instead of the table.')
def status(project, home, labels_path, as_json) -> None:
  """Stable and candidate versions, the share, the evidence and the decision it supports."""
  from rich.table import Table  # pylint: disable=g-import-not-at-top
  from ctpipe.rollout import online_validation  # pylint: disable=g-import-not-at-top
  settings = project.pipeline
  found = _review(project, home_of(project, home), labels_path)
  task = settings.dataset.task
  if as_json:
    console.print_json(json.dumps(found.to_dict(task), default=str))
    return
  plan = found.plan
  name = settings.model_name
  if plan.stable is None:
    console.print(f'{name}: nothing is pushed yet')
    return
  if plan.candidate is None:
    pin = ' (pinned by `ctpipe rollback`)' if plan.pinned else ''
    console.print(f'{name}: v{plan.stable} serves every request{pin}; nothing on trial '
                  f'(rollout.strategy: {settings.rollout.strategy})')
    return
  share = (f'at {plan.percent:g} % of the requests that name no version'
           if plan.strategy == 'canary' else 'on a copy of each request (answers never returned)')
  console.print(f'{name}: stable v{plan.stable}, {plan.strategy} v{plan.candidate} {share}, '
                f'on trial since {_since(plan.started)}')
  metric = online_validation.metric_name(task)
  table = Table(box=None, header_style='bold')
  for column in ('version', 'role', 'requests', 'server errors', 'p99 ms', 'labelled', metric):
    table.add_column(column, justify='left' if column == 'role' else 'right')
  for evidence in (found.stable, found.candidate):
    row = evidence.summary(task)
    table.add_row(str(row['version']), row['role'], str(row['requests']), str(row['errors']),
                  '-' if row['p99_ms'] is None else f'{row["p99_ms"]:.1f}',
                  str(row['labelled_rows']),
                  '-' if row[metric] is None else f'{row[metric]:.4f}')
  console.print(table)
  if not labels_path:
    console.print('[dim]no --labels: live metrics need the labels that arrived[/dim]')
  decision = found.decision
  colour = {'promote': 'green', 'abort': 'red'}.get(decision.action, 'yellow')
  console.print(f'Decision now: [{colour}]{decision.action}[/{colour}]: {decision.reason}')


def _carry_out(project, home, labels_path, action: str, reason: str) -> None:
  import dataclasses  # pylint: disable=g-import-not-at-top
  import getpass  # pylint: disable=g-import-not-at-top
  from ctpipe.home import HomeBusyError  # pylint: disable=g-import-not-at-top
  from ctpipe.rollout import actions  # pylint: disable=g-import-not-at-top
  settings = project.pipeline
  home_obj = home_of(project, home)
  found = _review(project, home_obj, labels_path)
  if found.plan.candidate is None:
    fail(f'no version of {settings.model_name} is on trial'
         + (' (a rollback pin suspends trials)' if found.plan.pinned else ''))
  words = f'by hand ({getpass.getuser()})' + (f': {reason}' if reason else '')
  decision = dataclasses.replace(found.decision, action=action,
                                 reason=f'{words}; the evidence said: {found.decision.reason}')
  try:
    with home_obj.locked():
      outcome = actions.carry_out(home_obj.model_base(settings.model_name), settings.model_name,
                                  decision,
                                  home_obj.metadata_config(), settings.pipeline_name,
                                  notifier_of(project, home_obj.root), by='hand')
  except HomeBusyError as e:
    fail(str(e), 4)
  done = 'promoted to stable' if action == 'promote' else 'aborted (never served again unless pinned)'
  served = actions.wait_for_routing(home_obj.model_base(settings.model_name))
  where = ('no server is running' if served is None else
           f'the server now serves v{served.get("serving")} to every request')
  console.print(f'v{outcome.candidate} {done}; {where}; recorded as execution '
                f'{outcome.execution_id}')


@rollout_group.command(name='promote')
@with_config()
@_HOME
@_LABELS
@click.option('--reason', default='', help='Why; recorded in ML Metadata with the evidence.')
def promote(project, home, labels_path, reason) -> None:
  """Make the candidate on trial stable now (the old stable stays on disk)."""
  _carry_out(project, home, labels_path, 'promote', reason)


@rollout_group.command(name='abort')
@with_config()
@_HOME
@_LABELS
@click.option('--reason', default='', help='Why; recorded in ML Metadata with the evidence.')
def abort(project, home, labels_path, reason) -> None:
  """Take the candidate on trial out of routing; stable keeps every request."""
  _carry_out(project, home, labels_path, 'abort', reason)


@rollout_group.command(name='endpoint')
@click.argument('action', type=click.Choice(['promote', 'abort']))
@click.option('--endpoint-id', required=True, help='The Vertex AI Endpoint\'s id (a number).')
@click.option('--candidate', required=True,
              help='Deployed model id of the version on trial (`gcloud ai endpoints describe`).')
@click.option('--stable', required=True, help='Deployed model id of the stable version.')
@click.option('--dry-run', is_flag=True, help='Print the exact request; send nothing.')
@with_config(ALL_SECTIONS)
def endpoint(project, action, endpoint_id, candidate, stable, dry_run) -> None:
  """On Vertex AI: give the canary all of the Endpoint's traffic, or undeploy it."""
  from ctpipe.commands import vertex as vertex_command  # pylint: disable=g-import-not-at-top
  from pipeline import vertex_endpoint  # pylint: disable=g-import-not-at-top
  project = vertex_command.load(project, sending=not dry_run)
  try:
    done = vertex_endpoint.carry_out(project.vertex, action, endpoint_id, candidate, stable,
                                     dry_run)
  except ValueError as e:
    fail(str(e), 2)
  if dry_run:
    console.print(f'dry run: EndpointService.{done["method"]} would be sent:')
    console.print_json(json.dumps(done['request']))
  else:
    console.print(f'{action}: EndpointService.{done["method"]} done: {done["result"]}')
