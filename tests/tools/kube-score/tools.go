//go:build tools

// Package tools pins kube-score: tests/tools/install_validators.sh builds it from this module, whose
// go.sum holds the hash of kube-score and of every dependency.
package tools

import _ "github.com/zegl/kube-score/cmd/kube-score"
