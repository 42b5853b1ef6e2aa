// Package plans runs upgrade.cattle.io/v1 Plans: for each Plan it resolves
// the version (spec.version, or the channel's redirect), selects the nodes
// that are not done, and runs an upgrade Job on at most spec.concurrency of
// them at a time. A Job's pod runs on its node with the host's / at /host:
// the prepare container, then `bos-operator drain` (cordon, and drain when
// the Plan says so), then the upgrade container. When the Job completes
// (after the node's reboot: the upgrade's rerun finds the version current)
// the node is labelled plan.upgrade.cattle.io/<plan>=<hash> and
// uncordoned. A node that comes back on its old version with
// bhojpur.net/fallback=<version> (its trial boot failed) stops the rollout
// of that version everywhere: the Plan's status.failure names the node.
package plans

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bhojpur/os/internal/operator/upgradev1"
)

// Labels and environment variables, the system-upgrade-controller's
// spellings where it has one.
const (
	// LabelPlan is on the Jobs and pods of a Plan: its name.
	LabelPlan = "upgrade.cattle.io/plan"
	// LabelNode is on the Jobs and pods: the node they upgrade.
	LabelNode = "upgrade.cattle.io/node"
	// LabelHash is on the Jobs and pods: the Plan's hash they apply.
	LabelHash = "upgrade.cattle.io/hash"
	// LabelVersion is on the Jobs and pods: the version they apply.
	LabelVersion = "upgrade.cattle.io/version"
	// LabelExclusive marks the Jobs of exclusive Plans.
	LabelExclusive = "upgrade.cattle.io/exclusive"
	// DonePrefix + plan name is the node label that says the node applied
	// the Plan's hash.
	DonePrefix = "plan.upgrade.cattle.io/"
	// FallbackLabel is what a node that fell back from a failed trial boot
	// carries: the version that failed (internal/dcp.FallbackLabel).
	FallbackLabel = "bhojpur.net/fallback"

	envNode    = "SYSTEM_UPGRADE_NODE_NAME"
	envPod     = "SYSTEM_UPGRADE_POD_NAME"
	envPlan    = "SYSTEM_UPGRADE_PLAN_NAME"
	envVersion = "SYSTEM_UPGRADE_PLAN_LATEST_VERSION"
	envHash    = "SYSTEM_UPGRADE_PLAN_LATEST_HASH"

	hostRoot = "/host"

	// DrainCommand is where the operator's image has bos-operator.
	DrainCommand = "/usr/sbin/bos-operator"
)

// JobOptions are the operator's settings of the Jobs it creates.
type JobOptions struct {
	// Image is the operator's own image: the drain container runs it.
	Image string
	// BackoffLimit is how often a Job's pod is rerun: a pod that rebooted
	// its node fails and is rerun after the boot.
	BackoffLimit int32
	// ActiveDeadline ends a Job that runs longer (seconds), unless the Plan
	// gives its own.
	ActiveDeadline int64
	// PullPolicy of the Job's containers.
	PullPolicy corev1.PullPolicy
}

// Hash is the Plan's hash for version: of its spec, the version and the
// data of the Secrets it mounts (but those it says to ignore), so that a
// change of any of them is a new rollout. It is a label value (56 hex
// digits).
func Hash(spec *upgradev1.PlanSpec, version string, secrets map[string]map[string][]byte) string {
	h := sha256.New224()
	b, _ := json.Marshal(spec)
	h.Write(b)
	h.Write([]byte{0})
	h.Write([]byte(version))
	names := make([]string, 0, len(secrets))
	for n := range secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		keys := make([]string, 0, len(secrets[n]))
		for k := range secrets[n] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(h, "\x00%s\x00%s\x00%d\x00", n, k, len(secrets[n][k]))
			h.Write(secrets[n][k])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// JobName is the name of the Job that applies hash of plan on node: a DNS
// label (63 characters at most, no dots), unique per plan, node and hash.
func JobName(plan, node, hash string) string {
	sum := sha256.Sum256([]byte(plan + "\x00" + node))
	base := strings.ReplaceAll("apply-"+plan+"-on-"+node, ".", "-")
	if len(base) > 45 {
		base = strings.TrimRight(base[:45], "-.")
	}
	return base + "-" + hex.EncodeToString(sum[:3]) + "-" + hash[:8]
}

// Image is image tagged with version, unless image names a tag or a
// digest of its own. A version that is not a valid tag (semver build
// metadata, +) has + replaced by -, as the system-upgrade-controller does.
func Image(image, version string) string {
	last := image[strings.LastIndex(image, "/")+1:]
	if strings.ContainsAny(last, ":@") || version == "" {
		return image
	}
	return image + ":" + strings.ReplaceAll(version, "+", "-")
}

// NewJob is the Job that applies plan (at version and hash) on node.
func NewJob(plan *upgradev1.Plan, node, version, hash string, o JobOptions) *batchv1.Job {
	labels := map[string]string{
		LabelPlan:    plan.Name,
		LabelNode:    node,
		LabelHash:    hash,
		LabelVersion: labelValue(version),
	}
	if plan.Spec.Exclusive {
		labels[LabelExclusive] = "true"
	}
	deadline := o.ActiveDeadline
	if plan.Spec.JobActiveDeadlineSecs > 0 {
		deadline = plan.Spec.JobActiveDeadlineSecs
	}
	env := []corev1.EnvVar{
		{Name: envNode, Value: node},
		{Name: envPod, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: envPlan, Value: plan.Name},
		{Name: envVersion, Value: version},
		{Name: envHash, Value: hash},
	}
	vols := []corev1.Volume{hostPathVolume("host-root", "/")}
	for _, s := range plan.Spec.Secrets {
		vols = append(vols, corev1.Volume{Name: "secret-" + s.Name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: s.Name}}})
	}
	spec := corev1.PodSpec{
		NodeName:           node,
		HostPID:            true,
		HostNetwork:        true, // the pod runs before and after the reboot, whatever the pod network's state
		DNSPolicy:          corev1.DNSClusterFirstWithHostNet,
		ServiceAccountName: plan.Spec.ServiceAccountName,
		RestartPolicy:      corev1.RestartPolicyNever,
		Tolerations:        append([]corev1.Toleration{{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}, plan.Spec.Tolerations...),
		ImagePullSecrets:   plan.Spec.ImagePullSecrets,
		Volumes:            vols,
	}
	if p := plan.Spec.Prepare; p != nil {
		spec.InitContainers = append(spec.InitContainers, container("prepare", p, plan, version, env, o, &spec))
	}
	if plan.Spec.Cordon || plan.Spec.Drain != nil {
		spec.InitContainers = append(spec.InitContainers, corev1.Container{
			Name:            "drain",
			Image:           o.Image,
			ImagePullPolicy: o.PullPolicy,
			Command:         append([]string{DrainCommand, "drain", "--node", node}, DrainArgs(plan.Spec.Drain)...),
			Env:             env,
		})
	}
	spec.Containers = []corev1.Container{container("upgrade", plan.Spec.Upgrade, plan, version, env, o, &spec)}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            JobName(plan.Name, node, hash),
			Namespace:       plan.Namespace,
			Labels:          labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(plan, upgradev1.GroupVersion.WithKind("Plan"))},
		},
		Spec: batchv1.JobSpec{
			BackoffLimit:          &o.BackoffLimit,
			ActiveDeadlineSeconds: &deadline,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       spec,
			},
		},
	}
}

func container(name string, c *upgradev1.ContainerSpec, plan *upgradev1.Plan, version string, env []corev1.EnvVar, o JobOptions, pod *corev1.PodSpec) corev1.Container {
	sc := c.SecurityContext
	if sc == nil {
		privileged := true
		sc = &corev1.SecurityContext{Privileged: &privileged}
	}
	mounts := []corev1.VolumeMount{{Name: "host-root", MountPath: hostRoot}}
	for _, s := range plan.Spec.Secrets {
		path := s.Path
		if path == "" {
			path = "/run/system-upgrade/secrets/" + s.Name
		}
		mounts = append(mounts, corev1.VolumeMount{Name: "secret-" + s.Name, MountPath: path, ReadOnly: true})
	}
	for _, v := range c.Volumes {
		vname := name + "-" + v.Name
		pod.Volumes = append(pod.Volumes, hostPathVolume(vname, v.Source))
		mounts = append(mounts, corev1.VolumeMount{Name: vname, MountPath: v.Destination})
	}
	return corev1.Container{
		Name:            name,
		Image:           Image(c.Image, version),
		ImagePullPolicy: o.PullPolicy,
		Command:         c.Command,
		Args:            c.Args,
		Env:             append(append([]corev1.EnvVar(nil), env...), c.Env...),
		EnvFrom:         c.EnvFrom,
		VolumeMounts:    mounts,
		SecurityContext: sc,
	}
}

func hostPathVolume(name, path string) corev1.Volume {
	t := corev1.HostPathDirectory
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path, Type: &t}}}
}

// DrainArgs are bos-operator drain's flags for d (nil: cordon only).
func DrainArgs(d *upgradev1.DrainSpec) []string {
	if d == nil {
		return []string{"--cordon-only"}
	}
	args := []string{}
	if d.Force {
		args = append(args, "--force")
	}
	if d.IgnoreDaemonSets == nil || *d.IgnoreDaemonSets {
		args = append(args, "--ignore-daemonsets")
	}
	if (d.DeleteEmptydirData != nil && *d.DeleteEmptydirData) || (d.DeleteLocalData != nil && *d.DeleteLocalData) {
		args = append(args, "--delete-emptydir-data")
	}
	if d.DisableEviction {
		args = append(args, "--disable-eviction")
	}
	if d.Timeout != nil {
		args = append(args, "--timeout", d.Timeout.Duration.String())
	}
	if d.GracePeriod != nil {
		args = append(args, "--grace-period", strconv.Itoa(int(*d.GracePeriod)))
	}
	if d.SkipWaitForDeleteTimeout > 0 {
		args = append(args, "--skip-wait-for-delete-timeout", strconv.Itoa(d.SkipWaitForDeleteTimeout))
	}
	if d.PodSelector != nil {
		if s, err := metav1.LabelSelectorAsSelector(d.PodSelector); err == nil && !s.Empty() {
			args = append(args, "--pod-selector", s.String())
		}
	}
	return args
}

// labelValue is v as a label value: at most 63 characters of [A-Za-z0-9-_.],
// beginning and ending with a letter or digit ("" if nothing is left).
func labelValue(v string) string {
	b := []byte(v)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '-'
		}
	}
	s := string(b)
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.Trim(s, "-_.")
}
