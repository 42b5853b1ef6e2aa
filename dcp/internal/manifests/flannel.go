package manifests

// FlannelFile is the pod network's RBAC file in the manifests directory;
// dcp writes it at every start.
const FlannelFile = "flannel-rbac.yaml"

// Flannel is what the pod network (flannel in every node's dcp, with the
// kube subnet manager) may do as system:dcp-flannel: read all nodes (the
// other nodes' subnets and VTEPs) and patch node status (its own node's
// annotations; the Node authorizer gives a kubelet only its own node, so
// flannel has its own identity, issued to each node at its join).
var Flannel = []byte(`# Written by dcp at every start (the pod network's RBAC); changes here are lost.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:dcp-flannel
rules:
- apiGroups: [""]
  resources: [nodes]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [nodes/status]
  verbs: [patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:dcp-flannel
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:dcp-flannel
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: system:dcp-flannel
`)
