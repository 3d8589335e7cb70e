//! Small, stable, non-cryptographic hashes shared across frugal: FNV-1a 64 (identical
//! across builds and platforms, unlike std's hasher), a flat word table keyed by it, and
//! the SplitMix64 finaliser for turning hashes into uniform numbers.

/// Lower-case hex of `bytes` (digest prefixes in ids, a secret's hex form).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// FNV-1a's starting value: the hash of no bytes.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// One FNV-1a step: the hash of the bytes so far, then `byte` (to hash while scanning).
pub const fn fnv1a_step(h: u64, byte: u8) -> u64 {
    (h ^ byte as u64).wrapping_mul(FNV_PRIME)
}

/// FNV-1a 64 of `bytes` (a `const fn`, so word hashes can be match patterns).
pub const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET;
    let mut i = 0;
    while i < bytes.len() {
        h = fnv1a_step(h, bytes[i]);
        i += 1;
    }
    h
}

/// A set of words keyed by their FNV-1a 64 hash, with a value each, in one flat
/// open-addressing array: a look-up is one probe (rarely two) into memory that holds only
/// hashes, where a `HashSet<String>` also chases each candidate's string across the heap.
/// Two words sharing a 64-bit hash are treated as one (odds ~1e-11 for a 30k vocabulary).
#[derive(Debug, Clone)]
pub struct WordTable<V: Copy> {
    slots: Vec<(u64, V)>,
    mask: usize,
}

/// The hash stored for a word: FNV-1a, with 0 (the empty-slot mark) moved to 1.
fn slot_key(h: u64) -> u64 {
    h.max(1)
}

impl<V: Copy + Default> WordTable<V> {
    /// A table of `words` with their values; a word given twice keeps `merge` of both.
    pub fn new<'a>(words: impl IntoIterator<Item = (&'a str, V)>, merge: fn(V, V) -> V) -> Self {
        let words: Vec<(&str, V)> = words.into_iter().collect();
        // At most half full keeps probe runs short.
        let size = (words.len() * 2).next_power_of_two().max(16);
        let mut t = WordTable {
            slots: vec![(0, V::default()); size],
            mask: size - 1,
        };
        for (w, v) in words {
            let key = slot_key(fnv1a(w.as_bytes()));
            let mut i = splitmix64(key) as usize & t.mask;
            loop {
                match t.slots[i] {
                    (0, _) => {
                        t.slots[i] = (key, v);
                        break;
                    }
                    (k, old) if k == key => {
                        t.slots[i].1 = merge(old, v);
                        break;
                    }
                    _ => i = (i + 1) & t.mask,
                }
            }
        }
        t
    }

    /// The value of the word whose FNV-1a hash is `h`.
    pub fn get(&self, h: u64) -> Option<V> {
        let key = slot_key(h);
        let mut i = splitmix64(key) as usize & self.mask;
        loop {
            match self.slots[i] {
                (0, _) => return None,
                (k, v) if k == key => return Some(v),
                _ => i = (i + 1) & self.mask,
            }
        }
    }
}

/// SplitMix64's finaliser: spreads the bits of `z` (FNV's high bits barely change between
/// similar inputs).
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform number in 0..1 from any bytes.
pub fn unit_interval(bytes: &[u8]) -> f64 {
    (splitmix64(fnv1a(bytes)) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // FNV-1a 64 reference values.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert!((0.0..1.0).contains(&unit_interval(b"x")));
        assert_eq!(fnv1a(b"ab"), fnv1a_step(fnv1a_step(FNV_OFFSET, b'a'), b'b'));
    }

    #[test]
    fn word_table_finds_what_it_holds_and_merges_repeats() {
        let words = ["then", "why", "then", "capital"];
        let t = WordTable::new(
            words.iter().zip([1u8, 2, 4, 8]).map(|(w, v)| (*w, v)),
            |a, b| a | b,
        );
        assert_eq!(t.get(fnv1a(b"then")), Some(5));
        assert_eq!(t.get(fnv1a(b"capital")), Some(8));
        assert_eq!(t.get(fnv1a(b"france")), None);
        let big = WordTable::new(
            (0..5000).map(|i| (Box::leak(format!("w{i}").into_boxed_str()) as &str, ())),
            |a, _| a,
        );
        assert!((0..5000).all(|i| big.get(fnv1a(format!("w{i}").as_bytes())).is_some()));
        assert!((5000..6000).all(|i| big.get(fnv1a(format!("w{i}").as_bytes())).is_none()));
    }
}
