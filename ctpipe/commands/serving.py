"""`ctpipe serve`, `rollback` and `predict`: the pushed models, online and in batch.

`serve` exits 5 when a port it was asked to listen on is taken.
"""
import os
import sys

import click

from ctpipe.commands.common import (EXIT_FAILURE, EXIT_PORT_BUSY, console, errors, fail,
                                    home_of, with_config)


@click.command(name='serve')
@with_config()
@click.option('--home', type=click.Path(file_okay=False), default=None,
              help='Home for logs and the request log; every model pushed into it is served '
                   '(each data set of the home under its own name) unless --model-base-path '
                   'is given (default: local.home).')
@click.option('--model-base-path', type=click.Path(file_okay=False), default=None,
              help='Serve this TF Serving model base path (<dir>/<version>/saved_model.pb) '
                   'alone.')
@click.option('--model-name', default=None,
              help='Serve this model alone (with --model-base-path: its name in the API; '
                   'default: the data set\'s name, dataset.name).')
@click.option('--rest-port', type=click.IntRange(0, 65535), default=8501, show_default=True,
              help='TF Serving\'s REST API port (0: any free port, announced).')
@click.option('--grpc-port', type=click.IntRange(0, 65535), default=8500, show_default=True,
              help='TF Serving\'s gRPC API port (0: any free port, announced).')
@click.option('--host', default='127.0.0.1', show_default=True,
              help='Address to listen on (0.0.0.0: every interface).')
@click.option('--poll-seconds', type=click.FloatRange(min=0.1), default=2.0, show_default=True,
              help='How often new versions and rollback pins are looked for.')
def serve(project, home, model_base_path, model_name, rest_port, grpc_port, host,
          poll_seconds) -> None:
  """Serve every pushed version through TF Serving's REST and gRPC APIs."""
  import logging  # pylint: disable=g-import-not-at-top
  from ctpipe import console_logs, import_gc  # pylint: disable=g-import-not-at-top
  served_home = home_of(project, home, with_mysql=False)
  with console_logs.to_file(served_home.log_dir), import_gc.frozen():
    # TensorFlow prints while importing: into the log file. The server's own log
    # (versions loaded, retired, failed) goes to the terminal below.
    from ctpipe.model_server import server as server_lib, versions  # pylint: disable=g-import-not-at-top
  if model_base_path or model_name:
    name = model_name or project.dataset.name
    models = [(name, os.path.abspath(model_base_path or served_home.model_base(name)))]
  else:
    models = list(versions.model_bases(served_home.serving_base).items()) or [
        (project.dataset.name, served_home.model_base(project.dataset.name))]
  logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s',
                      stream=sys.stdout, force=True)
  try:
    server = server_lib.ModelServer(server_lib.ServerConfig(
        models=tuple(models), rest_port=rest_port, grpc_port=grpc_port,
        host=host, poll_seconds=poll_seconds,
        request_log_dir=served_home.request_log_dir))
  except FileNotFoundError as e:
    fail(str(e))
  try:
    server.bind()  # both ports, before anything is announced
  except server_lib.PortInUseError as e:
    fail(f'{e}; pass another --rest-port/--grpc-port or stop the server holding it',
         EXIT_PORT_BUSY)
  for name, base in models:
    console.print(f'serving [bold]{name}[/bold] from {base}\n'
                  f'  REST http://{host}:{server.rest_port}/v1/models/{name}', soft_wrap=True)
  console.print(f'  gRPC {host}:{server.grpc_port}')
  try:
    server.run()
  except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown
    pass
  console.print('server stopped')


@click.command(name='rollback')
@with_config()
@click.option('--home', type=click.Path(file_okay=False), default=None,
              help='The home whose pushed versions to roll back (default: local.home).')
@click.option('--to', 'to_version', type=click.IntRange(min=1), default=None,
              help='Version to serve (default: the one before the version now served).')
@click.option('--clear', is_flag=True, help='Drop the pin: serve the newest version again.')
@click.option('--reason', default='', help='Why; recorded in ML Metadata.')
def rollback(project, home, to_version, clear, reason) -> None:
  """Serve a previous version (recorded in ML Metadata); --clear to follow the newest."""
  from ctpipe import console_logs  # pylint: disable=g-import-not-at-top
  with console_logs.quiet_stderr():  # TensorFlow prints while importing
    from pipeline import rollback as rollback_lib  # pylint: disable=g-import-not-at-top
  if clear and to_version is not None:
    raise click.UsageError('give --to or --clear, not both')
  settings = project.pipeline
  home_obj = home_of(project, home)
  if not home_obj.has_metadata():
    errors.print(f'[red]error:[/red] no metadata store at {home_obj.metadata_path}; '
                  'run the pipeline first')
    sys.exit(EXIT_FAILURE)
  base = home_obj.model_base(settings.model_name)
  try:
    with console_logs.quiet_stderr():  # loading a version to check it: TensorFlow's chatter
      result = rollback_lib.rollback(
          base, home_obj.metadata_config(),
          settings.pipeline_name, to_version=to_version, reason=reason, clear=clear)
  except ValueError as e:
    fail(str(e))
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


@click.command(name='predict')
@with_config()
@click.option('--input', 'input_path', required=True, type=click.Path(exists=True),
              help='A CSV file or a folder of CSV files (the raw columns, no label needed).')
@click.option('--output', 'output_dir', required=True, type=click.Path(file_okay=False),
              help='Folder for the prediction shards (the input columns and the model\'s '
                   'prediction: `prediction` and `probability` or `probability_<class>`).')
@click.option('--home', type=click.Path(file_okay=False), default=None,
              help='The home whose pushed models to use (default: local.home).')
@click.option('--version', 'version', type=click.IntRange(min=1), default=None,
              help='Model version (default: the one being served).')
@click.option('--verbose', is_flag=True, help='Show TensorFlow and Beam logs in the terminal.')
def predict(project, input_path, output_dir, home, version, verbose) -> None:
  """Batch prediction with a pushed model on Beam."""
  from ctpipe import console_logs  # pylint: disable=g-import-not-at-top
  error = None
  scoring_home = home_of(project, home, with_mysql=False)
  with console_logs.to_file(scoring_home.log_dir, enabled=not verbose):
    # TensorFlow and Beam print while importing: inside the redirect.
    from ctpipe.model_server import batch_predict, versions  # pylint: disable=g-import-not-at-top
    from models import outputs  # pylint: disable=g-import-not-at-top
    base = scoring_home.model_base(project.dataset.name)
    chosen = version or versions.target_version(base)
    model_dir = os.path.join(base, str(chosen)) if chosen else None
    if model_dir is None or not os.path.isdir(model_dir):
      available = versions.list_versions(base) if os.path.isdir(base) else []
      if version and available:
        error = f'no version {version} under {base}; it has versions {available}'
      else:
        error = f'no pushed model under {base}; run the pipeline first (`ctpipe run`)'
    else:
      try:
        pattern = batch_predict.run(input_path, output_dir, model_dir, outputs.batch_columns(
            project.dataset.task, project.dataset.label, project.dataset.classes))
        rows = batch_predict.count_rows(pattern)
      except (FileNotFoundError, ValueError) as e:
        error = str(e)
  if error:
    errors.print(f'[red]error:[/red] {error}')
    sys.exit(EXIT_FAILURE)
  console.print(f'Scored {rows:,} rows with version {chosen}: {pattern}')
