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
    /// Starts waiting on `session` for `waker` unless it is waited on already (then
    /// `waker` comes back).
    #[inline]
    pub(crate) fn insert_new(&mut self, session: i32, waker: Waiter) -> Result<(), Waiter> {
        if self.contains(session) {
            return Err(waker);
        }
        let slot = |waker| Slot { waker, reply: None };
        match &mut self.first {
            Some(first) if first.0 == 0 => {
                // Filled in place: a free first slot holds no reply and no waker.
                first.0 = session;
                first.1.waker = waker;
                first.1.reply = None;
            }
            Some(_) => {
                self.rest.insert(session, slot(waker));
            }
            None => self.first = Some(Box::new((session, slot(waker)))),
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

    /// The reply to `session` if it has come: the session is then no longer waited on.
    /// One lookup for a call's poll, and the reply moved straight out (an `Option` of a
    /// message is laid out as the message: no shifted copy on the way).
    #[inline]
    pub(crate) fn take_reply(&mut self, session: i32) -> Option<Message> {
        match &mut self.first {
            Some(first) if first.0 == session && session != 0 => {
                let reply = first.1.reply.take()?;
                // The slot stays for the next call: only its waiter is reset.
                first.0 = 0;
                first.1.waker = Waiter::None;
                Some(reply)
            }
            _ if self.rest.is_empty() => None,
            _ => {
                // The map (more than one session waited on): looked up twice, a rare case.
                self.rest.get(&session)?.reply.as_ref()?;
                self.rest.remove(&session).and_then(|slot| slot.reply)
            }
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
        assert!(s.insert_new(1, Waiter::None).is_ok());
        assert!(
            s.insert_new(1, Waiter::None).is_err(),
            "1 is waited on (inline)"
        );
        assert!(s.insert_new(2, Waiter::None).is_ok());
        assert!(
            s.insert_new(2, Waiter::None).is_err(),
            "2 is waited on (map)"
        );
        assert!(s.get_mut(1).is_some() && s.get_mut(2).is_some());
        assert!(s.get_mut(3).is_none());
        assert!(s.remove(1).is_some());
        assert!(s.remove(1).is_none());
        // The inline slot is free again: the next goes there, 2 stays in the map.
        assert!(s.insert_new(3, Waiter::None).is_ok());
        assert!(s.insert_new(2, Waiter::None).is_err());
        assert!(s.remove(2).is_some() && s.remove(3).is_some());
        assert!(s.get_mut(2).is_none() && s.get_mut(3).is_none());
        s.release_idle();
        assert!(s.insert_new(2, Waiter::None).is_ok());
    }

    #[test]
    fn a_reply_is_taken_once_from_the_slot_or_the_map() {
        let reply = |session| Message {
            source: crate::base::Addr(1),
            session,
            ptype: crate::base::Ptype::RESPONSE,
            payload: crate::base::Payload::Empty,
        };
        let mut s = Sessions::default();
        assert!(s.take_reply(1).is_none());
        assert!(s.insert_new(1, Waiter::Main).is_ok()); // the first slot
        assert!(s.insert_new(2, Waiter::None).is_ok()); // the map
        assert!(s.take_reply(1).is_none() && s.take_reply(2).is_none());
        assert!(
            s.get_mut(1).is_some() && s.get_mut(2).is_some(),
            "still waited on"
        );
        for session in [1, 2] {
            if let Some(slot) = s.get_mut(session) {
                slot.reply = Some(reply(session));
            }
        }
        for session in [2, 1] {
            assert_eq!(s.take_reply(session).map(|m| m.session), Some(session));
            assert!(s.take_reply(session).is_none());
            assert!(s.get_mut(session).is_none(), "no longer waited on");
        }
        // The first slot is free again, its waiter reset.
        assert!(s.insert_new(1, Waiter::None).is_ok());
        assert!(matches!(
            s.get_mut(1),
            Some(Slot {
                waker: Waiter::None,
                reply: None
            })
        ));
    }
}
