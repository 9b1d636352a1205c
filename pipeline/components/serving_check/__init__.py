"""ServingCheck: the candidate must serve before a push (component, executor, the check in check.py)."""
from pipeline.components.serving_check.component import (ServingCheckSpec, ServingCheck)
from pipeline.components.serving_check.executor import (MODEL_KEY, MODEL_BLESSING_KEY, EXAMPLES_KEY, INFRA_BLESSING_KEY, MODEL_NAME_KEY, NUM_EXAMPLES_KEY, EVAL_SPLIT, REASON_PROPERTY, ServingCheckExecutor)

__all__ = ['ServingCheckSpec', 'ServingCheck', 'MODEL_KEY', 'MODEL_BLESSING_KEY', 'EXAMPLES_KEY', 'INFRA_BLESSING_KEY', 'MODEL_NAME_KEY', 'NUM_EXAMPLES_KEY', 'EVAL_SPLIT', 'REASON_PROPERTY', 'ServingCheckExecutor']
