"""A Tuner's outputs read for everyone: the run summary, `experiments`, the report.

Works on any TFX Tuner's artifacts: `best_hyperparameters.txt` (KerasTuner's
HyperParameters config) in a HyperParameters artifact; ctpipe's local Tuner executor adds
`tuning_summary.json` (every trial, the budget, what the trials read) to its TunerResults.
"""
import json
import os
from typing import Any, Dict

SUMMARY_FILE = 'tuning_summary.json'
BEST_HYPERPARAMETERS_FILE = 'best_hyperparameters.txt'


def read_summary(results_uri: str) -> Dict[str, Any]:
  """The search's summary in a TunerResults artifact ({} when it has none)."""
  path = os.path.join(results_uri, SUMMARY_FILE)
  if not os.path.exists(path):
    return {}
  with open(path, encoding='utf-8') as f:
    return json.load(f)


def read_best(hyperparameters_uri: str) -> Dict[str, Any]:
  """The values of a HyperParameters artifact ({} when its file is gone)."""
  path = os.path.join(hyperparameters_uri, BEST_HYPERPARAMETERS_FILE)
  if not os.path.exists(path):
    return {}
  with open(path, encoding='utf-8') as f:
    return json.load(f).get('values', {})
