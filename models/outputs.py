"""What a model of each task answers: its serving outputs, and the columns batch prediction
writes from them.

The serving signatures (`serving_default`, `serving_raw`) return, per task:
- binary: `probability` (P(positive class), float) and, named after the label, the class
  (0/1, int64);
- multiclass: `probabilities` (one per class, in the definition's `classes` order) and,
  named after the label, the class's name (string);
- regression: named after the label, the predicted value (float).
TF Serving's Classify (classification) and Regress (binary: the probability; regression:
the value) return the same numbers.

Batch prediction (`ctpipe predict`) appends, for every task, `prediction` (the class or the
value) and, for classification, `probability` (binary) or one `probability_<class>` column
per class.
"""
from typing import List, Optional, Sequence, Tuple

BINARY, MULTICLASS, REGRESSION = 'binary', 'multiclass', 'regression'
PROBABILITY_KEY = 'probability'
PROBABILITIES_KEY = 'probabilities'
PREDICTION_COLUMN = 'prediction'

# (CSV column, signature output, index into the output's last axis or None)
Column = Tuple[str, str, Optional[int]]


def score_key(task: str, label: str) -> str:
  """The output the Evaluator scores: the probability, the probabilities, or the value."""
  return {BINARY: PROBABILITY_KEY, MULTICLASS: PROBABILITIES_KEY}.get(task, label)


def output_keys(task: str, label: str) -> Tuple[str, ...]:
  """The outputs of `serving_default` and `serving_raw`, in a stable order."""
  if task == REGRESSION:
    return (label,)
  return (score_key(task, label), label)


def class_key(output_names: Sequence[str]) -> str:
  """The class output among a classifier's outputs (the one besides its probabilities)."""
  return next(name for name in sorted(output_names)
              if name not in (PROBABILITY_KEY, PROBABILITIES_KEY))


def task_of(output_names: Sequence[str]) -> str:
  """The task of a model, read from its signature's outputs."""
  names = set(output_names)
  if PROBABILITIES_KEY in names:
    return MULTICLASS
  if PROBABILITY_KEY in names:
    return BINARY
  return REGRESSION


def batch_columns(task: str, label: str, classes: Sequence[str]) -> List[Column]:
  """The columns batch prediction appends to every input row, in order."""
  columns: List[Column] = [(PREDICTION_COLUMN, label, None)]
  if task == BINARY:
    columns.append((PROBABILITY_KEY, PROBABILITY_KEY, None))
  elif task == MULTICLASS:
    columns.extend((f'{PROBABILITY_KEY}_{name}', PROBABILITIES_KEY, i)
                   for i, name in enumerate(classes))
  return columns
