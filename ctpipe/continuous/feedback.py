"""The loop back from serving: request logs become statistics and, with labels, live metrics.

- Skew: the features of requests the served version answered (the server's request
  log, `<home>/requests/requests.jsonl*`) are summarised by TFDV and compared with the
  statistics of the data that version was trained on (its run's TrainingStatistics),
  by the curated schema's `skew_comparator`s.
- Degradation: labels that arrive later (a CSV of `request_id,label` and optionally
  `row`, the instance's index in its request; clients choose the id with an
  `X-Request-Id` header) are joined with the logged answers; the live metrics of the
  task (binary: AUC and accuracy; multiclass: accuracy; regression: RMSE and MAE) are
  compared with the version's evaluation metrics.
Either beyond its threshold is a trigger: `ctpipe watch --feedback` starts a run whose
reason names it.
"""
import base64
import csv
import dataclasses
import glob
import json
import os
import time
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np

from ctpipe.home import Home
from ctpipe.metadata.reader import MetadataReader, executions_by_node
from models import outputs
from pipeline import definition
from pipeline.components.drift_check import drift as drift_lib

REQUEST_LOG_PATTERN = 'requests.jsonl*'
PROBABILITY = outputs.PROBABILITY_KEY
Answer = Optional[object]  # binary: P(positive); multiclass: the class's name; regression: the value
Label = object


@dataclasses.dataclass(frozen=True)
class Task:
  """What the served model answers and what a label is (models.outputs), per task."""
  kind: str = outputs.BINARY
  label: str = ''
  classes: Tuple[str, ...] = ()
  positive_class: str = ''  # binary: the label value that means 1 ('' : labels are 0/1)

  @classmethod
  def of(cls, dataset) -> 'Task':
    return cls(dataset.task, dataset.label, tuple(dataset.classes), dataset.positive_class)

  def of_predict(self, answer: object) -> Answer:
    """The answer in a predict output: one row's dict, or the bare value of a one-output model."""
    if self.kind == outputs.BINARY:
      return answer.get(PROBABILITY) if isinstance(answer, dict) else None
    return answer.get(self.label) if isinstance(answer, dict) else answer

  def of_classify(self, pairs) -> Answer:
    """The answer in one Classify result ([label, score] pairs)."""
    if self.kind == outputs.BINARY:
      return next((float(score) for label, score in pairs if str(label) == '1'), None)
    return str(max(pairs, key=lambda pair: float(pair[1]))[0]) if pairs else None

  def answers_of_columns(self, answered: object) -> list:
    """Every row's answer in a columnar predict output (a dict of outputs, or one bare list)."""
    if isinstance(answered, dict):
      key = PROBABILITY if self.kind == outputs.BINARY else self.label
      return list(answered.get(key) or [])
    return list(answered) if isinstance(answered, list) and self.kind != outputs.BINARY else []

  def parse_label(self, text: str) -> Label:
    if self.kind == outputs.MULTICLASS:
      if text not in self.classes:
        raise ValueError(f'label {text!r} is not one of the classes {list(self.classes)}')
      return text
    if self.kind == outputs.REGRESSION:
      value = float(text)
      if not np.isfinite(value):
        raise ValueError(f'label must be a finite number, got {text!r}')
      return value
    if self.positive_class and text == self.positive_class:
      return 1
    if self.positive_class and text in self.classes:
      return 0
    try:
      label = int(float(text))
    except ValueError:
      label = None
    if label not in (0, 1):
      named = f' or one of {list(self.classes)}' if self.positive_class else ''
      raise ValueError(f'label must be 0 or 1{named}, got {text!r}')
    return label

  def clean(self, answer: object) -> Answer:
    """A logged answer as one value: a float, or a class's name."""
    while isinstance(answer, list):
      answer = answer[0] if answer else None
    if answer is None:
      return None
    if self.kind == outputs.MULTICLASS:
      return answer.decode() if isinstance(answer, bytes) else str(answer)
    return float(answer)

  @property
  def compared_metrics(self) -> Tuple[str, ...]:
    """The evaluation metrics live ones are held against."""
    return {outputs.BINARY: ('auc', 'binary_accuracy'), outputs.MULTICLASS: ('accuracy',),
            outputs.REGRESSION: ('rmse', 'mean_absolute_error')}[self.kind]


BINARY_TASK = Task()


@dataclasses.dataclass(frozen=True)
class FeedbackThresholds:
  """When served behaviour is a reason to retrain (skew thresholds live in the schema)."""
  min_rows: int = 200  # fewer served rows (or labelled rows) than this: no verdict
  max_live_auc_drop: float = 0.05
  max_live_accuracy_drop: float = 0.05
  max_live_rmse_increase: float = 0.10  # relative: live RMSE at most 10 % above evaluation's

  def __post_init__(self):
    if self.min_rows < 1:
      raise ValueError(f'min_rows must be >= 1, got {self.min_rows}')


@dataclasses.dataclass
class ServedRow:
  request_id: str
  row: int
  time: float
  version: int
  features: Dict[str, object]
  answer: Answer


# --- the request log -------------------------------------------------------------------

def _example_features(serialized: bytes) -> Dict[str, object]:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  example = tf.train.Example.FromString(serialized)
  out: Dict[str, object] = {}
  for name, feature in example.features.feature.items():
    kind = feature.WhichOneof('kind')
    values = list(getattr(feature, kind).value) if kind else []
    if values:
      value = values[0]
      out[name] = value.decode('utf-8', 'replace') if isinstance(value, bytes) else value
  return out


def _plain(value: object) -> object:
  """A JSON feature value as one scalar: [v] → v, {"b64": s} → text, [] / null → None."""
  if isinstance(value, list):
    value = value[0] if value else None
  if isinstance(value, dict) and 'b64' in value:
    value = base64.b64decode(value['b64']).decode('utf-8', 'replace')
  return value


def _instance_features(instance: object) -> Dict[str, object]:
  if isinstance(instance, dict):
    if set(instance) <= {'examples', 'inputs'} and instance:
      serialized = _plain(next(iter(instance.values())))
      return _example_features(serialized.encode('latin-1') if isinstance(serialized, str)
                               else serialized)
    if set(instance) == {'b64'}:
      return _example_features(base64.b64decode(instance['b64']))
    return {k: _plain(v) for k, v in instance.items()}
  return {}


def _b64_examples(values: Iterable[object]) -> List[Dict[str, object]]:
  rows = []
  for value in values:
    if isinstance(value, dict) and 'b64' in value:
      rows.append(_example_features(base64.b64decode(value['b64'])))
    elif isinstance(value, dict):
      rows.append({k: _plain(v) for k, v in value.items()})
  return rows


def rows_of(entry: Dict[str, object], task: Task = BINARY_TASK
            ) -> List[Tuple[Dict[str, object], Answer]]:
  """(features, answer) of every instance in one logged request."""
  request = entry.get('request') or {}
  response = entry.get('response') or {}
  api = entry.get('api')
  if api in ('classify', 'regress'):
    features = _b64_examples(request.get('examples') or [])
    results = response.get('results') or []
    if api == 'classify':
      answers = [task.of_classify(r) for r in results]
    else:
      answers = list(results)
  elif 'instances' in request:
    features = [_instance_features(i) for i in request['instances']]
    answers = [task.of_predict(p) for p in response.get('predictions') or []]
  else:
    inputs = request.get('inputs') or {}
    if isinstance(inputs, dict) and set(inputs) <= {'examples', 'inputs'}:
      features = _b64_examples(next(iter(inputs.values()), []))
    elif isinstance(inputs, dict):
      size = max((len(v) for v in inputs.values() if isinstance(v, list)), default=0)
      features = [{k: _plain(v[i]) if isinstance(v, list) else _plain(v)
                   for k, v in inputs.items()} for i in range(size)]
    else:
      features = []
    answers = task.answers_of_columns(response.get('outputs'))
  answers = [task.clean(a) for a in answers]
  answers += [None] * (len(features) - len(answers))
  return list(zip(features, answers))


def log_entries(request_dir: str, since: float = 0.0,
                model_name: Optional[str] = None) -> Iterable[Dict[str, object]]:
  """Every entry of the request log (rotated files included) since `since`, of `model_name`
  when given (one server serves every data set of a home into one log): answers returned,
  a shadow's answers (`shadow`), and server errors (`status`)."""
  for path in sorted(glob.glob(os.path.join(request_dir, REQUEST_LOG_PATTERN))):
    with open(path, encoding='utf-8') as f:
      for line in f:
        try:
          entry = json.loads(line)
        except json.JSONDecodeError:
          continue  # a line cut short by rotation or a crash
        if entry.get('time', 0) < since:
          continue
        if model_name is not None and entry.get('model', model_name) != model_name:
          continue
        yield entry


def read_request_log(request_dir: str, version: Optional[int] = None,
                     since: float = 0.0, task: Task = BINARY_TASK,
                     model_name: Optional[str] = None) -> List[ServedRow]:
  """Rows whose answers were returned to clients, oldest first (a shadow's answers and
  server errors are online validation's, not the served behaviour's)."""
  rows: List[ServedRow] = []
  for entry in log_entries(request_dir, since, model_name):
    if entry.get('shadow') or 'status' in entry:
      continue
    if version is not None and int(entry.get('version', -1)) != version:
      continue
    for index, (features, answer) in enumerate(rows_of(entry, task)):
      rows.append(ServedRow(str(entry.get('request_id')), index, float(entry['time']),
                            int(entry.get('version', -1)), features, answer))
  return sorted(rows, key=lambda r: (r.time, r.request_id, r.row))


def _is_missing(value: object, markers: set) -> bool:
  if isinstance(value, float) and np.isnan(value):
    return True
  try:
    return value in markers
  except TypeError:
    return False


def served_statistics(rows: List[ServedRow], schema):
  """TFDV statistics of the served features, typed as the curated schema types them."""
  import pandas as pd  # pylint: disable=g-import-not-at-top
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=g-import-not-at-top
  columns: Dict[str, list] = {}
  for feature in schema.feature:
    # serving_raw's missing-value markers ('' / -1 / NaN) mean "no value", as in the model.
    missing = {'', None} if feature.type == schema_pb2.BYTES else (
        {-1, None} if feature.type == schema_pb2.INT else {None})
    values = [None if _is_missing(r.features.get(feature.name), missing) else
              r.features.get(feature.name) for r in rows]
    if all(v is None for v in values):
      continue
    if feature.type == schema_pb2.BYTES:
      columns[feature.name] = [None if v is None else str(v) for v in values]
    elif feature.type == schema_pb2.INT:
      columns[feature.name] = pd.array([None if v is None else int(v) for v in values],
                                       dtype='Int64')
    else:
      columns[feature.name] = [np.nan if v is None else float(v) for v in values]
  frame = pd.DataFrame(columns)
  # Nullable integers become floats with NaN for TFDV: statistics of the same values.
  for name in frame.columns:
    if str(frame[name].dtype) == 'Int64':
      frame[name] = frame[name].astype('float64')
  return tfdv.generate_statistics_from_dataframe(frame)


# --- labels and live metrics ------------------------------------------------------------

def read_labels(path: str, task: Task = BINARY_TASK) -> Dict[Tuple[str, int], Label]:
  """`request_id,label[,row]` → {(request id, row): label}; a clear error on a bad file.

  A label is 0/1 (binary), one of the classes (multiclass) or a number (regression)."""
  labels: Dict[Tuple[str, int], Label] = {}
  with open(path, newline='', encoding='utf-8') as f:
    reader = csv.DictReader(f)
    missing = {'request_id', 'label'} - set(reader.fieldnames or [])
    if missing:
      raise ValueError(f'{path}: needs columns request_id,label (and optionally row); '
                       f'missing {sorted(missing)}')
    for line, record in enumerate(reader, start=2):
      try:
        label = task.parse_label(record['label'])
        row = int(record.get('row') or 0)
      except ValueError as e:
        raise ValueError(f'{path}, line {line}: {e}') from e
      labels[(record['request_id'], row)] = label
  return labels


def live_metrics(rows: List[ServedRow], labels: Dict[Tuple[str, int], Label],
                 task: Task = BINARY_TASK) -> Tuple[int, Dict[str, float]]:
  """(labelled rows, the task's metrics) over served rows that have a label: binary
  {'auc', 'binary_accuracy'}, multiclass {'accuracy'}, regression {'rmse',
  'mean_absolute_error'}."""
  pairs = [(labels[(r.request_id, r.row)], r.answer) for r in rows
           if (r.request_id, r.row) in labels and r.answer is not None]
  if not pairs:
    return 0, {}
  if task.kind == outputs.MULTICLASS:
    return len(pairs), {'accuracy': float(np.mean([y == a for y, a in pairs]))}
  y = np.array([p[0] for p in pairs], dtype=np.float64)
  p = np.array([p[1] for p in pairs], dtype=np.float64)
  if task.kind == outputs.REGRESSION:
    return len(pairs), {'rmse': float(np.sqrt(np.mean((y - p) ** 2))),
                        'mean_absolute_error': float(np.mean(np.abs(y - p)))}
  from sklearn import metrics as sk  # pylint: disable=g-import-not-at-top
  out = {'binary_accuracy': float(np.mean((p > 0.5) == (y == 1)))}
  if len(set(y.tolist())) == 2:
    out['auc'] = float(sk.roc_auc_score(y, p))
  return len(pairs), out


def degradations(live: Dict[str, float], evaluation: Dict[str, float],
                 thresholds: FeedbackThresholds) -> List[str]:
  """Live metrics beyond their thresholds against the version's evaluation, in words."""
  found = []
  for name, drop in (('auc', thresholds.max_live_auc_drop),
                     ('binary_accuracy', thresholds.max_live_accuracy_drop),
                     ('accuracy', thresholds.max_live_accuracy_drop)):
    if name in live and name in evaluation and live[name] < evaluation[name] - drop:
      found.append(f'live {name} {live[name]:.3f} < evaluation {evaluation[name]:.3f} − {drop:g}')
  if 'rmse' in live and 'rmse' in evaluation and (
      live['rmse'] > evaluation['rmse'] * (1 + thresholds.max_live_rmse_increase)):
    found.append(f'live rmse {live["rmse"]:.4g} > evaluation {evaluation["rmse"]:.4g} '
                 f'× {1 + thresholds.max_live_rmse_increase:g}')
  return found


# --- what the served version was trained and evaluated on -----------------------------

@dataclasses.dataclass(frozen=True)
class ServedVersionRecord:
  version: int
  training_statistics_uri: Optional[str]
  evaluation_uri: Optional[str]


def served_version_record(reader: MetadataReader, version: int
                          ) -> Optional[ServedVersionRecord]:
  """The run that pushed `version`: its TrainingStatistics and Evaluator outputs."""
  for artifact in reader.node_outputs(definition.PUSHER, 'PushedModel'):
    pushed = artifact.custom_properties.get('pushed_version')
    if not artifact.custom_properties.get('pushed') or str(pushed) != str(version):
      continue
    for run in reader.runs_of_artifact(artifact.id):
      by_node = executions_by_node(reader.run_executions(run))
      stats = by_node.get(definition.TRAINING_STATISTICS)
      evaluator = by_node.get(definition.EVALUATOR)
      stats_uri = next((a.uri for a in reader.execution_outputs(stats.id).get('statistics', [])),
                       None) if stats else None
      eval_uri = next((a.uri for a in reader.execution_outputs(evaluator.id).get(
          'evaluation', [])), None) if evaluator else None
      return ServedVersionRecord(version, stats_uri, eval_uri)
  return None


# --- the check ------------------------------------------------------------------------

@dataclasses.dataclass
class FeedbackReport:
  version: Optional[int]
  served_rows: int
  skew: List[drift_lib.Measurement] = dataclasses.field(default_factory=list)
  labelled_rows: int = 0
  live: Dict[str, float] = dataclasses.field(default_factory=dict)
  evaluation: Dict[str, float] = dataclasses.field(default_factory=dict)
  notes: List[str] = dataclasses.field(default_factory=list)
  degraded: List[str] = dataclasses.field(default_factory=list)

  def triggers(self) -> List[str]:
    found = []
    if drift_lib.beyond(self.skew):
      found.append(drift_lib.summary(self.skew, drift_lib.SKEW))
    if self.degraded:
      found.append('degradation: ' + ', '.join(self.degraded))
    return found

  def to_dict(self) -> Dict[str, object]:
    return {'version': self.version, 'served_rows': self.served_rows,
            'skew': [m.to_dict() for m in self.skew], 'labelled_rows': self.labelled_rows,
            'live': self.live, 'evaluation': self.evaluation, 'notes': self.notes,
            'degraded': self.degraded, 'triggers': self.triggers()}


def check(home: Home, pipeline_name: str, model_name: str, schema,
          labels_path: Optional[str] = None,
          thresholds: FeedbackThresholds = FeedbackThresholds(),
          since: float = 0.0, request_dir: Optional[str] = None,
          task: Task = BINARY_TASK) -> FeedbackReport:
  """Skew and live metrics of the version being served from `home`.

  `request_dir`: where the server logs requests (default: the home's request log, where
  `ctpipe serve --home` writes them).
  """
  from ctpipe.model_server import versions  # pylint: disable=g-import-not-at-top
  version = versions.target_version(home.model_base(model_name))
  if version is None:
    return FeedbackReport(None, 0, notes=['no model is being served'])
  rows = read_request_log(request_dir or home.request_log_dir, version, since, task, model_name)
  report = FeedbackReport(version, len(rows))
  reader = home.reader(pipeline_name)
  if reader is None:
    return FeedbackReport(version, len(rows), notes=[f'no metadata store at {home.describe_store()}'])
  record = served_version_record(reader, version)
  if record is None or record.training_statistics_uri is None:
    report.notes.append(f'version {version} has no training statistics in ML Metadata '
                        '(pushed before TrainingStatistics existed?)')
  elif len(rows) < thresholds.min_rows:
    report.notes.append(f'{len(rows)} served rows for version {version}; skew needs '
                        f'{thresholds.min_rows}')
  else:
    training = drift_lib.load_split_statistics(record.training_statistics_uri, 'train')
    report.skew = drift_lib.measure(served_statistics(rows, schema), training, schema,
                                    drift_lib.SKEW)
  if labels_path:
    report.labelled_rows, report.live = live_metrics(rows, read_labels(labels_path, task), task)
    if report.labelled_rows < thresholds.min_rows:
      report.notes.append(f'{report.labelled_rows} labelled rows; live metrics need '
                          f'{thresholds.min_rows}')
    elif record is not None and record.evaluation_uri:
      from pipeline import run_summary  # pylint: disable=g-import-not-at-top
      candidate, _, _ = run_summary.read_evaluation(record.evaluation_uri)
      report.evaluation = {k: candidate[k] for k in task.compared_metrics if k in candidate}
      report.degraded = degradations(report.live, report.evaluation, thresholds)
  return report


class FeedbackTrigger:
  """A watcher's extra trigger: fires once per new finding, not on every poll.

  Remembers (in the home's `feedback/state-<model>.json`) the served version and the findings it
  last fired for; the same findings for the same version do not fire again.
  """

  def __init__(self, home: Home, pipeline_name: str, model_name: str, schema,
               labels_path: Optional[str] = None,
               thresholds: FeedbackThresholds = FeedbackThresholds(),
               on_report=lambda report: None, request_dir: Optional[str] = None,
               state_dir: Optional[str] = None, task: Task = BINARY_TASK):
    self.home = home
    self.task = task
    self.args = (pipeline_name, model_name, schema)
    self.labels_path = labels_path
    self.thresholds = thresholds
    self.on_report = on_report
    self.request_dir = request_dir
    # One state per model: the data sets of a home are checked and retrained apart.
    self.state_path = os.path.join(state_dir or home.feedback_dir, f'state-{model_name}.json')
    self.last_report: Optional[FeedbackReport] = None

  def _state(self) -> Dict[str, object]:
    if not os.path.exists(self.state_path):
      return {}
    with open(self.state_path, encoding='utf-8') as f:
      return json.load(f)

  def _save(self, state: Dict[str, object], report: FeedbackReport) -> None:
    folder = os.path.dirname(self.state_path)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f'check-{time.strftime("%Y%m%dT%H%M%S")}.json'), 'w',
              encoding='utf-8') as f:
      json.dump(report.to_dict(), f, indent=2, sort_keys=True)
    with open(self.state_path + '.tmp', 'w', encoding='utf-8') as f:
      json.dump(state, f, sort_keys=True)
    os.replace(self.state_path + '.tmp', self.state_path)

  def __call__(self) -> Optional[str]:
    pipeline_name, model_name, schema = self.args
    report = check(self.home, pipeline_name, model_name, schema, self.labels_path,
                   self.thresholds, request_dir=self.request_dir, task=self.task)
    self.last_report = report
    self.on_report(report)
    found = report.triggers()
    if not found:
      return None
    kinds = sorted(t.split(':', 1)[0] for t in found)
    state = self._state()
    if state.get('version') == report.version and state.get('kinds') == kinds:
      return None  # already acted on for this version
    self._save({'version': report.version, 'kinds': kinds}, report)
    return '; '.join(found)
