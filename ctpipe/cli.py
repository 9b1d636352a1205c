"""`ctpipe`: the root command. It imports the subsystems' command modules and registers them;
nothing below it imports it.

Exit codes: 0 done, 1 a failure (one line says what and where), 2 a usage or
configuration error, 3 the data gate stopped a run, 4 the home is in use by another
run, 5 a port `serve` was asked to listen on is taken.
"""
import click

from ctpipe.commands import continuous, init, inspect, rollout, run, schema, serving, vertex


@click.group(context_settings={'help_option_names': ['-h', '--help']})
@click.version_option(package_name='ctpipe', prog_name='ctpipe',
                      message='%(prog)s %(version)s')
def main() -> None:
  """ctpipe: a continuous-training TFX pipeline (MLOps level 1)."""


for command in (init.init, run.run, run.tune, schema.schema, serving.serve, serving.rollback, serving.predict,
                rollout.rollout_group,
                inspect.inspect_group, inspect.report_command, inspect.experiments_command,
                continuous.watch,
                continuous.replay, continuous.feedback, vertex.compile_command,
                vertex.submit_command, vertex.schedule_command):
  main.add_command(command)

if __name__ == '__main__':
  main()
