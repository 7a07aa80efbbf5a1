package retention

import "errors"

// Sentinels returned (wrapped) by the parsers and the policy store.
var (
	// ErrInvalidDuration is a retention duration that does not parse.
	ErrInvalidDuration = errors.New("invalid retention duration")
	// ErrInvalidSelector is a label selector that does not parse.
	ErrInvalidSelector = errors.New("invalid label selector")
	// ErrDatabaseNotFound is a retention policy statement on an unknown database.
	ErrDatabaseNotFound = errors.New("database not found")
	// ErrPolicyNotFound is an ALTER of a retention policy that does not exist.
	ErrPolicyNotFound = errors.New("retention policy not found")
	// ErrPolicyExists is a CREATE of a policy that exists with other settings.
	ErrPolicyExists = errors.New("retention policy already exists")
	// ErrTooManyPolicies is a CREATE past MaxPoliciesPerDatabase or
	// MaxPolicyDatabases, or a name longer than MaxPolicyNameLen.
	ErrTooManyPolicies = errors.New("retention policy limit")
	// ErrPolicyTooShort is a policy duration under one hour (InfluxDB's minimum).
	ErrPolicyTooShort = errors.New("retention policy duration must be at least 1h0m0s")
)
