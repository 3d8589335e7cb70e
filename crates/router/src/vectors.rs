//! Compact unit vectors: int8 with one f32 scale per row (a quarter of f32's memory, and
//! an integer dot product the compiler vectorises), plus the quantisation of a query.

/// Quantise a (unit) vector to int8 with one scale: every value within scale/2 of the
/// original. A zero vector gets scale 0 (it matches nothing).
pub fn quantize(v: &[f32]) -> (Vec<i8>, f32) {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if !max.is_finite() || max == 0.0 {
        return (vec![0; v.len()], 0.0);
    }
    let scale = max / 127.0;
    let inv = 1.0 / scale;
    let q = v
        .iter()
        .map(|x| (x * inv).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (q, scale)
}

/// Integer dot product of two int8 rows of the same length.
#[inline]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    // Chunks of 16 keep the accumulation in i32 lanes the compiler maps to SIMD (measured
    // on this machine's baseline x86-64: 15 ns a 128-byte row, against 26 ns for a plain
    // iterator sum and 65 ns for an i16 pairwise form).
    let mut acc = [0i32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: i32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for ((s, xi), yi) in acc.iter_mut().zip(x).zip(y) {
            *s += i32::from(*xi) * i32::from(*yi);
        }
    }
    acc.iter().sum::<i32>() + tail
}

/// L2-normalised copy (a zero vector stays zero).
pub fn normalized(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 && n.is_finite() {
        v.iter().map(|x| x / n).collect()
    } else {
        vec![0.0; v.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantised_dot_is_close_to_the_cosine() {
        let a = normalized(&[
            0.3, -0.2, 0.9, 0.1, 0.0, 0.5, -0.7, 0.2, 0.4, 0.1, 0.2, 0.3, 0.1, 0.0, 0.9, 0.3, 0.2,
        ]);
        let b = normalized(&[
            0.1, -0.1, 0.8, 0.3, 0.2, 0.4, -0.6, 0.1, 0.5, 0.0, 0.1, 0.2, 0.2, 0.1, 0.7, 0.1, 0.3,
        ]);
        let exact: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        let (qa, sa) = quantize(&a);
        let (qb, sb) = quantize(&b);
        let approx = dot_i8(&qa, &qb) as f32 * sa * sb;
        assert!((exact - approx).abs() < 0.01, "{exact} vs {approx}");
        assert_eq!(quantize(&[0.0, 0.0]).1, 0.0);
    }
}
