"""`ctpipe report --compare RUN RUN ...`: one self-contained HTML page comparing training runs.

The parameters that differ between the runs (then every other one), the candidate's
metrics overall and per slice with the best run marked, and the curves of every run
overlaid (binary: ROC and calibration; regression: predicted against actual). Read from
any TFX store (ctpipe/mlmd_inspect/experiments.py); inline SVG, no script, no network.
"""
import datetime
import json
from html import escape
from typing import Dict, List, Sequence

from ctpipe.metadata.records import Records
from ctpipe.mlmd_inspect import experiments, svg
from ctpipe.mlmd_inspect.errors import InspectError
from ctpipe.mlmd_inspect.report import CSS, write_html

_EXTRA_CSS = 'td.best{background:#e6f4ea;font-weight:bold} td.num{text-align:right}'


def _value(value) -> str:
  if isinstance(value, float):
    return f'{value:.4g}'
  if isinstance(value, (list, dict)):
    return json.dumps(value)
  return '—' if value is None else str(value)


def _headers(runs: Sequence[experiments.ExperimentRun]) -> str:
  cells = ''.join(f'<th>{escape(r.run)}<br><span class="muted">{escape(r.pipeline)}</span></th>'
                  for r in runs)
  return f'<tr><th></th>{cells}</tr>'


def _parameter_table(runs, names: List[str]) -> str:
  rows = ''.join(f'<tr><th>{escape(n)}</th>'
                 + ''.join(f'<td>{escape(_value(r.parameters.get(n)))}</td>' for r in runs)
                 + '</tr>' for n in names)
  return f'<table class="data">{_headers(runs)}{rows}</table>'


def _best(values: List[float], metric: str) -> float:
  """The best of `values` for `metric` (NaN: none, or the metric has no best)."""
  finite = [v for v in values if v == v]
  if not finite or experiments.best_direction(metric) is None:
    return float('nan')
  return min(finite, key=experiments.rank_key(metric))


def _metric_rows(runs, per_run: List[Dict[str, float]], label: str = '') -> str:
  # The differences to each run's own baseline compare with different models: left out.
  names = sorted({m for values in per_run for m in values if not m.endswith('_diff')})
  rows = []
  for name in names:
    values = [values.get(name, float('nan')) for values in per_run]
    best = _best(values, name) if len(runs) > 1 else float('nan')
    cells = ''.join(
        f'<td class="num{" best" if v == best else ""}">'
        f'{"—" if v != v else escape(f"{v:,.0f}" if name == "example_count" else f"{v:.4f}")}</td>'
        for v in values)
    rows.append(f'<tr><th>{escape(label + name)}</th>{cells}</tr>')
  return ''.join(rows)


def _metrics(runs) -> str:
  return (f'<table class="data">{_headers(runs)}{_metric_rows(runs, [r.metrics for r in runs])}'
          '</table>')


def _slices(runs) -> str:
  slices = sorted({s for r in runs for s in r.slices})
  if not slices:
    return '<p class="muted">No slices were evaluated.</p>'
  body = ''.join(_metric_rows(runs, [r.slices.get(s, {}) for r in runs], f'{s}: ')
                 for s in slices)
  return f'<table class="data">{_headers(runs)}{body}</table>'


def _curves(runs) -> str:
  evaluations = {r.run: r.evaluation for r in runs if r.evaluation is not None}
  charts = []
  roc = {run: e.roc.get('candidate', []) for run, e in evaluations.items() if e.roc}
  if roc:
    charts.append(svg.line_chart('ROC', roc, 'false positive rate', 'true positive rate',
                                 diagonal=True, width=420, height=340))
  calibration = {run: e.calibration.get('candidate', []) for run, e in evaluations.items()
                 if e.calibration}
  if calibration:
    charts.append(svg.line_chart('Calibration', calibration, 'mean prediction', 'mean label',
                                 diagonal=True, width=420, height=340))
  actual = {run: [(p, a) for p, a, _ in e.predicted_vs_actual.get('candidate', [])]
            for run, e in evaluations.items() if e.predicted_vs_actual}
  if actual:
    charts.append(svg.line_chart('Predicted against actual', actual, 'mean prediction (bin)',
                                 'mean label', diagonal=True, width=420, height=340,
                                 bounds=svg.bounds_of(actual, True)))
  if not charts:
    return '<p class="muted">These runs have no curves to overlay (multiclass runs: see each ' \
           'run\'s report for its confusion matrix).</p>'
  return f'<div class="charts">{"".join(charts)}</div>'


def build(records: Records, run_names: Sequence[str]) -> str:
  if len(run_names) < 2:
    raise InspectError('compare needs two or more runs (see `ctpipe experiments`)')
  runs = []
  for name in run_names:
    found = experiments.describe(records, name)
    if found is None:
      raise InspectError(f'run {name} trained no model: nothing to compare')
    runs.append(found)
  differ = experiments.differing(runs)
  same = [n for n in sorted({k for r in runs for k in r.parameters}) if n not in differ]
  overview = ''.join(
      f'<tr><th>{escape(r.run)}</th><td>{escape(r.pipeline)}</td><td>{escape(r.started)}</td>'
      f'<td>{escape(", ".join(r.experiments) or "—")}</td>'
      f'<td>{"blessed" if r.blessed else "not blessed" if r.blessed is False else "—"}</td>'
      f'<td>{"v" + str(r.pushed_version) if r.pushed_version else "—"}</td></tr>' for r in runs)
  sections = [
      ('Runs', '<table class="data"><tr><th>run</th><th>pipeline</th><th>started</th>'
               f'<th>experiment</th><th>verdict</th><th>pushed</th></tr>{overview}</table>'),
      ('Parameters that differ', _parameter_table(runs, differ) if differ else
       '<p class="muted">Every recorded parameter is the same in these runs.</p>'),
      ('Metrics (candidate, overall)', _metrics(runs)
       + '<p class="muted">Green: the best value among these runs (calibration: nearest 1; '
         'counts and means: none). Each run is judged on its own evaluation split: compare '
         'example_count.</p>'),
      ('Metrics per slice', _slices(runs)),
      ('Curves', _curves(runs)),
      ('Parameters the runs share', _parameter_table(runs, same) if same else
       '<p class="muted">None.</p>'),
  ]
  body = ''.join(f'<h2>{escape(title)}</h2>{html}' for title, html in sections)
  made = datetime.datetime.now().strftime('%Y-%m-%d %H:%M:%S')
  title = 'Runs compared: ' + ', '.join(run_names)
  return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
          f'<title>{escape(title)}</title><style>{CSS}{_EXTRA_CSS}</style></head><body>'
          f'<h1>{escape(title)}</h1>'
          f'<p class="muted">Written by ctpipe report --compare on {made}.</p>{body}</body></html>')


def write(records: Records, run_names: Sequence[str], path: str) -> str:
  return write_html(build(records, run_names), path)
