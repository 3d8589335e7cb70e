//! Small, stable, non-cryptographic hashes shared across frugal: FNV-1a 64 (identical
//! across builds and platforms, unlike std's hasher), a `Hasher` over it for hot look-up
//! tables, and the SplitMix64 finaliser for turning hashes into uniform numbers.

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// FNV-1a 64 of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_from(FNV_OFFSET, bytes)
}

fn fnv1a_from(start: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(start, |h, b| (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME))
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

/// FNV-1a as a `Hasher`: look-ups of short words, where SipHash's setup dominates.
#[derive(Default, Clone, Copy)]
pub struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let start = if self.0 == 0 { FNV_OFFSET } else { self.0 };
        self.0 = fnv1a_from(start, bytes);
    }
}

pub type FnvBuild = std::hash::BuildHasherDefault<Fnv>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // FNV-1a 64 reference values.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert!((0.0..1.0).contains(&unit_interval(b"x")));
    }
}
