package auth

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
)

// ACL is an MQTT access list in mosquitto's acl_file format:
//
//	# rules before any user line apply to every user
//	topic read sensors/public/#
//	user alice
//	topic readwrite home/alice/#
//	pattern write devices/%u/%c/#
//
// `topic [read|write|readwrite|deny] FILTER` grants the user of the
// `user` line above it (or every user, above the first); `pattern` lines
// grant every user, with %u replaced by the username and %c by the client
// ID. The access defaults to readwrite. A deny rule wins over any grant.
// Without a rule that grants it, access is refused.
type ACL struct {
	common   []aclRule
	users    map[string][]aclRule
	patterns []aclRule
}

type aclRule struct {
	read, write, deny bool
	filter            string
}

// ParseACL parses an ACL file's content.
func ParseACL(data []byte) (*ACL, error) {
	a := &ACL{users: map[string][]aclRule{}}
	user, inUser := "", false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		kw, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch kw {
		case "user":
			if rest == "" {
				return nil, fmt.Errorf("acl line %d: user without a name", n)
			}
			user, inUser = rest, true
		case "topic", "pattern":
			r, err := parseACLRule(rest)
			if err != nil {
				return nil, fmt.Errorf("acl line %d: %w", n, err)
			}
			switch {
			case kw == "pattern":
				a.patterns = append(a.patterns, r)
			case inUser:
				a.users[user] = append(a.users[user], r)
			default:
				a.common = append(a.common, r)
			}
		default:
			return nil, fmt.Errorf("acl line %d: %q: want user, topic or pattern", n, kw)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("acl: %w", err)
	}
	return a, nil
}

// ReadACL reads and parses an ACL file.
func ReadACL(path string) (*ACL, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read acl file: %w", err)
	}
	return ParseACL(data)
}

func parseACLRule(s string) (aclRule, error) {
	r := aclRule{read: true, write: true}
	if access, filter, ok := strings.Cut(s, " "); ok {
		switch access {
		case "read":
			r.write = false
		case "write":
			r.read = false
		case "readwrite":
		case "deny":
			r.deny = true
		default:
			return r, fmt.Errorf("access %q: want read, write, readwrite or deny", access)
		}
		s = strings.TrimSpace(filter)
	}
	if s == "" || strings.ContainsAny(s, " \t") {
		return r, fmt.Errorf("topic filter %q", s)
	}
	r.filter = s
	return r, nil
}

// Allow reports whether user (with client ID clientID) may publish to
// topic (write) or subscribe to the filter topic (!write). As mosquitto
// does, pattern rules do not apply to a username or client ID holding
// '/', '+' or '#' (it would widen the pattern).
func (a *ACL) Allow(user, clientID, topic string, write bool) bool {
	rep := strings.NewReplacer("%u", user, "%c", clientID)
	safe := !strings.ContainsAny(user+clientID, "/+#")
	granted := false
	for i, rules := range [][]aclRule{a.common, a.users[user], a.patterns} {
		for _, r := range rules {
			f := r.filter
			if i == 2 {
				if !safe {
					break
				}
				f = rep.Replace(f)
			}
			if !filterCovers(f, topic) {
				continue
			}
			if r.deny {
				return false
			}
			granted = granted || (write && r.write) || (!write && r.read)
		}
	}
	return granted
}

// filterCovers reports whether the ACL filter covers topic, itself a
// topic or (for a subscription) a filter: '#' covers the rest, '+' one
// level (a '+' level of topic too, not a '#'), any other level itself.
func filterCovers(filter, topic string) bool {
	fl, tl := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, f := range fl {
		if f == "#" {
			return i > 0 || !strings.HasPrefix(topic, "$")
		}
		if i >= len(tl) {
			return false
		}
		switch {
		case tl[i] == "#":
			return false
		case f == "+":
			if i == 0 && strings.HasPrefix(topic, "$") {
				return false
			}
		case f != tl[i]:
			return false
		}
	}
	return len(fl) == len(tl)
}
