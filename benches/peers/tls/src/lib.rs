//! What the binaries of this crate share: the command line, the rustls
//! configurations (rustls 0.23 with the ring provider, its default cipher
//! suites, key exchange groups and protocol versions), and the CPU time of
//! another process from `/proc`.
//!
//! - `https_hyper`: hyper 1 over tokio-rustls, `GET /plaintext` and
//!   `GET /json`, tokio's `current_thread` runtime (one thread).
//! - `echo_tokio_rustls`: a TLS echo server, a task per connection, one thread.
//! - `tls_bulk`: a bulk client over ONE TLS connection (sends chunks,
//!   reads back the echo), for `scripts/bench_https.sh`.

use std::io;
use std::sync::Arc;

use rustls::crypto::ring::kx_group::X25519;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// `--name value` pairs of the command line (and `-h`/`--help`).
pub struct Args {
    pairs: Vec<(String, String)>,
}

impl Args {
    /// Reads the command line; prints `usage` and exits on `-h`/`--help` or
    /// on a flag without its value.
    pub fn parse(usage: &str) -> Args {
        let mut pairs = Vec::new();
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            if arg == "-h" || arg == "--help" {
                println!("{usage}");
                std::process::exit(0);
            }
            let Some(name) = arg.strip_prefix("--") else {
                eprintln!("unexpected argument {arg}\n{usage}");
                std::process::exit(2);
            };
            let Some(value) = it.next() else {
                eprintln!("--{name} needs a value\n{usage}");
                std::process::exit(2);
            };
            pairs.push((name.to_string(), value));
        }
        Args { pairs }
    }

    /// The value of `--name`, the last one given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `--name`, or `default`.
    pub fn or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.get(name).unwrap_or(default)
    }

    /// The value of `--name`, which must be there.
    pub fn need(&self, name: &str, usage: &str) -> &str {
        self.get(name).unwrap_or_else(|| {
            eprintln!("--{name} is required\n{usage}");
            std::process::exit(2);
        })
    }
}

/// rustls's ring provider with its defaults. Ring on purpose, as netloop's
/// `tls` feature: no cmake, no C++ (rustls 0.23.48 deprecated it for
/// lacking post-quantum key exchange, which none of the benchmark's clients
/// offer anyway).
#[allow(deprecated)]
fn ring_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn bad(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

fn read_certs(path: &str) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(format!("{path}: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("{path}: {e}")))?;
    if certs.is_empty() {
        return Err(bad(format!("{path}: no certificate")));
    }
    Ok(certs)
}

/// A server configuration with the certificate chain and the key of these
/// PEM files, no client authentication, and `alpn` (empty: no ALPN).
/// Everything else is rustls's default: TLS 1.2 and 1.3, the ring
/// provider's suites and groups in its order, the client's order of
/// preference honoured, 2 TLS 1.3 session tickets sent after each full
/// handshake (resumption from a 256-entry in-memory cache).
pub fn server_config(cert: &str, key: &str, alpn: &[&[u8]]) -> io::Result<Arc<ServerConfig>> {
    let certs = read_certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(format!("{key}: {e}")))?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(format!("{cert}: {e}")))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// A client configuration that trusts the certificates of the PEM file
/// `ca` (and nothing else) and offers X25519 only; rustls's defaults
/// otherwise (TLS 1.3 and 1.2, TLS13_AES_256_GCM_SHA384 first).
pub fn client_config(ca: &str) -> io::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(ca)? {
        roots.add(cert).map_err(|e| bad(format!("{ca}: {e}")))?;
    }
    // X25519 only, what OpenSSL's clients (wrk, s_time, s_client) offer a
    // key share for: rustls's ring default would pick secp384r1 first.
    let mut provider = ring_provider();
    provider.kx_groups = vec![X25519];
    let config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// CPU time (user + system, all threads) process `pid` has used so far, in
/// nanoseconds, from `/proc/PID/stat`.
pub fn cpu_ns_of(pid: u32) -> io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces: count from after its ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| bad(format!("/proc/{pid}/stat: no ')'")))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let ticks = |i: usize| -> io::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| bad(format!("/proc/{pid}/stat: field {}", i + 3)))
    };
    let hz = clock_ticks_per_second();
    Ok((ticks(11)? + ticks(12)?) * 1_000_000_000 / hz)
}

fn clock_ticks_per_second() -> u64 {
    static HZ: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    // getconf, not libc, to stay without unsafe code; 100 on Linux.
    *HZ.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}
