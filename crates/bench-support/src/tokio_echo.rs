//! The tokio contender: a current_thread runtime, one task per connection.
//!
//! With a buffer size, each task owns a buffer of that size for its whole
//! life and runs the usual `read_buf` / `write_all` loop: the idiomatic
//! tokio echo. The buffer is allocated when the task starts and not zeroed
//! (`read_buf` reads into its spare capacity), so a connection costs one
//! allocation of that size and no memset. The speed benchmarks give it
//! 64 KiB ([`READ_BUF`]), the size of the one buffer that netloop and the
//! bare mio loop each share between all their connections; the
//! idle-memory one gives it 1 KiB. With none, a task holds no buffer while
//! idle: it waits for readiness, reads into a stack buffer with `try_read`
//! and keeps only what the kernel would not take.
//!
//! Closing a connection wakes nothing but the task itself: the runtime is
//! told about the last close only with `exit_when_idle`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::{READ_BUF, Running};

/// Connections open (readable from other threads).
#[derive(Default)]
pub struct Count {
    open: AtomicUsize,
    /// Notified when the last open connection closes, only with
    /// `exit_when_idle` (otherwise closes wake nothing).
    idle: Notify,
}

impl Count {
    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

/// Runs the server on this thread until `stop` fires or (with
/// `exit_when_idle`) the last connection closed after at least one was
/// served.
pub fn run(
    listener: std::net::TcpListener,
    buf_size: Option<usize>,
    exit_when_idle: bool,
    stop: Option<tokio::sync::oneshot::Receiver<()>>,
    count: Arc<Count>,
) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::from_std(listener)?;
        let stopped = async {
            match stop {
                Some(rx) => {
                    let _ = rx.await;
                }
                None => std::future::pending().await,
            }
        };
        // Polled only with `exit_when_idle` (a disabled branch is not).
        let idle = async {
            loop {
                count.idle.notified().await;
                if count.open.load(Ordering::SeqCst) == 0 {
                    return;
                }
            }
        };
        tokio::select! {
            r = accept_loop(&listener, buf_size, exit_when_idle, &count) => r,
            _ = stopped => Ok(()),
            _ = idle, if exit_when_idle => Ok(()),
        }
    })
}

async fn accept_loop(
    listener: &TcpListener,
    buf_size: Option<usize>,
    exit_when_idle: bool,
    count: &Arc<Count>,
) -> io::Result<()> {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        count.open.fetch_add(1, Ordering::SeqCst);
        let count = count.clone();
        tokio::spawn(async move {
            let _ = match buf_size {
                Some(size) => echo_with_buffer(stream, size).await,
                None => echo_without_buffer(stream).await,
            };
            let was_open = count.open.fetch_sub(1, Ordering::SeqCst);
            if exit_when_idle && was_open == 1 {
                count.idle.notify_one();
            }
        });
    }
}

/// The common tokio echo: a buffer per task, allocated once and not zeroed
/// (`read_buf` reads into its spare capacity; cleared before each read, it
/// never grows).
async fn echo_with_buffer(mut stream: TcpStream, size: usize) -> io::Result<()> {
    let mut buf = Vec::with_capacity(size);
    loop {
        buf.clear();
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
        stream.write_all(&buf).await?;
    }
}

/// Holds no buffer while idle: the read buffer lives on the stack only
/// between the readiness wait and the write.
async fn echo_without_buffer(mut stream: TcpStream) -> io::Result<()> {
    loop {
        stream.readable().await?;
        let unsent = {
            let mut buf = [0u8; READ_BUF];
            let n = match stream.try_read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            };
            let written = match stream.try_write(&buf[..n]) {
                Ok(w) => w,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                Err(e) => return Err(e),
            };
            buf[written..n].to_vec()
        };
        if !unsent.is_empty() {
            stream.write_all(&unsent).await?;
        }
    }
}

/// Runs the server on a new thread, on 127.0.0.1 (any port).
pub fn spawn(buf_size: Option<usize>) -> io::Result<Running> {
    let listener = crate::listener(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let thread = std::thread::spawn(move || {
        if let Err(e) = run(listener, buf_size, false, Some(rx), Arc::default()) {
            eprintln!("tokio echo: {e}");
        }
    });
    Ok(Running::new(
        addr,
        Box::new(move || {
            let _ = tx.send(());
        }),
        thread,
    ))
}
