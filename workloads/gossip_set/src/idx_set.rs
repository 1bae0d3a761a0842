//! A set of value indices as a bitset.
//!
//! Every new value used to go into the pending set of every peer (so with 25
//! nodes one broadcast meant 24 inserts at each of 25 nodes); a `BTreeSet`
//! made those inserts the simulator's largest cost. Indices are dense
//! (0, 1, 2, … in order of receipt), so one bit each is both smaller and
//! O(1) to insert, remove and test; iteration skips empty words.

use crate::values::ValueIdx;

#[derive(Debug, Clone, Default)]
pub struct IdxSet {
    words: Vec<u64>,
    len: usize,
    /// No word before this one has a bit set: where iteration starts, so
    /// a set whose old values were all taken is not rescanned from zero.
    first_word: usize,
}

impl IdxSet {
    /// Adds `idx`; returns whether it was absent.
    pub fn insert(&mut self, idx: ValueIdx) -> bool {
        let (word, bit) = (idx / 64, 1u64 << (idx % 64));
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        if self.words[word] & bit != 0 {
            return false;
        }
        self.words[word] |= bit;
        self.len += 1;
        self.first_word = self.first_word.min(word);
        true
    }

    /// Removes `idx`; returns whether it was present.
    pub fn remove(&mut self, idx: ValueIdx) -> bool {
        let (word, bit) = (idx / 64, 1u64 << (idx % 64));
        match self.words.get_mut(word) {
            Some(w) if *w & bit != 0 => {
                *w &= !bit;
                self.len -= 1;
                if word == self.first_word {
                    while self.first_word < self.words.len() && self.words[self.first_word] == 0 {
                        self.first_word += 1;
                    }
                }
                true
            }
            _ => false,
        }
    }

    pub fn contains(&self, idx: ValueIdx) -> bool {
        self.words
            .get(idx / 64)
            .is_some_and(|w| w & (1u64 << (idx % 64)) != 0)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The indices in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = ValueIdx> + '_ {
        self.words
            .iter()
            .enumerate()
            .skip(self.first_word)
            .flat_map(|(w, &bits)| {
                let mut rest = bits;
                std::iter::from_fn(move || {
                    (rest != 0).then(|| {
                        let bit = rest.trailing_zeros() as usize;
                        rest &= rest - 1;
                        w * 64 + bit
                    })
                })
            })
    }
}

impl IdxSet {
    /// The indices in `self` and not in `other`, ascending, starting at
    /// word `from_word` (none before it may be left out).
    pub fn difference<'a>(
        &'a self,
        other: &'a IdxSet,
        from_word: usize,
    ) -> impl Iterator<Item = ValueIdx> + 'a {
        self.words
            .iter()
            .enumerate()
            .skip(from_word.max(self.first_word))
            .flat_map(move |(w, &bits)| {
                let mut rest = bits & !other.words.get(w).copied().unwrap_or(0);
                std::iter::from_fn(move || {
                    (rest != 0).then(|| {
                        let bit = rest.trailing_zeros() as usize;
                        rest &= rest - 1;
                        w * 64 + bit
                    })
                })
            })
    }

    /// Whether word `w` of `self` is full (it can gain no index) and
    /// `other` holds all of it.
    pub fn word_full_within(&self, other: &IdxSet, w: usize) -> bool {
        self.words.get(w) == Some(&u64::MAX) && other.words.get(w) == Some(&u64::MAX)
    }
}

impl Extend<ValueIdx> for IdxSet {
    fn extend<I: IntoIterator<Item = ValueIdx>>(&mut self, iter: I) {
        for idx in iter {
            self.insert(idx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn a_word_is_full_within_another_only_when_both_hold_all_64() {
        let (mut x, mut y) = (IdxSet::default(), IdxSet::default());
        x.extend(0..64);
        y.extend(1..64);
        assert!(!x.word_full_within(&y, 0));
        y.insert(0);
        assert!(x.word_full_within(&y, 0) && !x.word_full_within(&y, 1));
        x.remove(5);
        assert!(!x.word_full_within(&y, 0));
    }

    proptest! {
        /// Behaves as a `BTreeSet<usize>` under any mix of operations.
        #[test]
        fn behaves_as_an_ordered_set(ops in proptest::collection::vec((any::<bool>(), 0usize..300), 0..400)) {
            let mut set = IdxSet::default();
            let mut model = BTreeSet::new();
            for (insert, idx) in ops {
                if insert {
                    prop_assert_eq!(set.insert(idx), model.insert(idx));
                } else {
                    prop_assert_eq!(set.remove(idx), model.remove(&idx));
                }
                prop_assert_eq!(set.len(), model.len());
                prop_assert_eq!(set.contains(idx), model.contains(&idx));
                prop_assert!(set.iter().eq(model.iter().copied()));
            }
        }

        /// `difference` is the ordered set difference, from any word on.
        #[test]
        fn difference_is_the_set_difference(
            a in proptest::collection::btree_set(0usize..400, 0..400),
            b in proptest::collection::btree_set(0usize..400, 0..400),
            from_word in 0usize..8,
        ) {
            let (mut x, mut y) = (IdxSet::default(), IdxSet::default());
            x.extend(a.iter().copied());
            y.extend(b.iter().copied());
            let expected: Vec<usize> = a.difference(&b).copied().filter(|i| i / 64 >= from_word).collect();
            prop_assert_eq!(x.difference(&y, from_word).collect::<Vec<_>>(), expected);
            for w in 0..8 {
                let full = |set: &std::collections::BTreeSet<usize>| (w * 64..w * 64 + 64).all(|i| set.contains(&i));
                prop_assert_eq!(x.word_full_within(&y, w), full(&a) && full(&b));
            }
        }
    }
}
