// Package osv1alpha1 is the os.bhojpur.net/v1alpha1 NodeConfig API: a
// config.yaml fragment for the nodes a selector selects, which the
// operator's node agent writes to
// /var/lib/bhojpur/os/config.d/50-nodeconfig-<name>.yaml on each of them.
//
// The CustomResourceDefinition (../../operatormanifest/os.bhojpur.net_nodeconfigs.yaml) is
// controller-gen's of these types with spec.config's schema replaced by
// config.StructuralSchema, the schema of the toolkit's own config rules
// (go generate; the package's tests check that both files are current).
//
// +kubebuilder:object:generate=true
// +groupName=os.bhojpur.net
// +versionName=v1alpha1
package osv1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

//go:generate go tool controller-gen object crd:crdVersions=v1 paths=. output:crd:artifacts:config=../../operatormanifest
//go:generate go run ../../tools/mknodeconfigcrd ../../operatormanifest/os.bhojpur.net_nodeconfigs.yaml

// NodeConfig is configuration for the nodes it selects.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Valid",type=string,JSONPath=`.status.conditions[?(@.type=="Valid")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NodeConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   NodeConfigSpec   `json:"spec"`
	Status NodeConfigStatus `json:"status,omitempty"`
}

// NodeConfigList is a list of NodeConfigs.
//
// +kubebuilder:object:root=true
type NodeConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NodeConfig `json:"items"`
}

// NodeConfigSpec is where and what.
type NodeConfigSpec struct {
	// NodeSelector selects the nodes; an empty one selects every node.
	NodeSelector metav1.LabelSelector `json:"nodeSelector"`
	// Config is a config.yaml fragment (the keys of config.yaml: hostname,
	// write_files, bos.sysctls, ...), merged as a file of config.d is.
	Config apiextensionsv1.JSON `json:"config"`
}

// NodeConfigStatus is what the nodes made of it.
type NodeConfigStatus struct {
	// Conditions: Valid (the toolkit's config loader took the fragment;
	// its message otherwise, with file:line).
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Nodes are the selected nodes' reports, by name.
	// +optional
	// +listType=map
	// +listMapKey=name
	Nodes []NodeStatus `json:"nodes,omitempty"`
}

// NodeStatus is one node's report.
type NodeStatus struct {
	Name string `json:"name"`
	// AppliedGeneration is the NodeConfig's generation that the node wrote
	// and applied (0: none yet).
	// +optional
	AppliedGeneration int64 `json:"appliedGeneration,omitempty"`
	// Error is why the node did not write or apply the last generation.
	// +optional
	Error string `json:"error,omitempty"`
	// Time is when the node reported.
	Time metav1.Time `json:"time"`
}
