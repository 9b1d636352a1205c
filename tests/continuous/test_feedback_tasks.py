"""Feedback for every task: what a logged answer is, what a label is, and the live metrics
held against the evaluation (pure functions; the served loop is in test_multiclass_and_regression)."""
import math

import pytest

from ctpipe.continuous import feedback
from ctpipe.continuous.feedback import FeedbackThresholds, ServedRow, Task

PENGUINS = Task('multiclass', 'Species', ('Adelie', 'Chinstrap', 'Gentoo'))
DIABETES = Task('regression', 'target')
CANCER = Task('binary', 'target', ('benign', 'malignant'), 'malignant')


def _entry(api, request, response):
  return {'request_id': 'r', 'time': 1.0, 'model': 'm', 'version': 1, 'api': api,
          'request': request, 'response': response}


def test_a_multiclass_answer_is_the_class_of_every_api():
  rows = {'instances': [{'Island': 'Biscoe'}, {'Island': 'Dream'}]}
  predicted = feedback.rows_of(_entry('predict', rows, {'predictions': [
      {'Species': 'Gentoo', 'probabilities': [0.1, 0.1, 0.8]},
      {'Species': 'Adelie', 'probabilities': [0.7, 0.2, 0.1]}]}), PENGUINS)
  assert [a for _, a in predicted] == ['Gentoo', 'Adelie']
  columns = feedback.rows_of(_entry('predict', {'inputs': {'Island': ['Biscoe']}}, {
      'outputs': {'Species': ['Chinstrap'], 'probabilities': [[0.1, 0.8, 0.1]]}}), PENGUINS)
  assert [a for _, a in columns] == ['Chinstrap']
  classified = feedback.rows_of(_entry('classify', {'examples': [{'Island': 'Biscoe'}]}, {
      'results': [[['Adelie', 0.2], ['Chinstrap', 0.1], ['Gentoo', 0.7]]]}), PENGUINS)
  assert [a for _, a in classified] == ['Gentoo']


def test_a_regression_answer_is_the_value_bare_or_named():
  bare = feedback.rows_of(_entry('predict', {'instances': [{'bmi': 30.0}, {'bmi': 20.0}]},
                                 {'predictions': [210.5, 99.0]}), DIABETES)
  assert [a for _, a in bare] == [210.5, 99.0]
  regressed = feedback.rows_of(_entry('regress', {'examples': [{'bmi': 30.0}]},
                                      {'results': [180.0]}), DIABETES)
  assert [a for _, a in regressed] == [180.0]


def test_labels_are_read_as_the_task_defines_them(tmp_path):
  path = tmp_path / 'labels.csv'
  path.write_text('request_id,label\na,Gentoo\n')
  assert feedback.read_labels(str(path), PENGUINS) == {('a', 0): 'Gentoo'}
  path.write_text('request_id,label\na,Emperor\n')
  with pytest.raises(ValueError, match="line 2: label 'Emperor' is not one of the classes"):
    feedback.read_labels(str(path), PENGUINS)
  path.write_text('request_id,label\na,151.5\n')
  assert feedback.read_labels(str(path), DIABETES) == {('a', 0): 151.5}
  path.write_text('request_id,label\na,malignant\nb,benign\nc,1\n')
  assert feedback.read_labels(str(path), CANCER) == {('a', 0): 1, ('b', 0): 0, ('c', 0): 1}
  path.write_text('request_id,label\na,maybe\n')
  with pytest.raises(ValueError, match=r"label must be 0 or 1 or one of \['benign', 'malignant'\]"):
    feedback.read_labels(str(path), CANCER)


def _rows(answers):
  return [ServedRow(f'r{i}', 0, float(i), 1, {}, answer) for i, answer in enumerate(answers)]


def test_live_metrics_and_degradation_per_task():
  rows = _rows(['Adelie', 'Gentoo', 'Gentoo', 'Adelie'])
  labels = {('r0', 0): 'Adelie', ('r1', 0): 'Gentoo', ('r2', 0): 'Adelie', ('r3', 0): 'Adelie'}
  count, live = feedback.live_metrics(rows, labels, PENGUINS)
  assert count == 4 and live == {'accuracy': 0.75}
  thresholds = FeedbackThresholds()
  assert feedback.degradations(live, {'accuracy': 0.95}, thresholds)[0].startswith(
      'live accuracy 0.750 < evaluation 0.950')
  assert not feedback.degradations(live, {'accuracy': 0.78}, thresholds)
  count, live = feedback.live_metrics(_rows([10.0, 20.0]), {('r0', 0): 13.0, ('r1', 0): 16.0},
                                      DIABETES)
  assert math.isclose(live['rmse'], math.sqrt((9 + 16) / 2))
  assert math.isclose(live['mean_absolute_error'], 3.5)
  # 10 % above the evaluation's RMSE is the limit.
  assert feedback.degradations(live, {'rmse': live['rmse'] / 1.11}, thresholds)
  assert not feedback.degradations(live, {'rmse': live['rmse'] / 1.09}, thresholds)
