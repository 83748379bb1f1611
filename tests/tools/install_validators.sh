#!/usr/bin/env bash
# Install the pinned validators that tests/cluster runs over out/, into a cache outside the repo.
#
# Idempotent: a tool already installed at its pinned version is left alone, so a warm run takes
# well under a second. Prints "name=path" for every tool; tests/cluster/tools.py looks in the same
# place (or on PATH). Override the cache with AIAR_TOOLS_DIR.
#
#   kubeconform          go install (Go module proxy), pinned
#   kubernetes-validate  PyPI, pinned: only for its offline JSON schemas, which kubeconform reads
#   checkov              PyPI, pinned, in its own venv (its dependency tree must not meet ours)
#   deck                 built from tests/tools/deck (go.mod + go.sum pin it and its dependencies)
#   kube-score           built from tests/tools/kube-score, the same way
#   syft                 built from tests/tools/syft, the same way (aiar export's SBOMs)
set -euo pipefail

KUBECONFORM_VERSION=v0.7.0
KUBERNETES_VALIDATE_VERSION=1.34.1
KUBERNETES_SCHEMA_VERSION=v1.34.0   # the cluster the local platform runs is 1.34.x
CHECKOV_VERSION=3.2.500
DECK_VERSION=v1.30.0   # must match tests/tools/deck/go.mod
KUBE_SCORE_VERSION=v1.20.0   # must match tests/tools/kube-score/go.mod
SYFT_VERSION=v1.57.2   # must match tests/tools/syft/go.mod

TOOLS="${AIAR_TOOLS_DIR:-$HOME/.cache/aiar-tools}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="$TOOLS/bin"
mkdir -p "$BIN"
PYTHON="${PYTHON:-python3}"

stamp_ok() { [[ -f "$1" && "$(cat "$1")" == "$2" ]]; }

install_kubeconform() {
    local stamp="$TOOLS/kubeconform.version"
    if stamp_ok "$stamp" "$KUBECONFORM_VERSION" && [[ -x "$BIN/kubeconform" ]]; then return; fi
    GOBIN="$BIN" GOFLAGS=-buildvcs=false go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
    echo "$KUBECONFORM_VERSION" >"$stamp"
}

install_schemas() {
    local venv="$TOOLS/schemas-venv" stamp="$TOOLS/kubernetes-validate.version"
    if ! stamp_ok "$stamp" "$KUBERNETES_VALIDATE_VERSION"; then
        rm -rf "$venv"
        "$PYTHON" -m venv "$venv"
        # --no-deps: the package is used as a data carrier only; nothing of it is imported.
        "$venv/bin/pip" install --quiet --no-deps "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
        echo "$KUBERNETES_VALIDATE_VERSION" >"$stamp"
    fi
    local root
    root="$(find "$venv" -type d -path '*kubernetes_validate/kubernetes-json-schema' -print -quit)"
    [[ -n "$root" ]] || { echo "kubernetes-validate ships no kubernetes-json-schema directory" >&2; exit 1; }
    ln -sfn "$root" "$TOOLS/kubernetes-json-schema"
    convert_schemas "$root" "$venv/bin/python"
}

convert_schemas() {
    # kubernetes-validate's schemas carry "$id: https://kubernetes.io/api/..." and refs to
    # "/api/_definitions.json", which it resolves in-process; kubeconform would resolve them against
    # kubernetes.io, i.e. go to the network. Rewrite one pinned version into kubeconform's own layout
    # (<version>-standalone[-strict]/<kind>-<group>-<version>.json) with refs relative to the files.
    local root="$1" python="$2" out="$TOOLS/kubeconform-schemas"
    local stamp="$out/.from-$KUBERNETES_VALIDATE_VERSION-$KUBERNETES_SCHEMA_VERSION"
    [[ -f "$stamp" ]] && return
    rm -rf "$out"
    "$python" - "$root" "$out" "$KUBERNETES_SCHEMA_VERSION" <<'PY'
import json, pathlib, sys
root, out, version = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]

def local(node):
    if isinstance(node, dict):
        if isinstance(node.get("$id"), str):
            del node["$id"]
        return {k: (v.replace("/api/_definitions.json#", "_definitions.json#")
                    if k == "$ref" and isinstance(v, str) else local(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [local(v) for v in node]
    return node

for suffix in ("", "-strict"):
    src, dst = root / f"{version}-local{suffix}", out / f"{version}-standalone{suffix}"
    dst.mkdir(parents=True)
    for path in src.glob("*.json"):
        (dst / path.name).write_text(json.dumps(local(json.loads(path.read_text()))))
PY
    touch "$stamp"
}

install_checkov() {
    local venv="$TOOLS/checkov-venv" stamp="$TOOLS/checkov.version"
    if stamp_ok "$stamp" "$CHECKOV_VERSION" && [[ -x "$venv/bin/checkov" ]]; then
        ln -sfn "$venv/bin/checkov" "$BIN/checkov"
        return
    fi
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/pip" install --quiet "checkov==$CHECKOV_VERSION"
    ln -sfn "$venv/bin/checkov" "$BIN/checkov"
    echo "$CHECKOV_VERSION" >"$stamp"
}

install_deck() {
    # `go install github.com/kong/deck@v...` cannot be used here: the module proxy refuses the
    # version list (403) that `go install` reads for deprecations, and the checksum database does
    # not know some of decK's dependencies. So decK is built from a committed tool module whose go.sum
    # pins every dependency's hash: nothing unverified is compiled, and no list is needed.
    local stamp="$TOOLS/deck.version"
    if stamp_ok "$stamp" "$DECK_VERSION" && [[ -x "$BIN/deck" ]]; then return; fi
    (cd "$HERE/deck" && GOFLAGS="-buildvcs=false -mod=readonly" go build -trimpath -o "$BIN/deck" github.com/kong/deck)
    echo "$DECK_VERSION" >"$stamp"
}

install_kube_score() {
    # Built like decK, from a tool module whose go.sum pins kube-score and every dependency. The
    # binary is cached under its version; the version is also linked in, so `kube-score version`
    # tells which one ran.
    local stamp="$TOOLS/kube-score.version" pinned
    pinned="$(awk '$1 == "require" && $2 == "github.com/zegl/kube-score" {print $3}' "$HERE/kube-score/go.mod")"
    [[ "$pinned" == "$KUBE_SCORE_VERSION" ]] || {
        echo "tests/tools/kube-score/go.mod pins kube-score $pinned, this script $KUBE_SCORE_VERSION" >&2
        exit 1
    }
    if stamp_ok "$stamp" "$KUBE_SCORE_VERSION" && [[ -x "$BIN/kube-score" ]]; then return; fi
    (cd "$HERE/kube-score" && GOFLAGS="-buildvcs=false -mod=readonly" go build -trimpath \
        -ldflags "-X main.version=$KUBE_SCORE_VERSION" -o "$BIN/kube-score" github.com/zegl/kube-score/cmd/kube-score)
    echo "$KUBE_SCORE_VERSION" >"$stamp"
}

install_syft() {
    # aiar export's SBOM tool, built like kube-score from a tool module whose go.sum pins syft and
    # every dependency; the version is linked in (`syft version`).
    local stamp="$TOOLS/syft.version" pinned
    pinned="$(awk '$1 == "require" && $2 == "github.com/anchore/syft" {print $3}' "$HERE/syft/go.mod")"
    [[ "$pinned" == "$SYFT_VERSION" ]] || {
        echo "tests/tools/syft/go.mod pins syft $pinned, this script $SYFT_VERSION" >&2
        exit 1
    }
    if stamp_ok "$stamp" "$SYFT_VERSION" && [[ -x "$BIN/syft" ]]; then return; fi
    (cd "$HERE/syft" && GOFLAGS="-buildvcs=false -mod=readonly" go build -trimpath \
        -ldflags "-X main.version=$SYFT_VERSION" -o "$BIN/syft" github.com/anchore/syft/cmd/syft)
    echo "$SYFT_VERSION" >"$stamp"
}

install_kubeconform
install_schemas
install_checkov
install_deck
install_kube_score
install_syft

echo "kubeconform=$BIN/kubeconform"
echo "kubeconform-schemas=$TOOLS/kubeconform-schemas ($KUBERNETES_SCHEMA_VERSION)"
echo "checkov=$BIN/checkov"
echo "deck=$BIN/deck"
echo "kube-score=$BIN/kube-score"
echo "syft=$BIN/syft"
