// Package exitcode is the toolkit's error classes and the exit codes they
// map to. Domain code (install, upgrade, boot, ...) wraps a class with
// errors.Wrap to say what kind of failure it is; the command line front end
// (package cli) turns the class into the documented exit code. It imports
// nothing of the toolkit, so any package may use it.
package exitcode

import (
	"fmt"

	"github.com/pkg/errors"
)

// The exit codes shared by all commands; each command's --help lists them
// (Help).
const (
	OK       = 0
	Failure  = 1 // the operation failed, or the input did not validate
	Usage    = 2 // bad flags or arguments
	BadInput = 3 // an input (config, device, version) is invalid
	Download = 4 // a download failed or a checksum did not match
	Disk     = 5 // a disk or file-system operation failed
	Locked   = 7 // another run holds the lock
	NoSpace  = 8 // the file system lacks the room the operation needs
)

// Help is appended to every command's description.
const Help = `
Exit codes: 0 success; 1 failure (or invalid input to "validate"); 2 usage error;
3 invalid input (config, device, version); 4 download or checksum error;
5 disk or file-system error; 7 another run holds the lock;
8 not enough free space.`

// The error classes. Wrap them with errors.Wrap; Of finds them again.
var (
	ErrUsage    = errors.New("usage")
	ErrBadInput = errors.New("invalid input")
	ErrDownload = errors.New("download")
	ErrDisk     = errors.New("disk operation")
	ErrLocked   = errors.New("locked")
	ErrNoSpace  = errors.New("not enough space")
)

// Error carries an explicit exit code (for example 1 from validate). With
// a nil Err the message has already been printed.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Of maps an error to its exit code: an *Error's own code, a class's code,
// or Failure.
func Of(err error) int {
	var ee *Error
	switch {
	case err == nil:
		return OK
	case errors.As(err, &ee):
		return ee.Code
	case errors.Is(err, ErrUsage):
		return Usage
	case errors.Is(err, ErrBadInput):
		return BadInput
	case errors.Is(err, ErrDownload):
		return Download
	case errors.Is(err, ErrDisk):
		return Disk
	case errors.Is(err, ErrLocked):
		return Locked
	case errors.Is(err, ErrNoSpace):
		return NoSpace
	}
	return Failure
}
