package attache_test

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"

	attache "github.com/attache-sidecar/attache/sdks/go"
)

func TestPasswordHashAndVerify(t *testing.T) {
	ctx := context.Background()
	hash := must[string](t)(client.Password.Hash(ctx, "correct horse"))
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("hash %q is not under the configured policy", hash)
	}
	equal(t, must[attache.Verification](t)(client.Password.Verify(ctx, "correct horse", hash)), attache.Verification{Valid: true}, "right password")
	equal(t, must[attache.Verification](t)(client.Password.Verify(ctx, "wrong horse", hash)), attache.Verification{}, "wrong password")
}

func TestPasswordAlgorithmsAndCostsReachTheSidecar(t *testing.T) {
	ctx := context.Background()
	bcrypt := must[string](t)(client.Password.HashWith(ctx, "pässwörd", attache.HashOptions{Algorithm: attache.Bcrypt}))
	if !strings.HasPrefix(bcrypt, "$2b$04$") {
		t.Fatalf("bcrypt hash %q", bcrypt)
	}
	costly := must[string](t)(client.Password.HashWith(ctx, "pässwörd", attache.HashOptions{Algorithm: attache.Bcrypt, BcryptCost: 5}))
	if !strings.HasPrefix(costly, "$2b$05$") {
		t.Fatalf("bcrypt cost override: %q", costly)
	}
	// A hash under other costs than the policy's verifies and asks for a rehash.
	equal(t, must[attache.Verification](t)(client.Password.Verify(ctx, "pässwörd", costly)), attache.Verification{Valid: true, NeedsRehash: true}, "old costs")
	scrypt := must[string](t)(client.Password.HashWith(ctx, "x", attache.HashOptions{Algorithm: attache.Scrypt, ScryptLogN: 5}))
	if !regexp.MustCompile(`^\$scrypt\$ln=5,r=8,p=1\$`).MatchString(scrypt) {
		t.Fatalf("scrypt hash %q", scrypt)
	}
	argon := must[string](t)(client.Password.HashWith(ctx, "x", attache.HashOptions{Argon2MemoryKiB: 2048}))
	if !strings.HasPrefix(argon, "$argon2id$v=19$m=2048,t=1,p=1$") {
		t.Fatalf("argon2 override %q", argon)
	}
	// Interoperable both ways with PHP's password_hash and password_verify.
	out, err := exec.Command("php", "-r", `echo password_hash("rasmuslerdorf", PASSWORD_BCRYPT, ["cost" => 4]);`).Output()
	if err != nil {
		t.Fatal(err)
	}
	v := must[attache.Verification](t)(client.Password.Verify(ctx, "rasmuslerdorf", string(out)))
	equal(t, v, attache.Verification{Valid: true, NeedsRehash: true}, "PHP's $2y$ hash under an argon2id policy")
	ok, err := exec.Command("php", "-r", `echo password_verify($argv[1], $argv[2]) ? "yes" : "no";`, "pässwörd", bcrypt).Output()
	if err != nil {
		t.Fatal(err)
	}
	equal(t, string(ok), "yes", "PHP verifies attache's bcrypt hash")
}

func TestPasswordBadInput(t *testing.T) {
	ctx := context.Background()
	_, err := client.Password.Verify(ctx, "x", "not-a-hash")
	aerr := wantCode(t, err, attache.CodeInvalidArgument, "not in a recognised form")
	if aerr.IsRetryable() {
		t.Fatal("invalid_argument is not retryable")
	}
	_, err = client.Password.HashWith(ctx, strings.Repeat("x", 73), attache.HashOptions{Algorithm: attache.Bcrypt})
	wantCode(t, err, attache.CodeInvalidArgument, "72 bytes")
	_, err = client.Password.HashWith(ctx, "x", attache.HashOptions{Algorithm: "md5"})
	wantCode(t, err, attache.CodeInvalidArgument, "algorithm", "md5")
}

func TestPasswordConcurrentCallsEachGetTheirOwnAnswer(t *testing.T) {
	ctx := context.Background()
	hashes := make([]string, 32)
	var wg sync.WaitGroup
	for i := range hashes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := client.Password.HashWith(ctx, "pw-"+itoa(i), attache.HashOptions{Algorithm: attache.Bcrypt})
			if err != nil {
				t.Error(err)
			}
			hashes[i] = h
		}()
	}
	wg.Wait()
	for i, h := range hashes {
		if v, err := client.Password.Verify(ctx, "pw-"+itoa(i), h); err != nil || !v.Valid {
			t.Fatalf("hash %d: %v %v", i, v, err)
		}
		if v, _ := client.Password.Verify(ctx, "pw-"+itoa(i+1), h); v.Valid {
			t.Fatalf("hash %d verified another password", i)
		}
	}
}

func TestPasswordModuleDisabled(t *testing.T) {
	_, c := newSidecar(t, map[string]string{"ATTACHE_PASSWORD_ENABLED": "false"})
	_, err := c.Password.Hash(context.Background(), "x")
	wantCode(t, err, attache.CodeFailedPrecondition)
}
