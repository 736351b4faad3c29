package main

// The suite's value rules (conformance/README.md, "Values"): bytes, numbers
// and parameters as they arrive in requests, and results as runners print
// them.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	attache "github.com/attache-sidecar/attache/sdks/go"
)

type obj = map[string]any

// blob is bytes in arguments: a JSON string is its UTF-8 bytes,
// {"$b64": "..."} raw bytes, null none.
type blob []byte

func (b *blob) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*b = nil
		return nil
	}
	var s string
	if json.Unmarshal(data, &s) == nil {
		*b = blob(s)
		return nil
	}
	var wrapped struct {
		B64 *string `json:"$b64"`
	}
	if err := json.Unmarshal(data, &wrapped); err != nil || wrapped.B64 == nil {
		return fmt.Errorf("bytes must be a string or {\"$b64\": ...}, not %s", data)
	}
	raw, err := base64.StdEncoding.DecodeString(*wrapped.B64)
	if err != nil {
		return fmt.Errorf("$b64: %w", err)
	}
	*b = raw
	return nil
}

// anys is blobs as the SDK's variadic arguments take them.
func anys(bs []blob) []any {
	out := make([]any, len(bs))
	for i, b := range bs {
		out[i] = []byte(b)
	}
	return out
}

// bytesOut is bytes in results: a string when valid UTF-8, else $b64.
func bytesOut(b []byte) any {
	if utf8.Valid(b) {
		return string(b)
	}
	return obj{"$b64": base64.StdEncoding.EncodeToString(b)}
}

// bytesOrNull is bytesOut, with nil as null (Kafka keys, values, headers).
func bytesOrNull(b []byte) any {
	if b == nil {
		return nil
	}
	return bytesOut(b)
}

// integer is a JSON number when |n| ≤ 2^53, else a decimal string.
func integer(n int64) any {
	if n > 1<<53 || n < -(1<<53) {
		return strconv.FormatInt(n, 10)
	}
	return n
}

func unsigned(n uint64) any {
	if n > 1<<53 {
		return strconv.FormatUint(n, 10)
	}
	return n
}

// float is a JSON number; JSON has none for NaN and the infinities, which
// are Postgres's spellings of them.
func float(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return f
}

// redisValue is a reply as the suite writes V.
func redisValue(v attache.RedisValue) any {
	switch v.Kind() {
	case attache.KindNil:
		return nil
	case attache.KindBulk, attache.KindSimple, attache.KindVerbatim:
		b, _ := v.Bytes()
		return bytesOut(b)
	case attache.KindInteger:
		n, _ := v.Int64()
		return integer(n)
	case attache.KindDouble:
		f, _ := v.Float64()
		return float(f)
	case attache.KindBoolean:
		b, _ := v.Bool()
		return b
	case attache.KindBigNumber:
		s, _ := v.Text()
		return s
	case attache.KindError:
		return obj{"$error": v.String()}
	case attache.KindArray, attache.KindSet:
		members, _ := v.Slice()
		return redisValues(members)
	case attache.KindMap:
		pairs, _ := v.Map()
		out := make([]any, len(pairs))
		for i, p := range pairs {
			out[i] = []any{redisValue(p.Key), redisValue(p.Value)}
		}
		return out
	}
	return obj{"$unknown_kind": v.Kind().String()}
}

func redisValues(vs []attache.RedisValue) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = redisValue(v)
	}
	return out
}

// param is a Postgres parameter as the suite writes P: null, booleans,
// numbers (integral: int8, else float8), strings, {"$b64"} (bytea) and
// {"$type": t, "value": v} (v sent with type t). Lists and other objects go
// as the SDK sends []any and maps (arrays, JSON).
type param struct{ v any }

func (p *param) UnmarshalJSON(data []byte) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var raw any
	if err := d.Decode(&raw); err != nil {
		return err
	}
	v, err := toParam(raw)
	p.v = v
	return err
}

func toParam(raw any) (any, error) {
	switch x := raw.(type) {
	case json.Number:
		if !strings.ContainsAny(x.String(), ".eE") {
			if n, err := x.Int64(); err == nil {
				return n, nil
			}
		}
		return x.Float64()
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			v, err := toParam(e)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case map[string]any:
		if b64, ok := x["$b64"].(string); ok {
			return base64.StdEncoding.DecodeString(b64)
		}
		if typ, ok := x["$type"].(string); ok {
			v, err := toParam(x["value"])
			return attache.Typed(v, typ), err
		}
	}
	return raw, nil
}

func params(ps []param) []any {
	out := make([]any, len(ps))
	for i, p := range ps {
		out[i] = p.v
	}
	return out
}

// queryResult is a result as the suite writes it: names, rows of PV, the
// count and the cache status.
func queryResult(rows *attache.Rows) obj {
	columns := make([]any, len(rows.Columns))
	for i, c := range rows.Columns {
		columns[i] = c.Name
	}
	out := make([]any, 0, rows.Len())
	for i := range rows.Len() {
		out = append(out, rowValues(rows, rows.Row(i)))
	}
	return obj{"columns": columns, "rows": out, "rows_affected": unsigned(rows.RowsAffected), "cache": string(rows.Cache.Status)}
}

func rowValues(rows *attache.Rows, row []any) []any {
	out := make([]any, len(row))
	for i, v := range row {
		out[i] = pgValue(v, rows.Columns[i].TypeName)
	}
	return out
}

// pgValue is a value of Rows.Values as the suite writes PV. Dates and
// timestamps are both time.Time there: the column's type tells them apart
// ("_date" is date[]).
func pgValue(v any, typ string) any {
	switch x := v.(type) {
	case nil, bool, string:
		return x
	case int64:
		return integer(x)
	case float64:
		return float(x)
	case []byte:
		return bytesOut(x)
	case attache.Numeric:
		return string(x)
	case json.RawMessage:
		return x
	case attache.Infinite:
		return x.String()
	case time.Time:
		if strings.TrimPrefix(typ, "_") == "date" {
			return x.Format(time.DateOnly)
		}
		return x.UTC().Format("2006-01-02T15:04:05.000000Z")
	case time.Duration: // time of day
		return time.Time{}.Add(x).Format("15:04:05.000000")
	case attache.Interval:
		return obj{"months": x.Months, "days": x.Days, "micros": integer(x.Micros)}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = pgValue(e, typ)
		}
		return out
	case map[string]any:
		out := make(obj, len(x))
		for k, e := range x {
			out[k] = pgValue(e, "")
		}
		return out
	}
	return fmt.Sprintf("%v", v)
}

// kafkaRecord is a consumed record as the suite writes it.
func kafkaRecord(r attache.ConsumedRecord) obj {
	headers := make([]any, len(r.Headers))
	for i, h := range r.Headers {
		headers[i] = []any{h.Key, bytesOrNull(h.Value)}
	}
	return obj{
		"topic": r.Topic, "partition": r.Partition, "offset": integer(r.Offset),
		"key": bytesOrNull(r.Key), "value": bytesOrNull(r.Value), "headers": headers,
	}
}
