"""`ctpipe schema`: bootstrap or refresh the curated schema, shown as a diff first."""
import os
import sys

import click

from ctpipe.commands.common import (EXIT_FAILURE, console, data_root_of, fail, schema_of,
                                    with_config)


@click.command(name='schema')
@with_config()
@click.option('--data-root', type=click.Path(file_okay=False), default=None,
              help='The spans to read (default: local.data_root).')
@click.option('--schema', 'schema_file', type=click.Path(dir_okay=False), default=None,
              help='The curated schema to bootstrap or refresh (default: local.schema).')
@click.option('--yes', is_flag=True, help='Write without asking.')
@click.option('--check', is_flag=True, help='Only show the diff; exit 1 if there is one.')
def schema(project, data_root, schema_file, yes, check) -> None:
  """Bootstrap or refresh the curated schema from the data, shown as a diff first."""
  from ctpipe import console_logs  # pylint: disable=g-import-not-at-top
  from pipeline import schema_tool, spans  # pylint: disable=g-import-not-at-top
  from pipeline.components.schema_review import proposals as schema_review  # pylint: disable=g-import-not-at-top
  data_root = data_root_of(project, data_root)
  schema_file = schema_of(project, schema_file)
  try:
    with console_logs.quiet_stderr():
      current, proposed = schema_tool.plan(schema_file, data_root)
  except spans.SpanLayoutError as e:
    fail(str(e))
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
