#!/usr/bin/env bash
# Rebuild aiar's H2O bridge jar from java/h2o-predict (Maven Central), then the H2O example bundle:
# its MOJO (trained by java/train_example.py) and its predict.jar. Run from anywhere:
#   bash java/build.sh            # jar + example model
#   bash java/build.sh --jar-only
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$repo/.venv/bin/python}"
mvn -q -B -f "$repo/java/h2o-predict/pom.xml" package
jar="$repo/java/h2o-predict/target/h2o-predict.jar"
# aiar's own copy: shipped in the images of bundles that give a MOJO and no jar
install -m 0644 "$jar" "$repo/generator/jars/h2o-predict.jar"
# the example bundle's own jar, as a user would build it around h2o-genmodel
install -m 0644 "$jar" "$repo/bundles/h2o-quality-gbm/src/predict.jar"
if [[ "${1:-}" != "--jar-only" ]]; then
  "$python" "$repo/java/train_example.py"
fi
