#!/usr/bin/env bash
# Builds the project's image and pushes it to Artifact Registry.
#   scripts/build_image.sh                  # the image named by vertex.image in config/ctpipe.yaml
#   scripts/build_image.sh IMAGE            # another name, e.g. .../ctpipe:0.2.0
#   CLOUD_BUILD=1 scripts/build_image.sh    # build on Cloud Build (no local Docker needed)
set -euo pipefail
cd "$(dirname "$0")/.."
image="${1:-$(python3 -c 'import yaml; print(yaml.safe_load(open("config/ctpipe.yaml"))["vertex"]["image"])')}"
registry_host="${image%%/*}"
echo "image: $image"
if [ "${CLOUD_BUILD:-0}" = 1 ]; then
  gcloud builds submit --tag "$image" .
else
  gcloud auth configure-docker "$registry_host" --quiet
  docker build -t "$image" .
  docker push "$image"
fi
echo "pushed $image; compile with: .venv/bin/ctpipe compile --set vertex.image=$image"
