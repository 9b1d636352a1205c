"""`ctpipe init`: what it infers from a table, what it writes, and what it refuses."""
import csv
import random

import pytest
import yaml

from ctpipe import config
from ctpipe.datasets import infer, init as init_lib
from models import features


def _write(path, header, rows):
  with open(path, 'w', newline='', encoding='utf-8') as f:
    writer = csv.writer(f)
    writer.writerow(header)
    writer.writerows(rows)
  return str(path)


def _table(n=240, seed=0):
  rng = random.Random(seed)
  header = ['row id', 'amount', 'score', 'code', 'city', 'constant', 'empty', 'day', 'label']
  rows = []
  for i in range(n):
    amount = rng.expovariate(0.1)
    rows.append([str(i), f'{amount:.2f}', f'{rng.gauss(0, 1):.3f}', str(1 + i % 7),
                 ['north', 'south', 'east'][i % 3], 'x', '',
                 f'2024-{1 + i * 12 // n:02d}-15', 'yes' if amount > 10 else 'no'])
  return header, rows


def test_treatments_and_task_are_inferred_with_reasons(tmp_path):
  header, rows = _table()
  result = init_lib.init_dataset(_write(tmp_path / 't.csv', header, rows), 'label',
                                 name='toy', out_dir=str(tmp_path / 'toy'),
                                 positive_class='yes', span_by='day', period='quarter')
  treatment = {c.column: c.treatment for c in result.inference.choices}
  assert treatment == {'row_id': 'unused', 'amount': 'amounts', 'score': 'numbers',
                       'code': 'ranged', 'city': 'vocabulary', 'constant': 'unused',
                       'empty': 'unused', 'day': 'unused'}
  assert result.renamed == {'row id': 'row_id'}
  assert result.inference.task == 'binary' and result.inference.positive_class == 'yes'
  assert set(result.inference.slices) == {'code', 'city'}
  assert sorted(result.spans) == [1, 2, 3, 4]  # quarters of 2024
  assert all((tmp_path / 'toy' / 'data' / f'span-{n}' / '_SUCCESS').exists() for n in range(1, 5))
  text = (tmp_path / 'toy' / 'ctpipe.yaml').read_text()
  assert "# excluded: a distinct value in every row (an id?)" in text
  # The written config loads, relative to its own folder, and its contract is whole.
  project = config.load(result.config_path)
  assert project.path(project.local.schema) == str(tmp_path / 'toy' / 'schema.pbtxt')
  contract = features.FeatureContract.of(project.dataset)
  assert contract.ranged_features == {'code': (1, 7)}
  # `replay --demo` has what it needs: two numbers to shift, a required one to drop.
  demo = project.dataset.demo
  assert demo.scaled == ('amount', 'score') and demo.dropped == 'amount' and demo.garbled == 'score'
  assert yaml.safe_load(text)['dataset']['label'] == 'label'


def test_every_span_drift_threshold_sits_above_the_variation_init_measured(tmp_path):
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=g-import-not-at-top
  header, rows = _table()
  result = init_lib.init_dataset(_write(tmp_path / 't.csv', header, rows), 'label',
                                 out_dir=str(tmp_path / 'd'), positive_class='yes')
  schema = text_format.Parse(open(result.schema_path).read(), schema_pb2.Schema())
  by_name = {f.name: f for f in schema.feature}
  assert by_name['amount'].drift_comparator.jensen_shannon_divergence.threshold >= 0.1
  assert by_name['city'].drift_comparator.infinity_norm.threshold >= 0.1
  assert list(by_name['label'].not_in_environment) == ['SERVING']
  assert not by_name['row_id'].HasField('drift_comparator')  # not a model input


@pytest.mark.parametrize('values, task, why', [
    (['a', 'b'] * 40, 'binary', 'two values'),
    (['1.5', '2.25', '3.0', '4.75'] * 20, 'regression', 'a number'),
    (['red', 'green', 'blue'] * 27, 'multiclass', 'text with 3 values'),
    ([str(i % 50) for i in range(100)], 'regression', 'an integer with 50 values'),
])
def test_the_task_follows_the_label(values, task, why):
  column = infer.profile('y', values)
  found, reason, _, _, _ = infer.infer_task(column, values)
  assert found == task and why in reason


def test_a_few_integer_classes_are_flagged_as_ambiguous():
  values = [str(i % 4) for i in range(100)]
  task, _, _, classes, warning = infer.infer_task(infer.profile('y', values), values)
  assert task == 'multiclass' and classes == ('0', '1', '2', '3')
  assert '--task regression' in warning


@pytest.mark.parametrize('label, rows, message', [
    ('missing', None, "no label column 'missing'"),
    ('label', [['1', 'same']] * 80, "label column 'label' is constant ('same')"),
    ('label', [['1', 'a'], ['2', 'b']] * 10, '20 rows: a data set needs at least 60'),
    ('label', [['1', 'a'], ['2', '']] * 40, "label column 'label' is missing in 40 of 80 rows"),
])
def test_refusals_are_one_line(tmp_path, label, rows, message):
  path = _write(tmp_path / 'bad.csv', ['x', 'label'],
                rows if rows is not None else [['1', 'a'], ['2', 'b']] * 40)
  with pytest.raises(infer.InitError) as error:
    init_lib.init_dataset(path, label, out_dir=str(tmp_path / 'out'))
  assert message in str(error.value) and '\n' not in str(error.value)
  assert not (tmp_path / 'out' / 'ctpipe.yaml').exists()  # nothing half-written


def test_a_time_column_that_is_not_a_time_is_refused(tmp_path):
  header, rows = _table()
  path = _write(tmp_path / 't.csv', header, rows)
  with pytest.raises(infer.InitError, match="--span-by 'city': row 2 holds"):
    init_lib.init_dataset(path, 'label', out_dir=str(tmp_path / 'x'), positive_class='yes',
                          span_by='city')


def test_the_raw_penguins_data_is_declared_as_multiclass_with_its_missing_values(tmp_path):
  import os  # pylint: disable=g-import-not-at-top
  import palmerpenguins  # pylint: disable=g-import-not-at-top
  raw = os.path.join(os.path.dirname(palmerpenguins.__file__), 'data', 'penguins-raw.csv')
  result = init_lib.init_dataset(raw, 'Species', name='penguins', out_dir=str(tmp_path / 'p'))
  treatment = {c.column: c.treatment for c in result.inference.choices}
  assert result.inference.task == 'multiclass' and len(result.inference.classes) == 3
  # 'NA' is a missing value: the measurements are numbers, and the spans hold empty cells.
  assert treatment['Culmen_Length_mm'] == 'numbers' and treatment['Delta_15_N_o_oo'] == 'numbers'
  assert treatment['Flipper_Length_mm'] == 'numbers'  # a measurement, not a code
  assert treatment['Date_Egg'] == 'dates' and treatment['Individual_ID'] == 'unused'
  assert treatment['Region'] == 'unused'  # one value
  text = '\n'.join(open(tmp_path / 'p' / 'data' / f'span-{n}' / 'data.csv').read()
                   for n in result.spans)
  assert ',NA,' not in text and ',NA\n' not in text
  project = config.load(result.config_path)
  assert project.dataset.task == 'multiclass'
  assert project.dataset.classes == result.inference.classes  # the model's class order
  assert project.pipeline.thresholds.min_accuracy_lift == 0.0  # written for the task
  # The species are the label's domain: a new one in a later span stops at the data gate,
  # and a definition whose classes differ from the schema's is refused before any run.
  from pipeline import local_runner, schema_tool  # pylint: disable=g-import-not-at-top
  schema_path = str(tmp_path / 'p' / 'schema.pbtxt')
  label = next(f for f in schema_tool.load(schema_path).feature if f.name == 'Species')
  assert sorted(label.string_domain.value) == sorted(result.inference.classes)
  local_runner.check_definition_against_schema(project.dataset, schema_path)
  import dataclasses  # pylint: disable=g-import-not-at-top
  wrong = dataclasses.replace(project.dataset, classes=('a', 'b', 'c'))
  with pytest.raises(ValueError, match=r"dataset.classes \['a', 'b', 'c'\] are not the values"):
    local_runner.check_definition_against_schema(wrong, schema_path)


def test_calendar_parts_of_iso_text_and_epoch_seconds():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from models import preprocessing  # pylint: disable=g-import-not-at-top
  text = tf.constant([['2024-03-05'], ['2024-03-10 23:59:00'], [''], ['junk'],
                      ['1970-01-01T00:00:00'], ['2024-03-05 ab']])
  parts = {k: v.numpy().tolist() for k, v in preprocessing.calendar_parts(text).items()}
  # Tuesday, Sunday; missing and unreadable cells are 0; an unreadable hour is hour 0.
  assert parts == {'month': [3, 3, 0, 0, 1, 3], 'weekday': [2, 7, 0, 0, 4, 2],
                   'hour': [1, 24, 0, 0, 1, 1]}
  seconds = tf.constant([[1709596800], [1710115140], [-1]], tf.int64)  # the same moments
  parts = {k: v.numpy().tolist() for k, v in preprocessing.calendar_parts(seconds).items()}
  assert parts == {'month': [3, 3, 0], 'weekday': [2, 7, 0], 'hour': [1, 24, 0]}


def test_a_span_folder_keeps_its_spans_and_epoch_seconds_split_a_flat_file(tmp_path):
  header, rows = _table(240)
  for n in (1, 2):
    (tmp_path / 'in' / f'span-{n}').mkdir(parents=True)
    _write(tmp_path / 'in' / f'span-{n}' / 'part.csv', header, rows[(n - 1) * 120:n * 120])
  kept = init_lib.init_dataset(str(tmp_path / 'in'), 'label', out_dir=str(tmp_path / 'a'),
                               positive_class='yes')
  assert {k: v['rows'] for k, v in kept.spans.items()} == {1: 120, 2: 120}
  # Epoch seconds: one span per year.
  stamped = [[str(1_600_000_000 + i * 200_000)] + row[1:] for i, row in enumerate(rows)]
  flat = _write(tmp_path / 'flat.csv', ['ts'] + header[1:], stamped)
  split = init_lib.init_dataset(flat, 'label', out_dir=str(tmp_path / 'b'),
                                positive_class='yes', span_by='ts', period='year')
  assert [v['period'] for v in split.spans.values()] == ['2020', '2021', '2022']  # 2020-09..2022-03
  assert {c.column: c.treatment for c in split.inference.choices}['ts'] == 'unused'


def test_into_the_project_the_config_resolves_against_the_project(tmp_path):
  header, rows = _table()
  result = init_lib.init_dataset(_write(tmp_path / 't.csv', header, rows), 'label', name='toy',
                                 project_root=str(tmp_path / 'project'), positive_class='yes')
  assert result.config_path == str(tmp_path / 'project' / 'config' / 'toy.yaml')
  project = config.load(result.config_path)
  assert project.path(project.data_root()) == str(tmp_path / 'project' / 'data' / 'toy')
  assert project.path(project.local.schema) == str(tmp_path / 'project' / 'schema' / 'toy.pbtxt')
  with pytest.raises(infer.InitError, match='exists already'):
    init_lib.init_dataset(str(tmp_path / 't.csv'), 'label', name='toy',
                          project_root=str(tmp_path / 'project'), positive_class='yes')
