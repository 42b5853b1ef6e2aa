// Package version holds the version and commit stamped into every binary at
// build time (see the Makefile's -ldflags).
package version

// Set with -ldflags "-X github.com/bhojpur/os/internal/version.Version=..."
var (
	Version = "dev"
	Commit  = "unknown"
)

// String is the one-line version every command prints for --version.
func String() string {
	return Version + " (commit " + Commit + ")"
}
