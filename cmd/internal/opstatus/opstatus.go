// Package opstatus defines the JSON document untrackd serves on /status,
// shared by the daemon, which writes it, and untrackctl, which reads it.
// The field names are a contract with operators' tooling: add fields, do
// not rename or remove them. Times are RFC 3339 in UTC; absent times are
// omitted.
package opstatus

import "time"

// Doc is the /status document.
type Doc struct {
	Node              string             `json:"node"`
	Version           string             `json:"version"`
	Time              time.Time          `json:"time"`
	Ready             bool               `json:"ready"`
	Live              bool               `json:"live"`
	ReadinessProblems []string           `json:"readinessProblems,omitempty"`
	LivenessProblems  []string           `json:"livenessProblems,omitempty"`
	Datastore         Datastore          `json:"datastore"`
	Dataplane         Dataplane          `json:"dataplane"`
	Endpoints         []Endpoint         `json:"endpoints"`
	Config            map[string]Setting `json:"config,omitempty"`
}

// Datastore is the datastore syncer's status as the daemon last saw it.
type Datastore struct {
	Status     string    `json:"status"` // WaitingForDatastore, ResyncInProgress or InSync
	Since      time.Time `json:"since"`
	EverInSync bool      `json:"everInSync"`
}

// Dataplane describes the applies; the counts are those of the last
// successful apply.
type Dataplane struct {
	FirstSuccessAt      *time.Time `json:"firstSuccessAt,omitempty"`
	LastAttemptAt       *time.Time `json:"lastAttemptAt,omitempty"`
	LastSuccessAt       *time.Time `json:"lastSuccessAt,omitempty"`
	LastError           string     `json:"lastError,omitempty"`
	FailingSince        *time.Time `json:"failingSince,omitempty"`
	ConsecutiveFailures int        `json:"consecutiveFailures"`
	Chains              int        `json:"chains"`
	Rules               int        `json:"rules"`
	Sets                int        `json:"sets"`
	SetElements         int        `json:"setElements"`
	Policies            int        `json:"policies"`
}

// Endpoint is one local host endpoint as of the last successful apply.
// AppliedAt is when its current state (interface, policies, profiles)
// reached the kernel; Error is set while applies fail, since the endpoint's
// latest desired state may then not be in the kernel.
type Endpoint struct {
	Name      string    `json:"name"`
	Interface string    `json:"interface"`
	Untracked Policies  `json:"untracked"`
	PreDNAT   Policies  `json:"preDNAT"`
	Normal    Policies  `json:"normal"`
	Forward   Policies  `json:"forward"`
	Profiles  []string  `json:"profiles"`
	AppliedAt time.Time `json:"appliedAt"`
	Error     string    `json:"error,omitempty"`
}

// Policies are policy names in the order they apply.
type Policies struct {
	Ingress []string `json:"ingress"`
	Egress  []string `json:"egress"`
}

// Setting is the effective value of a setting and where it came from:
// "--health-port", "UNTRACKD_HEALTH_PORT", "config file …: healthPort",
// "FelixConfiguration node.<name>", "FelixConfiguration default" or
// "default".
type Setting struct {
	Value string `json:"value"`
	From  string `json:"from"`
}
