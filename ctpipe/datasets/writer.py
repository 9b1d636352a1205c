"""What `ctpipe init` writes: the spans, a curated schema of the data set's own, and its config.

The spans are the table's rows under `span-<N>/data.csv` (names made safe, each span
with its `_SUCCESS` marker); the schema is built from the columns' profiles, with drift
and skew comparators whose thresholds come from the span-to-span variation TFDV
measures; the config holds the data set's whole definition, every inferred choice with
a comment saying why.
"""
import csv
import datetime
import os
from typing import Dict, List, Optional, Sequence, Tuple

from ctpipe.datasets.infer import Column, Inference, InitError

PERIODS = ('day', 'week', 'month', 'quarter', 'year')
MIN_ROWS_PER_SPAN = 30
# Drift and skew thresholds: twice the largest span-to-span distance measured, within bounds.
THRESHOLD_FACTOR = 2.0
MIN_THRESHOLD, MAX_THRESHOLD = 0.1, 0.9
TARGET_STEPS, MIN_EPOCHS, MAX_EPOCHS = 600, 8, 100
# The search budget `init` writes (the `tuning` section).
SEARCH_TRIALS, SEARCH_MINUTES = 12, 10

Rows = List[List[str]]


def _moment(text: str) -> Optional[datetime.datetime]:
  """A cell as a UTC time: epoch seconds or an ISO date/time."""
  try:
    return datetime.datetime.fromtimestamp(float(text), tz=datetime.timezone.utc)
  except ValueError:
    pass
  try:
    moment = datetime.datetime.fromisoformat(text.strip().replace('Z', '+00:00'))
  except ValueError:
    return None
  return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


def period_label(moment: datetime.datetime, period: str) -> str:
  if period == 'day':
    return moment.strftime('%Y-%m-%d')
  if period == 'week':
    year, week, _ = moment.isocalendar()
    return f'{year}-W{week:02d}'
  if period == 'month':
    return moment.strftime('%Y-%m')
  if period == 'quarter':
    return f'{moment.year}Q{(moment.month - 1) // 3 + 1}'
  if period == 'year':
    return str(moment.year)
  raise InitError(f'--period {period!r}: one of {", ".join(PERIODS)}')


def split_by_time(header: Sequence[str], rows: Rows, column: str, period: str
                  ) -> Dict[str, Rows]:
  """Rows by period of `column`, oldest first."""
  if column not in header:
    raise InitError(f'--span-by {column!r}: no such column')
  i = list(header).index(column)
  by_period: Dict[str, Rows] = {}
  for n, row in enumerate(rows):
    moment = _moment(row[i])
    if moment is None:
      raise InitError(f'--span-by {column!r}: row {n + 2} holds {row[i]!r}, neither epoch '
                      'seconds nor an ISO date')
    by_period.setdefault(period_label(moment, period), []).append(row)
  return dict(sorted(by_period.items()))


def split_in_order(rows: Rows, spans: int) -> Dict[str, Rows]:
  if spans < 1:
    raise InitError('--spans must be at least 1')
  size = -(-len(rows) // spans)
  return {f'rows {i * size + 1}..{min(len(rows), (i + 1) * size)}': rows[i * size:(i + 1) * size]
          for i in range(spans) if rows[i * size:(i + 1) * size]}


def write_spans(data_dir: str, header: Sequence[str], spans: Dict[str, Rows]) -> Dict[int, Dict]:
  """`data_dir/span-<N>/data.csv` and `_SUCCESS`; returns {span: {period, rows}}."""
  small = [label for label, rows in spans.items() if len(rows) < MIN_ROWS_PER_SPAN]
  if small:
    raise InitError(f'{len(small)} span(s) hold fewer than {MIN_ROWS_PER_SPAN} rows '
                    f'({small[0]}: {len(spans[small[0]])}); choose a longer --period or '
                    'fewer --spans')
  if os.path.isdir(data_dir) and os.listdir(data_dir):
    raise InitError(f'{data_dir} is not empty; init writes a fresh data set')
  index = {}
  for number, (label, rows) in enumerate(spans.items(), start=1):
    span_dir = os.path.join(data_dir, f'span-{number}')
    os.makedirs(span_dir)
    with open(os.path.join(span_dir, 'data.csv'), 'w', newline='', encoding='utf-8') as f:
      writer = csv.writer(f, lineterminator='\n')
      writer.writerow(header)
      writer.writerows(rows)
    with open(os.path.join(span_dir, '_SUCCESS'), 'w', encoding='utf-8'):
      pass
    index[number] = {'period': label, 'rows': len(rows)}
  import json  # pylint: disable=g-import-not-at-top
  with open(os.path.join(data_dir, 'spans.json'), 'w', encoding='utf-8') as f:
    json.dump({str(k): v for k, v in index.items()}, f, indent=2)
    f.write('\n')
  return index


def build_schema(columns: Sequence[Column], inference: Inference, spans: Dict[str, Rows],
                 header: Sequence[str]):
  """The curated schema: types, presence, domains, the label kept out of serving, and
  drift/skew comparators with thresholds from the spans' own variation."""
  from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=g-import-not-at-top
  schema = schema_pb2.Schema()
  schema.default_environment.extend(['TRAINING', 'SERVING'])
  treatment = {c.column: c for c in inference.choices}
  for column in columns:
    feature = schema.feature.add(name=column.name)
    feature.type = {'int': schema_pb2.INT, 'float': schema_pb2.FLOAT}.get(column.kind,
                                                                         schema_pb2.BYTES)
    feature.value_count.max = 1
    if column.missing == 0 and column.kind != 'empty':
      feature.value_count.min = 1
      feature.presence.min_fraction = 1.0
      feature.presence.min_count = 1
    else:
      feature.presence.min_count = 0
    choice = treatment.get(column.name)
    if column.name == inference.label:
      feature.not_in_environment.append('SERVING')
      _label_domain(feature, inference)
    elif choice is not None and choice.treatment == 'ranged':
      feature.int_domain.min, feature.int_domain.max = choice.low, choice.high
  _comparators(schema, inference, spans, header)
  return schema


def _label_domain(feature, inference: Inference) -> None:
  """A class label's values as its domain: a class the model does not know, arriving in a
  new span, is an anomaly the data gate stops on (not a training failure)."""
  from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=g-import-not-at-top
  if inference.task != 'multiclass' and not (inference.task == 'binary'
                                             and feature.type == schema_pb2.BYTES):
    return
  if feature.type == schema_pb2.BYTES:
    feature.string_domain.name = feature.name
    feature.string_domain.value.extend(inference.classes)
  elif feature.type == schema_pb2.INT:
    values = [int(float(c)) for c in inference.classes]
    feature.int_domain.min, feature.int_domain.max = min(values), max(values)


def _comparators(schema, inference: Inference, spans: Dict[str, Rows], header: Sequence[str]):
  """Drift and skew comparators on every model input (and drift on the label)."""
  from pipeline.components.drift_check import drift  # pylint: disable=g-import-not-at-top
  from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=g-import-not-at-top
  # Dates move with time by nature: no drift or skew comparator on them.
  used = {c.column for c in inference.choices
          if c.treatment not in ('unused', 'dates')} | {inference.label}
  for feature in schema.feature:
    if feature.name not in used:
      continue
    for field in ('drift_comparator', 'skew_comparator'):
      if field == 'skew_comparator' and feature.name == inference.label:
        continue
      comparator = getattr(feature, field)
      if feature.type == schema_pb2.BYTES:
        comparator.infinity_norm.threshold = 0.0
      else:
        comparator.jensen_shannon_divergence.threshold = 0.0
  largest = _largest_span_distances(schema, spans, header, drift)
  for feature in schema.feature:
    for field in ('drift_comparator', 'skew_comparator'):
      if not feature.HasField(field):
        continue
      value = min(MAX_THRESHOLD, max(MIN_THRESHOLD, THRESHOLD_FACTOR * largest.get(feature.name, 0)))
      comparator = getattr(feature, field)
      if comparator.HasField('infinity_norm'):
        comparator.infinity_norm.threshold = round(value, 2)
      else:
        comparator.jensen_shannon_divergence.threshold = round(value, 2)


def _largest_span_distances(schema, spans: Dict[str, Rows], header: Sequence[str], drift
                            ) -> Dict[str, float]:
  """The largest drift distance TFDV measures between consecutive spans, per feature."""
  import pandas as pd  # pylint: disable=g-import-not-at-top
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=g-import-not-at-top
  kinds = {f.name: f.type for f in schema.feature}

  def frame(rows: Rows):
    df = pd.DataFrame(rows, columns=list(header))
    for name in df.columns:
      if kinds.get(name) in (schema_pb2.INT, schema_pb2.FLOAT):  # numbers, missing as NaN
        df[name] = pd.to_numeric(df[name].replace('', None), errors='coerce').astype('float64')
    return df
  statistics = [tfdv.generate_statistics_from_dataframe(frame(rows)) for rows in spans.values()]
  largest: Dict[str, float] = {}
  for previous, current in zip(statistics, statistics[1:]):
    for m in drift.measure(current, previous, schema, drift.DRIFT):
      largest[m.feature] = max(largest.get(m.feature, 0.0), m.value)
  return largest


def _yaml_list(values: Sequence[str]) -> str:
  import json  # pylint: disable=g-import-not-at-top
  return '[' + ', '.join(json.dumps(v) for v in values) + ']'


def demo_changes(inference: Inference, columns: Sequence[Column]) -> Dict[str, object]:
  """What `replay --demo` alters: the first two numeric inputs scaled (a drifted span), the
  first always-present one dropped and the second garbled (a schema-broken span)."""
  complete = {c.name for c in columns if c.missing == 0}
  numeric = [c.column for c in inference.choices if c.treatment in ('amounts', 'numbers')]
  required = [name for name in numeric if name in complete]
  return {'scaled': numeric[:2], 'dropped': required[0] if required else '',
          'garbled': required[1] if len(required) > 1 else ''}


def _blessing_lines(task: str) -> List[str]:
  """The thresholds a candidate of this task must pass to be blessed (pipeline/evaluation.py)."""
  if task == 'binary':
    return ['  min_auc: 0.75         # overall AUC a candidate needs to be blessed; raise it '
            'once you know the data']
  lines = ['  thresholds:           # what a candidate needs to be blessed (pipeline/evaluation.py)']
  if task == 'multiclass':
    return lines + ['    min_accuracy_lift: 0.0    # accuracy above the most frequent class\'s '
                    'share', '    max_accuracy_drop: 0.01   # at most this much below the '
                    'serving model\'s accuracy']
  return lines + ['    min_rmse_lift: 0.0        # RMSE below always answering the mean label',
                  '    max_rmse_increase: 0.05   # at most 5 % above the serving model\'s RMSE']


def tuning_lines(train_rows: int, epochs: int) -> List[str]:
  """The `tuning` section: a default search space sized to the data (small tables: narrower
  layers, smaller batches, more epochs)."""
  small = train_rows < 5000
  widths, batches = ((16, 32, 64, 128), (16, 32, 64, 128)) if small else (
      (32, 64, 128, 256), (64, 128, 256, 512))
  max_epochs = min(MAX_EPOCHS * 2, max(30, 2 * epochs))
  return ['# The hyperparameter search (`ctpipe tune`, `watch --tune-cron`; with auto: true, '
          'also this',
          '# data set\'s first run). Trials train on the training split alone, '
          'validation_share of it',
          '# held out to validate them; later runs reuse the best hyperparameters found.',
          'tuning:', '  auto: true', '  strategy: bayesian       # bayesian | random | hyperband',
          f'  max_trials: {SEARCH_TRIALS}', f'  max_minutes: {SEARCH_MINUTES}          # wall time '
          'of the whole search',
          '  validation_share: 0.2',
          f'  max_epochs: {max_epochs}           # per trial, stopped early after `patience` '
          'epochs without gain',
          f'  patience: {5 if small else 3}',
          '  min_gain: 0.002          # a trial replaces the written hyperparameters only when '
          '0.2 % better',
          f'  space:                   # {"a small" if small else "a larger"} table: '
          f'~{train_rows} training rows',
          f'    width: {{values: {list(widths)}}}   # units of the first hidden layer (each '
          'next: half)',
          '    depth: {values: [1, 2, 3]}',
          f'    learning_rate: {{min: 0.0003, max: {0.03 if small else 0.01}, log: true}}',
          f'    batch_size: {{values: {list(batches)}}}',
          '    dropout: {values: [0.0, 0.25, 0.5]}']


def config_text(name: str, inference: Inference, data_root: str, schema: str,
                renamed: Dict[str, str], index: Dict[int, Dict], thresholds_note: str,
                columns: Sequence[Column] = ()) -> str:
  """The data set's config file: its whole definition, each inferred choice commented."""
  import json  # pylint: disable=g-import-not-at-top
  lines = [f'# The data set {name!r}, written by `ctpipe init`; review it, then `ctpipe run '
           f'--config <this file>`.',
           '# Paths are relative to this file\'s folder.', '',
           'dataset:',
           f'  name: {name}',
           f'  pipeline_name: ctpipe-{name}',
           f'  label: {json.dumps(inference.label)}',
           f'  task: {inference.task}                      # {inference.task_why}']
  if inference.positive_class:
    lines.append(f'  positive_class: {json.dumps(inference.positive_class)}   # the class '
                 'whose probability the model returns')
  if inference.classes:
    lines.append(f'  classes: {_yaml_list(inference.classes)}')
  lines.append(f'  slices: {_yaml_list(inference.slices)}   # low-cardinality categorical '
               'features with enough rows per value')
  demo = demo_changes(inference, columns)
  if demo['scaled'] and demo['dropped']:
    lines += ['  demo:                    # `ctpipe replay --demo`: a drifted and a broken span',
              f'    scaled: {_yaml_list(demo["scaled"])}',
              f'    dropped: {json.dumps(demo["dropped"])}',
              f'    garbled: {json.dumps(demo["garbled"])}']
  lines.append('  features:')
  by_kind: Dict[str, List[Tuple[str, str, object]]] = {}
  for choice in inference.choices:
    by_kind.setdefault(choice.treatment, []).append((choice.column, choice.why, choice))
  for kind in ('amounts', 'numbers', 'vocabulary', 'dates', 'unused'):
    entries = by_kind.get(kind, [])
    if not entries:
      continue
    lines.append(f'    {kind}:')
    for column, why, _ in entries:
      lines.append(f'      - {json.dumps(column)}   # {why}')
  for kind in ('ranged', 'hashed'):
    entries = by_kind.get(kind, [])
    if not entries:
      continue
    lines.append(f'    {kind}:')
    for column, why, choice in entries:
      value = f'[{choice.low}, {choice.high}]' if kind == 'ranged' else '256'
      lines.append(f'      {json.dumps(column)}: {value}   # {why}')
  # About TARGET_STEPS optimizer steps over the window's training rows (2 in 3 rows):
  # small tables need many epochs, large ones few.
  rows = sum(v['rows'] for v in list(index.values())[-4:])
  steps = max(1, -(-(rows * 2 // 3) // 128))
  epochs = min(MAX_EPOCHS, max(MIN_EPOCHS, -(-TARGET_STEPS // steps)))
  lines += ['', 'pipeline:', '  window_spans: 4',
            f'  epochs: {epochs}            # about {TARGET_STEPS} training steps for '
            f'~{rows * 2 // 3} training rows, batch 128',
            *_blessing_lines(inference.task), '', *tuning_lines(rows * 2 // 3, epochs), '',
            'local:', f'  home: .ctpipe-{name}', f'  data_root: {data_root}', f'  schema: {schema}']
  if renamed:
    lines += ['', '# Columns renamed for TensorFlow (from the file: to here):']
    lines += [f'#   {old!r} -> {new!r}' for old, new in renamed.items()]
  lines += ['', '# Spans: ' + ', '.join(f'{k}: {v["period"]} ({v["rows"]} rows)'
                                       for k, v in index.items()),
            f'# Drift and skew thresholds in {schema}: {thresholds_note}']
  return '\n'.join(lines) + '\n'
