//! Closing from inside on_read (the reply still goes out first), and
//! closing another connection, named by id, from a callback.

mod common;

use std::io::{Read, Write};

use common::*;
use netloop::bytes::BytesMut;
use netloop::{CloseReason, Ctx, Handler, ListenOptions};

/// "bye": reply and close self. "kill": close every other connection.
struct Commands;

impl Handler for Commands {
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        if input.starts_with(b"bye") {
            ctx.send(b"goodbye").unwrap();
            ctx.close();
            // The close is applied after the callback, but shows at once.
            assert_eq!(ctx.conn_state(), netloop::ConnState::LingerFlushing);
        } else if input.starts_with(b"kill") {
            let me = ctx.id();
            let others: Vec<_> = ctx.reactor().conn_ids().filter(|&id| id != me).collect();
            for id in others {
                ctx.reactor().conn(id).send(b"killed").unwrap();
                ctx.reactor().conn(id).close().unwrap();
            }
            ctx.send(b"done").unwrap();
        }
        input.clear();
    }
}

#[test]
fn close_inside_on_read_flushes_the_reply_first() {
    let server = serve(ListenOptions::default(), || Commands);
    let mut c = server.client();
    c.write_all(b"bye").unwrap();
    let (got, end) = read_to_end(&mut c);
    end.unwrap();
    assert_eq!(got, b"goodbye");
    drop(c); // our FIN ends the server's lingering close
    let id = server.log.conns()[0];
    server.wait_log("closed", |log| log.closes().contains_key(&id));
    assert_eq!(
        server.log.of(id).last(),
        Some(&Ev::Close(CloseReason::Local))
    );
    server.finish();
}

#[test]
fn a_callback_closes_another_connection_by_id() {
    let server = serve(ListenOptions::default(), || Commands);
    let victims: Vec<_> = (0..3).map(|_| server.client()).collect();
    let mut killer = server.client();
    server.wait_log("four connections opened", |log| {
        log.count(|e| *e == Ev::Open) == 4
    });
    killer.write_all(b"kill").unwrap();
    let mut done = [0u8; 4];
    killer.read_exact(&mut done).unwrap();
    assert_eq!(&done, b"done");
    for mut v in victims {
        let (got, end) = read_to_end(&mut v);
        end.unwrap();
        assert_eq!(got, b"killed");
    }
    drop(killer);
    server.wait_log("all closed", |log| log.closes().len() == 4);
    let closes = server.log.closes();
    let local = closes
        .values()
        .filter(|r| r[0] == CloseReason::Local)
        .count();
    assert_eq!(local, 3, "the three victims closed locally: {closes:?}");
    server.finish();
}
