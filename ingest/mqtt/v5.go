package mqtt

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/lightningdb/lightningdb/ingest/lineproto"
	"github.com/lightningdb/lightningdb/series"
)

// msgProps are the MQTT 5 properties of a PUBLISH that change how it is
// decoded (docs/mqtt.md, "MQTT 5"). nil: an MQTT 3.x message.
type msgProps struct {
	contentType string
	utf8        bool // payload format indicator 1: the payload is UTF-8
	user        []packets.UserProperty
}

// publishProps returns the properties of pk that matter, or nil when
// none does.
func publishProps(pk *packets.Packet) *msgProps {
	p := &pk.Properties
	if p.ContentType == "" && !(p.PayloadFormatFlag && p.PayloadFormat == 1) && len(p.User) == 0 {
		return nil
	}
	return &msgProps{contentType: p.ContentType, utf8: p.PayloadFormatFlag && p.PayloadFormat == 1, user: p.User}
}

// ruleV5 is what a rule does with MQTT 5 properties: a decoder for each
// format a content type may select (and why a format has none), and the
// user properties that become labels.
type ruleV5 struct {
	dec    map[string]decoder
	noDec  map[string]error
	labels []string
}

// compileV5 builds the rule's decoders for the other formats and checks
// UserPropertyLabels. A format whose decoder cannot be built (format
// value without a name) is not an error here: a message selecting it is.
func compileV5(c *rule, o *Options) (*ruleV5, error) {
	v := &ruleV5{dec: map[string]decoder{c.Format: c.dec}, noDec: map[string]error{}}
	for _, name := range c.UserPropertyLabels {
		switch {
		case name == series.MetricName || name == o.Lines.DBLabel:
			return nil, fmt.Errorf("user_property_labels: %q cannot be set from a user property", name)
		case series.FromStrings(series.MetricName, "x", name, "x").Validate() != nil:
			return nil, fmt.Errorf("user_property_labels: %q is not a valid label name", name)
		}
	}
	v.labels = c.UserPropertyLabels
	for _, f := range []string{FormatLine, FormatJSON, FormatValue} {
		if f == c.Format {
			continue
		}
		var d decoder
		var err error
		switch f {
		case FormatLine:
			var prec lineproto.Precision
			if prec, err = lineproto.ParsePrecision(c.Precision); err == nil {
				d = newLineDecoder(o.Lines, c.DB, prec)
			}
		case FormatJSON:
			d, err = newJSONDecoder(c, o)
		case FormatValue:
			d, err = newValueDecoder(c, o)
		}
		if err != nil {
			v.noDec[f] = err
			continue
		}
		v.dec[f] = d
	}
	return v, nil
}

// decoder returns the decoder for a message with properties p: the one
// its content type or payload format indicator selects, else the rule's.
func (v *ruleV5) decoder(r *rule, p *msgProps, payload []byte) (decoder, error) {
	if p == nil {
		return r.dec, nil
	}
	f, err := selectFormat(p, payload)
	if err != nil || f == "" {
		return r.dec, err
	}
	if d := v.dec[f]; d != nil {
		return d, nil
	}
	why := fmt.Sprintf("content type %q", p.contentType)
	if p.contentType == "" {
		why = "a number with payload format indicator 1"
	}
	return nil, fmt.Errorf("%w: %s selects format %s, which this rule cannot decode: %v", ErrMapping, why, f, v.noDec[f])
}

// selectFormat maps a content type (and the payload format indicator) to
// a payload format; "" means the rule's own.
//
//	application/json, text/json, */*+json          json
//	application/vnd.influx.line-protocol           line
//	text/plain; format=line|json|value             that format
//	no content type, indicator 1, a number payload value
//
// A payload the indicator says is UTF-8 must be ([MQTT-3.3.2-4] lets the
// receiver check): otherwise the message is refused (0x99).
func selectFormat(p *msgProps, payload []byte) (string, error) {
	if p.utf8 && !utf8.Valid(payload) {
		return "", fmt.Errorf("%w: the payload format indicator says UTF-8, the payload is not valid UTF-8", ErrSyntax)
	}
	if p.contentType == "" {
		if p.utf8 && isNumber(payload) {
			return FormatValue, nil
		}
		return "", nil
	}
	mt, params, err := mime.ParseMediaType(p.contentType)
	if err != nil {
		return "", nil // not a media type: the rule decides
	}
	switch {
	case mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json"):
		return FormatJSON, nil
	case mt == "application/vnd.influx.line-protocol":
		return FormatLine, nil
	case mt == "text/plain":
		switch f := params["format"]; f {
		case FormatLine, FormatJSON, FormatValue:
			return f, nil
		}
	}
	return "", nil
}

// isNumber reports whether payload is one decimal number (3, -2.5, 1e3).
func isNumber(payload []byte) bool {
	s := bytes.TrimSpace(payload)
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	if c := s[0]; !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.') {
		return false // not inf, nan
	}
	_, err := strconv.ParseFloat(string(s), 64)
	return err == nil
}

// userLabels returns the label name, value pairs the rule takes from the
// user properties: the first property of each configured name.
func (v *ruleV5) userLabels(p *msgProps) []string {
	if p == nil || len(v.labels) == 0 {
		return nil
	}
	var out []string
	for _, name := range v.labels {
		for _, u := range p.user {
			if u.Key == name {
				out = append(out, name, u.Val)
				break
			}
		}
	}
	return out
}

// addLabels copies the series of src to dst, each with the extra label
// pairs its labels do not have already.
func addLabels(dst, src *series.Batch, extra []string) error {
	var b series.Builder
	var errs []error
	for i := 0; i < src.Len(); i++ {
		canon, typ, ts, vals := src.Series(i)
		b.Reset()
		var have [][]byte
		_ = series.ForEachCanonical(canon, func(name, value []byte) error {
			b.Add(name, value)
			have = append(have, name)
			return nil
		})
	extra:
		for j := 0; j+1 < len(extra); j += 2 {
			for _, h := range have {
				if string(h) == extra[j] {
					continue extra
				}
			}
			b.Add([]byte(extra[j]), []byte(extra[j+1]))
		}
		start := len(dst.LabelBuf())
		buf, err := b.AppendCanonical(dst.LabelBuf())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		dst.SetLabelBuf(buf)
		dst.AddBuilt(start, typ)
		for k := range ts {
			if typ == series.TypeString {
				dst.AppendString(ts[k], src.Str(vals[k]))
			} else {
				dst.AppendRaw(ts[k], vals[k])
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: user property labels: %v", ErrLabels, strings.TrimPrefix(errs[0].Error(), "invalid labels: "))
	}
	return nil
}

// storeRefusal is the MQTT 5 reason of a QoS 1/2 message not stored
// because storage failed: 0x97 (quota exceeded), series.ErrOverloaded
// (retry later) and any other failure alike; nothing was stored and the
// client may send it again. Both of the broker's paths (mochi's hook and
// the publish front end) answer with it.
func storeRefusal(err error) packets.Code {
	return reasonCode(packets.ErrQuotaExceeded, fmt.Errorf("not stored, send it again: %w", err))
}

// parseRefusal is the MQTT 5 reason of a QoS 1/2 message of which nothing
// was stored, err saying why: 0x99 (payload format invalid) when the
// payload did not decode; when storage refused every sample, 0x97 (quota
// exceeded) for a series limit, 0x83 (implementation specific error) for
// a value type conflict.
func parseRefusal(err error) packets.Code {
	if !errors.Is(err, ErrRejected) {
		return reasonCode(packets.ErrPayloadFormatInvalid, err)
	}
	code := packets.ErrImplementationSpecificError
	if errors.Is(err, series.ErrSeriesLimit) {
		code = packets.ErrQuotaExceeded
	}
	return reasonCode(code, err)
}

// reasonCode is the PUBACK (or PUBREC) reason code for a message that
// could not be taken, with a reason string that says why (cut to fit
// any client's maximum packet size).
func reasonCode(code packets.Code, err error) packets.Code {
	if err != nil {
		msg := err.Error()
		if len(msg) > 200 {
			cut := 200
			for cut > 0 && !utf8.RuneStart(msg[cut]) {
				cut--
			}
			msg = msg[:cut] + "..."
		}
		code.Reason = msg
	}
	return code
}
