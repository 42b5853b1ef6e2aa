package upgradev1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The API group and version.
const (
	Group   = "upgrade.cattle.io"
	Version = "v1"
)

// GroupVersion is upgrade.cattle.io/v1.
var GroupVersion = schema.GroupVersion{Group: Group, Version: Version}

// AddToScheme registers Plan and PlanList.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &Plan{}, &PlanList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
