"""TFX's own executors, doing their work in this process when Beam runs locally.

ExampleGen (`csv_ingest`), StatisticsGen (`statistics`) and the Evaluator (`evaluator`,
with `local_metrics`) subclass TFX's executors. On the DirectRunner, for the options they
cover, they call TFX's, TFDV's and TFMA's own functions directly instead of through a
Beam pipeline; otherwise (Dataflow, another file format, an option not covered, a CSV
or split above the memory bound) they hand over to TFX's own executor on Beam
(`pipeline.beam_modes.runs_locally` decides).

This is the one place in ctpipe that relies on private APIs of the pinned stack (TFX
1.16, TFMA 0.47, TFDV 1.16, tfx-bsl 1.16). Each is listed with the test that runs TFX's
own executor beside ours on the same input and fails when an upgrade changes it:

csv_ingest.py  (tests/in_process/test_csv_ingest.py: examples per split byte for byte, type inference)
  - tfx.components.example_gen.csv_example_gen.executor._ReadCsvRecordsFromTextFile
  - tfx_bsl.coders.csv_decoder._InferValueType
  - tfx.components.example_gen.base_example_gen_executor._PartitionFn
statistics.py  (tests/in_process/test_statistics.py: statistics equal Beam's, artifact properties)
  - tensorflow_data_validation.statistics.stats_impl.get_generators(in_memory=True)
    (public function of a non-exported module)
evaluator.py  (tests/in_process/test_evaluator.py: metrics, plots, validation and blessing equal TFMA's
  on Beam for two models; results load with tfma.load_eval_result)
  - tensorflow_model_analysis.api.model_eval_lib._update_eval_config_with_defaults
  - tensorflow_model_analysis.writers.eval_config_writer._serialize_eval_run
local_metrics.py  (tests/in_process/test_evaluator.py, as above, and its unsupported-config test)
  - metrics_plots_and_validations_evaluator: _filter_and_separate_computations,
    _is_private_metrics, _filter_by_key_type
  - combiner attributes of TFMA's four base combiners: _example_id_key,
    _extract_label_prediction_and_weight, _fractional_labels, _prediction_based_bucketing,
    _left, _range, _num_buckets, _enable_fractional_labels, _binary_confusion_matrices.
    _thresholds, _key
  - slicer_lib.SingleSliceSpec._columns and ._features

`pipeline.in_process_executors: false` in the config (`--set
pipeline.in_process_executors=false`) turns them off: the definition then gives these
components TFX's own executors, on Beam, as on Dataflow.
"""
