//! Which sequence numbers are released (delivered, or dropped), kept as a
//! contiguous watermark plus the ranges released out of order above it:
//! delivery reports arrive out of order across partitions, and a corrupt
//! region or a dropped segment releases a whole range at once.

use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub(crate) struct Released {
    /// Every sequence below this is released.
    watermark: u64,
    /// Disjoint, non-adjacent `start -> end` (exclusive) ranges above the
    /// watermark.
    above: BTreeMap<u64, u64>,
}

impl Released {
    pub(crate) fn new(watermark: u64) -> Self {
        Self { watermark, above: BTreeMap::new() }
    }

    pub(crate) fn watermark(&self) -> u64 {
        self.watermark
    }

    pub(crate) fn contains(&self, seq: u64) -> bool {
        seq < self.watermark || self.above.range(..=seq).next_back().is_some_and(|(_, &end)| seq < end)
    }

    /// Releases `start..end`; returns how many of them were not released yet.
    pub(crate) fn insert(&mut self, start: u64, end: u64) -> u64 {
        let (mut start, mut end) = (start.max(self.watermark), end);
        if start >= end {
            return 0;
        }
        let mut fresh = end - start;
        // Merge every range that overlaps or touches start..end.
        let touching: Vec<(u64, u64)> =
            self.above.range(..=end).rev().take_while(|&(_, &e)| e >= start).map(|(&s, &e)| (s, e)).collect();
        for (s, e) in touching {
            fresh -= e.min(end).saturating_sub(s.max(start));
            self.above.remove(&s);
            start = start.min(s);
            end = end.max(e);
        }
        if start <= self.watermark {
            self.watermark = end;
        } else {
            self.above.insert(start, end);
        }
        fresh
    }

    /// How many sequences in `start..end` are released.
    pub(crate) fn count_in(&self, start: u64, end: u64) -> u64 {
        let mut count = self.watermark.min(end).saturating_sub(start);
        let from = start.max(self.watermark);
        if from >= end {
            return count;
        }
        if let Some((_, &e)) = self.above.range(..from).next_back() {
            count += e.min(end).saturating_sub(from);
        }
        for (&s, &e) in self.above.range(from..end) {
            count += e.min(end) - s;
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn matches_a_plain_set(ops in proptest::collection::vec((0u64..64, 1u64..6), 0..40), base in 0u64..8) {
            let mut released = Released::new(base);
            let mut model: std::collections::BTreeSet<u64> = (0..base).collect();
            for (start, len) in ops {
                let fresh = (start..start + len).filter(|s| model.insert(*s)).count() as u64;
                prop_assert_eq!(released.insert(start, start + len), fresh);
            }
            let watermark = (0..).find(|s| !model.contains(s)).unwrap();
            prop_assert_eq!(released.watermark(), watermark);
            for seq in 0..80 {
                prop_assert_eq!(released.contains(seq), model.contains(&seq), "seq {}", seq);
            }
            for (start, end) in [(0, 80), (3, 17), (40, 41), (watermark, watermark + 9)] {
                let count = (start..end).filter(|s| model.contains(s)).count() as u64;
                prop_assert_eq!(released.count_in(start, end), count);
            }
        }
    }
}
