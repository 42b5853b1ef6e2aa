// Package operatormanifest is what runs the operator in a cluster: its manifest
// (the Plan and NodeConfig CRDs, the bos-system namespace, the service
// accounts with the least RBAC each needs, the controller's Deployment, the
// node agent's DaemonSet),
// rendered for a release, and where a DCP server's manifests directory
// takes it. It imports nothing of Kubernetes, so that bos-config, which
// writes the manifest, stays small; the CRDs are generated into this
// directory (go generate ./internal/operator/...).
package operatormanifest

import (
	"bytes"
	_ "embed"
	"strings"
	"text/template"
)

// ImageRepo is the operator image's name; its tag is the release.
const ImageRepo = "bhojpur.net/bos/operator"

// ManifestFile is the manifest's name in the server's manifests directory.
const ManifestFile = "bos-operator.yaml"

// The generated CRDs.
var (
	//go:embed upgrade.cattle.io_plans.yaml
	PlanCRD []byte
	//go:embed os.bhojpur.net_nodeconfigs.yaml
	NodeConfigCRD []byte
	//go:embed operator.yaml.tmpl
	manifestTemplate string
)

var manifest = template.Must(template.New("operator").Parse(manifestTemplate))

// Image is the operator's image of a release.
func Image(version string) string { return ImageRepo + ":" + version }

// Manifest is the operator's manifest for a release: what runs in the
// cluster is that release's operator image.
func Manifest(version string) ([]byte, error) {
	var b bytes.Buffer
	err := manifest.Execute(&b, map[string]string{
		"Version":       version,
		"Image":         Image(version),
		"PlanCRD":       doc(PlanCRD),
		"NodeConfigCRD": doc(NodeConfigCRD),
	})
	return b.Bytes(), err
}

// doc is a YAML file as one document of a stream: without its leading
// separator and comments.
func doc(b []byte) string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if len(out) == 0 && (l == "---" || strings.HasPrefix(l, "#")) {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}
