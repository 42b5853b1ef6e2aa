package boot

import (
	"context"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/layout"
	"github.com/bhojpur/os/internal/takeover"
)

// finishTakeover completes a takeover install (internal/takeover)
// when BOS_STATE holds its marker: everything that is not Bhojpur OS is
// deleted there. A failure is fatal (the rescue shell says why); when the
// marker asks for it, the machine powers off once the partition is clean.
func (b *Boot) finishTakeover(_ context.Context) error {
	dir := b.path(layout.StateDir)
	if !takeover.Pending(dir) {
		return nil
	}
	off, err := takeover.Finish(dir, b.logf)
	if err != nil {
		return errors.Wrap(err, "takeover clean-up")
	}
	b.logf("takeover: done")
	if off {
		b.logf("takeover: powering off as asked (--poweroff)")
		return errors.Wrap(b.Sys.PowerOff(), "takeover done, but")
	}
	return nil
}
