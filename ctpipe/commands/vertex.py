"""`ctpipe compile`, `ctpipe submit`, `ctpipe schedule`: the pipeline on Vertex AI Pipelines."""
import os
import sys
from typing import Dict, Sequence

import click

from ctpipe.commands.common import console, errors, with_config
from ctpipe.config import ALL_SECTIONS

DEFAULT_SPEC = 'build/pipeline.json'


def _pairs(values: Sequence[str], what: str) -> Dict[str, str]:
  out = {}
  for value in values:
    if '=' not in value:
      raise click.BadParameter(f'{value!r}: expected name=value', param_hint=what)
    key, text = value.split('=', 1)
    out[key.strip()] = text.strip()
  return out


def quietly(fn, beside: str):
  """TensorFlow and the cloud SDK print while importing and compiling: into a log in
  `logs/` beside the spec `beside` (not in the current folder)."""
  from ctpipe import console_logs  # pylint: disable=g-import-not-at-top
  log_dir = os.path.join(os.path.dirname(os.path.abspath(beside)), 'logs')
  with console_logs.to_file(log_dir) as log_path:
    try:
      return fn()
    except (ValueError, FileNotFoundError) as e:
      errors.print(f'[red]error:[/red] {e}')
      sys.exit(1)
    except Exception as e:  # pylint: disable=broad-except
      import traceback  # pylint: disable=g-import-not-at-top
      traceback.print_exc()
      errors.print(f'[red]error:[/red] {type(e).__name__}: {e} (trace in {log_path})')
      sys.exit(1)

# The example config's placeholder project: a spec for it can be compiled, never sent.
PLACEHOLDER_PROJECT = 'my-gcp-project'


def load(project, sending: bool = False):
  """The project with its vertex section checked (exit 2 with one line when it is missing).

  The example's placeholder project is a warning when compiling or printing a request
  (`sending` False), and refused when a request would be sent."""
  from ctpipe import config as config_lib  # pylint: disable=g-import-not-at-top
  try:
    vertex = config_lib.require_vertex(project)
  except config_lib.ConfigError as e:
    errors.print(f'[red]error:[/red] {e}')
    sys.exit(2)
  if vertex.project == PLACEHOLDER_PROJECT:
    message = (f'vertex.project is the example\'s placeholder {PLACEHOLDER_PROJECT!r}: set '
               'yours in the config or with --set vertex.project=ID (and the buckets, image and '
               'service account that name it)')
    if sending:
      errors.print(f'[red]error:[/red] {message}')
      sys.exit(2)
    errors.print(f'[yellow]warning:[/yellow] {message}')
  return project


@click.command(name='compile')
@click.option('--output', type=click.Path(dir_okay=False), default=DEFAULT_SPEC,
              show_default=True, help='Where to write the spec (its log goes to logs/ beside it).')
@click.option('--tune', is_flag=True,
              help='The tuning pipeline: the Tuner first (Vertex Tuner extension, '
                   'tuning.parallel_trials trials at a time on Vertex AI Training), the '
                   'Trainer with its best hyperparameters. Without: the newest recorded ones.')
@with_config(ALL_SECTIONS)
def compile_command(project, output, tune):
  """Write the Vertex AI PipelineJob spec (offline: no network, no credentials).

  Only Vertex needs a compiled spec: the local target is run by `ctpipe run`."""
  config = load(project)

  def work():
    from pipeline import vertex_runner  # pylint: disable=g-import-not-at-top
    return vertex_runner.compile_spec(config, output, tune=tune)
  spec = quietly(work, output)
  tasks = sorted(spec['pipelineSpec']['root']['dag']['tasks'])
  budget = config.pipeline.tuning
  console.print(f'Wrote {output}: {len(tasks)} tasks, image {config.vertex.image}, '
                f'Beam on Dataflow in {config.vertex.region}'
                + (f'; Tuner: {budget.strategy}, {budget.max_trials} trials, '
                   f'{budget.parallel_trials} in parallel' if tune else ''))

def job_options(fn):
  fn = click.option('--dry-run', is_flag=True,
                    help='Print the exact request; send nothing.')(fn)
  fn = click.option('--label', 'labels', multiple=True, metavar='KEY=VALUE',
                    help='A label on the Vertex resource (repeatable; besides vertex.labels).')(fn)
  fn = click.option('--cache/--no-cache', 'cache', default=None,
                    help='Reuse earlier steps\' outputs (default: vertex.enable_caching).')(fn)
  fn = click.option('--param', 'params', multiple=True, metavar='NAME=VALUE',
                    help='Per-run values: epochs, window_spans, learning_rate, batch_size, '
                         'dropout, hidden_units (comma-separated), seed.')(fn)
  fn = click.option('--display-name', default=None,
                    help='Default: the pipeline name.')(fn)
  fn = click.option('--spec', type=click.Path(dir_okay=False), default=None,
                    help=f'A compiled spec (default: compile now into {DEFAULT_SPEC}).')(fn)
  return with_config(ALL_SECTIONS)(fn)

def prepare(project, spec, params, dry_run: bool):
  config = load(project, sending=not dry_run)

  def work():
    from pipeline import local_runner, vertex_runner  # pylint: disable=g-import-not-at-top
    path = spec or DEFAULT_SPEC
    if spec is None:
      vertex_runner.compile_spec(config, path)
    elif not os.path.exists(spec):
      raise FileNotFoundError(f'no compiled spec at {spec}; run `ctpipe compile` first')
    values = vertex_runner.parameter_values(config.pipeline, _pairs(params, '--param'),
                                            local_runner.user_code_version())
    return path, values
  path, values = quietly(work, spec or DEFAULT_SPEC)
  return config, path, values

@click.command(name='submit')
@job_options
def submit_command(project, spec, display_name, params, cache, labels,
                   dry_run):
  """Submit one run to Vertex AI Pipelines (--dry-run prints the request instead)."""
  config, path, values = prepare(project, spec, params, dry_run)

  def work():
    from pipeline import vertex_jobs  # pylint: disable=g-import-not-at-top
    return vertex_jobs.submit(config.vertex, path, display_name or config.pipeline.pipeline_name,
                              values, cache, _pairs(labels, '--label'), dry_run=dry_run)
  result = quietly(work, path)
  _report(console, result, dry_run, 'CreatePipelineJob')

@click.command(name='schedule')
@click.option('--cron', required=True,
              help='When to run, e.g. "0 3 * * *" (UTC; prefix CRON_TZ=Europe/Berlin '
                   'for another zone).')
@click.option('--max-concurrent-runs', type=click.IntRange(min=1), default=1,
              show_default=True, help='Runs of the schedule that may overlap.')
@job_options
def schedule_command(project, cron, max_concurrent_runs, spec, display_name,
                     params, cache, labels, dry_run):
  """Create a Vertex AI pipeline schedule for continuous training (--dry-run: print only)."""
  from ctpipe.continuous.watch import check_cron  # pylint: disable=g-import-not-at-top
  try:
    check_cron(cron.split(' ', 1)[1] if cron.startswith(('CRON_TZ=', 'TZ=')) else cron)
  except ValueError as e:
    raise click.BadParameter(str(e), param_hint='--cron')
  config, path, values = prepare(project, spec, params, dry_run)

  def work():
    from pipeline import vertex_jobs  # pylint: disable=g-import-not-at-top
    return vertex_jobs.schedule(config.vertex, path,
                                display_name or config.pipeline.pipeline_name, cron, values,
                                cache, _pairs(labels, '--label'), max_concurrent_runs,
                                dry_run=dry_run)
  result = quietly(work, path)
  _report(console, result, dry_run, 'CreateSchedule')



def _report(console, result, dry_run: bool, method: str) -> None:
  from pipeline import vertex_jobs  # pylint: disable=g-import-not-at-top
  if dry_run:
    console.print(f'Dry run: nothing sent. The {method} request:')
    click.echo(vertex_jobs.pretty(result))
  else:
    console.print(f'Created {result["name"]}')
