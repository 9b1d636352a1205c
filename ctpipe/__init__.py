"""ctpipe: a continuous-training TFX pipeline for TensorFlow models (MLOps level 1).

The installed package holds the command line (`ctpipe.cli`, `ctpipe.commands`) and the
subsystems beside the pipeline: configuration, the home, the ML Metadata client, the
model server, the continuous-training loop and inspect. The TFX pipeline itself is
`pipeline`, the model `models` (see the README's layout section).
"""
__version__ = '0.1.0'
