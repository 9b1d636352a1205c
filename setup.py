"""ctpipe: a continuous-training TFX pipeline for TensorFlow models.

The TFX 1.16 stack is pinned in requirements.lock (installed with
`pip install --ignore-requires-python -r requirements.lock`, see README); the
package itself declares no dependencies so that TFX's own Vertex image can
install it with `--no-deps` on Python 3.10.
"""
from setuptools import find_packages, setup

setup(
    name='ctpipe',
    version='0.1.0',
    description='Continuous-training TFX pipeline (MLOps level 1) on Chicago-taxi spans',
    python_requires='>=3.10,<3.12',
    packages=find_packages(include=['pipeline', 'pipeline.*', 'models', 'models.*', 'model_server',
                                    'model_server.*', 'mlmd_inspect', 'mlmd_inspect.*', 'continuous',
                                    'continuous.*']),
    package_data={'pipeline': ['py.typed']},
    install_requires=[],
    entry_points={'console_scripts': ['ctpipe = pipeline.cli:main']},
)
