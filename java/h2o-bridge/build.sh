#!/usr/bin/env bash
# Rebuild aiar's H2O bridge jar from this Maven project (pom.xml + src/, Maven Central), then the H2O
# example bundle: its MOJO (trained by bundles/sources/h2o-quality-gbm/train_model.py) and its predict.jar.
#   bash java/h2o-bridge/build.sh             # jar + example model
#   bash java/h2o-bridge/build.sh --jar-only
#   bash java/h2o-bridge/build.sh --verify    # rebuild in a scratch copy, compare sha256 with the committed jar
# The bytes are reproducible (fixed entry dates in pom.xml): --verify is how CI proves it.
# MAVEN_REPO: Maven's local repository (default: ~/.cache/aiar-maven, so that CI can cache it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-$repo/.venv/bin/python}"
committed="$repo/generator/jars/h2o-predict.jar"
maven_repo="${MAVEN_REPO:-$HOME/.cache/aiar-maven}"

build() {  # build DIR: DIR/target/h2o-predict.jar from the sources in DIR
  # clean: shading over an old target/ re-shades the shaded jar
  mvn -q -B -Dmaven.repo.local="$maven_repo" -f "$1/pom.xml" clean package
}

if [[ "${1:-}" == "--verify" ]]; then
  scratch="$(mktemp -d)"
  trap 'rm -rf "$scratch"' EXIT
  cp -R "$here/pom.xml" "$here/src" "$scratch/"
  build "$scratch"
  built="$(sha256sum "$scratch/target/h2o-predict.jar" | cut -d' ' -f1)"
  expected="$(sha256sum "$committed" | cut -d' ' -f1)"
  if [[ "$built" != "$expected" ]]; then
    echo "the rebuilt h2o-predict.jar ($built) differs from the committed one ($expected)" >&2
    exit 1
  fi
  echo "h2o-predict.jar rebuilt with the same sha256 $built"
  exit 0
fi

build "$here"
jar="$here/target/h2o-predict.jar"
# aiar's own copy: shipped in the images of bundles that give a MOJO and no jar
install -m 0644 "$jar" "$committed"
# the example bundle's own jar, as a user would build it around h2o-genmodel
install -m 0644 "$jar" "$repo/bundles/h2o-quality-gbm/src/predict.jar"
if [[ "${1:-}" != "--jar-only" ]]; then
  "$python" "$repo/bundles/sources/h2o-quality-gbm/train_model.py"
fi
