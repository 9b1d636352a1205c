"""`ctpipe report RUN`: one self-contained HTML file about one pipeline run.

No scripts from anywhere, no fonts, no network: tables, inline SVG charts and a few
lines of CSS. Sections: the run, its lineage as a graph, data statistics per split,
anomalies (TFDV's own table), drift against the previous span, evaluation overall
and per slice (binary: ROC and calibration; multiclass: the confusion matrix and
per-class precision and recall; regression: predicted against actual and the residuals;
the guarded metric by slice), and the champion-versus-challenger decision (thresholds,
blessing, serving check, push).
"""
import datetime
import os
from html import escape
from typing import List, Optional

from ctpipe import decision
from ctpipe.mlmd_inspect import report_data, svg
from ctpipe.metadata.records import INPUT_EVENTS, Records
from ctpipe.mlmd_inspect.run_view import RunView, data_span
from ctpipe.mlmd_inspect.runs import list_runs_by_name

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:22px} h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
table.data{border-collapse:collapse;margin:8px 0;font-size:13px}
table.data td,table.data th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
table.data th{background:#f4f4f4} .ok{color:#137333;font-weight:bold} .bad{color:#b3261e;font-weight:bold}
.muted{color:#666} .charts{display:flex;flex-wrap:wrap;gap:16px} svg.chart{background:#fff;max-width:100%;height:auto}
.banner{border:2px solid #b3261e;background:#fdecea;padding:8px 12px;font-weight:bold}
"""
_NODE_COLOURS = {'COMPLETE': '#cdeccd', 'CACHED': '#d3e7f5', 'FAILED': '#f6c9c6',
                 'CANCELED': '#eddcf2', 'RUNNING': '#fbeec1'}


def _table(headers: List[str], rows: List[List[str]]) -> str:
  head = ''.join(f'<th>{escape(h)}</th>' for h in headers)
  body = ''.join('<tr>' + ''.join(f'<td>{c}</td>' for c in row) + '</tr>' for row in rows)
  return f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _fmt(value: Optional[float]) -> str:
  return '—' if value is None else f'{value:.4f}'


def _summary(run: RunView) -> str:
  r = run.row
  verdict = ('—' if r.blessed is None else
             '<span class="ok">blessed</span>' if r.blessed else '<span class="bad">not blessed</span>')
  rows = [['pipeline', escape(r.pipeline)], ['status', escape(r.status)],
          ['trigger', escape(r.trigger or '-')], ['started', escape(r.start)],
          ['duration', f'{r.seconds:.1f} s'], ['verdict', verdict],
          ['pushed version', escape('nothing pushed' if r.pushed_version is None
                                           else str(r.pushed_version))]]
  components = [[escape(e.node), escape(e.state.lower()), f'{e.seconds:.1f}']
                for e in run.executions]
  return (_table(['', ''], rows) + '<h3>Components</h3>'
          + _table(['component', 'outcome', 'seconds'], components))


def _lineage_graph(run: RunView) -> str:
  producer = {}
  for e in run.executions:
    for ids in e.outputs.values():
      for i in ids:
        producer[i] = e.node
  edges = set()
  for e in run.executions:
    for ids in e.inputs.values():
      for i in ids:
        if i in producer and producer[i] != e.node:
          edges.add((producer[i], e.node))
  nodes = [(e.node, e.node, _NODE_COLOURS.get(e.state, '#eee')) for e in run.executions]
  legend = ', '.join(f'<span style="background:{c};padding:0 6px">{s.lower()}</span>'
                     for s, c in _NODE_COLOURS.items())
  graph = svg.dag('Lineage of this run (artifacts flow top to bottom)', nodes, sorted(edges))
  return f'<div>{graph}</div><p class="muted">{legend}</p>'


def _producer_node(run: RunView, artifact) -> str:
  return next((e.node for e in run.executions for ids in e.outputs.values()
               if artifact.id in ids), '')


def _missing_bar(fraction: float) -> str:
  """The share of missing values, at a glance: a red bar beside the figure."""
  width = max(0.0, min(1.0, fraction)) * 60
  return (f'<span style="display:inline-block;width:60px;height:8px;background:#eee">'
          f'<span style="display:block;width:{width:.0f}px;height:8px;background:#d62728">'
          f'</span></span> {fraction:.1%}')


def _statistics(run: RunView) -> str:
  parts = []
  for artifact in run.outputs_of_type('ExampleStatistics'):
    if not os.path.exists(artifact.uri):
      parts.append(f'<p class="bad">The statistics of artifact #{artifact.id} are gone: '
                   f'{escape(artifact.uri)} does not exist (the store outlived its files).</p>')
      continue
    node = _producer_node(run, artifact)
    for split in report_data.splits(artifact.uri):
      stats = report_data.feature_stats(report_data.load_statistics(artifact.uri, split))
      rows = [[escape(f.name), f.kind, f'{f.count:,}', _missing_bar(f.missing_fraction),
               svg.mini_bars(f'distribution of {f.name}', f.distribution), escape(f.summary)]
              for f in stats]
      if node == 'TrainingStatistics':
        heading = f'Training window (the spans this run trained on), split {escape(split)}'
      else:
        heading = f'Span {run.span(artifact)}, split {escape(split)}'
      parts.append(f'<h3>{heading}</h3>' + _table(
          ['feature', 'kind', 'present', 'missing', 'distribution', 'summary'], rows))
  return ''.join(parts) or '<p class="muted">No statistics in this run.</p>'


def _anomalies(run: RunView) -> str:
  parts = []
  for artifact in run.outputs_of_type('ExampleAnomalies'):
    for split in report_data.splits(artifact.uri):
      html = report_data.anomalies_table_html(artifact.uri, split)
      parts.append(f'<h3>Span {run.span(artifact)}, split {escape(split)}</h3>' + (
          html or '<p class="ok">No anomalies: the data matches the schema.</p>'))
  return ''.join(parts) or '<p class="muted">No validation in this run.</p>'


def _drift(records: Records, run: RunView) -> str:
  reports = run.outputs_of_type('ctpipe.DriftReport')
  if reports:
    return _drift_check(run, reports[-1], run.span(reports[-1]))
  current = [(run.span(a), a) for a in run.outputs_of_type('ExampleStatistics')]
  current = [(span, a) for span, a in current if span is not None]
  if not current:
    return '<p class="muted">No statistics in this run.</p>'
  span, newest = max(current, key=lambda pair: (pair[0], pair[1].id))
  earlier = []
  for proto in records.store.get_artifacts_by_type('ExampleStatistics'):
    artifact = records.artifact(proto)
    if artifact.id < newest.id:
      earlier_span = data_span(records, artifact)
      if earlier_span is not None and earlier_span < span:
        earlier.append((earlier_span, artifact))
  if not earlier:
    return f'<p class="muted">Span {span} is the first span: nothing to compare.</p>'
  before_span, before = max(earlier, key=lambda pair: (pair[0], pair[1].id))
  names = report_data.splits(newest.uri)
  split = 'train' if 'train' in names else names[0]
  found = report_data.drift(report_data.load_statistics(newest.uri, split),
                            report_data.load_statistics(before.uri, split))
  rows = [[escape(d.feature), d.measure, f'{d.value:.4f}'] for d in found]
  return (f'<p>Span {span} against span {before_span} ({escape(split)} split), '
          'measured by TFDV: L-infinity distance for strings, Jensen–Shannon divergence for '
          'numbers; largest first.</p>' + _table(['feature', 'measure', 'distance'], rows))


def _missing_features(span, ours: dict, theirs: dict) -> str:
  """The line naming the training window's features that the span's statistics lack ('' when
  none, or when either side has no statistics to compare)."""
  missing = sorted(set(theirs) - set(ours)) if ours and theirs else []
  return (f'<p class="bad">Features of the training window missing from span {span}: '
          f'{escape(", ".join(missing))}.</p>' if missing else '')


def _drift_check(run: RunView, artifact, span) -> str:
  """The run's DriftCheck: the new span against the training window, schema thresholds; each
  measured feature's distribution in the span beside the window's, and the features the
  window has that the span lacks (never hidden behind "no drift")."""
  measurements = sorted(report_data.drift_report(artifact.uri), key=lambda m: -m.value)
  summary = artifact.properties.get('summary', '')
  reference = report_data.drift_reference(artifact.uri)
  span_stats = next((a for a in run.outputs_of_type('ExampleStatistics')
                     if _producer_node(run, a) == 'StatisticsGen'), None)
  split = 'train'
  ours = report_data.distributions(span_stats.uri, split) if span_stats is not None else {}
  theirs = report_data.distributions(reference, split) if reference else {}
  lacking = _missing_features(span, ours, theirs)
  if not measurements:
    return lacking + f'<p class="muted">{escape(str(summary) or "No drift measured.")}</p>'

  def side_by_side(name: str) -> str:
    charts = []
    for label, found in ((f'span {span}', ours), ('window', theirs)):
      stats = found.get(name)
      if stats is not None and stats.distribution:
        charts.append(f'<div class="muted">{escape(label)}</div>'
                      + svg.mini_bars(f'{label}: distribution of {name}', stats.distribution))
    return ''.join(charts)
  rows = [[escape(m.feature), m.comparator, f'{m.value:.4f}', f'{m.threshold:g}',
           '<span class="bad">beyond</span>' if m.value > m.threshold else 'within',
           side_by_side(m.feature)] for m in measurements]
  return (lacking + f'<p>Span {span} '
          'against the newest training window (its train split), by the curated schema\'s '
          f'drift comparators: <b>{escape(str(summary))}</b>.</p>'
          + _table(['feature', 'measure', 'distance', 'threshold', 'verdict',
                    'span against window'], rows))


def _class_names(run: RunView) -> List[str]:
  """A multiclass model's class names, in index order, from its Trainer's custom_config
  (a ctpipe run records the data set's classes there); [] elsewhere."""
  import json  # pylint: disable=g-import-not-at-top
  for execution in run.executions:
    config = execution.properties.get('custom_config')
    if not isinstance(config, str) or '"classes"' not in config:
      continue
    try:
      return [str(c) for c in json.loads(config).get('features', {}).get('classes', [])]
    except (ValueError, AttributeError):
      return []
  return []


def _confusion_table(matrix: List[List[float]], names: List[str]) -> str:
  """Rows: the actual class; columns: the predicted one; shaded by the row's share."""
  label = lambda i: escape(names[i]) if i < len(names) else f'class {i}'  # noqa: E731
  head = ''.join(f'<th>predicted {label(j)}</th>' for j in range(len(matrix)))
  rows = []
  for i, row in enumerate(matrix):
    total = sum(row) or 1.0
    cells = ''.join(
        f'<td style="background:rgba(31,119,180,{0.08 + 0.6 * count / total:.2f})">{count:.0f}</td>'
        for count in row)
    rows.append(f'<tr><th>actual {label(i)}</th>{cells}</tr>')
  return (f'<table class="data confusion"><caption>Confusion matrix (evaluation examples)'
          f'</caption><thead><tr><th></th>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
          '</table>')


def _task_charts(run: RunView, result: report_data.Evaluation) -> List[str]:
  """Binary: ROC and calibration; multiclass: the confusion matrix and per-class precision
  and recall; regression: predicted against actual, and the residuals."""
  if result.confusion:
    names = _class_names(run)
    per_class = [[escape(names[i]) if i < len(names) else f'class {i}',
                  _fmt(m.get('precision')), _fmt(m.get('recall'))]
                 for i, m in sorted(result.per_class.items())]
    return [_confusion_table(result.confusion['candidate'], names),
            _table(['class', 'precision', 'recall'], per_class)]
  if result.predicted_vs_actual:
    actual = {name: [(p, a) for p, a, _ in bins]
              for name, bins in result.predicted_vs_actual.items()}
    residual = {name: [(p, a - p) for p, a, _ in bins]
                for name, bins in result.predicted_vs_actual.items()}
    return [svg.line_chart('Predicted against actual', actual, 'mean prediction (bin)',
                           'mean label', diagonal=True, bounds=svg.bounds_of(actual, True)),
            svg.line_chart('Residuals', residual, 'mean prediction (bin)',
                           'mean label − mean prediction', zero_line=True,
                           bounds=svg.bounds_of(residual))]
  return [svg.line_chart('ROC', result.roc, 'false positive rate', 'true positive rate',
                         diagonal=True),
          svg.line_chart('Calibration', result.calibration, 'mean prediction', 'mean label',
                         diagonal=True)]


# Per slice: the metric each task is guarded on, and its column heading.
_SLICE_METRICS = (('binary_accuracy', 'accuracy'), ('accuracy', 'accuracy'), ('rmse', 'RMSE'))


def _evaluation(run: RunView) -> str:
  evaluations = run.outputs_of_type('ModelEvaluation')
  if not evaluations:
    return '<p class="muted">No evaluation in this run.</p>'
  result = report_data.evaluation(evaluations[-1].uri)
  if result is None:
    return '<p class="muted">The evaluation holds no metrics.</p>'
  names = sorted(result.overall.candidate)
  rows = [[escape(n), _fmt(result.overall.candidate.get(n)), _fmt(result.overall.baseline.get(n))]
          for n in names if not n.endswith('_diff')]
  overall = _table(['metric', 'candidate', 'baseline (in production)'], rows)
  charts = _task_charts(run, result)
  metric, heading = next(((m, h) for m, h in _SLICE_METRICS if m in result.overall.candidate),
                         ('binary_accuracy', 'accuracy'))
  by_slice = [(s.slice_name, s.candidate.get(metric, 0.0), s.baseline.get(metric))
              for s in result.slices if metric in s.candidate]
  if by_slice:
    charts.append(svg.bar_chart(f'{heading[0].upper()}{heading[1:]} by slice', by_slice, heading))
  auc = 'auc' in result.overall.candidate
  slice_rows = [[escape(s.slice_name), f"{s.candidate.get('example_count', 0):.0f}"]
                + ([_fmt(s.candidate.get('auc'))] if auc else [])
                + [_fmt(s.candidate.get(metric)), _fmt(s.baseline.get(metric))]
                for s in result.slices]
  return (overall + f'<div class="charts">{"".join(charts)}</div><h3>Per slice</h3>'
          + _table(['slice', 'examples'] + (['AUC'] if auc else [])
                   + [heading, f'baseline {heading}'], slice_rows)
          + _decision(run, result))


def _decision_table(result: report_data.Evaluation) -> str:
  """Every threshold on every slice it names: both models' values, the rule, the outcome."""
  rows = []
  for check in decision.checks(result):
    outcome = check.outcome
    css = 'ok' if outcome == 'pass' else 'bad' if outcome.startswith('fail') else 'muted'
    rows.append([escape(check.metric), escape(check.slice_name),
                 '—' if check.examples is None else f'{check.examples:,.0f}',
                 _fmt(check.candidate), _fmt(check.baseline),
                 '' if check.difference is None else f'{check.difference:+.4f}',
                 escape(check.rule), f'<span class="{css}">{escape(outcome)}</span>'])
  if not rows:
    return ''
  return _table(['metric', 'slice', 'examples', 'candidate', 'baseline', 'Δ', 'rule', 'result'],
                rows)


def _decision(run: RunView, result: report_data.Evaluation) -> str:
  lines = []
  if result.validation_ok:
    lines.append('<p class="ok">Every threshold passed (value thresholds, and the change '
                 'thresholds against the production model where there is one).</p>')
  else:
    lines.append('<p class="bad">Thresholds failed:</p><ul>'
                 + ''.join(f'<li>{escape(f)}</li>' for f in result.failures) + '</ul>')
  lines.append(_decision_table(result))
  for blessing in run.outputs_of_type('InfraBlessing'):
    reason = blessing.properties.get('serving_check', '')
    lines.append(f'<p>Serving check: {escape(str(reason))}</p>')
  for pushed in run.outputs_of_type('PushedModel'):
    if pushed.properties.get('pushed'):
      lines.append(f"<p class=\"ok\">Pushed as version "
                   f"{escape(str(pushed.properties.get('pushed_version')))} to "
                   f"{escape(str(pushed.properties.get('pushed_destination', pushed.uri)))}</p>")
    else:
      reason = pushed.properties.get('not_pushed_reason', 'not blessed')
      lines.append(f'<p>Not pushed: {escape(str(reason))}</p>')
  return '<h3>Champion versus challenger</h3>' + ''.join(lines)


def _online_validation(records: Records, run: RunView) -> str:
  """What happened to the run's pushed version on live traffic: each trial decision with its
  evidence per version and the test's bounds, and each rollback that named it."""
  import json  # pylint: disable=g-import-not-at-top
  pushed = [a for a in run.outputs_of_type('PushedModel') if a.properties.get('pushed')]
  readers = {e.execution_id for e in records.store.get_events_by_artifact_ids(
      [a.id for a in pushed]) if e.type in INPUT_EVENTS}
  later = records.executions(records.store.get_executions_by_id(sorted(readers))) \
      if readers else []
  found = sorted({e.id: e for e in list(run.executions) + later
                  if e.type.startswith('ctpipe.Rollout') or e.type == 'ctpipe.Rollback'
                  }.values(), key=lambda e: e.id)
  if not found:
    trial = next((str(a.properties['on_trial']) for a in pushed if a.properties.get('on_trial')),
                 '')
    if trial:
      return (f'<p>Pushed on trial ({escape(trial)}); no decision yet: '
              '<code>ctpipe rollout status</code> shows the evidence so far.</p>')
    return ('<p class="muted">No trial decision or rollback names this run\'s pushed version '
            '(rollout.strategy direct, or nothing pushed).</p>')
  parts = []
  for execution in found:
    action = str(execution.properties.get('action', ''))
    reason = str(execution.properties.get('reason', ''))
    when = datetime.datetime.fromtimestamp(execution.started_ms / 1000).strftime(
        '%Y-%m-%d %H:%M:%S')
    colour = 'ok' if action == 'promote' else 'bad' if action in ('abort', 'reject') else ''
    if execution.type == 'ctpipe.Rollback':
      parts.append(f'<p class="{colour}">{when}: rollback <b>{escape(action)}</b> from v'
                   f'{escape(str(execution.properties.get("from_version", "?")))} to v'
                   f'{escape(str(execution.properties.get("to_version", "?")))}: '
                   f'{escape(reason)}</p>')
      continue
    parts.append(f'<p class="{colour}">{when}: {escape(str(execution.properties.get("strategy")))}'
                 f' v{escape(str(execution.properties.get("candidate_version")))} '
                 f'<b>{escape(action)}</b> (by {escape(str(execution.properties.get("decided_by")))})'
                 f': {escape(reason)}</p>')
    try:
      evidence = json.loads(str(execution.properties.get('evidence') or '{}'))
    except ValueError:
      evidence = {}
    metric = evidence.get('metric') or ''
    rows = [[escape(str(e.get('version'))), escape(str(e.get('role'))), f'{e.get("requests", 0):,}',
             f'{e.get("errors", 0):,}', _fmt(e.get('p99_ms')), f'{e.get("labelled_rows", 0):,}',
             _fmt(e.get(metric))] for e in evidence.get('evidence', [])]
    if rows:
      parts.append(_table(['version', 'role', 'requests', 'server errors', 'p99 ms', 'labelled',
                           escape(metric)], rows))
    if evidence.get('low') is not None:
      parts.append(f'<p class="muted">Candidate minus stable: {evidence["difference"]:+.4f}; '
                   f'one-sided bounds [{evidence["low"]:+.4f}, {evidence["high"]:+.4f}] '
                   '(bootstrap).</p>')
  return ''.join(parts)


def _hyperparameters(records: Records, run: RunView) -> str:
  """What the Trainer trained with and where it came from; this run's search, trial by trial."""
  from ctpipe import tuning_results  # pylint: disable=g-import-not-at-top
  from ctpipe.mlmd_inspect import experiments  # pylint: disable=g-import-not-at-top
  trainer = experiments.node_of(run, 'Trainer')
  if trainer is None:
    return '<p class="muted">No model was trained in this run.</p>'
  parameters = experiments.parameters_of(records, run, trainer)
  source = parameters.pop('hyperparameters', 'configured')
  tuner = experiments.node_of(run, 'Tuner')
  tuned_ids = trainer.inputs.get('hyperparameters', [])
  if tuned_ids and tuner is not None and tuned_ids[0] in sum(tuner.outputs.values(), []):
    source += ', searched in this run'
  elif tuned_ids:
    producers = [name for name in _runs_of(records, tuned_ids[0]) if name != run.row.run]
    source += f', reused from run {producers[0]}' if producers else ', reused'
  rows = [[escape(k[3:]), escape(str(v))] for k, v in parameters.items() if k.startswith('hp.')]
  html = f'<p>Trained with: {escape(source)}.</p>' + _table(['hyperparameter', 'value'], rows)
  if tuner is not None:
    results = [run.artifacts[i] for i in tuner.outputs.get('tuner_results', [])
               if i in run.artifacts]
    summary = tuning_results.read_summary(results[0].uri) if results else {}
    if summary.get('trials'):
      best = summary.get('best_value')
      trials = [[str(t['trial']), escape(', '.join(f'{k}={v:.3g}' if isinstance(v, float) else
                                                   f'{k}={v}' for k, v in
                                                   sorted(t['hyperparameters'].items()))),
                 ('<b>' if t['value'] == best else '') + f'{t["value"]:.4f}', str(t['epochs']),
                 f'{t["seconds"]:.0f}'] for t in summary['trials']]
      html += (f'<p>The search: {escape(summary["strategy"])}, {len(summary["trials"])} trials '
               f'in {summary["seconds"]:.0f} s (stopped by {escape(summary["stopped_by"])}), '
               f'on {summary["trial_train_rows"]} training rows validated on '
               f'{summary["trial_validation_rows"]} others of the training split.</p>'
               + _table(['trial', 'hyperparameters', escape(summary['objective']),
                         'best epochs', 'seconds'], trials))
  return html


def _runs_of(records: Records, artifact_id: int) -> List[str]:
  from ctpipe.metadata.records import OUTPUT_EVENTS, RUN_CONTEXT  # pylint: disable=g-import-not-at-top
  producers = [e.execution_id for e in records.store.get_events_by_artifact_ids([artifact_id])
               if e.type in OUTPUT_EVENTS]
  return [c.name for execution in producers
          for c in records.store.get_contexts_by_execution(execution) if c.type == RUN_CONTEXT]


def _safe(make) -> str:
  """A section, or why it cannot be shown (e.g. artifact files deleted): the rest still renders."""
  try:
    return make()
  except Exception as error:  # pylint: disable=broad-except
    first = str(error).strip().splitlines()[0] if str(error).strip() else ''
    return (f'<p class="bad">Not available: {escape(type(error).__name__)}: '
            f'{escape(first[:300])}</p>')


def build(records: Records, run_name: str) -> str:
  rows = list_runs_by_name(records, [run_name])
  run = RunView(records, rows[0])
  sections = [
      ('Run', lambda: _summary(run)),
      ('Lineage', lambda: _lineage_graph(run)),
      ('Data statistics', lambda: _statistics(run)),
      ('Anomalies', lambda: _anomalies(run)),
      ('Drift', lambda: _drift(records, run)),
      ('Hyperparameters', lambda: _hyperparameters(records, run)),
      ('Evaluation', lambda: _evaluation(run)),
      ('Online validation', lambda: _online_validation(records, run)),
  ]
  body = ''.join(f'<h2 id="{escape(t.lower().replace(" ", "-"))}">{escape(t)}</h2>{_safe(make)}'
                 for t, make in sections)
  if 'DataGate' in run.row.failed:
    body = ('<p class="banner">The data gate stopped this run: the new span does not match '
            'the curated schema (see Anomalies). Nothing was trained or pushed.</p>' + body)
  made = datetime.datetime.now().strftime('%Y-%m-%d %H:%M:%S')
  return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
          f'<title>Run {escape(run_name)}</title><style>{CSS}</style></head><body>'
          f'<h1>Pipeline run {escape(run_name)}</h1>'
          f'<p class="muted">Written by ctpipe report on {made}.</p>{body}</body></html>')


def write(records: Records, run_name: str, path: str) -> str:
  return write_html(build(records, run_name), path)


def write_html(html: str, path: str) -> str:
  """Writes a page whole or not at all (a reader never sees half of it); returns `path`."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path + '.tmp', 'w', encoding='utf-8') as f:
    f.write(html)
  os.replace(path + '.tmp', path)
  return path


def default_path(reports_dir: str, run_name: str) -> str:
  """`<reports_dir>/run-<run>.html`, the run's name made safe for a file name."""
  safe = ''.join(c if c.isalnum() or c in '-_.' else '_' for c in run_name)
  return os.path.join(reports_dir, f'run-{safe}.html')

