package model

import "encoding/json"

// APIVersion is the apiVersion of every resource untrackd understands.
const APIVersion = "projectcalico.org/v3"

// TypeMeta is the apiVersion/kind header of a stored resource.
type TypeMeta struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
}

// ObjectMeta is Kubernetes' object metadata as Calico stores it in etcd. The
// fields untrackd does not use are kept so that a resource written by Calico
// (or by a Kubernetes-style client) decodes strictly and re-encodes unchanged.
type ObjectMeta struct {
	Name                       string            `json:"name,omitempty"`
	GenerateName               string            `json:"generateName,omitempty"`
	Namespace                  string            `json:"namespace,omitempty"`
	SelfLink                   string            `json:"selfLink,omitempty"`
	UID                        string            `json:"uid,omitempty"`
	ResourceVersion            string            `json:"resourceVersion,omitempty"`
	Generation                 int64             `json:"generation,omitempty"`
	CreationTimestamp          *string           `json:"creationTimestamp,omitempty"`
	DeletionTimestamp          *string           `json:"deletionTimestamp,omitempty"`
	DeletionGracePeriodSeconds *int64            `json:"deletionGracePeriodSeconds,omitempty"`
	Labels                     map[string]string `json:"labels,omitempty"`
	Annotations                map[string]string `json:"annotations,omitempty"`
	OwnerReferences            json.RawMessage   `json:"ownerReferences,omitempty"`
	Finalizers                 []string          `json:"finalizers,omitempty"`
	ManagedFields              json.RawMessage   `json:"managedFields,omitempty"`
}

// Resource is implemented by every resource type in this package.
type Resource interface {
	// GetKind returns the resource's Kind (e.g. KindHostEndpoint).
	GetKind() Kind
	// GetMeta returns the resource's metadata; callers must not modify it.
	GetMeta() *ObjectMeta
	// Validate checks the resource and returns nil or an ErrorList.
	Validate() error
}
