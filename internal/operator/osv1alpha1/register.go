package osv1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The API group and version.
const (
	Group   = "os.bhojpur.net"
	Version = "v1alpha1"
)

// GroupVersion is os.bhojpur.net/v1alpha1.
var GroupVersion = schema.GroupVersion{Group: Group, Version: Version}

// AddToScheme registers NodeConfig and NodeConfigList.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &NodeConfig{}, &NodeConfigList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
