"""DataGate: stops the run before Transform on anomalies (component, executor, header checks in anomalies.py)."""
from pipeline.components.data_gate.component import (DataGateSpec, DataGate)
from pipeline.components.data_gate.executor import (EXAMPLES_KEY, ANOMALIES_KEY, VALIDATED_EXAMPLES_KEY, INPUT_BASE_KEY, MAX_HEADER_BYTES, DataGateError, link_or_copy, link_tree, header_anomalies, pass_gate, DataGateExecutor)

__all__ = ['DataGateSpec', 'DataGate', 'EXAMPLES_KEY', 'ANOMALIES_KEY', 'VALIDATED_EXAMPLES_KEY', 'INPUT_BASE_KEY', 'MAX_HEADER_BYTES', 'DataGateError', 'link_or_copy', 'link_tree', 'header_anomalies', 'pass_gate', 'DataGateExecutor']
