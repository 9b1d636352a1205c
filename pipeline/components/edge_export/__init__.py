"""EdgeExport: each pushed version as TensorFlow Lite (component, executor, conversion in tflite.py)."""
from pipeline.components.edge_export.component import (EdgeModel, EdgeExportSpec, EdgeExport)
from pipeline.components.edge_export.executor import (PUSHED_MODEL_KEY, EXAMPLES_KEY, EDGE_MODEL_KEY, EDGE_BASE_KEY, NUM_EXAMPLES_KEY, EVAL_SPLIT, REASON_PROPERTY, edge_dir, EdgeExportExecutor)

__all__ = ['EdgeModel', 'EdgeExportSpec', 'EdgeExport', 'PUSHED_MODEL_KEY', 'EXAMPLES_KEY', 'EDGE_MODEL_KEY', 'EDGE_BASE_KEY', 'NUM_EXAMPLES_KEY', 'EVAL_SPLIT', 'REASON_PROPERTY', 'edge_dir', 'EdgeExportExecutor']
