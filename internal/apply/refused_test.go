package apply

import (
	"context"
	"strings"
	"testing"

	"github.com/bhojpur/os/internal/config"
)

func TestPlanHoldsDCPWhenItsRoleIsRefused(t *testing.T) {
	cfg := &config.Config{Bos: config.Bos{Labels: map[string]string{"a": "b"}}}
	for _, tc := range []struct {
		refused []string
		held    bool
	}{
		{nil, false},
		{[]string{"bos.labels[bad key!]", "write_files[0].path"}, false},
		{[]string{"bos.dcp_args[1]"}, true},
		{[]string{"bos.dcp_args"}, true},
		{[]string{"bos.server_url"}, true},
		{[]string{"bos.token"}, true},
		{[]string{""}, true}, // a source refused whole
	} {
		steps := Plan(Boot, Input{Config: cfg, Refused: tc.refused})
		var dcpStepName string
		var held Step
		for _, s := range steps {
			if strings.HasPrefix(s.String(), "DCP service") {
				dcpStepName = s.String()
				held = s
			}
		}
		if got := dcpStepName == "DCP service (left as it was)"; got != tc.held {
			t.Errorf("Plan with %q refused: %q, want held %v", tc.refused, dcpStepName, tc.held)
		}
		if tc.held {
			root := newRoot(t)
			tt := newTarget(root, false)
			if err := held.Apply(context.Background(), tt.Target); err == nil || !strings.Contains(err.Error(), "DCP's settings were left as they were") {
				t.Errorf("held step: %v", err)
			}
			if tt.Writes != 0 {
				t.Errorf("held step wrote %d files", tt.Writes)
			}
		}
	}
}
