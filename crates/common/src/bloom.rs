//! A Bloom filter of UUIDs: "certainly not seen" or "perhaps seen".
//!
//! Keys are UUIDs whose bits are already uniformly spread (v4, or v5 like message ids: both
//! come from a random generator or a cryptographic hash), so the two halves of the key serve
//! as the two base hashes of double hashing (Kirsch and Mitzenmacher) and nothing is hashed
//! again.

use uuid::Uuid;

/// Bits per expected key: with 7 probes, about a 1% false-positive rate at capacity.
const BITS_PER_KEY: usize = 10;
const PROBES: u64 = 7;

#[derive(Debug, Clone)]
pub struct Bloom {
    words: Vec<u64>,
    bits: u64,
    len: usize,
    capacity: usize,
}

impl Bloom {
    /// A filter sized for `capacity` keys (at least 64).
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(64);
        let words = (capacity * BITS_PER_KEY).div_ceil(64);
        Self {
            words: vec![0; words],
            bits: (words * 64) as u64,
            len: 0,
            capacity,
        }
    }

    fn probes(&self, key: Uuid) -> impl Iterator<Item = u64> + use<> {
        let (h1, h2) = key.as_u64_pair();
        // An odd step visits distinct positions for every probe.
        let (bits, step) = (self.bits, h2 | 1);
        (0..PROBES).map(move |i| h1.wrapping_add(i.wrapping_mul(step)) % bits)
    }

    pub fn insert(&mut self, key: Uuid) {
        for bit in self.probes(key) {
            self.words[(bit / 64) as usize] |= 1 << (bit % 64);
        }
        self.len += 1;
    }

    /// False: `key` was certainly never inserted. True: it perhaps was.
    pub fn may_contain(&self, key: Uuid) -> bool {
        self.probes(key)
            .all(|bit| self.words[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
    }

    /// Keys inserted (counting repeats).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether more keys went in than it was sized for (its false-positive rate climbs).
    pub fn is_full(&self) -> bool {
        self.len > self.capacity
    }

    /// Heap bytes held.
    pub fn bytes(&self) -> usize {
        self.words.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_keys_are_always_found_and_others_rarely() {
        let mut bloom = Bloom::with_capacity(10_000);
        let keys: Vec<Uuid> = (0..10_000).map(|_| Uuid::new_v4()).collect();
        for key in &keys {
            bloom.insert(*key);
        }
        assert!(keys.iter().all(|k| bloom.may_contain(*k)));
        let false_positives = (0..100_000)
            .filter(|_| bloom.may_contain(Uuid::new_v4()))
            .count();
        // About 1% at capacity; 3% leaves room for chance.
        assert!(false_positives < 3_000, "{false_positives} of 100000");
        assert!(!bloom.is_full());
        bloom.insert(Uuid::new_v4());
        assert!(bloom.is_full());
    }

    #[test]
    fn an_empty_filter_contains_nothing() {
        let bloom = Bloom::with_capacity(0);
        assert!(bloom.is_empty());
        assert!(!bloom.may_contain(Uuid::new_v4()));
        assert!(!bloom.may_contain(Uuid::nil()));
    }
}
