package attache

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"time"

	postgresv1 "github.com/attache-sidecar/attache/sdks/go/gen/attache/postgres/v1"
)

// Values travel typed (proto Value), not as text: this file maps Go
// parameters to Values and Values to Go (see Rows.Values), and
// postgres_rows.go assigns those to Scan's destinations.

// Numeric is a numeric value as exact decimal text, e.g. "12345.678900" or
// "NaN". As a parameter, it is sent as numeric.
type Numeric string

// Interval is a Postgres interval: months, days and microseconds are
// independent, as Postgres keeps them. A time.Duration parameter is sent
// as an interval of microseconds.
type Interval struct {
	Months int32
	Days   int32
	Micros int64
}

// Infinite is a date or timestamp that is one of Postgres's infinities.
type Infinite int8

// The infinities.
const (
	NegativeInfinity Infinite = -1
	PositiveInfinity Infinite = 1
)

func (i Infinite) String() string {
	if i < 0 {
		return "-infinity"
	}
	return "infinity"
}

// TypedParam is a parameter sent with a Postgres type; make one with Typed.
type TypedParam struct {
	Value any
	Type  string
}

// Typed sends value with the Postgres type typ, e.g. Typed(ids, "uuid[]")
// or Typed(doc, "jsonb"): with json or jsonb, a string or []byte is taken
// as JSON text already and anything else is sent as its JSON encoding.
// Without Typed the server infers each parameter's type from the
// statement.
func Typed(value any, typ string) TypedParam { return TypedParam{Value: value, Type: typ} }

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
	rawJSONType  = reflect.TypeFor[json.RawMessage]()
)

func toParam(v any, field string) (*postgresv1.Param, error) {
	if t, ok := v.(TypedParam); ok {
		if t.Type == "json" || t.Type == "jsonb" {
			switch j := t.Value.(type) {
			case string:
				return &postgresv1.Param{Value: jsonValue(j), Type: t.Type}, nil
			case []byte:
				return &postgresv1.Param{Value: jsonValue(string(j)), Type: t.Type}, nil
			case json.RawMessage:
				return &postgresv1.Param{Value: jsonValue(string(j)), Type: t.Type}, nil
			case nil:
			default:
				b, err := json.Marshal(j)
				if err != nil {
					return nil, badArgument(field, "cannot encode it as JSON: %v", err)
				}
				return &postgresv1.Param{Value: jsonValue(string(b)), Type: t.Type}, nil
			}
		}
		value, err := toValue(t.Value, field)
		if err != nil {
			return nil, err
		}
		return &postgresv1.Param{Value: value, Type: t.Type}, nil
	}
	value, err := toValue(v, field)
	if err != nil {
		return nil, err
	}
	return &postgresv1.Param{Value: value}, nil
}

func jsonValue(text string) *postgresv1.Value {
	return &postgresv1.Value{Kind: &postgresv1.Value_Json{Json: text}}
}

var nullValue = &postgresv1.Value{Kind: &postgresv1.Value_Null{Null: true}}

func toValue(v any, field string) (*postgresv1.Value, error) {
	switch x := v.(type) {
	case nil:
		return nullValue, nil
	case bool:
		return &postgresv1.Value{Kind: &postgresv1.Value_Bool{Bool: x}}, nil
	case string:
		return &postgresv1.Value{Kind: &postgresv1.Value_Text{Text: x}}, nil
	case []byte:
		if x == nil {
			return nullValue, nil
		}
		return &postgresv1.Value{Kind: &postgresv1.Value_Bytes{Bytes: x}}, nil
	case int64:
		return intValue(x), nil
	case int:
		return intValue(int64(x)), nil
	case float64:
		return &postgresv1.Value{Kind: &postgresv1.Value_Float{Float: x}}, nil
	case time.Time:
		return &postgresv1.Value{Kind: &postgresv1.Value_Timestamptz{Timestamptz: &postgresv1.Timestamp{Micros: x.UnixMicro()}}}, nil
	case time.Duration:
		return &postgresv1.Value{Kind: &postgresv1.Value_Interval{Interval: &postgresv1.Interval{Micros: x.Microseconds()}}}, nil
	case Interval:
		return &postgresv1.Value{Kind: &postgresv1.Value_Interval{Interval: &postgresv1.Interval{Months: x.Months, Days: x.Days, Micros: x.Micros}}}, nil
	case Numeric:
		return &postgresv1.Value{Kind: &postgresv1.Value_Numeric{Numeric: string(x)}}, nil
	case json.RawMessage:
		if x == nil {
			return nullValue, nil
		}
		return jsonValue(string(x)), nil
	case *big.Int:
		if x == nil {
			return nullValue, nil
		}
		return &postgresv1.Value{Kind: &postgresv1.Value_Numeric{Numeric: x.String()}}, nil
	case TypedParam:
		return nil, badArgument(field, "Typed applies to a whole parameter, not to an array element")
	case driver.Valuer:
		if rv := reflect.ValueOf(x); rv.Kind() == reflect.Pointer && rv.IsNil() {
			return nullValue, nil
		}
		dv, err := x.Value()
		if err != nil {
			return nil, badArgument(field, "its Value method failed: %v", err)
		}
		return toValue(dv, field)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			return nullValue, nil
		}
		return toValue(rv.Elem().Interface(), field)
	case reflect.Bool:
		return toValue(rv.Bool(), field)
	case reflect.String:
		return toValue(rv.String(), field)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return intValue(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if u := rv.Uint(); u > math.MaxInt64 {
			return &postgresv1.Value{Kind: &postgresv1.Value_Numeric{Numeric: fmt.Sprint(u)}}, nil
		}
		return intValue(int64(rv.Uint())), nil
	case reflect.Float32, reflect.Float64:
		return toValue(rv.Float(), field)
	case reflect.Slice:
		if rv.IsNil() {
			return nullValue, nil
		}
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return toValue(rv.Bytes(), field)
		}
		return arrayValue(rv, field)
	case reflect.Array:
		return arrayValue(rv, field)
	case reflect.Map, reflect.Struct:
		if rv.Kind() == reflect.Map && rv.IsNil() {
			return nullValue, nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, badArgument(field, "a %T is sent as JSON, and cannot be encoded: %v", v, err)
		}
		return jsonValue(string(b)), nil
	}
	return nil, badArgument(field, "a %T has no Postgres form", v)
}

func intValue(n int64) *postgresv1.Value {
	return &postgresv1.Value{Kind: &postgresv1.Value_Int{Int: n}}
}

// arrayValue sends a (nested) slice as a Postgres array, which must be
// rectangular.
func arrayValue(rv reflect.Value, field string) (*postgresv1.Value, error) {
	var dims []int
	for t, cur := rv.Type(), rv; ; {
		dims = append(dims, cur.Len())
		inner := t.Elem()
		if (inner.Kind() != reflect.Slice && inner.Kind() != reflect.Array) || inner.Elem().Kind() == reflect.Uint8 || cur.Len() == 0 {
			break
		}
		t, cur = inner, cur.Index(0)
	}
	arr := &postgresv1.Array{}
	for _, d := range dims {
		if d == 0 {
			return &postgresv1.Value{Kind: &postgresv1.Value_Array{Array: &postgresv1.Array{}}}, nil
		}
		arr.Dimensions = append(arr.Dimensions, &postgresv1.Dimension{Length: int32(d), LowerBound: 1})
	}
	var walk func(v reflect.Value, depth int, path string) error
	walk = func(v reflect.Value, depth int, path string) error {
		if v.Len() != dims[depth] {
			return badArgument(field, "a nested array must be rectangular, as Postgres arrays are (%s has %d elements, not %d)", path, v.Len(), dims[depth])
		}
		for i := range v.Len() {
			elem := v.Index(i)
			if depth+1 < len(dims) {
				for elem.Kind() == reflect.Interface {
					elem = elem.Elem()
				}
				if elem.Kind() != reflect.Slice && elem.Kind() != reflect.Array {
					return badArgument(field, "a nested array must be rectangular, as Postgres arrays are")
				}
				if err := walk(elem, depth+1, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
				continue
			}
			value, err := toValue(elem.Interface(), fmt.Sprintf("%s[%d]", field, i))
			if err != nil {
				return err
			}
			arr.Elements = append(arr.Elements, value)
		}
		return nil
	}
	if err := walk(rv, 0, field); err != nil {
		return nil, err
	}
	return &postgresv1.Value{Kind: &postgresv1.Value_Array{Array: arr}}, nil
}

// fromValue is a result value as Go, per the table above.
func fromValue(v *postgresv1.Value) (any, error) {
	switch k := v.GetKind().(type) {
	case nil, *postgresv1.Value_Null:
		return nil, nil
	case *postgresv1.Value_Bool:
		return k.Bool, nil
	case *postgresv1.Value_Int:
		return k.Int, nil
	case *postgresv1.Value_Float:
		return k.Float, nil
	case *postgresv1.Value_Text:
		return k.Text, nil
	case *postgresv1.Value_Bytes:
		return k.Bytes, nil
	case *postgresv1.Value_Numeric:
		return Numeric(k.Numeric), nil
	case *postgresv1.Value_Timestamp:
		return timestamp(k.Timestamp), nil
	case *postgresv1.Value_Timestamptz:
		return timestamp(k.Timestamptz), nil
	case *postgresv1.Value_Date:
		switch k.Date.GetInfinity() {
		case postgresv1.Infinity_INFINITY_POSITIVE:
			return PositiveInfinity, nil
		case postgresv1.Infinity_INFINITY_NEGATIVE:
			return NegativeInfinity, nil
		}
		return time.Unix(int64(k.Date.GetDays())*86400, 0).UTC(), nil
	case *postgresv1.Value_Time:
		return time.Duration(k.Time) * time.Microsecond, nil
	case *postgresv1.Value_Interval:
		return Interval{Months: k.Interval.GetMonths(), Days: k.Interval.GetDays(), Micros: k.Interval.GetMicros()}, nil
	case *postgresv1.Value_Uuid:
		return k.Uuid, nil
	case *postgresv1.Value_Json:
		return json.RawMessage(k.Json), nil
	case *postgresv1.Value_Array:
		return array(k.Array)
	case *postgresv1.Value_Record:
		fields := k.Record.GetFields()
		named := len(fields) > 0
		values := make([]any, len(fields))
		for i, f := range fields {
			named = named && f.GetName() != ""
			fv, err := fromValue(f.GetValue())
			if err != nil {
				return nil, err
			}
			values[i] = fv
		}
		if !named {
			return values, nil
		}
		out := make(map[string]any, len(fields))
		for i, f := range fields {
			out[f.GetName()] = values[i]
		}
		return out, nil
	case *postgresv1.Value_Typed:
		return k.Typed.GetText(), nil
	}
	return nil, newError(CodeInternal, "the sidecar sent a value of an unknown kind %T; upgrade the SDK", v.GetKind())
}

func timestamp(t *postgresv1.Timestamp) any {
	switch t.GetInfinity() {
	case postgresv1.Infinity_INFINITY_POSITIVE:
		return PositiveInfinity
	case postgresv1.Infinity_INFINITY_NEGATIVE:
		return NegativeInfinity
	}
	return time.UnixMicro(t.GetMicros()).UTC()
}

func array(a *postgresv1.Array) (any, error) {
	elements := make([]any, len(a.GetElements()))
	for i, e := range a.GetElements() {
		v, err := fromValue(e)
		if err != nil {
			return nil, err
		}
		elements[i] = v
	}
	dims := a.GetDimensions()
	total := 1
	for _, d := range dims {
		total *= int(d.GetLength())
	}
	if len(dims) == 0 || total == 0 {
		return []any{}, nil
	}
	if total != len(elements) {
		return nil, newError(CodeInternal, "the sidecar sent an array of %d elements for %d dimensions", len(elements), len(dims))
	}
	next := 0
	var build func(depth int) []any
	build = func(depth int) []any {
		out := make([]any, dims[depth].GetLength())
		for i := range out {
			if depth == len(dims)-1 {
				out[i] = elements[next]
				next++
			} else {
				out[i] = build(depth + 1)
			}
		}
		return out
	}
	return build(0), nil
}
