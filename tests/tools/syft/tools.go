//go:build tools

// Package tools pins syft, the SBOM generator of `aiar export`: tests/tools/install_validators.sh
// builds it from this module, whose go.sum holds the hash of syft and of every dependency.
package tools

import _ "github.com/anchore/syft/cmd/syft"
