package apitest

import (
	"context"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bhojpur/os/internal/operatormanifest"
)

// TestManifest applies the operator's manifest as a DCP server does
// (server-side apply) and checks what its accounts may do: each what it
// needs, nothing more.
func TestManifest(t *testing.T) {
	m, err := operatormanifest.Manifest("v9.9.9")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	kinds := map[string]int{}
	for _, u := range objects(t, m) {
		kinds[u.GetKind()]++
		if err := kclient.Patch(ctx, u, client.Apply, client.FieldOwner("dcp"), client.ForceOwnership); err != nil {
			t.Fatalf("apply %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	if kinds["CustomResourceDefinition"] != 2 || kinds["Deployment"] != 1 || kinds["DaemonSet"] != 1 || kinds["ServiceAccount"] != 3 {
		t.Errorf("the manifest holds %v", kinds)
	}
	if !strings.Contains(string(m), "image: "+operatormanifest.Image("v9.9.9")) {
		t.Errorf("the manifest does not run the release's image %s", operatormanifest.Image("v9.9.9"))
	}
	sa := func(name string) string { return "system:serviceaccount:bos-system:" + name }
	for _, tc := range []struct {
		user                             string
		verb, group, resource, namespace string
		allowed                          bool
	}{
		{sa("bos-operator"), "create", "batch", "jobs", "bos-system", true},
		{sa("bos-operator"), "create", "batch", "jobs", "default", false},
		{sa("bos-operator"), "update", "upgrade.cattle.io", "plans/status", "bos-system", true},
		{sa("bos-operator"), "update", "upgrade.cattle.io", "plans", "bos-system", false},
		{sa("bos-operator"), "patch", "", "nodes", "", true},
		{sa("bos-operator"), "delete", "", "nodes", "", false},
		{sa("bos-operator"), "get", "", "secrets", "bos-system", true},
		{sa("bos-operator"), "get", "", "secrets", "kube-system", false},
		{sa("bos-operator"), "update", "coordination.k8s.io", "leases", "bos-system", true},
		{sa("bos-operator"), "update", "os.bhojpur.net", "nodeconfigs/status", "", true},
		{sa("bos-operator"), "update", "os.bhojpur.net", "nodeconfigs", "", false},
		{sa("system-upgrade"), "create", "", "pods/eviction", "default", true},
		{sa("system-upgrade"), "patch", "", "nodes", "", true},
		{sa("system-upgrade"), "create", "", "pods", "default", false},
		{sa("system-upgrade"), "get", "", "secrets", "bos-system", false},
		{sa("bos-node"), "update", "os.bhojpur.net", "nodeconfigs/status", "", true},
		{sa("bos-node"), "update", "os.bhojpur.net", "nodeconfigs", "", false},
		{sa("bos-node"), "patch", "", "nodes", "", false},
		{sa("bos-node"), "list", "", "pods", "", false},
	} {
		r := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:               tc.user,
			Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:bos-system", "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: tc.verb, Group: tc.group, Resource: strings.Split(tc.resource, "/")[0], Subresource: sub(tc.resource), Namespace: tc.namespace},
		}}
		if err := kclient.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		if r.Status.Allowed != tc.allowed {
			t.Errorf("%s %s %s/%s in %q: allowed %v, want %v", tc.user, tc.verb, tc.group, tc.resource, tc.namespace, r.Status.Allowed, tc.allowed)
		}
	}
}

func sub(resource string) string {
	if _, s, ok := strings.Cut(resource, "/"); ok {
		return s
	}
	return ""
}
