"""MergeWindow: the training window's spans as one Examples artifact (component, executor)."""
from pipeline.components.merge_window.component import (MergeWindowSpec, MergeWindow)
from pipeline.components.merge_window.executor import (EXAMPLES_KEY, MERGED_KEY, WINDOW_SPANS_PROPERTY, merge, MergeWindowExecutor)

__all__ = ['MergeWindowSpec', 'MergeWindow', 'EXAMPLES_KEY', 'MERGED_KEY', 'WINDOW_SPANS_PROPERTY', 'merge', 'MergeWindowExecutor']
