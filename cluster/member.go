package cluster

import (
	"encoding/json"
	"fmt"
)

func marshalMember(m Member) []byte {
	b, _ := json.Marshal(m)
	return b
}

func unmarshalMember(b []byte) (Member, error) {
	var m Member
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("member entry: %w", err)
	}
	if m.ID == "" {
		return m, fmt.Errorf("member entry without id")
	}
	return m, nil
}
