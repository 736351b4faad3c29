package attache

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	postgresv1 "github.com/attache-sidecar/attache/sdks/go/gen/attache/postgres/v1"
)

// ErrNoRows is what ScanOne returns for a result without rows.
var ErrNoRows = errors.New("attache: no rows in result")

// Column describes one result column.
type Column struct {
	Name    string
	TypeOID uint32
	// TypeName is Postgres's name for the type, e.g. "int8", "_text" for
	// text[].
	TypeName string
}

// CacheStatus says where a result came from.
type CacheStatus string

// The statuses.
const (
	// CacheBypass: not eligible for sharing or caching (a write, a
	// transaction, a volatile function…; CacheInfo.Reason says which).
	CacheBypass CacheStatus = "bypass"
	// CacheMiss: run on the database for this caller (and any identical
	// read that joined it).
	CacheMiss CacheStatus = "miss"
	// CacheCoalesced: shared the result of an identical read already
	// running.
	CacheCoalesced CacheStatus = "coalesced"
	// CacheHit: answered from the cache.
	CacheHit CacheStatus = "hit"
)

// CacheInfo says how a result was obtained.
type CacheInfo struct {
	Status CacheStatus
	// Reason says why a statement could not be shared or cached (bypass),
	// or why a read asked to be cached was not (miss).
	Reason string
	// Age is, for a hit, how long ago the result was read from the
	// database.
	Age time.Duration
}

func toCache(c *postgresv1.CacheInfo) CacheInfo {
	status := CacheBypass
	switch c.GetStatus() {
	case postgresv1.CacheStatus_CACHE_STATUS_MISS:
		status = CacheMiss
	case postgresv1.CacheStatus_CACHE_STATUS_COALESCED:
		status = CacheCoalesced
	case postgresv1.CacheStatus_CACHE_STATUS_HIT:
		status = CacheHit
	}
	return CacheInfo{Status: status, Reason: c.GetReason(), Age: time.Duration(c.GetAgeMs()) * time.Millisecond}
}

// Rows is a statement's result, read whole: iterate it with Next and Scan
// as database/sql's Rows, or decode it at once with ScanAll. It is not
// safe for concurrent use.
type Rows struct {
	Columns []Column
	// RowsAffected counts the rows returned, inserted, updated or deleted.
	RowsAffected uint64
	// CommandTag is as Postgres reports it, e.g. "INSERT 0 1".
	CommandTag string
	// Cache says how the result was obtained (Execute's: always bypass).
	Cache CacheInfo

	rows [][]any
	pos  int
}

func newRows(columns []*postgresv1.Column, rows []*postgresv1.Row) (*Rows, error) {
	out := &Rows{Columns: make([]Column, len(columns)), rows: make([][]any, len(rows))}
	for i, c := range columns {
		out.Columns[i] = Column{Name: c.GetName(), TypeOID: c.GetTypeOid(), TypeName: c.GetTypeName()}
	}
	for i, r := range rows {
		values := make([]any, len(r.GetValues()))
		for j, v := range r.GetValues() {
			var err error
			if values[j], err = fromValue(v); err != nil {
				return nil, err
			}
		}
		out.rows[i] = values
	}
	return out, nil
}

func queryRows(r *postgresv1.QueryResponse) (*Rows, error) {
	rows, err := newRows(r.GetColumns(), r.GetRows())
	if err != nil {
		return nil, err
	}
	rows.RowsAffected, rows.CommandTag, rows.Cache = r.GetRowsAffected(), r.GetCommandTag(), toCache(r.GetCache())
	return rows, nil
}

// Len is the number of rows.
func (r *Rows) Len() int { return len(r.rows) }

// Next moves to the next row; false once there is none.
func (r *Rows) Next() bool {
	if r.pos >= len(r.rows) {
		r.pos = len(r.rows) + 1
		return false
	}
	r.pos++
	return true
}

// Values is the current row's values, as Go types:
//
//	NULL                    nil
//	bool                    bool
//	int2, int4, int8, oid   int64
//	float4, float8          float64
//	text, varchar, enum…    string
//	bytea                   []byte
//	numeric                 Numeric (exact decimal text)
//	timestamp, timestamptz  time.Time (UTC), or Infinite for ±infinity
//	date                    time.Time (midnight UTC), or Infinite
//	time                    time.Duration since midnight
//	interval                Interval
//	uuid                    string (canonical lowercase)
//	json, jsonb             json.RawMessage
//	arrays                  []any (nested for several dimensions)
//	records                 map[string]any (named fields) or []any
//	other types             string (the server's text output)
func (r *Rows) Values() []any {
	if r.pos < 1 || r.pos > len(r.rows) {
		return nil
	}
	return r.rows[r.pos-1]
}

// Row is row i's values.
func (r *Rows) Row(i int) []any { return r.rows[i] }

// Map is the current row keyed by column name (of duplicate names, the
// last column wins).
func (r *Rows) Map() map[string]any {
	values := r.Values()
	out := make(map[string]any, len(values))
	for i, v := range values {
		out[r.Columns[i].Name] = v
	}
	return out
}

// Err is always nil: the result is read whole before Query returns. It is
// here so that code written for database/sql reads naturally.
func (r *Rows) Err() error { return nil }

// Close does nothing, for the same reason.
func (r *Rows) Close() error { return nil }

// Scan copies the current row's columns into dest, one pointer per
// column: *any, pointers to Go types the value converts to (string,
// integers, floats, bool, []byte, time.Time, time.Duration, Interval,
// Numeric, json.RawMessage, slices for arrays), a struct, map or slice
// for a JSON value (decoded), a pointer to a pointer for a nullable column
// (nil for NULL), or an sql.Scanner (sql.NullString, …). A NULL into a
// destination that cannot hold it is an error naming the column.
func (r *Rows) Scan(dest ...any) error {
	values := r.Values()
	if values == nil {
		return newError(CodeFailedPrecondition, "Scan called without a current row; call Next first")
	}
	if len(dest) != len(values) {
		return newError(CodeInvalidArgument, "Scan got %d destinations for %d columns", len(dest), len(values))
	}
	for i, d := range dest {
		if err := assign(d, values[i]); err != nil {
			return scanError(r.Columns[i].Name, err)
		}
	}
	return nil
}

func scanError(column string, err error) error {
	return newError(CodeInvalidArgument, "column %s: %v", column, err)
}

// ScanAll decodes every row into a T: a struct whose fields take the
// columns of their name (a `db:"name"` tag, else the field name matched
// without case or underscores: column user_id to field UserID), a map
// keyed by column name, or, for a one-column result, anything Scan takes.
// A column with no field is an error (tag a field `db:"-"` to leave it
// out); a field with no column keeps its zero value.
func ScanAll[T any](rows *Rows) ([]T, error) {
	out := make([]T, len(rows.rows))
	for i, row := range rows.rows {
		if err := decodeRow(&out[i], rows.Columns, row); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ScanOne decodes the first row as ScanAll does; ErrNoRows if there is
// none.
func ScanOne[T any](rows *Rows) (T, error) {
	var out T
	if len(rows.rows) == 0 {
		return out, ErrNoRows
	}
	return out, decodeRow(&out, rows.Columns, rows.rows[0])
}

func decodeRow[T any](dest *T, columns []Column, row []any) error {
	rv := reflect.ValueOf(dest).Elem()
	t := rv.Type()
	switch {
	case t.Kind() == reflect.Struct && t != timeType:
		fields := structFields(t)
		for i, c := range columns {
			index, ok := fields[normalize(c.Name)]
			if !ok {
				if _, skipped := fields["-"+normalize(c.Name)]; skipped {
					continue
				}
				return newError(CodeInvalidArgument, "column %s has no field in %s; add one (or a `db:\"%s\"` tag)", c.Name, t, c.Name)
			}
			if err := setValue(rv.FieldByIndex(index), row[i]); err != nil {
				return scanError(c.Name, err)
			}
		}
		return nil
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
		m := reflect.MakeMapWithSize(t, len(columns))
		for i, c := range columns {
			v := reflect.New(t.Elem()).Elem()
			if err := setValue(v, row[i]); err != nil {
				return scanError(c.Name, err)
			}
			m.SetMapIndex(reflect.ValueOf(c.Name).Convert(t.Key()), v)
		}
		rv.Set(m)
		return nil
	}
	if len(columns) != 1 {
		return newError(CodeInvalidArgument, "a %s takes one column, and the result has %d; decode into a struct", t, len(columns))
	}
	if err := setValue(rv, row[0]); err != nil {
		return scanError(columns[0].Name, err)
	}
	return nil
}

var fieldCache sync.Map // reflect.Type -> map[string][]int

// structFields maps normalized column names to field indexes, embedded
// structs' fields included; "-name" marks a field tagged `db:"-"`.
func structFields(t reflect.Type) map[string][]int {
	if cached, ok := fieldCache.Load(t); ok {
		return cached.(map[string][]int)
	}
	out := map[string][]int{}
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || (f.Anonymous && f.Type.Kind() == reflect.Struct) {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("db"); ok {
			tag, _, _ = strings.Cut(tag, ",")
			if tag == "-" {
				out["-"+normalize(f.Name)] = f.Index
				continue
			}
			if tag != "" {
				name = tag
			}
		}
		out[normalize(name)] = f.Index
	}
	fieldCache.Store(t, out)
	return out
}

func normalize(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, "_", ""))
}

// assign stores v into dest, a pointer.
func assign(dest any, v any) error {
	switch d := dest.(type) {
	case *any:
		*d = v
		return nil
	case sql.Scanner:
		return d.Scan(driverValue(v))
	}
	rv := reflect.ValueOf(dest)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("destination %T is not a non-nil pointer", dest)
	}
	return setValue(rv.Elem(), v)
}

// driverValue is v as database/sql's drivers give values to a Scanner.
func driverValue(v any) any {
	switch x := v.(type) {
	case Numeric:
		return string(x)
	case json.RawMessage:
		return []byte(x)
	case time.Duration:
		return int64(x)
	case Interval, Infinite, []any, map[string]any:
		return fmt.Sprint(x)
	}
	return v
}

var (
	scannerType  = reflect.TypeFor[sql.Scanner]()
	intervalType = reflect.TypeFor[Interval]()
)

func setValue(dst reflect.Value, v any) error {
	if dst.CanAddr() && dst.Kind() != reflect.Pointer && dst.Addr().Type().Implements(scannerType) {
		return dst.Addr().Interface().(sql.Scanner).Scan(driverValue(v))
	}
	if v == nil {
		switch dst.Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
			dst.SetZero()
			return nil
		}
		return fmt.Errorf("is NULL, which a %s cannot hold; scan into a pointer or sql.Null[T]", dst.Type())
	}
	t := dst.Type()
	switch t {
	case timeType:
		if tv, ok := v.(time.Time); ok {
			dst.Set(reflect.ValueOf(tv))
			return nil
		}
		if inf, ok := v.(Infinite); ok {
			return fmt.Errorf("is %s, which a time.Time cannot hold; scan into *any", inf)
		}
	case durationType:
		switch x := v.(type) {
		case time.Duration:
			dst.SetInt(int64(x))
			return nil
		case Interval:
			if x.Months == 0 && x.Days == 0 {
				dst.SetInt(x.Micros * int64(time.Microsecond))
				return nil
			}
			return fmt.Errorf("is an interval with months or days, which a time.Duration cannot hold; scan into attache.Interval")
		}
	case intervalType:
		if x, ok := v.(Interval); ok {
			dst.Set(reflect.ValueOf(x))
			return nil
		}
	case rawJSONType:
		switch x := v.(type) {
		case json.RawMessage:
			dst.SetBytes(append([]byte(nil), x...))
			return nil
		case string:
			dst.SetBytes([]byte(x))
			return nil
		}
	}
	if raw, ok := v.(json.RawMessage); ok {
		switch dst.Kind() {
		case reflect.String:
			dst.SetString(string(raw))
			return nil
		case reflect.Slice:
			if t.Elem().Kind() == reflect.Uint8 {
				dst.SetBytes(append([]byte(nil), raw...))
				return nil
			}
		}
		if err := json.Unmarshal(raw, dst.Addr().Interface()); err != nil {
			return fmt.Errorf("cannot decode its JSON into a %s: %v", t, err)
		}
		return nil
	}
	switch dst.Kind() {
	case reflect.Pointer:
		elem := reflect.New(t.Elem())
		if err := setValue(elem.Elem(), v); err != nil {
			return err
		}
		dst.Set(elem)
		return nil
	case reflect.Interface:
		rv := reflect.ValueOf(v)
		if rv.Type().AssignableTo(t) {
			dst.Set(rv)
			return nil
		}
	case reflect.String:
		switch x := v.(type) {
		case string:
			dst.SetString(x)
			return nil
		case Numeric:
			dst.SetString(string(x))
			return nil
		case []byte:
			dst.SetString(string(x))
			return nil
		case Infinite:
			dst.SetString(x.String())
			return nil
		}
	case reflect.Bool:
		if b, ok := v.(bool); ok {
			dst.SetBool(b)
			return nil
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := toInt(v)
		if err != nil {
			return err
		}
		if dst.OverflowInt(n) {
			return fmt.Errorf("%d overflows a %s", n, t)
		}
		dst.SetInt(n)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := toInt(v)
		if err != nil {
			return err
		}
		if n < 0 || dst.OverflowUint(uint64(n)) {
			return fmt.Errorf("%d overflows a %s", n, t)
		}
		dst.SetUint(uint64(n))
		return nil
	case reflect.Float32, reflect.Float64:
		switch x := v.(type) {
		case float64:
			dst.SetFloat(x)
			return nil
		case int64:
			dst.SetFloat(float64(x))
			return nil
		case Numeric:
			f, err := strconv.ParseFloat(string(x), 64)
			if err != nil {
				return fmt.Errorf("numeric %s is not a float: %v", x, err)
			}
			dst.SetFloat(f)
			return nil
		}
	case reflect.Slice:
		switch x := v.(type) {
		case []byte:
			if t.Elem().Kind() == reflect.Uint8 {
				dst.SetBytes(append([]byte(nil), x...))
				return nil
			}
		case string:
			if t.Elem().Kind() == reflect.Uint8 {
				dst.SetBytes([]byte(x))
				return nil
			}
		case []any:
			out := reflect.MakeSlice(t, len(x), len(x))
			for i, e := range x {
				if err := setValue(out.Index(i), e); err != nil {
					return fmt.Errorf("element %d: %w", i, err)
				}
			}
			dst.Set(out)
			return nil
		}
	case reflect.Array:
		if x, ok := v.([]any); ok {
			if len(x) != dst.Len() {
				return fmt.Errorf("has %d elements, and a %s holds %d", len(x), t, dst.Len())
			}
			for i, e := range x {
				if err := setValue(dst.Index(i), e); err != nil {
					return fmt.Errorf("element %d: %w", i, err)
				}
			}
			return nil
		}
	case reflect.Map:
		if x, ok := v.(map[string]any); ok && t.Key().Kind() == reflect.String {
			m := reflect.MakeMapWithSize(t, len(x))
			for k, e := range x {
				ev := reflect.New(t.Elem()).Elem()
				if err := setValue(ev, e); err != nil {
					return fmt.Errorf("field %s: %w", k, err)
				}
				m.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), ev)
			}
			dst.Set(m)
			return nil
		}
	}
	return fmt.Errorf("a %T value cannot be stored in a %s", v, t)
}

func toInt(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
			return int64(x), nil
		}
		return 0, fmt.Errorf("%v is not a whole number", x)
	case Numeric:
		n, err := strconv.ParseInt(string(x), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("numeric %s is not a 64-bit integer", x)
		}
		return n, nil
	}
	return 0, fmt.Errorf("a %T value is not an integer", v)
}
