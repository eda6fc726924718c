//! Awaiting many futures of one task together (the calls of a service in flight at once).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A boxed future of a service's task.
pub type Task<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Resolves with every output, in order, once all have finished. Each is polled only when
/// the task is woken, so calls made by them are all in flight at once.
pub fn join_all<T: Send + 'static>(tasks: Vec<Task<T>>) -> JoinAll<T> {
    let done = tasks.iter().map(|_| None).collect();
    JoinAll { tasks, done }
}

/// See [`join_all`].
pub struct JoinAll<T> {
    tasks: Vec<Task<T>>,
    done: Vec<Option<T>>,
}

// Nothing in it is pinned in place: the futures are boxed, the outputs plain values.
impl<T> Unpin for JoinAll<T> {}

impl<T> Future for JoinAll<T> {
    type Output = Vec<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<T>> {
        let this = self.get_mut();
        let mut pending = false;
        for (task, slot) in this.tasks.iter_mut().zip(this.done.iter_mut()) {
            if slot.is_none() {
                match task.as_mut().poll(cx) {
                    Poll::Ready(v) => *slot = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            return Poll::Pending;
        }
        Poll::Ready(this.done.iter_mut().filter_map(Option::take).collect())
    }
}
