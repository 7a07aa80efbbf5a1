package mqtt

import (
	"errors"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Errors a message can be rejected with. Each is wrapped with the details
// (which line, key or topic level) before it is returned; the metrics use
// the sentinel's text as the low-cardinality reason label.
var (
	// ErrSyntax marks a payload that does not parse in its format.
	ErrSyntax = errors.New("bad payload")
	// ErrMapping marks a payload that parses but does not map to series:
	// no field, a missing key, an unusable value type.
	ErrMapping = errors.New("unmapped payload")
	// ErrTimestamp marks a timestamp that is missing, malformed or out of
	// range.
	ErrTimestamp = errors.New("bad timestamp")
	// ErrTopic marks a topic that does not fit the rule's template.
	ErrTopic = errors.New("topic does not match template")
	// ErrLabels marks a label set that breaks the series rules.
	ErrLabels = errors.New("invalid labels")
	// ErrRejected marks samples the appender refused (type conflict,
	// series limit); the message is acknowledged, as retrying cannot help.
	ErrRejected = errors.New("rejected by storage")
	// ErrNoRule marks a topic that no rule matches; the message is
	// acknowledged and dropped.
	ErrNoRule = errors.New("no rule for topic")
	// ErrConfig marks an invalid broker option (a limit out of range).
	ErrConfig = errors.New("invalid mqtt configuration")
)

// reasonOf returns the metric label for err: the text of its sentinel.
func reasonOf(err error) string {
	for _, s := range []error{ErrSyntax, ErrMapping, ErrTimestamp, ErrTopic, ErrLabels, ErrRejected, ErrNoRule} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return "other"
}

// errPacketTooLarge is what reading a packet over the maximum packet size
// returns (wrapped with the sizes): mochi's code 0x95, so mochi ends the
// connection on it as on its own check.
var errPacketTooLarge = packets.ErrPacketTooLarge
