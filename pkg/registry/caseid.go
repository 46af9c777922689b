package registry

import "strings"

// CaseIDLen is the length in hex characters of a case id (128 bits).
const CaseIDLen = 32

// Subject returns the NATS subject a case's events are published on.
func Subject(caseID string) string { return "registry.case." + caseID }

// IsCaseID reports whether s has the shape of a case id (32 lower-case hex).
func IsCaseID(s string) bool {
	return len(s) == CaseIDLen && strings.Trim(s, "0123456789abcdef") == ""
}
