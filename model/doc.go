// Package model holds the projectcalico.org/v3 resources untrackd reads from
// etcd (HostEndpoint, GlobalNetworkPolicy, GlobalNetworkSet,
// FelixConfiguration and Profile), their exact JSON encoding as Calico stores it, the etcd
// key layout, and validation.
//
// The types are plain data: they have no behaviour beyond encoding, defaulting
// and validation, and the package imports nothing else of untrackd's except
// its own selector sub-package. Validation reports every problem it finds as a
// FieldError naming the JSON path of the offending field, for example
//
//	spec.ingress[0].destination.ports[1]: "99999" is not a valid port
package model
