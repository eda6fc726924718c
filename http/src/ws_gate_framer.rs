//! The WebSocket gate's work on the socket thread: a [`Framer`] that cuts a client's
//! stream into its handshake head (to the gate) and then whole messages (to the agent),
//! answers pings and closes there and then, and a [`ClientWriter`] that frames agents'
//! replies. Messages that arrive before the client has an agent are held in the framer
//! and released when the gate routes the socket to one ([`Framer::redirected`]), so none
//! is lost or reordered.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use skynet_gate::{ClientWriter, Fd};
use skynet_net::{Driver, Framer, SocketId};
use skynet_runtime::Context;

use crate::response::error_bytes;
use crate::ws_frame::{close_payload, encode, frame_header, Decoder, DecoderConf, Frame, Opcode};

/// Replies up to this size are copied behind their header (one write); larger ones go
/// out as header + payload in one `writev`, uncopied.
const COPY_MAX: usize = 1024;

enum State {
    /// Reading the upgrade request's head.
    Head(BytesMut),
    /// Cutting messages.
    Frames,
    /// Closed (after a close frame or a violation): input is dropped.
    Done,
}

pub(crate) struct WsFramer {
    state: State,
    dec: Decoder,
    /// Messages waiting for the client's first destination after the gate; `None` once
    /// released.
    held: Option<Vec<Bytes>>,
    held_bytes: usize,
    max_head: usize,
    max_held: usize,
    driver: Driver,
    id: SocketId,
    /// The kind of the client's last data message (1 text, 2 binary): replies take it.
    kind: Arc<AtomicU8>,
}

impl WsFramer {
    pub(crate) fn new(
        driver: Driver,
        id: SocketId,
        dec: DecoderConf,
        max_head: usize,
        kind: Arc<AtomicU8>,
    ) -> WsFramer {
        let max_held = dec.max_message.saturating_mul(4).max(1024 * 1024);
        WsFramer {
            state: State::Head(BytesMut::new()),
            dec: Decoder::new(dec),
            held: Some(Vec::new()),
            held_bytes: 0,
            max_head,
            max_held,
            driver,
            id,
            kind,
        }
    }

    /// Sends a close frame and closes the socket (flushing); input after it is dropped.
    fn close(&mut self, code: Option<u16>, reason: &str) {
        let p = code.map(|c| close_payload(c, reason)).unwrap_or_default();
        self.driver.send(self.id, encode(Opcode::Close, &p, None));
        self.driver.close(self.id);
        self.state = State::Done;
    }

    fn frames(&mut self, out: &mut Vec<Bytes>) {
        loop {
            match self.dec.next_frame() {
                Ok(None) => return,
                Ok(Some(Frame::Text(b))) => self.message(Opcode::Text, b, out),
                Ok(Some(Frame::Binary(b))) => self.message(Opcode::Binary, b, out),
                Ok(Some(Frame::Ping(p))) => {
                    self.driver.send(self.id, encode(Opcode::Pong, &p, None));
                }
                Ok(Some(Frame::Pong(_))) => {}
                Ok(Some(Frame::Close(code, _))) => {
                    // The close handshake: echo the code, then close.
                    return self.close(code, "");
                }
                Err(v) => {
                    log::info!(
                        "websocket gate: fd {}: {} (closing with {})",
                        self.id,
                        v.reason,
                        v.code
                    );
                    return self.close(Some(v.code), &v.reason);
                }
            }
            if matches!(self.state, State::Done) {
                return;
            }
        }
    }

    fn message(&mut self, op: Opcode, b: Bytes, out: &mut Vec<Bytes>) {
        self.kind.store(op as u8, Ordering::Relaxed);
        match &mut self.held {
            Some(held) => {
                self.held_bytes += b.len();
                held.push(b);
                if self.held_bytes > self.max_held {
                    log::info!(
                        "websocket gate: fd {}: {} bytes sent before it had an agent (closing with 1008)",
                        self.id,
                        self.held_bytes
                    );
                    self.held = Some(Vec::new());
                    self.close(Some(1008), "too much input before the session began");
                }
            }
            None => out.push(b),
        }
    }
}

impl Framer for WsFramer {
    fn feed(&mut self, data: Bytes, out: &mut Vec<Bytes>) -> Result<(), String> {
        match &mut self.state {
            State::Done => {}
            State::Frames => {
                self.dec.feed_bytes(data);
                self.frames(out);
            }
            State::Head(buf) => {
                buf.extend_from_slice(&data);
                match buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    Some(pos) if pos + 4 <= self.max_head => {
                        let head = buf.split_to(pos + 4).freeze();
                        let rest = std::mem::take(buf);
                        // The head goes to the gate, which answers it.
                        out.push(head);
                        self.state = State::Frames;
                        self.dec.feed(&rest);
                        self.frames(out);
                    }
                    None if buf.len() < self.max_head => {}
                    _ => {
                        log::info!(
                            "websocket gate: fd {}: handshake head over {} bytes (431)",
                            self.id,
                            self.max_head
                        );
                        self.driver.send(self.id, error_bytes(431));
                        self.driver.close(self.id);
                        self.state = State::Done;
                    }
                }
            }
        }
        Ok(())
    }

    fn remainder(&mut self) -> Bytes {
        Bytes::new()
    }

    fn redirected(&mut self, out: &mut Vec<Bytes>) {
        if let Some(held) = self.held.take() {
            out.extend(held);
        }
    }
}

/// Frames an agent's replies: the kind of the client's last message (text stays text;
/// a reply that is not UTF-8 goes as binary), unmasked (server frames).
pub(crate) struct WsWriter {
    pub kind: Arc<AtomicU8>,
}

impl ClientWriter for WsWriter {
    fn write(&self, ctx: &Context, fd: Fd, payload: &Bytes) -> bool {
        let op = match self.kind.load(Ordering::Relaxed) {
            2 => Opcode::Binary,
            _ if std::str::from_utf8(payload).is_err() => Opcode::Binary,
            _ => Opcode::Text,
        };
        let (h, n) = frame_header(op, payload.len(), None);
        let driver = Driver::of(ctx);
        if payload.len() <= COPY_MAX {
            let mut b = BytesMut::with_capacity(n + payload.len());
            b.extend_from_slice(&h[..n]);
            b.extend_from_slice(payload);
            driver.send(fd, b.freeze())
        } else {
            driver.sendv(fd, vec![Bytes::copy_from_slice(&h[..n]), payload.clone()])
        }
    }
}
