//! A set of disjoint, coalesced `u64` ranges, as both platforms keep of
//! what a stub has mapped.

use std::collections::BTreeMap;

/// Page-aligned, disjoint, coalesced ranges `[start, end)`.
#[derive(Default, Debug)]
pub struct RangeSet {
    r: BTreeMap<u64, u64>,
}

impl RangeSet {
    /// Adds `[s, e)`.
    pub fn insert(&mut self, mut s: u64, mut e: u64) {
        if s >= e {
            return;
        }
        // Absorb every range that overlaps or touches [s, e).
        let touching: Vec<(u64, u64)> = self
            .r
            .range(..=e)
            .rev()
            .take_while(|&(_, &re)| re >= s)
            .map(|(&rs, &re)| (rs, re))
            .collect();
        for (rs, re) in touching {
            self.r.remove(&rs);
            s = s.min(rs);
            e = e.max(re);
        }
        self.r.insert(s, e);
    }

    /// Removes `[s, e)`.
    pub fn remove(&mut self, s: u64, e: u64) {
        if s >= e {
            return;
        }
        let hit: Vec<(u64, u64)> = self
            .r
            .range(..e)
            .rev()
            .take_while(|&(_, &re)| re > s)
            .map(|(&rs, &re)| (rs, re))
            .collect();
        for (rs, re) in hit {
            self.r.remove(&rs);
            if rs < s {
                self.r.insert(rs, s);
            }
            if re > e {
                self.r.insert(e, re);
            }
        }
    }

    /// The parts of `[s, e)` that are in the set, in order.
    pub fn within(&self, s: u64, e: u64) -> Vec<(u64, u64)> {
        let mut v: Vec<(u64, u64)> = self
            .r
            .range(..e)
            .rev()
            .take_while(|&(_, &re)| re > s)
            .map(|(&rs, &re)| (rs.max(s), re.min(e)))
            .collect();
        v.reverse();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &RangeSet) -> Vec<(u64, u64)> {
        s.r.iter().map(|(&a, &b)| (a, b)).collect()
    }

    #[test]
    fn rangeset_insert_coalesces() {
        let mut s = RangeSet::default();
        s.insert(10, 20);
        s.insert(30, 40);
        assert_eq!(v(&s), [(10, 20), (30, 40)]);
        s.insert(20, 30);
        assert_eq!(v(&s), [(10, 40)]);
        s.insert(5, 12);
        s.insert(38, 50);
        assert_eq!(v(&s), [(5, 50)]);
        s.insert(60, 70);
        s.insert(0, 100);
        assert_eq!(v(&s), [(0, 100)]);
        s.insert(7, 7);
        assert_eq!(v(&s), [(0, 100)]);
    }

    #[test]
    fn rangeset_remove_splits() {
        let mut s = RangeSet::default();
        s.insert(0, 100);
        s.remove(10, 20);
        assert_eq!(v(&s), [(0, 10), (20, 100)]);
        s.remove(5, 25);
        assert_eq!(v(&s), [(0, 5), (25, 100)]);
        s.remove(90, 200);
        assert_eq!(v(&s), [(0, 5), (25, 90)]);
        s.remove(0, 1000);
        assert!(v(&s).is_empty());
    }

    #[test]
    fn rangeset_within_clips() {
        let mut s = RangeSet::default();
        s.insert(0, 10);
        s.insert(20, 30);
        s.insert(40, 50);
        assert_eq!(s.within(5, 45), [(5, 10), (20, 30), (40, 45)]);
        assert_eq!(s.within(10, 20), []);
        assert_eq!(s.within(0, 100), [(0, 10), (20, 30), (40, 50)]);
    }

    #[test]
    fn rangeset_insert_remove_within() {
        let mut s = RangeSet::default();
        s.insert(10, 20);
        s.insert(30, 40);
        s.insert(20, 30);
        assert_eq!(v(&s), [(10, 40)]);
        s.remove(15, 25);
        assert_eq!(v(&s), [(10, 15), (25, 40)]);
        assert_eq!(s.within(0, 30), [(10, 15), (25, 30)]);
        s.remove(0, 100);
        assert!(v(&s).is_empty());
    }
}
