//! Deadlines on any future of a service: the future, raced against the service's own timer.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use skynet_runtime::Context;

/// Runs `fut` for at most `limit` (no limit with `None`): `None` when the deadline passed
/// first (`fut` is dropped, and the timer with it when `fut` wins).
///
/// The timer is set only if `fut` does not finish at its first poll: a request already
/// in the connection's buffer (pipelining, a head and body in one read) costs no timer.
pub async fn within<F: Future>(
    ctx: &Context,
    limit: Option<Duration>,
    fut: F,
) -> Option<F::Output> {
    let Some(limit) = limit else {
        return Some(fut.await);
    };
    let mut fut = pin!(fut);
    let mut timer = None;
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        let t = timer.get_or_insert_with(|| Box::pin(ctx.sleep(limit)));
        match t.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}
