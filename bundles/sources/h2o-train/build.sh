#!/usr/bin/env bash
# Rebuild the example training jar of the h2o-quality-trained bundle from this Maven project
# (pom.xml + src/, Maven Central) into bundles/h2o-quality-trained/src/train.jar.
#   bash bundles/sources/h2o-train/build.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
# clean: a second package over an old target/ could shade the already shaded jar again
mvn -q -B -f "$here/pom.xml" clean package
install -D -m 0644 "$here/target/train.jar" "$repo/bundles/h2o-quality-trained/src/train.jar"
