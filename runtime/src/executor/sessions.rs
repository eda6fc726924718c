//! [`Sessions`]: the sessions a service's futures wait on, by session number.
//!
//! Most of the time a service waits on one session at a time (its main task's call), so
//! the first one sits in a slot of its own and a call costs no hashing: it is stored,
//! answered and taken out there. Any more go to a map beside it.

use std::task::{Context as TaskContext, Waker};

use crate::base::hash::IdMap;
use crate::base::Message;

/// Who to wake when a session is answered.
#[derive(Default)]
pub(crate) enum Waiter {
    /// Nobody has polled yet.
    #[default]
    None,
    /// The main task, polled with its own waker: the reply re-queues it directly, with no
    /// waker clone and no second lock.
    Main,
    /// Any other waker (a fork, or a combinator's own waker).
    Other(Waker),
}

impl Waiter {
    /// The waiter for a poll with `cx`; keeps `self` when it already wakes the same task.
    pub(crate) fn update(&mut self, cx: &TaskContext<'_>, main: &Waker) {
        let w = cx.waker();
        match self {
            Waiter::Main if w.will_wake(main) => {}
            Waiter::Other(old) if old.will_wake(w) => {}
            _ if w.will_wake(main) => *self = Waiter::Main,
            _ => *self = Waiter::Other(w.clone()),
        }
    }
}

/// A session some future is waiting on.
#[derive(Default)]
pub(crate) struct Slot {
    pub(crate) waker: Waiter,
    pub(crate) reply: Option<Message>,
}

/// Sessions being waited on: one in a slot of its own, the rest in a map.
#[derive(Default)]
pub(crate) struct Sessions {
    /// The first slot: boxed, so a service that never calls pays one pointer for it (an
    /// inline slot was 88 bytes in every service); kept between calls (no allocation per
    /// call) and given back when the service goes idle. Session 0: free.
    first: Option<Box<(i32, Slot)>>,
    rest: IdMap<i32, Slot>,
}

impl Sessions {
    /// Starts waiting on `session` unless it is waited on already (then `slot` comes
    /// back).
    #[inline]
    pub(crate) fn insert_new(&mut self, session: i32, slot: Slot) -> Result<(), Slot> {
        if self.contains(session) {
            return Err(slot);
        }
        match &mut self.first {
            Some(first) if first.0 == 0 => **first = (session, slot),
            Some(_) => {
                self.rest.insert(session, slot);
            }
            None => self.first = Some(Box::new((session, slot))),
        }
        Ok(())
    }

    fn contains(&self, session: i32) -> bool {
        matches!(&self.first, Some(first) if first.0 == session)
            || (!self.rest.is_empty() && self.rest.contains_key(&session))
    }

    /// The slot of `session`, if it is waited on.
    #[inline]
    pub(crate) fn get_mut(&mut self, session: i32) -> Option<&mut Slot> {
        match &mut self.first {
            Some(first) if first.0 == session && session != 0 => Some(&mut first.1),
            _ if self.rest.is_empty() => None,
            _ => self.rest.get_mut(&session),
        }
    }

    /// Stops waiting on `session`; its slot, if it was waited on.
    #[inline]
    pub(crate) fn remove(&mut self, session: i32) -> Option<Slot> {
        match &mut self.first {
            Some(first) if first.0 == session && session != 0 => {
                first.0 = 0;
                Some(std::mem::take(&mut first.1))
            }
            _ if self.rest.is_empty() => None,
            _ => self.rest.remove(&session),
        }
    }

    /// Gives back the memory of the slots nothing waits in (an idle service).
    pub(crate) fn release_idle(&mut self) {
        if matches!(&self.first, Some(first) if first.0 == 0) {
            self.first = None;
        }
        if self.rest.is_empty() && self.rest.capacity() > 0 {
            self.rest = IdMap::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_inline_then_the_map_and_no_collision() {
        let mut s = Sessions::default();
        assert!(s.insert_new(1, Slot::default()).is_ok());
        assert!(
            s.insert_new(1, Slot::default()).is_err(),
            "1 is waited on (inline)"
        );
        assert!(s.insert_new(2, Slot::default()).is_ok());
        assert!(
            s.insert_new(2, Slot::default()).is_err(),
            "2 is waited on (map)"
        );
        assert!(s.get_mut(1).is_some() && s.get_mut(2).is_some());
        assert!(s.get_mut(3).is_none());
        assert!(s.remove(1).is_some());
        assert!(s.remove(1).is_none());
        // The inline slot is free again: the next goes there, 2 stays in the map.
        assert!(s.insert_new(3, Slot::default()).is_ok());
        assert!(s.insert_new(2, Slot::default()).is_err());
        assert!(s.remove(2).is_some() && s.remove(3).is_some());
        assert!(s.get_mut(2).is_none() && s.get_mut(3).is_none());
        s.release_idle();
        assert!(s.insert_new(2, Slot::default()).is_ok());
    }
}
