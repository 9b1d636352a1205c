"""`ctpipe init`: declare a data set from a table and its label column."""
import os

import click
from rich.table import Table

from ctpipe.commands.common import EXIT_USAGE, PROJECT_ROOT, console, fail


@click.command(name='init')
@click.option('--data', 'data', required=True, type=click.Path(exists=True),
              help='One CSV, or a folder laid out as span-<N>/*.csv.')
@click.option('--label', required=True, help='The column to predict.')
@click.option('--name', default=None, help='The data set\'s name (default: from the file\'s).')
@click.option('--dir', 'out_dir', type=click.Path(file_okay=False), default=None,
              help='Write DIR/data/, DIR/schema.pbtxt and DIR/ctpipe.yaml (default: into the '
                   'project: data/NAME/, schema/NAME.pbtxt, config/NAME.yaml).')
@click.option('--task', type=click.Choice(['auto', 'binary', 'multiclass', 'regression']),
              default='auto', show_default=True,
              help='What to predict; auto: inferred from the label (and flagged when ambiguous).')
@click.option('--positive-class', default='', help='Binary: the label value that is positive.')
@click.option('--exclude', default='', metavar='COL[,COL...]', help='Columns not to learn from.')
@click.option('--spans', type=click.IntRange(min=1), default=None,
              help='Split one CSV into N spans in file order (default 4).')
@click.option('--span-by', default=None, metavar='COLUMN',
              help='Split one CSV by this time column (dates or epoch seconds).')
@click.option('--period', type=click.Choice(['day', 'week', 'month', 'quarter', 'year']),
              default='month', show_default=True, help='With --span-by: one span per period.')
def init(data, label, name, out_dir, task, positive_class, exclude, spans, span_by, period):
  """Write a data set's spans, curated schema and config from a table and its label."""
  from ctpipe import console_logs  # pylint: disable=g-import-not-at-top
  from ctpipe.datasets import init as init_lib  # pylint: disable=g-import-not-at-top
  if spans and span_by:
    raise click.UsageError('give --spans or --span-by, not both')
  try:
    with console_logs.quiet_stderr():  # TFDV's import-time chatter
      result = init_lib.init_dataset(
          data, label, name=name, out_dir=out_dir, project_root=PROJECT_ROOT, task=task,
          positive_class=positive_class,
          exclude=[c.strip() for c in exclude.split(',') if c.strip()],
          spans=spans, span_by=span_by, period=period)
  except init_lib.InitError as e:
    fail(str(e), EXIT_USAGE)
  inference = result.inference
  table = Table(title=f'Data set {result.name}: {inference.task} ({inference.task_why})',
                show_edge=False, header_style='bold')
  for column in ('column', 'treatment', 'why'):
    table.add_column(column)
  table.add_row(inference.label, 'label', f'positive class {inference.positive_class!r}'
                if inference.positive_class else ', '.join(inference.classes) or '')
  for choice in inference.choices:
    table.add_row(choice.column, choice.treatment, choice.why)
  console.print(table)
  console.print(f'Slices: {", ".join(inference.slices) or "none"}; spans: '
                + ', '.join(f'{k} ({v["rows"]} rows)' for k, v in result.spans.items()))
  if result.renamed:
    console.print('Renamed for TensorFlow: ' + ', '.join(f'{a!r} → {b!r}'
                                                        for a, b in result.renamed.items()))
  if inference.ambiguous:
    console.print(f'[yellow]Review:[/yellow] {inference.ambiguous}')
  console.print(f'Wrote {_shown(result.config_path)}, {_shown(result.schema_path)} and '
                f'{_shown(result.data_root)}/. Review them, then: ctpipe run --config '
                f'{_shown(result.config_path)}')
  from ctpipe.datasets import writer  # pylint: disable=g-import-not-at-top
  console.print('Its first run searches hyperparameters before training (tuning.auto: up to '
                f'{writer.SEARCH_TRIALS} trials or {writer.SEARCH_MINUTES} minutes, set in the '
                'config); later runs reuse the best. '
                'To train at once with the written ones: ctpipe run --configured-hparams '
                f'--config {_shown(result.config_path)}', soft_wrap=True)


def _shown(path: str) -> str:
  """Relative to the current folder when inside it, else absolute."""
  relative = os.path.relpath(path)
  return os.path.abspath(path) if relative.startswith('..') else relative
