// Package modroot finds the root of the module from a test's working
// directory, for the tests that use what `make` keeps in the module's
// git-ignored .cache/ (Kafka's jars, promtool, benchmark data sets):
//
//	root, err := modroot.Find()
//	jars := filepath.Join(root, ".cache", "kafka", "libs")
package modroot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Find returns the nearest directory at or above the working directory (a
// test's package directory) that holds a go.mod.
func Find() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find the module root: no go.mod above the working directory")
		}
		dir = parent
	}
}
