//! Each guarantee names the test that would fail if it broke. All of them
//! run with `cargo test` (and in CI through `.ci/run`); the tests that
//! measure time or memory assert the bounds stated here and print what
//! they measured. Longer runs of the randomized and soak tests:
//!
//! ```text
//! NETLOOP_SOAK_SECS=3600 cargo test --release --test soak
//! PROPTEST_CASES=100000 cargo test --test model_state_machine
//! NETLOOP_FUZZ_SECS=600 .ci/run
//! ```
//!
//! The fault tests (`tests/keepalive_failure.rs`, `tests/user_timeout.rs`,
//! `tests/connect_*.rs`) build their own network namespaces
//! (`tests/netns/`); they need root and are skipped without it, unless
//! `NETLOOP_REQUIRE_NETNS=1` makes a missing namespace a failure.
//!
//! # Guarantees
//!
//! - **Order.** Bytes passed to [`send`](crate::Ctx::send) and
//!   [`send_bytes`](crate::Ctx::send_bytes) (also through a
//!   [`ReactorHandle`](crate::ReactorHandle)) go out in call order, none
//!   twice; [`on_read`](crate::Handler::on_read) sees the peer's bytes in
//!   order, and [`on_eof`](crate::Handler::on_eof) comes only after all of
//!   them. `tests/model_state_machine.rs` checks this on random sequences
//!   of sends, partial writes, peer reads, FIN, RST, shutdown, close,
//!   linger, abort, pause and timers against a reference model;
//!   `tests/echo_sizes.rs`. The parts of a
//!   [`send_vectored`](crate::Ctx::send_vectored) go out in order, and
//!   sends held by a [`cork`](crate::Ctx::cork) leave in call order, before
//!   a close asked for in the same callback: `tests/send_vectored.rs`,
//!   `tests/cork.rs`.
//! - **No accepted byte is lost before a clean close.** A send that
//!   returned `Ok` reaches the peer unless the connection ends by a fault
//!   (peer reset, [`abort`](crate::Ctx::abort), a timeout, a socket error).
//!   [`close`](crate::Ctx::close), [`shutdown_write`](crate::Ctx::shutdown_write)
//!   and [`linger_close`](crate::Ctx::linger_close) flush the queue first;
//!   our FIN goes out only after the last queued byte.
//!   `tests/model_state_machine.rs`, `tests/soak.rs`, `tests/backpressure.rs`.
//! - **Closing does not destroy replies.** [`close`](crate::Ctx::close) is
//!   a lingering close by default ([`ConnOptions::linger`](crate::ConnOptions::linger),
//!   5 s): after the flush and our FIN it reads and discards input until
//!   the peer's FIN, so input arriving meanwhile never makes the kernel
//!   answer with an RST that destroys replies the peer has not read. Only
//!   the deadline passing resets the connection
//!   ([`CloseReason::LingerTimeout`](crate::CloseReason::LingerTimeout)).
//!   The handler's own `close()`, the default
//!   [`on_shutdown`](crate::Handler::on_shutdown) and the default close
//!   after [`on_input_full`](crate::Handler::on_input_full) linger; the
//!   loop's own closes (idle timeout, shutdown deadline) close once
//!   flushed. `tests/safe_close.rs`: a peer still sending when the handler
//!   closes gets every reply and then a clean EOF, also under a graceful
//!   shutdown of two reactors and in the echo example stopped by SIGTERM,
//!   while [`close_at_once`](crate::ConnOptions::close_at_once) shows the
//!   loss it prevents; `tests/linger_close.rs` (completed and timed-out
//!   lingering closes, without blocking the loop).
//! - **Exactly one [`on_close`](crate::Handler::on_close), last, with a
//!   reason**, for every connection: accepted, outbound, or a connect that
//!   failed. A peer's reset is reported once, as
//!   [`Reset`](crate::CloseReason::Reset), never also as `on_eof`. A
//!   reconnecting client ([`ConnectOptions::reconnect`](crate::ConnectOptions::reconnect))
//!   keeps the id [`connect`](crate::Reactor::connect) returned for its
//!   whole life: a lost connection is
//!   [`on_disconnect`](crate::Handler::on_disconnect), a failed attempt
//!   [`on_connect_error`](crate::Handler::on_connect_error), and `on_close`
//!   comes once, when it is closed or the reactor stops; between attempts
//!   sends fail with [`Error::NotConnected`](crate::Error::NotConnected),
//!   and handler timers die with the attempt that set them.
//!   `tests/soak.rs` (echo, half-close, slow reader, linger, abort, RST and
//!   idle clients: each ends with the reason its behaviour calls for),
//!   `tests/rst_storm.rs` (resets mid-transfer, before accept and while the
//!   server writes), `tests/reconnect_identity.rs`, `tests/reconnect.rs`.
//! - **No SIGPIPE.** Every send passes `MSG_NOSIGNAL` (no `write`/`writev`),
//!   so a write to a reset peer returns an error in a host process that
//!   left SIGPIPE at its default action. `tests/sigpipe.rs` restores the
//!   default and writes through each send path (direct, queued single
//!   chunk, vectored, `send_bytes`); a control child doing one plain
//!   `writev` in the same state dies of the signal.
//! - **Panics are contained.** A panic in any callback aborts only its own
//!   connection, with [`Panicked`](crate::CloseReason::Panicked) (a panic
//!   in `on_close` just ends that call); a panicking handler factory costs
//!   only the connection being accepted (it is reset); panics in posted
//!   closures and reactor timers are caught too, even one whose payload
//!   panics again when dropped. `tests/panics.rs` panics in each callback
//!   while another connection and new clients keep being served;
//!   `tests/panic_isolation.rs`, `tests/factory_panic.rs`. A panicking
//!   event source callback ([`register_source`](crate::ReactorCtx::register_source))
//!   loses only its source, deregistered and closed: `tests/source_panic.rs`.
//! - **Stale ids and events reach nothing.** A deregistered event source
//!   gets no callback (also when deregistered from its own), its id names
//!   nothing after its slot is reused, and an event carrying its old
//!   token does not reach the slot's new source: `tests/source_deregister.rs`,
//!   the unit tests `a_stale_event_does_not_reach_the_{connection,source}_in_the_reused_slot`.
//! - **Bounded memory per connection.** The user-space send queue never
//!   exceeds [`max_send_queue`](crate::ConnOptions::max_send_queue) (a send
//!   past it is refused whole with [`Error::QueueFull`](crate::Error::QueueFull),
//!   or also aborts the connection with
//!   [`OnOverflow::Abort`](crate::OnOverflow::Abort)). Unconsumed input
//!   stops reading at [`max_input`](crate::ConnOptions::max_input), and
//!   [`on_input_full`](crate::Handler::on_input_full) decides: by default
//!   the connection closes gracefully with
//!   [`InputFull`](crate::CloseReason::InputFull), so no connection waits
//!   forever for a message larger than the cap. An idle connection holds
//!   no buffers. `tests/memory_bound.rs`: 1,000 peers that never read
//!   while the server keeps sending stay within connections × cap + 64 MiB
//!   of resident memory; `tests/input_cap.rs`.
//! - **Fairness.** One connection gets at most
//!   [`read_budget`](crate::ConnOptions::read_budget) bytes read per loop
//!   turn; the rest of its readiness waits for the next turn.
//!   `tests/flood_fairness.rs`: with one connection sending as fast as it
//!   can, 100 ping-pong clients keep their service (asserted: p99 round
//!   trip ≤ 250 ms, at least 20 round trips each in 3 s, bytes per turn
//!   within the budget).
//! - **Slow clients cannot stall the loop.** `tests/slowloris.rs`: 2,000
//!   connections dribbling a byte a second leave a normal client's round
//!   trip within p50 ≤ 20 ms, p99 ≤ 100 ms; the idle timeout closes those
//!   that go silent and a handler deadline those that keep dribbling.
//! - **Out of descriptors (`EMFILE`), the server neither spins nor
//!   stalls.** Accepting pauses and is retried from a timer (10 ms doubling
//!   to 1 s) and at once when one of its connections closes; existing
//!   connections are served throughout. `tests/emfile.rs` (its own binary,
//!   with `RLIMIT_NOFILE` lowered; asserted: under 10% of a core and at
//!   most 50 accept attempts in a 2 s window at `EMFILE`); a queued client
//!   is served as soon as a connection closes, the rest once the limit is
//!   raised. [`max_connections`](crate::ListenOptions::max_connections)
//!   pauses the same way: `tests/connection_cap.rs`.
//! - **Misuse is an error, not a panic.** Sends after close, operations on
//!   closed, stale or foreign ids (ids of another reactor name nothing
//!   there), closing or shutting down twice, linger-close then abort,
//!   durations up to `Duration::MAX`, sends to a reconnecting client
//!   between attempts, a blocking [`ReactorHandle::call`](crate::ReactorHandle::call)
//!   made on the reactor's own thread: typed errors
//!   ([`NoSuchConn`](crate::Error::NoSuchConn),
//!   [`ForeignConn`](crate::Error::ForeignConn),
//!   [`WriteClosed`](crate::Error::WriteClosed),
//!   [`QueueFull`](crate::Error::QueueFull),
//!   [`NotConnected`](crate::Error::NotConnected),
//!   [`OnLoopThread`](crate::Error::OnLoopThread)) or no-ops; inconsistent
//!   options (zero limits, a low mark above the high one) are refused with
//!   an `InvalidInput` I/O error. `tests/api_misuse.rs`, `tests/stale_ids.rs`,
//!   `tests/send_after_close.rs`, `tests/handle_posts.rs`,
//!   `tests/reconnect_identity.rs`.
//! - **Nothing leaks.** After the soak the process holds the descriptors it
//!   held before, its live heap (counted by the test's allocator) is back
//!   within 5 MiB of the start, and every timer is gone. `tests/soak.rs`,
//!   `tests/rst_storm.rs`.
//! - **Graceful shutdown drops nothing before its deadline.** Listeners
//!   close at once; a queued byte is dropped only when the deadline aborts
//!   its connection (at the deadline, connections with nothing queued are
//!   closed, those still flushing or lingering reset, all with
//!   [`CloseReason::Shutdown`](crate::CloseReason::Shutdown)).
//!   `tests/graceful_shutdown.rs`: a reader with 8 MiB queued gets every
//!   byte, then a FIN; a client that never reads is reset at the deadline,
//!   not before; new clients are refused as soon as `on_shutdown` has run.
//! - **A restart refuses and resets nothing.** A successor started with
//!   [`activation::hand_over`](crate::activation::hand_over) accepts on
//!   the very sockets the old process listened on, so connections waiting
//!   in their queues are served, not refused; the old process then shuts
//!   down gracefully. `tests/zero_downtime_restart.rs`: two restarts of the
//!   echo example under a new connection per message and four long-lived
//!   connections, with no refused connect, no reset and every message
//!   answered (a long-lived connection may see a clean EOF after its last
//!   reply); `tests/socket_activation.rs` for systemd's sockets.
//! - **Handles keep order and never hang.** Closures posted from one thread
//!   run in posting order; any number of posts between two turns cost one
//!   wake-up; after the reactor stopped, `post` and `call` return
//!   [`Error::Stopped`](crate::Error::Stopped) (a `call` accepted just
//!   before the stop returns `Stopped` too); a `call` on the loop's own
//!   thread returns [`Error::OnLoopThread`](crate::Error::OnLoopThread)
//!   instead of waiting for itself. `tests/handle_posts.rs`; a
//!   [`ServerHandle`](crate::ServerHandle) routes each id to the reactor
//!   that owns it: `tests/reuseport_reactors.rs`.
//! - **Unix domain sockets get the same lifecycle.** Connections of
//!   [`listen_unix`](crate::Reactor::listen_unix) and
//!   [`connect_unix`](crate::Reactor::connect_unix) have the callbacks,
//!   water marks, cap, half-close, lingering close and single `on_close`
//!   of TCP ones. What does not apply to the socket at hand (TCP options
//!   and queries on a Unix socket, [`peer_cred`](crate::Ctx::peer_cred) on
//!   a TCP one) fails with [`Error::Unsupported`](crate::Error::Unsupported)
//!   instead of doing nothing (only `nodelay`, on by default, is ignored).
//!   A listener removes the socket file it created when it is closed or
//!   dropped, not a file that replaced it; a stale file is removed only
//!   with [`unlink_stale`](crate::ListenOptions::unlink_stale), never a
//!   live listener's or a file that is not a socket.
//!   `tests/unix_echo.rs`, `tests/unix_linger_close.rs`,
//!   `tests/unix_backpressure.rs`, `tests/unix_connect.rs`,
//!   `tests/unix_stale_socket.rs`, `tests/unix_peer_cred.rs`,
//!   `tests/unix_tcp_only_options.rs`, `tests/unix_echo_example.rs`.
//! - **Fuzzed.** The send queue and the HTTP example's request framing
//!   have cargo-fuzz targets in `fuzz/` (nightly:
//!   `cd fuzz && cargo +nightly fuzz run send_buf`); the same decoders and
//!   checks run on stable in `tests/fuzz_send_buf.rs` and
//!   `tests/fuzz_http_framing.rs`.
//!
//! # Not guaranteed
//!
//! - **Delivery to the peer's application.** `Ok` from `send` means
//!   netloop took the bytes, not that the peer read them; after a reset,
//!   `abort` or a timeout, queued and in-flight bytes are gone.
//! - **[`close_at_once`](crate::ConnOptions::close_at_once) with input left
//!   unread.** The kernel then answers with RST instead of FIN, which can
//!   destroy bytes still in flight to the peer (`tests/safe_close.rs` shows
//!   it; the default lingering `close()` prevents it). A lingering close
//!   that reaches its deadline resets too.
//! - **An end to a connection whose peer stops reading, without a
//!   timeout.** Without [`write_stall_timeout`](crate::ConnOptions::write_stall_timeout)
//!   (or [`user_timeout`](crate::ConnOptions::user_timeout)), such a peer
//!   holds a connection with queued bytes indefinitely, also one closing
//!   with `close_at_once` or `shutdown_write`. The lingering close's deadline bounds
//!   only a flush that makes no progress; a slow reader that keeps reading
//!   gets everything, however long it takes.
//! - **Kernel memory.** Socket buffers are the kernel's; bound them with
//!   [`send_buffer`](crate::ConnOptions::send_buffer),
//!   [`recv_buffer`](crate::ConnOptions::recv_buffer) and
//!   [`notsent_lowat`](crate::ConnOptions::notsent_lowat).
//! - **Latency.** There is no deadline on callbacks: a handler that blocks
//!   or loops blocks the whole reactor. The round-trip bounds above are
//!   liveness bounds asserted by tests, not service levels.
//! - **`panic = "abort"`.** Containment relies on unwinding; with abort a
//!   panic ends the process.
//! - **`EMFILE` backlog.** While descriptors are exhausted new clients wait
//!   in the kernel's accept queue (and may time out there); netloop keeps
//!   no spare descriptor to accept-and-close them.
//! - **`ECONNABORTED`.** Linux hands a connection reset in the accept queue
//!   to `accept()`; it shows up as opened, then closed with `Reset`
//!   (`tests/rst_storm.rs`). An accept error of that kind is skipped.
//! - **Order across connections,** or between socket events and closures
//!   posted from other threads (posts run in posting order among
//!   themselves).
//! - **Bandwidth fairness.** The budget is per turn, not a share of bytes:
//!   a flooding connection gets its budget every turn it is readable.
//! - **A reset on a Unix domain socket.** There is none: an abort, a
//!   lingering close's deadline or a shutdown's deadline closes the
//!   socket, and the peer reads end of stream (`ECONNRESET` if it had
//!   sent bytes we left unread).
//! - **A socket file removed after a crash,** or a race between two
//!   processes starting with `unlink_stale` on the same path (both may
//!   see the file stale; the second to remove it removes the first's new
//!   one).
//! - **An even spread over reactors.** `SO_REUSEPORT` picks a listener by a
//!   hash of the addresses, not by load: a few busy connections can land
//!   on one reactor. A reactor that stops resets the clients still waiting
//!   in its accept queue, and any process of the same user that binds the
//!   same address with `SO_REUSEPORT` gets a share of the connections.
