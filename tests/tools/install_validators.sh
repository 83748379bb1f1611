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
#   deck                 go install (Go module proxy), pinned; see the note at install_deck
set -euo pipefail

KUBECONFORM_VERSION=v0.7.0
KUBERNETES_VALIDATE_VERSION=1.34.1
CHECKOV_VERSION=3.2.500
DECK_VERSION=v1.49.2

TOOLS="${AIAR_TOOLS_DIR:-$HOME/.cache/aiar-tools}"
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
    # The Go module proxy this project can reach answers 403 "not available" for github.com/kong/deck
    # (every version, and for its go-kong / go-database-reconciler dependencies). When it does, the
    # Kong tests fall back to the in-repo structural checker and say so; nothing else is fetched.
    local stamp="$TOOLS/deck.version"
    if stamp_ok "$stamp" "$DECK_VERSION" && [[ -x "$BIN/deck" ]]; then return; fi
    if GOBIN="$BIN" GOFLAGS=-buildvcs=false go install "github.com/kong/deck@$DECK_VERSION" 2>"$TOOLS/deck.err"; then
        echo "$DECK_VERSION" >"$stamp"
    else
        echo "deck $DECK_VERSION could not be installed: $(head -c 300 "$TOOLS/deck.err" | tr '\n' ' ')" >&2
    fi
}

install_kubeconform
install_schemas
install_checkov
install_deck

echo "kubeconform=$BIN/kubeconform"
echo "kubernetes-json-schema=$TOOLS/kubernetes-json-schema"
echo "checkov=$BIN/checkov"
if [[ -x "$BIN/deck" ]]; then echo "deck=$BIN/deck"; else echo "deck=unavailable"; fi
