"""What `ctpipe run` prints when a run ends: the components (once each), the metrics, the
decision as a table of thresholds, and what was pushed or why nothing was."""
import collections
from typing import Dict, List, Optional, Sequence

from rich.table import Table

STATE_STYLE = {'COMPLETE': ('✓', 'green', 'executed'), 'CACHED': ('↺', 'cyan', 'cached'),
               'FAILED': ('✗', 'red', 'failed'), 'CANCELED': ('✗', 'red', 'canceled')}
COUNTS = ('example_count',)  # metrics that are counts: shown as integers


def metric_text(name: str, value: Optional[float]) -> str:
  if value is None:
    return '—'
  if value != value:  # NaN: undefined on these examples (e.g. AUC of one class)
    return 'n/a'
  return f'{value:,.0f}' if name in COUNTS else f'{value:.4f}'


def _signed(value: Optional[float]) -> str:
  return '' if value is None or value != value else f'{value:+.4f}'


def components_table(executions, ingested_spans: Sequence[int]) -> Table:
  """One row per component: how often it executed or came from cache, its total time, and
  the spans when it ran once per span ingested (a backfill runs the data steps per span)."""
  table = Table(title='Components', show_edge=False, header_style='bold')
  for column, justify in (('component', 'left'), ('outcome', 'left'), ('seconds', 'right'),
                          ('spans', 'left')):
    table.add_column(column, justify=justify)
  by_node: Dict[str, List] = collections.OrderedDict()
  for execution in executions:
    by_node.setdefault(execution.node_id, []).append(execution)
  for node, runs in by_node.items():
    states = collections.Counter(e.state for e in runs)
    words = []
    for state, count in states.items():
      _, color, word = STATE_STYLE.get(state, ('?', 'yellow', state.lower()))
      words.append(f'[{color}]{word}[/{color}]' + (f' ×{count}' if count > 1 else ''))
    spans = ''
    if len(runs) > 1 and len(runs) == len(ingested_spans):
      spans = ', '.join(str(s) for s in ingested_spans)
    table.add_row(node, ', '.join(words), f'{sum(e.seconds for e in runs):.1f}', spans)
  return table


def metrics_table(candidate: Dict[str, float], baseline: Dict[str, float],
                  names: Sequence[str]) -> Table:
  table = Table(title='Evaluation (held-out split of the window)', show_edge=False,
                header_style='bold')
  table.add_column('metric')
  table.add_column('candidate', justify='right')
  table.add_column('baseline (in production)', justify='right')
  for name in names:
    if name in candidate:
      table.add_row(name, metric_text(name, candidate.get(name)),
                    metric_text(name, baseline.get(name)))
  return table


def decision_table(checks) -> Table:
  """Every threshold overall; on guarded slices, each failure, and the passes as one row per
  rule (how many slices, the largest drop)."""
  table = Table(title='Decision (every threshold, overall and on guarded slices)',
                show_edge=False, header_style='bold')
  for column, justify in (('metric', 'left'), ('slice', 'left'), ('candidate', 'right'),
                          ('baseline', 'right'), ('Δ', 'right'), ('rule', 'left'),
                          ('result', 'left')):
    table.add_column(column, justify=justify)
  passed_groups: Dict[tuple, List] = collections.OrderedDict()
  for check in checks:
    if check.slice_name != 'all data' and check.passed:
      feature = check.slice_name.split('=', 1)[0]
      passed_groups.setdefault((check.metric, feature, check.rule), []).append(check)
      continue
    table.add_row(check.metric, check.slice_name, metric_text(check.metric, check.candidate),
                  metric_text(check.metric, check.baseline), _signed(check.difference),
                  check.rule, _result(check.outcome))
  for (metric, feature, rule), group in passed_groups.items():
    if len(group) == 1:
      check = group[0]
      table.add_row(metric, check.slice_name, metric_text(metric, check.candidate),
                    metric_text(metric, check.baseline), _signed(check.difference), rule,
                    _result(check.outcome))
      continue
    worst = min(group, key=lambda c: c.difference if c.difference is not None else 0.0)
    table.add_row(metric, f'{len(group)} {feature} slices', '', '',
                  f'worst {_signed(worst.difference)} ({worst.slice_name})', rule,
                  _result('pass'))
  return table


def _result(outcome: str) -> str:
  color = 'green' if outcome == 'pass' else 'red' if outcome.startswith('fail') else 'dim'
  return f'[{color}]{outcome}[/{color}]'


def push_lines(summary) -> List[str]:
  """What was pushed, or why nothing was."""
  pusher_cached = 'Pusher' in summary.cached()
  lines = []
  if summary.pushed_version and not pusher_cached:
    lines.append(f'Pushed version {summary.pushed_version} to {summary.pushed_path}')
    if summary.rollback_in_effect:
      lines.append(f'[yellow]Rollback in effect:[/yellow] {summary.rollback_in_effect}')
    if summary.on_trial:
      lines.append(f'On trial: {summary.on_trial}; stable keeps serving until online '
                   'validation promotes it (`ctpipe rollout status`)')
    if summary.edge_export:
      color = 'green' if summary.edge_exported else 'yellow'
      lines.append(f'Edge model: [{color}]{summary.edge_export}[/{color}]')
  elif summary.pushed_version:
    lines.append(f'Nothing new to push: serving version {summary.pushed_version} is unchanged')
  elif summary.not_pushed_reason:
    lines.append(f'Nothing pushed: {summary.not_pushed_reason}.')
  else:
    lines.append('Nothing pushed: the run stopped before the Pusher.')
  return lines
