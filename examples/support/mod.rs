//! What more than one example server needs, included by `#[path]`.

pub mod tls;
