package main

import (
	"time"

	"github.com/untrackd/untrackd/cmd/internal/opstatus"
	"github.com/untrackd/untrackd/dataplane"
)

func policies(l dataplane.PolicyLists) opstatus.Policies {
	return opstatus.Policies{Ingress: nonNil(l.Ingress), Egress: nonNil(l.Egress)}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// status returns what the monitor knows as a /status document (without
// node, version and config, which ops fills in).
func (m *monitor) status() opstatus.Doc {
	ready, rwhy := m.ready()
	live, lwhy := m.live()
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.dp
	d := opstatus.Doc{
		Time: m.now().UTC(), Ready: ready, Live: live, ReadinessProblems: rwhy, LivenessProblems: lwhy,
		Datastore: opstatus.Datastore{Status: m.ds.String(), Since: m.dsSince.UTC(), EverInSync: m.everInSync},
		Dataplane: opstatus.Dataplane{
			FirstSuccessAt: timePtr(p.firstSuccess), LastAttemptAt: timePtr(p.lastAttempt), LastSuccessAt: timePtr(p.lastSuccess),
			FailingSince: timePtr(p.failingSince), ConsecutiveFailures: p.failures,
		},
		Endpoints: []opstatus.Endpoint{},
	}
	if p.lastErr != nil {
		d.Dataplane.LastError = p.lastErr.Error()
	}
	if s := p.status; s != nil {
		d.Dataplane.Chains, d.Dataplane.Rules, d.Dataplane.Sets, d.Dataplane.SetElements, d.Dataplane.Policies =
			s.Chains, s.Rules, s.Sets, s.SetElements, s.Policies
		for _, e := range s.Endpoints {
			d.Endpoints = append(d.Endpoints, opstatus.Endpoint{
				Name: e.Name, Interface: e.Interface,
				Untracked: policies(e.Untracked), PreDNAT: policies(e.PreDNAT), Normal: policies(e.Normal), Forward: policies(e.Forward),
				Profiles: nonNil(e.Profiles), AppliedAt: p.endpoints[e.Name].since.UTC(), Error: d.Dataplane.LastError,
			})
		}
	}
	return d
}
