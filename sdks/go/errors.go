package attache

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	sidecarv1 "github.com/attache-sidecar/attache/sdks/go/gen/attache/sidecar/v1"
)

// Code is a status code, numbered as gRPC numbers it on the wire. Its
// String form is the name the Node SDK and the Connect protocol use, e.g.
// "invalid_argument".
type Code uint32

// The codes attache answers with.
const (
	CodeCanceled           Code = 1
	CodeUnknown            Code = 2
	CodeInvalidArgument    Code = 3
	CodeDeadlineExceeded   Code = 4
	CodeNotFound           Code = 5
	CodeAlreadyExists      Code = 6
	CodePermissionDenied   Code = 7
	CodeResourceExhausted  Code = 8
	CodeFailedPrecondition Code = 9
	CodeAborted            Code = 10
	CodeOutOfRange         Code = 11
	CodeUnimplemented      Code = 12
	CodeInternal           Code = 13
	CodeUnavailable        Code = 14
	CodeDataLoss           Code = 15
	CodeUnauthenticated    Code = 16
)

var codeNames = [...]string{
	CodeCanceled:           "canceled",
	CodeUnknown:            "unknown",
	CodeInvalidArgument:    "invalid_argument",
	CodeDeadlineExceeded:   "deadline_exceeded",
	CodeNotFound:           "not_found",
	CodeAlreadyExists:      "already_exists",
	CodePermissionDenied:   "permission_denied",
	CodeResourceExhausted:  "resource_exhausted",
	CodeFailedPrecondition: "failed_precondition",
	CodeAborted:            "aborted",
	CodeOutOfRange:         "out_of_range",
	CodeUnimplemented:      "unimplemented",
	CodeInternal:           "internal",
	CodeUnavailable:        "unavailable",
	CodeDataLoss:           "data_loss",
	CodeUnauthenticated:    "unauthenticated",
}

// String is the code's Connect name, e.g. "invalid_argument".
func (c Code) String() string {
	if c > 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("code_%d", uint32(c))
}

// codeFromName reads a Connect name ("not_found") or a google.rpc name
// ("NOT_FOUND", "CANCELLED"); an unknown name is CodeUnknown.
func codeFromName(name string) Code {
	name = strings.ToLower(name)
	if name == "cancelled" {
		name = "canceled"
	}
	for c, n := range codeNames {
		if n == name && c > 0 {
			return Code(c)
		}
	}
	return CodeUnknown
}

// Error is the error every failed call returns: match it with errors.As.
//
//	var aerr *attache.Error
//	if errors.As(err, &aerr) && aerr.Code() == attache.CodeInvalidArgument { … }
//
// When the sidecar's module knew more than a code and a message, the
// error carries its detail (attache.sidecar.v1.ErrorInfo): Reason, Domain
// and Metadata; for Postgres, SQLState, Constraint and the other fields
// Postgres gave.
type Error struct {
	code     Code
	message  string
	reason   string
	domain   string
	metadata map[string]string
	cause    error
}

func newError(code Code, format string, args ...any) *Error {
	return &Error{code: code, message: fmt.Sprintf(format, args...)}
}

// badArgument is the SDK's own INVALID_ARGUMENT, naming the field as the
// sidecar does ("records[2].topic: …").
func badArgument(field, format string, args ...any) *Error {
	return &Error{code: CodeInvalidArgument, message: field + ": " + fmt.Sprintf(format, args...)}
}

func itoa(i int) string { return strconv.Itoa(i) }

// Code is the status code, e.g. CodeInvalidArgument.
func (e *Error) Code() Code { return e.code }

// Message says what was wrong, and how to fix it.
func (e *Error) Message() string { return e.message }

// Error is "code: message", as connect-go writes it.
func (e *Error) Error() string { return e.code.String() + ": " + e.message }

// Unwrap gives the error that caused this one, if any (a dial error, a
// context error).
func (e *Error) Unwrap() error { return e.cause }

// Reason is the detail's stable machine-readable reason: for Postgres, the
// SQLSTATE. Empty when the error has no detail.
func (e *Error) Reason() string { return e.reason }

// Domain is the module that raised the error, e.g. "postgres", when the
// error has a detail.
func (e *Error) Domain() string { return e.domain }

// Metadata holds named facts about the error, e.g. {"sqlstate": "23505",
// "constraint": "users_email_key"}; empty when it has none.
func (e *Error) Metadata() map[string]string { return maps.Clone(e.metadata) }

// IsRetryable says whether the same call may succeed if sent again later.
func (e *Error) IsRetryable() bool {
	return e.code == CodeUnavailable || e.code == CodeResourceExhausted
}

// SQLState is Postgres's SQLSTATE, e.g. "23505" (unique violation).
func (e *Error) SQLState() string { return e.metadata["sqlstate"] }

// Constraint is the constraint a Postgres error names.
func (e *Error) Constraint() string { return e.metadata["constraint"] }

// Table is the table a Postgres error names.
func (e *Error) Table() string { return e.metadata["table"] }

// Column is the column a Postgres error names.
func (e *Error) Column() string { return e.metadata["column"] }

// Detail is Postgres's DETAIL line.
func (e *Error) Detail() string { return e.metadata["detail"] }

// Hint is Postgres's HINT line.
func (e *Error) Hint() string { return e.metadata["hint"] }

// Position is where in the SQL text a Postgres error is: a 1-based
// character index, as a string, as Postgres gives it.
func (e *Error) Position() string { return e.metadata["position"] }

// IsUniqueViolation says whether a Postgres statement broke a unique
// constraint (SQLSTATE 23505); Insert answers it with CodeAlreadyExists.
func (e *Error) IsUniqueViolation() bool { return e.SQLState() == "23505" }

// CodeOf is the code of an attache error, CodeCanceled or
// CodeDeadlineExceeded for a context error, CodeUnknown for any other
// error, and 0 for nil.
func CodeOf(err error) Code {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.code
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return CodeDeadlineExceeded
	case errors.Is(err, context.Canceled):
		return CodeCanceled
	}
	return CodeUnknown
}

// asError turns whatever a call returned into an *Error. connect-go
// already answers UNAVAILABLE for a socket that is missing or refuses
// connections (the sidecar is down or restarting), so it is retried.
func asError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{code: CodeDeadlineExceeded, message: "the call's deadline passed before the sidecar answered", cause: err}
	}
	if errors.Is(err, context.Canceled) {
		return &Error{code: CodeCanceled, message: "the call was canceled", cause: err}
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return &Error{code: CodeUnavailable, message: "cannot reach the attache socket (" + err.Error() + "); is the sidecar running?", cause: err, metadata: map[string]string{}}
	}
	if staleConn(err) || errors.As(err, &opErr) {
		return &Error{code: CodeUnavailable, message: "the connection to the sidecar broke (" + err.Error() + ")", cause: err, metadata: map[string]string{}}
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return &Error{code: CodeInternal, message: "unexpected failure talking to the sidecar: " + err.Error(), cause: err}
	}
	out := &Error{code: Code(ce.Code()), message: ce.Message(), cause: err}
	if out.code == CodeUnavailable && errors.As(err, &opErr) && opErr.Op == "dial" {
		out.message = "cannot reach the attache socket (" + ce.Message() + "); is the sidecar running?"
	}
	for _, d := range ce.Details() {
		if !strings.HasSuffix(d.Type(), "attache.sidecar.v1.ErrorInfo") {
			continue
		}
		var info sidecarv1.ErrorInfo
		if proto.Unmarshal(d.Bytes(), &info) == nil {
			out.reason, out.domain, out.metadata = info.GetReason(), info.GetDomain(), info.GetMetadata()
			break
		}
	}
	if out.metadata == nil {
		out.metadata = map[string]string{}
	}
	return out
}
