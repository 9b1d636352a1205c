# The project's image for Vertex AI Pipelines and Dataflow workers: TFX's own 1.16 image
# (Python 3.10, the TFX stack, Beam's SDK harness as entrypoint) plus this project, so
# the dotted-path user code (models.training.run_fn, models.preprocessing...) and the
# custom components resolve in every pipeline step and on every Beam worker.
#   scripts/build_image.sh builds and pushes it; config/ctpipe.yaml names it (vertex.image).
FROM gcr.io/tfx-oss-public/tfx:1.16.0

WORKDIR /ctpipe
COPY docker/requirements-image.txt /tmp/requirements-image.txt
RUN pip install --no-cache-dir --no-deps -r /tmp/requirements-image.txt

COPY pyproject.toml setup.py README.md ./
COPY ctpipe/ ctpipe/
COPY pipeline/ pipeline/
COPY models/ models/
COPY schema/ schema/
COPY config/ config/
# --no-deps: the image brings the TFX stack; the project must run on its Python 3.10.
RUN pip install --no-cache-dir --no-deps . \
 && python -c "import models.training, pipeline.definition, ctpipe.model_server.server"

# The TFX image's entrypoint (Beam's boot) stays: Dataflow starts workers through it,
# and Vertex AI Pipelines gives each step its own command.
