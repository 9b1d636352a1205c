"""Tables for people (rich: aligned, coloured only on a terminal) and JSON for scripts."""
import dataclasses
import json
from typing import Iterable, List

from rich.console import Group
from rich.table import Table
from rich.tree import Tree

from ctpipe.mlmd_inspect.lineage import Lineage, SpanUse
from ctpipe.metadata.records import Artifact, Execution, timestamp
from ctpipe.mlmd_inspect.runs import RunRow

_STATE_COLOURS = {'COMPLETE': 'green', 'CACHED': 'cyan', 'FAILED': 'red', 'RUNNING': 'yellow',
                  'CANCELED': 'magenta', 'complete': 'green', 'failed': 'red',
                  'running': 'yellow', 'interrupted': 'magenta'}
# Execution properties that say how a component was configured, shown in lineage.
_SHOWN_EXECUTION_PROPERTIES = ('input_base', 'input_fingerprint', 'span', 'custom_config',
                               'train_args', 'eval_args', 'hparams', 'num_examples',
                               'model_name')
_LINEAGE_METRICS = ('auc', 'binary_accuracy', 'accuracy', 'example_count')


def to_json(value) -> str:
  def plain(v):
    if dataclasses.is_dataclass(v):
      return {k: plain(x) for k, x in dataclasses.asdict(v).items()}
    if isinstance(v, (list, tuple)):
      return [plain(x) for x in v]
    if isinstance(v, dict):
      return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, float) and v != v:
      return None  # undefined (e.g. AUC on a one-class slice): JSON has no NaN
    return v
  return json.dumps(plain(value), indent=2, default=str)


def _state(text: str) -> str:
  colour = _STATE_COLOURS.get(text)
  return f'[{colour}]{text}[/{colour}]' if colour else text


def _yes_no(value) -> str:
  return '-' if value is None else ('[green]yes[/green]' if value else '[red]no[/red]')


def runs_table(rows: List[RunRow], wide: bool = False) -> Table:
  """One line per run: ids and names never wrap; executed and cached components as counts
  (their names with `wide`, and always in JSON)."""
  table = Table(title='Pipeline runs (newest first)', header_style='bold', show_edge=False)
  table.add_column('run', no_wrap=True)
  table.add_column('pipeline', no_wrap=True)
  table.add_column('start', no_wrap=True)
  table.add_column('s', justify='right', no_wrap=True)
  table.add_column('status', no_wrap=True)
  table.add_column('trigger', overflow='fold')
  table.add_column('blessed', no_wrap=True)
  table.add_column('pushed', justify='right', no_wrap=True)
  table.add_column('executed', justify='right' if not wide else 'left',
                   no_wrap=not wide, overflow='fold')
  table.add_column('cached', justify='right', no_wrap=True)
  for r in rows:
    executed = (' '.join(r.executed) or '-') if wide else str(len(r.executed))
    if r.failed:
      executed += f" [red]failed: {' '.join(r.failed)}[/red]"
    table.add_row(r.run, r.pipeline or '-', r.start[5:], f'{r.seconds:.0f}', _state(r.status),
                  r.trigger or '-', _yes_no(r.blessed),
                  '-' if r.pushed_version is None else str(r.pushed_version), executed,
                  str(len(r.cached)))
  return table


def _properties(props: dict, limit: int = 6) -> str:
  shown = [f'{k}={v}' for k, v in sorted(props.items()) if len(str(v)) <= 80][:limit]
  return ', '.join(shown)


def artifacts_table(rows: List[Artifact]) -> Table:
  table = Table(title='Artifacts (newest first)', header_style='bold', show_edge=False)
  for name in ('id', 'type', 'state', 'created', 'properties', 'uri'):
    table.add_column(name, overflow='fold', justify='right' if name == 'id' else 'left')
  for a in rows:
    table.add_row(str(a.id), a.type, a.state, a.created, _properties(a.properties), a.uri)
  return table


def executions_table(rows: List[Execution]) -> Table:
  table = Table(title='Executions', header_style='bold', show_edge=False)
  for name in ('id', 'run', 'node', 'state', 'start', 'seconds', 'inputs', 'outputs'):
    table.add_column(name, overflow='fold', no_wrap=name in ('id', 'run', 'node'),
                     justify='right' if name in ('id', 'seconds') else 'left')

  def events(by_key):
    return '; '.join(f'{k}: {",".join(map(str, ids))}' for k, ids in sorted(by_key.items()))

  for e in rows:
    table.add_row(str(e.id), e.run or '-', e.node, _state(e.state), timestamp(e.started_ms),
                  f'{e.seconds:.1f}', events(e.inputs), events(e.outputs))
  return table


def lineage_tree(lineage: Lineage) -> Tree:
  target = lineage.target
  tree = Tree(f'[bold]{target.brief()}[/bold]  {target.uri}')
  for execution in lineage.executions:
    branch = tree.add(f'{_state(execution.state)} [bold]{execution.node}[/bold] '
                      f'(execution {execution.id}, {timestamp(execution.started_ms)}, '
                      f'{execution.seconds:.1f} s)')
    for key in _SHOWN_EXECUTION_PROPERTIES:
      if key in execution.properties and execution.properties[key] not in ('', None, '{}', 'null'):
        branch.add(f'[dim]{key}[/dim] {str(execution.properties[key])[:300]}')
    for label, by_key in (('in', execution.inputs), ('out', execution.outputs)):
      for key, ids in sorted(by_key.items()):
        for artifact_id in ids:
          artifact = lineage.artifacts.get(artifact_id)
          if artifact is None:
            continue
          leaf = branch.add(f'{label} [cyan]{key}[/cyan]: {artifact.brief()}  '
                            f'[dim]{artifact.uri}[/dim]')
          for model, values in lineage.metrics.get(artifact_id, {}).items():
            shown = [f'{n} {values[n]:.4f}' for n in _LINEAGE_METRICS if n in values]
            if shown:
              leaf.add(f'{model}: ' + ', '.join(shown))
  if lineage.afterwards:
    later = tree.add('[bold]Afterwards[/bold] (trial decisions and rollbacks naming this version)')
    for execution in lineage.afterwards:
      what = execution.properties.get('action', '')
      versions = ', '.join(f'{k.split("_")[0]} v{execution.properties[k]}'
                           for k in ('candidate_version', 'stable_version', 'from_version',
                                     'to_version') if execution.properties.get(k) not in (None, ''))
      later.add(f'{execution.node} [bold]{what}[/bold] (execution {execution.id}, '
                f'{timestamp(execution.started_ms)}; {versions}): '
                f'{execution.properties.get("reason", "")}')
  return tree


def span_table(span: int, uses: Iterable[SpanUse]) -> Table:
  table = Table(title=f'Models trained on span {span}', header_style='bold', show_edge=False)
  for name in ('model', 'created', 'run', 'blessed', 'pushed as', 'served from'):
    table.add_column(name, overflow='fold')
  for use in uses:
    versions = ', '.join(str(p.properties.get('pushed_version', '?')) for p in use.pushed)
    where = ', '.join(str(p.properties.get('pushed_destination', p.uri)) for p in use.pushed)
    table.add_row(f'Model #{use.model.id}', use.model.created, use.run, _yes_no(use.blessed),
                  versions or '-', where or '-')
  return table




def diff_view(difference) -> Group:
  """`inspect diff`: metrics, schema, drift, inputs and parameters, A -> B."""
  parts = [f'[bold]A[/bold] {difference.a}  →  [bold]B[/bold] {difference.b}']
  overall = [m for m in difference.metrics if m.slice_name == 'all data']
  if overall:
    table = Table(title='Metrics, all data', header_style='bold', show_edge=False)
    for name in ('metric', 'A', 'B', 'B − A'):
      table.add_column(name, justify='left' if name == 'metric' else 'right')
    for m in overall:
      table.add_row(m.metric, _number(m.a), _number(m.b), _delta(m.delta))
    parts.append(table)
    moved = sorted((m for m in difference.metrics if m.slice_name != 'all data'
                    and m.metric != 'example_count' and m.delta is not None and m.ranked
                    and abs(m.delta) >= 0.005), key=lambda m: -abs(m.delta))
    if moved:
      table = Table(title='Slices that moved by 0.005 or more (slices of 30 or more examples '
                          'on both sides)', header_style='bold', show_edge=False)
      for name in ('slice', 'metric', 'A', 'B', 'B − A'):
        table.add_column(name, justify='left' if name in ('slice', 'metric') else 'right')
      for m in moved[:20]:
        table.add_row(m.slice_name, m.metric, _number(m.a), _number(m.b), _delta(m.delta))
      parts.append(table)
  else:
    parts.append('[dim]No evaluation on one side: no metrics to compare.[/dim]')
  if difference.schema_diff:
    parts.append('[bold]Schema changes[/bold]\n' + '\n'.join(difference.schema_diff))
  else:
    parts.append('Schema: the same.')
  if difference.drift:
    span_a, span_b = difference.drift_between
    table = Table(title=f'Data drift, span {span_a} → span {span_b} (TFDV)',
                  header_style='bold', show_edge=False)
    for name in ('feature', 'measure', 'distance'):
      table.add_column(name, justify='right' if name == 'distance' else 'left')
    for d in difference.drift[:15]:
      table.add_row(d.feature, d.measure, f'{d.value:.4f}')
    parts.append(table)
  else:
    parts.append('Data: the same statistics on both sides (no drift to measure).')
  tree = Tree('[bold]Inputs and parameters that differ[/bold]')
  for node in sorted(set(difference.changed_inputs) | set(difference.changed_parameters)):
    branch = tree.add(node)
    for line in difference.changed_inputs.get(node, []):
      branch.add(f'[cyan]input[/cyan] {line}')
    for line in difference.changed_parameters.get(node, []):
      branch.add(f'[magenta]parameter[/magenta] {line}')
  if difference.only_in_a or difference.only_in_b:
    tree.add(f'only in A: {", ".join(difference.only_in_a) or "-"}; '
             f'only in B: {", ".join(difference.only_in_b) or "-"}')
  parts.append(tree)
  return Group(*parts)


def _number(value) -> str:
  if value is None:
    return '-'
  return 'n/a' if value != value else f'{value:.4f}'


def _delta(value) -> str:
  if value is None:
    return '-'
  colour = 'green' if value > 0 else 'red' if value < 0 else 'dim'
  return f'[{colour}]{value:+.4f}[/{colour}]'


# The metrics `experiments` shows, per task, when the runs have them (the rest: --json).
_EXPERIMENT_METRICS = ('auc', 'binary_accuracy', 'accuracy', 'calibration', 'rmse',
                       'mean_absolute_error', 'example_count')


def experiments_table(runs, differing: List[str], title: str) -> Table:
  """One row per run: its experiment, the parameters that differ between the runs, the
  headline metrics and the verdict."""
  table = Table(title=title, show_edge=False, header_style='bold')
  metrics = [m for m in _EXPERIMENT_METRICS if any(m in r.metrics for r in runs)]
  for column in ['run', 'experiment', *differing, *metrics, 'blessed', 'pushed']:
    table.add_column(column, justify='right' if column in metrics else 'left')
  for r in runs:
    values = [r.run, ', '.join(r.experiments) or '—']
    values += ['—' if r.parameters.get(p) is None else
               (f'{r.parameters[p]:.3g}' if isinstance(r.parameters[p], float)
                else str(r.parameters[p])) for p in differing]
    values += [('—' if m not in r.metrics else f'{r.metrics[m]:,.0f}' if m == 'example_count'
                else _number(r.metrics[m])) for m in metrics]
    values += [_yes_no(r.blessed), f'v{r.pushed_version}' if r.pushed_version else '—']
    table.add_row(*values)
  return table
