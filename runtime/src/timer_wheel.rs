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
/// Ticks covered by near + levels: one epoch.
const EPOCH_MASK: u64 = (1u64 << (NEAR_SHIFT + LEVEL_SHIFT * LEVELS as u32)) - 1;
/// Index of the overflow list among all lists.
const OVERFLOW: usize = NEAR + LEVELS * LEVEL;

/// Identifies a pending timer. A stale id (fired or cancelled) never matches a newer timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId {
    key: usize,
    generation: u64,
}

struct Entry<T> {
    expire: u64,
    generation: u64,
    list: usize,
    pos: usize,
    value: T,
}

/// A hierarchical timer wheel holding values of type `T`.
pub struct TimerWheel<T> {
    time: u64,
    entries: Slab<Entry<T>>,
    /// near slots, then level slots (level-major), then overflow.
    lists: Vec<Vec<usize>>,
    generation: u64,
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
        let pos = self.lists[list].len();
        self.lists[list].push(key);
        let e = &mut self.entries[key];
        e.list = list;
        e.pos = pos;
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
        let list = &mut self.lists[e.list];
        list.swap_remove(e.pos);
        if let Some(&moved) = list.get(e.pos) {
            self.entries[moved].pos = e.pos;
        }
        Some(e.value)
    }

    fn fire_list(&mut self, list: usize, fire: &mut impl FnMut(T)) {
        if self.lists[list].is_empty() {
            return;
        }
        let keys = std::mem::take(&mut self.lists[list]);
        for &key in &keys {
            fire(self.entries.remove(key).value);
        }
        // Keep the slot's allocation for the next time round.
        let mut keys = keys;
        keys.clear();
        self.lists[list] = keys;
    }

    fn cascade(&mut self, list: usize) {
        let keys = std::mem::take(&mut self.lists[list]);
        for key in keys {
            self.place(key);
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
    /// due, a non-empty level slot cascades, or an epoch begins with overflow entries.
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
        if !self.lists[OVERFLOW].is_empty() {
            best = best.min((t | EPOCH_MASK).saturating_add(1));
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

    /// A tick at or before the earliest pending expiry, or None when empty.
    pub fn next_expiry_hint(&self) -> Option<u64> {
        if self.entries.is_empty() {
            return None;
        }
        if !self.lists[(self.time & NEAR_MASK) as usize].is_empty() {
            return Some(self.time);
        }
        Some(self.next_event())
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
        let far = (1u64 << 32) * 3 + 12345;
        w.insert(far, "far");
        w.insert(1u64 << 32, "edge");
        let mut fired = Vec::new();
        let mut now = 0;
        while !w.is_empty() {
            now = w.next_expiry_hint().unwrap_or(now).max(now);
            w.advance(now, |v| fired.push((v, now)));
        }
        assert_eq!(fired, vec![("edge", 1u64 << 32), ("far", far)]);
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
    fn empty_wheel_jumps_at_once() {
        let mut w: TimerWheel<()> = TimerWheel::new();
        w.advance(3_600_000_000, |_| {});
        assert_eq!(w.now(), 3_600_000_000);
        assert_eq!(w.next_expiry_hint(), None);
    }
}
