//! The HTTP example's modules, declared at a test crate's root by
//! `http_example_modules!()`. A test that needs only the modules (not the
//! test server) includes this file alone: `#[macro_use] #[path =
//! "http_support/modules.rs"] mod http_modules;`.

/// Declares the HTTP example's modules (`date`, `framing`, `respond`,
/// `server`) at the root of the test crate that invokes it.
macro_rules! http_example_modules {
    () => {
        #[allow(dead_code)]
        #[path = "../examples/http/date.rs"]
        mod date;
        #[allow(dead_code)]
        #[path = "../examples/http/framing.rs"]
        mod framing;
        #[allow(dead_code)]
        #[path = "../examples/http/respond.rs"]
        mod respond;
        #[allow(dead_code)]
        #[path = "../examples/http/server.rs"]
        mod server;
    };
}
