//! Output backpressure for a connection: a peer that sends without reading what it is sent
//! (HTTP requests pipelined into a full socket, WebSocket messages to an echo) is not read
//! again until what was written to it drains, so it cannot make the node queue output
//! without bound.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Poll, Waker};

use parking_lot::Mutex;
use skynet_net::{socket, SocketId};
use skynet_runtime::Context;

#[derive(Default)]
struct State {
    /// The socket reported unsent bytes past its warning mark (1 MiB) and not drained.
    backed_up: bool,
    waiter: Option<Waker>,
}

/// Watches one connection's unsent bytes.
#[derive(Clone, Default)]
pub(crate) struct Backlog(Arc<Mutex<State>>);

impl Backlog {
    /// Starts watching `id`: its WARNING events (and its close, which ends any wait).
    pub(crate) fn watch(ctx: &Context, id: SocketId) -> Backlog {
        let b = Backlog::default();
        let on_warning = b.clone();
        socket::warning(ctx, id, move |_, id, kb| {
            if kb > 0 {
                log::info!("fd {id} has {kb} KiB unsent; not reading it until it drains");
            }
            on_warning.set(kb > 0);
        });
        let on_close = b.clone();
        socket::onclose(ctx, id, move |_, _| on_close.set(false));
        b
    }

    fn set(&self, backed_up: bool) {
        let w = {
            let mut st = self.0.lock();
            st.backed_up = backed_up;
            if backed_up {
                None
            } else {
                st.waiter.take()
            }
        };
        if let Some(w) = w {
            w.wake();
        }
    }

    /// Resolves once nothing is backed up (at once, usually).
    pub(crate) async fn drained(&self) {
        poll_fn(|cx| {
            let mut st = self.0.lock();
            if st.backed_up {
                st.waiter = Some(cx.waker().clone());
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await
    }
}
