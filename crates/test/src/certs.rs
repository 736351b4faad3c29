//! Throwaway certificates for TLS tests, made by the `openssl` CLI: the
//! tool operators make them with, and the library redis-server verifies
//! them with, so the tests exercise certificates as they are met in
//! practice (scripts/setup installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A certificate authority in a temporary directory, and the certificates
/// it signs. Each test makes its own, so none trusts another's.
pub struct Ca {
    dir: tempfile::TempDir,
}

impl Ca {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        // A name of its own (the directory's random one): a verifier looks
        // an issuer up by name, so two CAs named alike would make a
        // stranger's certificate fail on its signature, not its issuer.
        let subject = format!("/CN=attache-test-CA{}", dir.path().file_name().unwrap().to_string_lossy());
        openssl(
            dir.path(),
            "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 2 \
             -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign",
            &["-subj", &subject],
        );
        Self { dir }
    }

    /// The CA's certificate (PEM), for `redis.tls.ca_file` and
    /// `--tls-ca-cert-file`.
    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Issues a certificate named `name` for `sans` (`IP:127.0.0.1`,
    /// `DNS:localhost`, ...), usable by a server and a client alike, into
    /// `dir`; returns the certificate's and its key's paths.
    pub fn issue(&self, dir: &Path, name: &str, sans: &[&str]) -> (PathBuf, PathBuf) {
        let (cert, key, csr) =
            (dir.join(format!("{name}.pem")), dir.join(format!("{name}.key")), dir.join(format!("{name}.csr")));
        let ext = dir.join(format!("{name}.ext"));
        std::fs::write(
            &ext,
            format!(
                "subjectAltName={}\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=critical,CA:FALSE\n\
                 keyUsage=critical,digitalSignature\n",
                sans.join(",")
            ),
        )
        .expect("write the extensions file");
        let subject = format!("/CN={name}");
        openssl(
            dir,
            "req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes",
            &["-subj", &subject, "-keyout", path(&key), "-out", path(&csr)],
        );
        openssl(
            self.dir.path(),
            "x509 -req -CA ca.pem -CAkey ca.key -CAcreateserial -days 2",
            &["-in", path(&csr), "-out", path(&cert), "-extfile", path(&ext)],
        );
        (cert, key)
    }
}

impl Default for Ca {
    fn default() -> Self {
        Self::new()
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// Runs `openssl` with the words of `fixed`, then `more` as they are
/// (paths, which may hold spaces).
fn openssl(dir: &Path, fixed: &str, more: &[&str]) {
    let args: Vec<&str> = fixed.split_whitespace().chain(more.iter().copied()).collect();
    let out = Command::new("openssl")
        .args(&args)
        .current_dir(dir)
        .output()
        .expect("run openssl (is it installed? scripts/setup installs it)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}
