package attache

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	redisv1 "github.com/attache-sidecar/attache/sdks/go/gen/attache/redis/v1"
)

// ErrNil is what the typed accessors of a nil RedisValue return (a missing
// key, a null bulk or array): test for it with errors.Is, or check IsNil
// first.
var ErrNil = errors.New("attache: redis nil reply")

// RedisError is an error reply from Redis, e.g. "WRONGTYPE Operation
// against a key holding the wrong kind of value". Do and the helpers
// return a top-level error reply as a *RedisError; inside an array (DoMulti,
// EXEC) it stays a RedisValue of KindError, whose Err gives it.
type RedisError struct {
	// Message is the reply as Redis sent it, its prefix ("WRONGTYPE",
	// "ERR") included.
	Message string
}

func (e *RedisError) Error() string { return "redis: " + e.Message }

// Prefix is the reply's first word, e.g. "WRONGTYPE" or "ERR".
func (e *RedisError) Prefix() string {
	prefix, _, _ := strings.Cut(e.Message, " ")
	return prefix
}

// RedisKind is the RESP3 type of a RedisValue.
type RedisKind uint8

// The RESP3 types.
const (
	KindNil RedisKind = iota
	KindBulk
	KindSimple
	KindInteger
	KindError
	KindArray
	KindMap
	KindSet
	KindDouble
	KindBoolean
	KindBigNumber
	KindVerbatim
)

var kindNames = [...]string{"nil", "bulk string", "simple string", "integer", "error", "array", "map", "set", "double", "boolean", "big number", "verbatim string"}

func (k RedisKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind " + strconv.Itoa(int(k))
}

// RedisValue is one RESP3 reply, read with its typed accessors: String,
// Bytes, Int64, Float64, Bool, Slice, Map, StringMap. The zero RedisValue
// is nil.
type RedisValue struct {
	kind   RedisKind
	bytes  []byte // bulk, verbatim text
	text   string // simple, error, big number, verbatim format
	num    int64
	double float64
	values []RedisValue // array and set members; map keys and values, alternating
}

// RedisPair is one entry of a RESP3 map.
type RedisPair struct {
	Key, Value RedisValue
}

func fromRedisValue(v *redisv1.Value) RedisValue {
	switch k := v.GetKind().(type) {
	case *redisv1.Value_Bulk:
		return RedisValue{kind: KindBulk, bytes: k.Bulk}
	case *redisv1.Value_Simple:
		return RedisValue{kind: KindSimple, text: k.Simple}
	case *redisv1.Value_Integer:
		return RedisValue{kind: KindInteger, num: k.Integer}
	case *redisv1.Value_Error:
		return RedisValue{kind: KindError, text: k.Error}
	case *redisv1.Value_Array:
		return RedisValue{kind: KindArray, values: fromRedisValues(k.Array.GetValues())}
	case *redisv1.Value_Set:
		return RedisValue{kind: KindSet, values: fromRedisValues(k.Set.GetValues())}
	case *redisv1.Value_Map:
		values := make([]RedisValue, 0, 2*len(k.Map.GetEntries()))
		for _, e := range k.Map.GetEntries() {
			values = append(values, fromRedisValue(e.GetKey()), fromRedisValue(e.GetValue()))
		}
		return RedisValue{kind: KindMap, values: values}
	case *redisv1.Value_Double:
		return RedisValue{kind: KindDouble, double: k.Double}
	case *redisv1.Value_Boolean:
		v := RedisValue{kind: KindBoolean}
		if k.Boolean {
			v.num = 1
		}
		return v
	case *redisv1.Value_BigNumber:
		return RedisValue{kind: KindBigNumber, text: k.BigNumber}
	case *redisv1.Value_Verbatim:
		return RedisValue{kind: KindVerbatim, text: k.Verbatim.GetFormat(), bytes: k.Verbatim.GetText()}
	}
	return RedisValue{}
}

func fromRedisValues(vs []*redisv1.Value) []RedisValue {
	out := make([]RedisValue, len(vs))
	for i, v := range vs {
		out[i] = fromRedisValue(v)
	}
	return out
}

// Kind is the reply's RESP3 type.
func (v RedisValue) Kind() RedisKind { return v.kind }

// IsNil says whether the reply is nil: a missing key, a null bulk string
// or array.
func (v RedisValue) IsNil() bool { return v.kind == KindNil }

// Err is the *RedisError of an error reply, else nil.
func (v RedisValue) Err() error {
	if v.kind == KindError {
		return &RedisError{Message: v.text}
	}
	return nil
}

func (v RedisValue) mismatch(want string) error {
	if v.kind == KindNil {
		return ErrNil
	}
	if v.kind == KindError {
		return &RedisError{Message: v.text}
	}
	return newError(CodeInvalidArgument, "the reply is a %s, not %s", v.kind, want)
}

// String is the reply as text: a bulk, simple or verbatim string as it is
// (bulk bytes read as UTF-8), a number in decimal, a boolean as "true" or
// "false", an error reply's message, and "" for nil, an array, a set or a
// map. Use Text to tell those apart.
func (v RedisValue) String() string {
	s, err := v.Text()
	if err != nil && v.kind == KindError {
		return v.text
	}
	return s
}

// Text is the reply as text, as String gives it; ErrNil for nil, a
// *RedisError for an error reply, and an error for an aggregate.
func (v RedisValue) Text() (string, error) {
	switch v.kind {
	case KindBulk, KindVerbatim:
		return string(v.bytes), nil
	case KindSimple, KindBigNumber:
		return v.text, nil
	case KindInteger:
		return strconv.FormatInt(v.num, 10), nil
	case KindDouble:
		return strconv.FormatFloat(v.double, 'g', -1, 64), nil
	case KindBoolean:
		return strconv.FormatBool(v.num != 0), nil
	}
	return "", v.mismatch("text")
}

// Bytes is a bulk or verbatim string's bytes, or another string's text as
// bytes; ErrNil for nil.
func (v RedisValue) Bytes() ([]byte, error) {
	if v.kind == KindBulk || v.kind == KindVerbatim {
		return v.bytes, nil
	}
	s, err := v.Text()
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// Int64 is an integer reply, or a string or double that holds a whole
// number (Redis answers GET of a counter with a bulk string); ErrNil for
// nil.
func (v RedisValue) Int64() (int64, error) {
	switch v.kind {
	case KindInteger:
		return v.num, nil
	case KindBoolean:
		return v.num, nil
	case KindDouble:
		if v.double == math.Trunc(v.double) && math.Abs(v.double) < 1<<63 {
			return int64(v.double), nil
		}
	case KindBulk, KindSimple, KindBigNumber, KindVerbatim:
		s, _ := v.Text()
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, newError(CodeInvalidArgument, "the reply %q is not a 64-bit integer", s)
		}
		return n, nil
	}
	return 0, v.mismatch("an integer")
}

// Float64 is a double or integer reply, or a string that holds a number;
// ErrNil for nil.
func (v RedisValue) Float64() (float64, error) {
	switch v.kind {
	case KindDouble:
		return v.double, nil
	case KindInteger:
		return float64(v.num), nil
	case KindBulk, KindSimple, KindBigNumber, KindVerbatim:
		s, _ := v.Text()
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, newError(CodeInvalidArgument, "the reply %q is not a number", s)
		}
		return f, nil
	}
	return 0, v.mismatch("a number")
}

// Bool is a boolean reply; an integer is true unless 0 (EXISTS, SISMEMBER
// answer 0 or 1), and "OK" is true. ErrNil for nil.
func (v RedisValue) Bool() (bool, error) {
	switch v.kind {
	case KindBoolean, KindInteger:
		return v.num != 0, nil
	case KindSimple:
		return v.text == "OK", nil
	}
	return false, v.mismatch("a boolean")
}

// BigInt is a big number reply, or an integer one.
func (v RedisValue) BigInt() (*big.Int, error) {
	switch v.kind {
	case KindInteger:
		return big.NewInt(v.num), nil
	case KindBigNumber:
		n, ok := new(big.Int).SetString(v.text, 10)
		if !ok {
			return nil, newError(CodeInternal, "the sidecar sent big number %q", v.text)
		}
		return n, nil
	}
	return nil, v.mismatch("a big number")
}

// Slice is the members of an array or set reply (a map's keys and values,
// alternating, as RESP2 sends them); ErrNil for nil.
func (v RedisValue) Slice() ([]RedisValue, error) {
	switch v.kind {
	case KindArray, KindSet, KindMap:
		return v.values, nil
	}
	return nil, v.mismatch("an array")
}

// Strings is an array or set reply as text, "" for its nil members.
func (v RedisValue) Strings() ([]string, error) {
	members, err := v.Slice()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(members))
	for i, m := range members {
		out[i] = m.String()
	}
	return out, nil
}

// Map is a map reply's entries, in the order the server sent them (or an
// array of alternating keys and values, as RESP2 answers HGETALL).
func (v RedisValue) Map() ([]RedisPair, error) {
	switch v.kind {
	case KindMap, KindArray:
		if len(v.values)%2 != 0 {
			return nil, newError(CodeInvalidArgument, "the reply is an array of %d values, not of key-value pairs", len(v.values))
		}
		out := make([]RedisPair, len(v.values)/2)
		for i := range out {
			out[i] = RedisPair{Key: v.values[2*i], Value: v.values[2*i+1]}
		}
		return out, nil
	}
	return nil, v.mismatch("a map")
}

// StringMap is a map reply as text keys and values (HGETALL); of
// duplicate keys, the last wins.
func (v RedisValue) StringMap() (map[string]string, error) {
	pairs, err := v.Map()
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		out[p.Key.String()] = p.Value.String()
	}
	return out, nil
}

// VerbatimFormat is a verbatim string's three-letter format, e.g. "txt".
func (v RedisValue) VerbatimFormat() string {
	if v.kind == KindVerbatim {
		return v.text
	}
	return ""
}

// GoString renders the reply for %#v, e.g. in test failures.
func (v RedisValue) GoString() string {
	switch v.kind {
	case KindNil:
		return "nil"
	case KindArray, KindSet, KindMap:
		parts := make([]string, len(v.values))
		for i, m := range v.values {
			parts[i] = m.GoString()
		}
		return v.kind.String() + "[" + strings.Join(parts, " ") + "]"
	case KindError:
		return "error(" + strconv.Quote(v.text) + ")"
	}
	return fmt.Sprintf("%s(%q)", v.kind, v.String())
}

// redisArgs encodes command arguments: strings and byte slices as they
// are, integers and floats in decimal, booleans as 1 or 0, and
// fmt.Stringer values by their String.
func redisArgs(field string, args []any) ([][]byte, error) {
	out := make([][]byte, len(args))
	for i, a := range args {
		var b []byte
		switch v := a.(type) {
		case string:
			b = []byte(v)
		case []byte:
			b = v
		case int:
			b = strconv.AppendInt(nil, int64(v), 10)
		case int8:
			b = strconv.AppendInt(nil, int64(v), 10)
		case int16:
			b = strconv.AppendInt(nil, int64(v), 10)
		case int32:
			b = strconv.AppendInt(nil, int64(v), 10)
		case int64:
			b = strconv.AppendInt(nil, v, 10)
		case uint:
			b = strconv.AppendUint(nil, uint64(v), 10)
		case uint8:
			b = strconv.AppendUint(nil, uint64(v), 10)
		case uint16:
			b = strconv.AppendUint(nil, uint64(v), 10)
		case uint32:
			b = strconv.AppendUint(nil, uint64(v), 10)
		case uint64:
			b = strconv.AppendUint(nil, v, 10)
		case float32:
			b = strconv.AppendFloat(nil, float64(v), 'f', -1, 32)
		case float64:
			b = strconv.AppendFloat(nil, v, 'f', -1, 64)
		case bool:
			if v {
				b = []byte{'1'}
			} else {
				b = []byte{'0'}
			}
		case fmt.Stringer:
			b = []byte(v.String())
		default:
			return nil, badArgument(fmt.Sprintf("%s[%d]", field, i), "a %T has no Redis form; send a string, []byte or number", a)
		}
		out[i] = b
	}
	return out, nil
}
