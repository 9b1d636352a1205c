"""The Tuner's local executor: TFX's own search, then what the search did, kept with its result.

TFX's executor writes the best hyperparameters (`best_hyperparameters.txt`) and the
trials' scores (`tuner_results.json`). This one also writes `tuning_summary.json` into the
results artifact (strategy, budget, what stopped the search, the files and rows the trials
read, every trial) and puts the headline on the best hyperparameters' artifact in ML
Metadata, where the Trainer's runs, `ctpipe experiments` and the report find it. On Vertex
TFX's Vertex Tuner extension runs the same `tuner_fn` without it.
"""
import json
import os
from typing import Any, Dict, List

from tfx import types
from tfx.components.tuner import executor as tfx_tuner
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils

from ctpipe.tuning_results import SUMMARY_FILE

class TunerExecutor(tfx_tuner.Executor):
  """TFX's Tuner executor, keeping the search's summary (see the module docstring)."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
    tuner = tfx_tuner.search(input_dict, exec_properties, self._get_tmp_dir(),
                             print_tuning_summary=False)
    summary = tuner.summary()
    if not summary['trials']:
      raise RuntimeError('no trial of the search finished (see the log for their errors)')
    tfx_tuner.write_best_hyperparameters(tuner, output_dict)
    results = artifact_utils.get_single_instance(
        output_dict[standard_component_specs.TUNER_RESULTS_KEY])
    io_utils.write_string_file(os.path.join(results.uri, SUMMARY_FILE),
                               json.dumps(summary, indent=2, sort_keys=True))
    best = artifact_utils.get_single_instance(
        output_dict[standard_component_specs.BEST_HYPERPARAMETERS_KEY])
    # As strings: MLMD's SQLite backend rounds doubles to 6 decimals.
    best.set_string_custom_property('objective', summary['objective'])
    best.set_string_custom_property('best_value', repr(summary['best_value']))
    best.set_int_custom_property('trials', len(summary['trials']))
    best.set_string_custom_property('values', json.dumps(summary['best_values'], sort_keys=True))
    best.set_string_custom_property('stopped_by', summary['stopped_by'])
    best.set_int_custom_property('kept_configured', int(summary['kept_configured']))
