//! `--tls CERT.pem KEY.pem` for the example servers: the listen options
//! with a TLS configuration loaded from the two PEM files, or, in a build
//! without the `tls` feature, a clear error instead of a plain listener.
//! Shared by the echo and http examples (`#[path]`-included: Cargo does not
//! take a folder without a `main.rs` for an example).

use std::io;
use std::path::PathBuf;

use netloop::ListenOptions;

/// `opts` as is without `files`; with them, `opts` serving TLS with the
/// certificate chain and key in `files` and `alpn` offered (most preferred
/// first; empty: no ALPN).
#[cfg(feature = "tls")]
pub fn with_tls(
    opts: ListenOptions,
    files: Option<(PathBuf, PathBuf)>,
    alpn: &[&[u8]],
) -> io::Result<ListenOptions> {
    let Some((cert, key)) = files else {
        return Ok(opts);
    };
    let mut config = netloop::tls::server_config(&cert, &key)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(opts.tls(std::sync::Arc::new(config)))
}

/// Without the `tls` feature: `opts` as is without `files`, an error with
/// them.
#[cfg(not(feature = "tls"))]
pub fn with_tls(
    opts: ListenOptions,
    files: Option<(PathBuf, PathBuf)>,
    _alpn: &[&[u8]],
) -> io::Result<ListenOptions> {
    match files {
        None => Ok(opts),
        Some(_) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "--tls: built without TLS; run with `--features tls`",
        )),
    }
}
