// Package upgradev1 is the upgrade.cattle.io/v1 Plan API that bos-operator
// serves: the system-upgrade-controller's Plan, so that the shipped
// bos-latest Plans and k3OS users' Plans work unchanged, with a status
// that also says where a rollout failed.
//
// The CustomResourceDefinition (../../operatormanifest/upgrade.cattle.io_plans.yaml) and zz_generated.deepcopy.go are
// generated from these types by controller-gen (go generate; the
// package's tests check that they are current).
//
// +kubebuilder:object:generate=true
// +groupName=upgrade.cattle.io
// +versionName=v1
package upgradev1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

//go:generate go tool controller-gen object crd:crdVersions=v1 paths=. output:crd:artifacts:config=../../operatormanifest

// Plan is an outstanding intent to upgrade the nodes it selects.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=upgrade
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.spec.upgrade.image`
// +kubebuilder:printcolumn:name="Channel",type=string,JSONPath=`.spec.channel`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.latestVersion`
// +kubebuilder:printcolumn:name="Failed",type=string,JSONPath=`.status.failure.node`
type Plan struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PlanSpec   `json:"spec"`
	Status PlanStatus `json:"status,omitempty"`
}

// PlanList is a list of Plans.
//
// +kubebuilder:object:root=true
type PlanList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Plan `json:"items"`
}

// PlanSpec is what to run where, and how many nodes at a time.
type PlanSpec struct {
	// Concurrency is how many nodes are upgraded at once (at least 1).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default=1
	// +optional
	Concurrency int64 `json:"concurrency,omitempty"`
	// JobActiveDeadlineSecs ends an upgrade Job that runs longer (0: the
	// operator's default).
	// +kubebuilder:validation:Minimum=0
	// +optional
	JobActiveDeadlineSecs int64 `json:"jobActiveDeadlineSecs,omitempty"`
	// NodeSelector selects the nodes to upgrade.
	// +optional
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`
	// ServiceAccountName is the upgrade Job's service account.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// Channel is a URL that redirects to .../<version>: the last path
	// element of its Location is the version. Resolved on a schedule.
	// Version, when set, wins.
	// +optional
	Channel string `json:"channel,omitempty"`
	// Version is the tag of the upgrade (and prepare) image.
	// +optional
	Version string `json:"version,omitempty"`
	// Secrets are mounted into the upgrade containers at their path.
	// +optional
	Secrets []SecretSpec `json:"secrets,omitempty"`
	// Tolerations of the upgrade Job's pod.
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// Exclusive: no other exclusive Plan of the namespace runs a Job at the
	// same time.
	// +optional
	Exclusive bool `json:"exclusive,omitempty"`
	// Prepare runs before the node is cordoned and drained.
	// +optional
	Prepare *ContainerSpec `json:"prepare,omitempty"`
	// Cordon marks the node unschedulable before the upgrade (and, with
	// Drain, evicts its pods); it is uncordoned when the upgrade is done.
	// +optional
	Cordon bool `json:"cordon,omitempty"`
	// Drain evicts the node's pods before the upgrade (and cordons it).
	// +optional
	Drain *DrainSpec `json:"drain,omitempty"`
	// Upgrade is the upgrade itself. Its Job completes once the node runs
	// the version (after the reboot, when the upgrade reboots).
	Upgrade *ContainerSpec `json:"upgrade"`
	// ImagePullSecrets of the upgrade Job's pod.
	// +optional
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
}

// ContainerSpec is a container of the upgrade Job. Its image is tagged with
// the Plan's version unless it names a tag or digest of its own.
type ContainerSpec struct {
	// +kubebuilder:validation:MinLength=1
	Image string `json:"image"`
	// +optional
	Command []string `json:"command,omitempty"`
	// +optional
	Args []string `json:"args,omitempty"`
	// +optional
	Env []corev1.EnvVar `json:"envs,omitempty"` // the system-upgrade-controller's spelling
	// +optional
	EnvFrom []corev1.EnvFromSource `json:"envFrom,omitempty"`
	// Volumes are host paths mounted into the container.
	// +optional
	Volumes []VolumeSpec `json:"volumes,omitempty"`
	// SecurityContext replaces the default one (privileged).
	// +optional
	SecurityContext *corev1.SecurityContext `json:"securityContext,omitempty"`
}

// VolumeSpec mounts the host's Source at Destination.
type VolumeSpec struct {
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`
	// +kubebuilder:validation:MinLength=1
	Source string `json:"source"`
	// +kubebuilder:validation:MinLength=1
	Destination string `json:"destination"`
}

// SecretSpec mounts a Secret of the Plan's namespace at Path.
type SecretSpec struct {
	Name string `json:"name"`
	// +optional
	Path string `json:"path,omitempty"`
	// IgnoreUpdates: a change of the Secret does not change the Plan's hash.
	// +optional
	IgnoreUpdates bool `json:"ignoreUpdates,omitempty"`
}

// DrainSpec is kubectl drain's options.
type DrainSpec struct {
	// Timeout is how long the drain may take.
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// GracePeriod of the evicted pods in seconds (-1: theirs).
	// +optional
	GracePeriod *int32 `json:"gracePeriod,omitempty"`
	// DeleteLocalData is deleteEmptydirData's old name.
	// +optional
	DeleteLocalData *bool `json:"deleteLocalData,omitempty"`
	// +optional
	DeleteEmptydirData *bool `json:"deleteEmptydirData,omitempty"`
	// +optional
	IgnoreDaemonSets *bool `json:"ignoreDaemonSets,omitempty"`
	// Force evicts pods that no controller manages.
	// +optional
	Force bool `json:"force,omitempty"`
	// DisableEviction deletes pods instead of evicting them (no
	// PodDisruptionBudgets).
	// +optional
	DisableEviction bool `json:"disableEviction,omitempty"`
	// SkipWaitForDeleteTimeout: pods whose deletion is older than this many
	// seconds are not waited for.
	// +kubebuilder:validation:Minimum=0
	// +optional
	SkipWaitForDeleteTimeout int `json:"skipWaitForDeleteTimeout,omitempty"`
	// PodSelector limits the drain to the pods it selects.
	// +optional
	PodSelector *metav1.LabelSelector `json:"podSelector,omitempty"`
}

// PlanStatus is what the operator made of the Plan.
type PlanStatus struct {
	// Conditions: LatestResolved (the version is known), Complete (every
	// selected node is done), Failed (a node fell back from the version).
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LatestVersion is the version being rolled out.
	// +optional
	LatestVersion string `json:"latestVersion,omitempty"`
	// LatestHash is the hash of the spec and version: a node that is done
	// carries the label plan.upgrade.cattle.io/<plan>=<hash>.
	// +optional
	LatestHash string `json:"latestHash,omitempty"`
	// Applying lists the nodes whose upgrade is under way.
	// +optional
	Applying []string `json:"applying,omitempty"`
	// Failure is the node whose upgrade to LatestVersion failed: the rollout
	// of that version is stopped on every node until the version changes.
	// +optional
	Failure *Failure `json:"failure,omitempty"`
}

// Failure says which node failed an upgrade, to which version, and why.
type Failure struct {
	Node    string      `json:"node"`
	Version string      `json:"version"`
	Hash    string      `json:"hash"`
	Reason  string      `json:"reason"`
	Message string      `json:"message"`
	Time    metav1.Time `json:"time"`
}
