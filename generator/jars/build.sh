#!/usr/bin/env bash
# Rebuild aiar's H2O bridge jar from generator/jars (pom.xml + src/, Maven Central), then the H2O
# example bundle: its MOJO (trained by generator/jars/train_example.py) and its predict.jar.
#   bash generator/jars/build.sh            # jar + example model
#   bash generator/jars/build.sh --jar-only
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-$repo/.venv/bin/python}"
mvn -q -B -f "$here/pom.xml" clean package  # clean: shading over an old target/ re-shades the shaded jar
jar="$here/target/h2o-predict.jar"
# aiar's own copy: shipped in the images of bundles that give a MOJO and no jar
install -m 0644 "$jar" "$repo/generator/jars/h2o-predict.jar"
# the example bundle's own jar, as a user would build it around h2o-genmodel
install -m 0644 "$jar" "$repo/bundles/h2o-quality-gbm/src/predict.jar"
if [[ "${1:-}" != "--jar-only" ]]; then
  "$python" "$here/train_example.py"
fi
