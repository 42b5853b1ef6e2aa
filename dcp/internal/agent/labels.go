package agent

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/pkg/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/bhojpur/os/dcp/internal/config"
)

// OSLabels are the node labels that Bhojpur OS owns: the boot mode, the
// running version, and the version whose trial boot failed. The kubelet
// applies --node-label at registration only, which is right for the
// config's labels (an operator may change them in the cluster) but not for
// these, which change with the system under the node: on every start dcp
// makes the node's values of these keys what --node-label says, and
// removes a key that it no longer gives (a fallback that is over).
var OSLabels = []string{"bhojpur.net/mode", "bhojpur.net/version", "bhojpur.net/fallback"}

// osLabelPatch is the JSON merge patch that makes current's OS labels
// those of labels (key=value), or nil when they are already.
func osLabelPatch(current map[string]string, labels []string) []byte {
	want := map[string]string{}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		want[k] = v
	}
	change := map[string]any{}
	for _, k := range OSLabels {
		v, ok := want[k]
		old, had := current[k]
		switch {
		case ok && (!had || old != v):
			change[k] = v
		case !ok && had:
			change[k] = nil
		}
	}
	if len(change) == 0 {
		return nil
	}
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": change}})
	return b
}

// reconcileOSLabels patches the node's OS labels to c's, logging what it
// changed.
func reconcileOSLabels(ctx context.Context, cs kubernetes.Interface, c *config.Config, current map[string]string, log Logger) error {
	patch := osLabelPatch(current, c.Labels)
	if patch == nil {
		return nil
	}
	if _, err := cs.CoreV1().Nodes().Patch(ctx, c.NodeName, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return errors.Wrapf(err, "node %s: set the OS labels %s", c.NodeName, patch)
	}
	log.Printf("node %s: OS labels set: %s", c.NodeName, patch)
	return nil
}
