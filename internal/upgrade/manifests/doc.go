// Package manifests checks the Kubernetes manifests that Bhojpur OS ships
// for DCP's server to apply on boot, under
// images/overlay/var/lib/bhojpur/dcp/server/manifests (the bos-latest
// Plans) and the operator's, which bos-config writes there
// (operatormanifest). It has no code; its tests decode every manifest
// strictly into the Kubernetes Go types and check what the Plans select
// and run against our own command line.
package manifests

// Dir is where the manifests are, relative to the repository's root.
const Dir = "images/overlay/var/lib/bhojpur/dcp/server/manifests"
