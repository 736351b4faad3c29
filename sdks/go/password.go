package attache

import (
	"context"

	passwordv1 "github.com/attache-sidecar/attache/sdks/go/gen/attache/password/v1"
	"github.com/attache-sidecar/attache/sdks/go/gen/attache/password/v1/passwordv1connect"
)

// Algorithm names a password hashing algorithm.
type Algorithm string

// The algorithms the sidecar hashes with; the empty Algorithm is its
// configured default (argon2id unless configured otherwise).
const (
	Argon2id Algorithm = "argon2id"
	Bcrypt   Algorithm = "bcrypt"
	Scrypt   Algorithm = "scrypt"
)

var algorithms = map[Algorithm]passwordv1.Algorithm{
	"":       passwordv1.Algorithm_ALGORITHM_UNSPECIFIED,
	Argon2id: passwordv1.Algorithm_ALGORITHM_ARGON2ID,
	Bcrypt:   passwordv1.Algorithm_ALGORITHM_BCRYPT,
	Scrypt:   passwordv1.Algorithm_ALGORITHM_SCRYPT,
}

// HashOptions overrides the sidecar's policy for one hash. Zero fields
// keep the configured values; each cost block applies only to its own
// algorithm.
type HashOptions struct {
	Algorithm Algorithm
	// Argon2 costs: memory in KiB (OWASP minimum 19456), passes, lanes.
	Argon2MemoryKiB, Argon2Iterations, Argon2Parallelism uint32
	// BcryptCost is log2 of the rounds, 4 to 31.
	BcryptCost uint32
	// Scrypt costs: log2 of N, block size, parallelism.
	ScryptLogN, ScryptR, ScryptP uint32
}

// Verification is the outcome of Verify.
type Verification struct {
	// Valid says whether the password matches the hash.
	Valid bool
	// NeedsRehash says the hash's algorithm or costs differ from the
	// sidecar's policy: store a fresh hash (only meaningful when Valid).
	NeedsRehash bool
}

// PasswordClient hashes and verifies passwords on the sidecar's dedicated
// threads. Every call is retried on CodeUnavailable (the proto marks them
// free of side effects).
type PasswordClient struct {
	c *Client
}

func newPasswordClient(c *Client) *PasswordClient {
	return &PasswordClient{c: c}
}

// Hash returns a new salted hash of password under the sidecar's policy: a
// PHC string ("$argon2id$…", "$scrypt$…") or bcrypt's ("$2b$…").
func (p *PasswordClient) Hash(ctx context.Context, password string) (string, error) {
	return p.HashWith(ctx, password, HashOptions{})
}

// HashWith is Hash with the algorithm or costs given.
func (p *PasswordClient) HashWith(ctx context.Context, password string, o HashOptions) (string, error) {
	algorithm, ok := algorithms[o.Algorithm]
	if !ok {
		return "", badArgument("algorithm", "unknown algorithm %q; use argon2id, bcrypt or scrypt", o.Algorithm)
	}
	req := &passwordv1.HashRequest{Password: password, Algorithm: algorithm}
	if o.Argon2MemoryKiB != 0 || o.Argon2Iterations != 0 || o.Argon2Parallelism != 0 {
		req.Argon2 = &passwordv1.Argon2Params{MemoryKib: o.Argon2MemoryKiB, Iterations: o.Argon2Iterations, Parallelism: o.Argon2Parallelism}
	}
	if o.BcryptCost != 0 {
		req.Bcrypt = &passwordv1.BcryptParams{Cost: o.BcryptCost}
	}
	if o.ScryptLogN != 0 || o.ScryptR != 0 || o.ScryptP != 0 {
		req.Scrypt = &passwordv1.ScryptParams{LogN: o.ScryptLogN, R: o.ScryptR, P: o.ScryptP}
	}
	reply, err := unary[passwordv1.HashResponse](p.c, ctx, passwordv1connect.PasswordServiceHashProcedure, req)
	if err != nil {
		return "", err
	}
	return reply.GetHash(), nil
}

// Verify checks password against a stored hash made by attache or by any
// compatible library (PHP password_hash, bcrypt, argon2-cffi, …).
func (p *PasswordClient) Verify(ctx context.Context, password, hash string) (Verification, error) {
	reply, err := unary[passwordv1.VerifyResponse](p.c, ctx, passwordv1connect.PasswordServiceVerifyProcedure, &passwordv1.VerifyRequest{Password: password, Hash: hash})
	if err != nil {
		return Verification{}, err
	}
	return Verification{Valid: reply.GetValid(), NeedsRehash: reply.GetNeedsRehash()}, nil
}
