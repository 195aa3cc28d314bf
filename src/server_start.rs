//! A server's start hook ([`ServerBuilder::on_start`](crate::ServerBuilder::on_start)):
//! posted to every reactor once the [`ServerHandle`] exists, so the hook
//! can keep a clone of it (a signal source on reactor 0 that shuts the
//! whole server down, for one).
//!
//! A hook's clone of the handle lives as long as what the hook registered
//! (a source, a timer): it is dropped when that reactor stops, so it does
//! not keep the server alive.

use crate::server::{ServerHandle, StartHook};

/// Posts `hook` to every reactor of `server`, each with its index. A
/// reactor that has stopped already is skipped. (A panic in the hook is
/// caught like any posted closure's.)
pub(crate) fn run_on_each<S: 'static>(server: &ServerHandle<S>, hook: StartHook<S>) {
    for (index, reactor) in server.reactors().iter().enumerate() {
        let hook = hook.clone();
        let server = server.clone();
        if reactor.post(move |rc| hook(index, rc, &server)).is_err() {
            log::warn!("reactor {index} stopped before its start hook ran");
        }
    }
}
