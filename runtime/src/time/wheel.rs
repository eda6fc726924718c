//! skynet's hierarchical timer wheel, over 64-bit ticks.
//!
//! 256 "near" slots hold what expires within the current 256-tick window; 4 levels of 64
//! slots hold what expires later in the same 2^32-tick epoch; an overflow list holds anything
//! further (re-placed each time an epoch begins). Each tick runs its near slot; when the near
//! window wraps, one slot of the next level cascades down (skynet's `timer_shift`).
//!
//! Cancel is O(1): every entry knows its list and position, and is swap-removed at once, so a
//! cancelled timer leaves nothing behind.

use slab::Slab;

const NEAR_SHIFT: u32 = 8;
const NEAR: usize = 1 << NEAR_SHIFT;
const NEAR_MASK: u64 = NEAR as u64 - 1;
const LEVEL_SHIFT: u32 = 6;
const LEVEL: usize = 1 << LEVEL_SHIFT;
const LEVEL_MASK: u64 = LEVEL as u64 - 1;
const LEVELS: usize = 4;
/// Bits of tick covered by near + levels: one epoch is 2^EPOCH_SHIFT ticks.
const EPOCH_SHIFT: u32 = NEAR_SHIFT + LEVEL_SHIFT * LEVELS as u32;
const EPOCH_MASK: u64 = (1u64 << EPOCH_SHIFT) - 1;
/// Index of the overflow list among all lists.
const OVERFLOW: usize = NEAR + LEVELS * LEVEL;

/// Identifies a pending timer. A stale id (fired or cancelled) never matches a newer timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId {
    key: usize,
    generation: u64,
}

impl TimerId {
    /// The id of a timer that fired as it was set (a zero delay): stale from the start.
    /// Generations begin at 1, so it matches no timer.
    pub(crate) const FIRED: TimerId = TimerId {
        key: usize::MAX,
        generation: 0,
    };
}

struct Entry<T> {
    expire: u64,
    generation: u64,
    /// Which list (< 2^16: there are `OVERFLOW + 1` = 513) and where in it (< 2^32: a
    /// list never holds 4 billion timers): small fields keep an entry at 40 bytes.
    list: u16,
    pos: u32,
    value: T,
}

/// A hierarchical timer wheel holding values of type `T`.
pub struct TimerWheel<T> {
    time: u64,
    entries: Slab<Entry<T>>,
    /// near slots, then level slots (level-major), then overflow.
    /// Slab keys as `u32` (4 bytes a timer; a wheel never holds 4 billion timers).
    lists: Vec<Vec<u32>>,
    generation: u64,
    /// A lower bound on the epoch (`expire >> EPOCH_SHIFT`) of every overflow entry, None
    /// when the overflow list is empty: `advance` jumps straight to that epoch instead of
    /// stopping at every epoch boundary on the way to a far-future timer.
    overflow_epoch: Option<u64>,
}

impl<T> Default for TimerWheel<T> {
    fn default() -> Self {
        TimerWheel::new()
    }
}

#[allow(dead_code)] // `now` and `is_empty` are used by tests and kept for completeness.
impl<T> TimerWheel<T> {
    /// An empty wheel at tick 0.
    pub fn new() -> Self {
        TimerWheel {
            time: 0,
            entries: Slab::new(),
            lists: (0..=OVERFLOW).map(|_| Vec::new()).collect(),
            generation: 0,
            overflow_epoch: None,
        }
    }

    /// The current tick.
    pub fn now(&self) -> u64 {
        self.time
    }

    /// Pending timers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The list an entry expiring at `expire` belongs in, seen from the current tick.
    fn list_for(&self, expire: u64) -> usize {
        let cur = self.time;
        if (expire | NEAR_MASK) == (cur | NEAR_MASK) {
            return (expire & NEAR_MASK) as usize;
        }
        let mut mask = (NEAR as u64) << LEVEL_SHIFT;
        for level in 0..LEVELS {
            if level == LEVELS - 1 || (expire | (mask - 1)) == (cur | (mask - 1)) {
                if level == LEVELS - 1 && (expire | EPOCH_MASK) != (cur | EPOCH_MASK) {
                    return OVERFLOW;
                }
                let shift = NEAR_SHIFT + LEVEL_SHIFT * level as u32;
                return NEAR + level * LEVEL + ((expire >> shift) & LEVEL_MASK) as usize;
            }
            mask <<= LEVEL_SHIFT;
        }
        OVERFLOW
    }

    fn place(&mut self, key: usize) {
        let expire = self.entries[key].expire;
        let list = self.list_for(expire);
        let pos = self.lists[list].len() as u32;
        self.lists[list].push(key as u32);
        let e = &mut self.entries[key];
        e.list = list as u16;
        e.pos = pos;
        if list == OVERFLOW {
            let epoch = expire >> EPOCH_SHIFT;
            self.overflow_epoch = Some(self.overflow_epoch.map_or(epoch, |o| o.min(epoch)));
        }
    }

    /// Adds a timer firing at `expire_tick` (a tick already past fires on the next advance).
    pub fn insert(&mut self, expire_tick: u64, value: T) -> TimerId {
        self.generation += 1;
        let generation = self.generation;
        let key = self.entries.insert(Entry {
            expire: expire_tick.max(self.time),
            generation,
            list: 0,
            pos: 0,
            value,
        });
        self.place(key);
        TimerId { key, generation }
    }

    /// Removes a pending timer, returning its value; None when it already fired or was
    /// cancelled.
    pub fn cancel(&mut self, id: TimerId) -> Option<T> {
        match self.entries.get(id.key) {
            Some(e) if e.generation == id.generation => {}
            _ => return None,
        }
        let e = self.entries.remove(id.key);
        let (list_idx, pos) = (usize::from(e.list), e.pos as usize);
        let list = &mut self.lists[list_idx];
        list.swap_remove(pos);
        if let Some(&moved) = list.get(pos) {
            self.entries[moved as usize].pos = e.pos;
        }
        if list_idx == OVERFLOW && list.is_empty() {
            self.overflow_epoch = None;
        }
        Some(e.value)
    }

    fn fire_list(&mut self, list: usize, fire: &mut impl FnMut(T)) {
        if self.lists[list].is_empty() {
            return;
        }
        let keys = std::mem::take(&mut self.lists[list]);
        for &key in &keys {
            fire(self.entries.remove(key as usize).value);
        }
        // Keep the slot's allocation for the next time round.
        let mut keys = keys;
        keys.clear();
        self.lists[list] = keys;
    }

    fn cascade(&mut self, list: usize) {
        let keys = std::mem::take(&mut self.lists[list]);
        if list == OVERFLOW {
            // Recomputed by `place` for the entries that stay.
            self.overflow_epoch = None;
        }
        for key in keys {
            self.place(key as usize);
        }
    }

    /// One tick forward: skynet's `timer_shift`.
    fn shift(&mut self) {
        self.time += 1;
        let ct = self.time;
        let mut mask = NEAR as u64;
        let mut t = ct >> NEAR_SHIFT;
        let mut level = 0;
        while ct & (mask - 1) == 0 {
            if level == LEVELS {
                // A new epoch: what was too far away may fit the levels now.
                self.cascade(OVERFLOW);
                break;
            }
            let idx = (t & LEVEL_MASK) as usize;
            if idx != 0 {
                self.cascade(NEAR + level * LEVEL + idx);
                break;
            }
            mask <<= LEVEL_SHIFT;
            t >>= LEVEL_SHIFT;
            level += 1;
        }
    }

    /// The next tick after now at which something happens: a non-empty near slot comes
    /// due, a non-empty level slot cascades, or the epoch of the earliest overflow entry
    /// begins (earlier epoch boundaries would re-place nothing, so they are skipped).
    fn next_event(&self) -> u64 {
        let t = self.time;
        let window = t & !NEAR_MASK;
        let cur = (t & NEAR_MASK) as usize;
        for (j, list) in self.lists.iter().enumerate().take(NEAR).skip(cur + 1) {
            if !list.is_empty() {
                return window + j as u64;
            }
        }
        let mut best = u64::MAX;
        for level in 0..LEVELS {
            let shift = NEAR_SHIFT + LEVEL_SHIFT * level as u32;
            let period_mask = (1u64 << (shift + LEVEL_SHIFT)) - 1;
            let cur_idx = ((t >> shift) & LEVEL_MASK) as usize;
            // Entries sit only in slots after the current one (they are later in the period).
            for idx in cur_idx + 1..LEVEL {
                if !self.lists[NEAR + level * LEVEL + idx].is_empty() {
                    best = best.min((t & !period_mask) | ((idx as u64) << shift));
                    break;
                }
            }
        }
        // Every overflow entry is in a later epoch than `t`, and the bound is never stale past
        // its epoch's start (reaching it re-places the list), so this tick is after `t`.
        if let Some(epoch) = self.overflow_epoch {
            best = best.min(epoch << EPOCH_SHIFT);
        }
        best
    }

    /// Runs every tick up to and including `to_tick`, calling `fire` for each due entry.
    /// Spans where nothing happens are skipped at once.
    pub fn advance(&mut self, to_tick: u64, mut fire: impl FnMut(T)) {
        // Entries added at the current tick since the last advance.
        self.fire_list((self.time & NEAR_MASK) as usize, &mut fire);
        while self.time < to_tick {
            let next = if self.entries.is_empty() {
                u64::MAX
            } else {
                self.next_event()
            };
            if next > to_tick {
                // Nothing is due or cascades before `to_tick`: every entry stays valid.
                self.time = to_tick;
                return;
            }
            self.time = next - 1;
            self.shift();
            self.fire_list((self.time & NEAR_MASK) as usize, &mut fire);
        }
    }

    /// A tick at or before the earliest pending expiry, or None when empty. It may be a tick
    /// where entries only cascade to a lower level (at most one such wake-up per level slot).
    pub fn next_expiry_hint(&self) -> Option<u64> {
        if self.entries.is_empty() {
            return None;
        }
        if !self.lists[(self.time & NEAR_MASK) as usize].is_empty() {
            return Some(self.time);
        }
        Some(self.next_event())
    }

    /// Test helper: every entry sits exactly where it claims, in the list it belongs in.
    #[cfg(test)]
    fn check(&self) {
        let mut listed = 0;
        for (list, keys) in self.lists.iter().enumerate() {
            for (pos, &key) in keys.iter().enumerate() {
                let e = &self.entries[key as usize];
                assert_eq!((usize::from(e.list), e.pos as usize), (list, pos));
                assert!(e.expire >= self.time);
                assert_eq!(
                    self.list_for(e.expire),
                    list,
                    "entry due {} misplaced",
                    e.expire
                );
                listed += 1;
            }
        }
        assert_eq!(listed, self.entries.len());
        let overflow = &self.lists[OVERFLOW];
        assert_eq!(self.overflow_epoch.is_none(), overflow.is_empty());
        if let Some(epoch) = self.overflow_epoch {
            assert!(epoch > self.time >> EPOCH_SHIFT);
            assert!(overflow
                .iter()
                .all(|&k| self.entries[k as usize].expire >> EPOCH_SHIFT >= epoch));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn fires_exactly_at_its_tick() {
        let mut w = TimerWheel::new();
        w.insert(10, "a");
        let mut fired = Vec::new();
        w.advance(9, |v| fired.push(v));
        assert!(fired.is_empty());
        w.advance(10, |v| fired.push(v));
        assert_eq!(fired, vec!["a"]);
        assert!(w.is_empty());
    }

    #[test]
    fn past_deadline_fires_on_next_advance() {
        let mut w = TimerWheel::new();
        w.advance(100, |_: u32| {});
        w.insert(5, 1u32);
        let mut fired = Vec::new();
        w.advance(100, |v| fired.push(v));
        assert_eq!(fired, vec![1]);
    }

    #[test]
    fn random_timers_across_all_levels_fire_on_time() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut w = TimerWheel::new();
        for i in 0..5000u64 {
            let range = match i % 5 {
                0 => 256,
                1 => 1 << 14,
                2 => 1 << 20,
                3 => 1 << 26,
                _ => 1 << 34,
            };
            let t = rng.next() % range;
            w.insert(t, (t, i));
        }
        // Advance in irregular steps, checking each value fires at its tick exactly.
        let mut count = 0;
        let mut now = 0u64;
        let end = 1u64 << 34;
        while now < end && !w.is_empty() {
            now = w.next_expiry_hint().unwrap_or(end).max(now).min(end);
            // The hint is never past the earliest expiry, so each fires exactly at its tick.
            w.advance(now, |(t, _)| {
                assert_eq!(t, now, "fired at {now}, due {t}");
                count += 1;
            });
        }
        assert_eq!(count, 5000);
        assert!(w.is_empty());
    }

    #[test]
    fn never_early_never_late_tick_by_tick() {
        let mut rng = XorShift(42);
        let mut w = TimerWheel::new();
        for _ in 0..2000 {
            let t = rng.next() % 70_000;
            w.insert(t, t);
        }
        for now in 0..70_000u64 {
            w.advance(now, |t| assert_eq!(t, now));
        }
        assert!(w.is_empty());
    }

    #[test]
    fn far_future_beyond_an_epoch() {
        let mut w = TimerWheel::new();
        let cancelled = w.insert(1u64 << 40, "cancelled");
        for (t, v) in [
            (u64::MAX, "max"),
            ((1 << 62) + 3, "mid"),
            ((1 << 32) * 3 + 5, "far"),
        ] {
            w.insert(t, v);
        }
        w.insert(1u64 << 32, "edge");
        assert_eq!(w.cancel(cancelled), Some("cancelled"));
        w.check();
        let mut fired = Vec::new();
        // 2^32 epochs lie in between: this only finishes if empty epochs are skipped.
        while let Some(hint) = w.next_expiry_hint() {
            w.advance(hint, |v| fired.push((v, hint)));
            w.check();
        }
        let expect = vec![
            ("edge", 1 << 32),
            ("far", (1 << 32) * 3 + 5),
            ("mid", (1 << 62) + 3),
            ("max", u64::MAX),
        ];
        assert_eq!(fired, expect);
        assert_eq!(w.now(), u64::MAX);
    }

    #[test]
    fn cancel_and_stale_ids() {
        let mut w = TimerWheel::new();
        let ids: Vec<TimerId> = (0..100).map(|i| w.insert(50 + i * 1000, i)).collect();
        for id in ids.iter().step_by(2) {
            assert!(w.cancel(*id).is_some());
        }
        assert_eq!(w.len(), 50);
        assert!(w.cancel(ids[0]).is_none(), "cancelled twice");
        // Reuse the freed slab slot: the stale id must not cancel the new timer.
        let fresh = w.insert(10, 999);
        assert_eq!(fresh.key, ids[98].key, "the slab reuses the last freed key");
        assert!(w.cancel(ids[98]).is_none());
        assert!(w.cancel(ids[0]).is_none());
        let mut fired = Vec::new();
        w.advance(200_000, |v| fired.push(v));
        assert_eq!(fired.len(), 51);
        assert!(fired.contains(&999));
        assert!(w.cancel(fresh).is_none(), "fired already");
        assert!(w.is_empty());
        assert!(w.lists.iter().all(Vec::is_empty));
    }

    #[test]
    fn random_jumps_fire_within_each_step() {
        let mut rng = XorShift(7);
        let mut w = TimerWheel::new();
        let mut ids = Vec::new();
        for i in 0..20_000u64 {
            let t = rng.next() % (1u64 << (8 + (i % 30)));
            ids.push((w.insert(t, t), t));
        }
        // Cancel a fifth of them up front; they must never fire.
        let mut cancelled = 0;
        for &(id, t) in ids.iter().step_by(5) {
            assert_eq!(w.cancel(id), Some(t));
            cancelled += 1;
        }
        w.check();
        let mut fired = 0;
        let mut prev = 0u64;
        while !w.is_empty() {
            let to = prev + 1 + rng.next() % (1 << (rng.next() % 36));
            w.advance(to, |t| {
                assert!(t <= to, "due {t} fired early at {to}");
                assert!(t > prev || prev == 0, "due {t} fired late at {to}");
                fired += 1;
            });
            w.check();
            prev = to;
        }
        assert_eq!(fired + cancelled, ids.len());
        assert!(w.lists.iter().all(Vec::is_empty));
    }

    #[test]
    fn cancel_after_cascade_and_from_overflow() {
        let mut w = TimerWheel::new();
        let far = w.insert(1u64 << 40, 0u64);
        let ids: Vec<TimerId> = (1..=1000u64).map(|i| w.insert(i * 97, i * 97)).collect();
        // Cascade some level entries into near slots, then cancel every other one.
        w.advance(50_000, |t| assert!(t <= 50_000));
        w.check();
        for id in ids.iter().step_by(2) {
            let _ = w.cancel(*id);
        }
        assert_eq!(w.cancel(far), Some(0));
        w.check();
        let mut fired = Vec::new();
        w.advance(200_000, |t| fired.push(t));
        assert!(fired.iter().all(|t| *t > 50_000 && (t / 97) % 2 == 0));
        assert_eq!(w.len(), 0);
        assert!(w.lists.iter().all(Vec::is_empty));
        assert_eq!(w.next_expiry_hint(), None);
    }

    #[test]
    fn many_pending_timers() {
        let mut rng = XorShift(99);
        let mut w = TimerWheel::new();
        let n = 200_000;
        for _ in 0..n {
            let t = rng.next() % 3_600_000;
            w.insert(t, t);
        }
        assert_eq!(w.len(), n);
        let mut fired = 0;
        let mut now = 0;
        while now < 3_600_000 {
            now += 1000;
            w.advance(now, |t| {
                assert!(t <= now && t > now - 1000);
                fired += 1;
            });
        }
        assert_eq!(fired, n);
        assert!(w.is_empty());
    }

    #[test]
    fn hint_is_never_after_the_earliest_expiry() {
        let mut rng = XorShift(1234);
        let mut w = TimerWheel::new();
        let mut pending = std::collections::BTreeMap::new();
        for _ in 0..500 {
            let t = rng.next() % (1u64 << 36);
            let id = w.insert(t, t);
            pending.insert((t, id.key), ());
        }
        while let Some(hint) = w.next_expiry_hint() {
            let earliest = pending.keys().next().map(|k| k.0).unwrap_or(u64::MAX);
            assert!(hint <= earliest);
            w.advance(hint, |t| {
                let k = *pending.keys().find(|k| k.0 == t).expect("pending");
                pending.remove(&k);
            });
        }
        assert!(pending.is_empty());
    }

    #[test]
    fn empty_wheel_jumps_at_once() {
        let mut w: TimerWheel<()> = TimerWheel::new();
        w.advance(3_600_000_000, |_| {});
        assert_eq!(w.now(), 3_600_000_000);
        assert_eq!(w.next_expiry_hint(), None);
    }
}
