//! Dense kernels for the encoder, in safe Rust the compiler vectorises: a packed linear
//! layer (weights re-laid once at load into 8-column panels, so each output block streams
//! one contiguous panel and keeps a 4×8 accumulator tile in registers), LayerNorm, exact
//! (erf) GELU and softmax.

/// Output columns per panel (the accumulator width).
const NR: usize = 8;
/// Input rows per register tile.
const MR: usize = 4;

/// `y = x·Wᵀ + b` for a PyTorch `Linear` weight `W` of shape `[n_out, n_in]`.
pub struct Linear {
    pub n_in: usize,
    pub n_out: usize,
    /// Panels of NR output columns: `packed[(p·n_in + i)·NR + k] = W[p·NR + k][i]`
    /// (zero beyond `n_out`).
    packed: Vec<f32>,
    bias: Vec<f32>,
}

impl Linear {
    /// `w` is row-major `[n_out, n_in]`, `b` has `n_out` values.
    pub fn new(w: &[f32], b: &[f32], n_out: usize, n_in: usize) -> Linear {
        debug_assert_eq!(w.len(), n_out * n_in);
        debug_assert_eq!(b.len(), n_out);
        let panels = n_out.div_ceil(NR);
        let mut packed = vec![0.0f32; panels * n_in * NR];
        for (o, row) in w.chunks_exact(n_in).enumerate() {
            let (p, k) = (o / NR, o % NR);
            let panel = &mut packed[p * n_in * NR..(p + 1) * n_in * NR];
            for (i, &v) in row.iter().enumerate() {
                panel[i * NR + k] = v;
            }
        }
        Linear {
            n_in,
            n_out,
            packed,
            bias: b.to_vec(),
        }
    }

    /// Stack several layers that read the same input into one (e.g. Q, K and V).
    pub fn concat(parts: &[(&[f32], &[f32], usize)], n_in: usize) -> Linear {
        let mut w = Vec::new();
        let mut b = Vec::new();
        for (pw, pb, _) in parts {
            w.extend_from_slice(pw);
            b.extend_from_slice(pb);
        }
        let n_out = parts.iter().map(|p| p.2).sum();
        Linear::new(&w, &b, n_out, n_in)
    }

    /// `x` holds `rows` rows of `n_in`; `y` receives `rows` rows of `n_out`.
    pub fn forward(&self, x: &[f32], rows: usize, y: &mut [f32]) {
        let (n_in, n_out) = (self.n_in, self.n_out);
        let x = &x[..rows * n_in];
        let y = &mut y[..rows * n_out];
        for (p, panel) in self.packed.chunks_exact(n_in * NR).enumerate() {
            let col = p * NR;
            let width = NR.min(n_out - col);
            let mut bias = [0.0f32; NR];
            bias[..width].copy_from_slice(&self.bias[col..col + width]);
            let mut r = 0;
            while r + MR <= rows {
                let tile = tile4(panel, &x[r * n_in..(r + MR) * n_in], n_in, &bias);
                for (m, acc) in tile.iter().enumerate() {
                    let at = (r + m) * n_out + col;
                    y[at..at + width].copy_from_slice(&acc[..width]);
                }
                r += MR;
            }
            for r in r..rows {
                let acc = tile1(panel, &x[r * n_in..(r + 1) * n_in], &bias);
                let at = r * n_out + col;
                y[at..at + width].copy_from_slice(&acc[..width]);
            }
        }
    }
}

/// Four input rows against one panel. Kept out of line: inlined into `forward`, LLVM
/// stops vectorising it (measured: scalar code, 10× slower).
#[inline(never)]
fn tile4(panel: &[f32], x: &[f32], n_in: usize, bias: &[f32; NR]) -> [[f32; NR]; MR] {
    let (mut c0, mut c1, mut c2, mut c3) = (*bias, *bias, *bias, *bias);
    let (x0, rest) = x.split_at(n_in);
    let (x1, rest) = rest.split_at(n_in);
    let (x2, x3) = rest.split_at(n_in);
    let rows = x0.iter().zip(x1).zip(x2.iter().zip(x3));
    for (w, ((a0, a1), (a2, a3))) in panel.chunks_exact(NR).zip(rows) {
        let Ok(w) = <&[f32; NR]>::try_from(w) else {
            continue;
        };
        for k in 0..NR {
            c0[k] += a0 * w[k];
        }
        for k in 0..NR {
            c1[k] += a1 * w[k];
        }
        for k in 0..NR {
            c2[k] += a2 * w[k];
        }
        for k in 0..NR {
            c3[k] += a3 * w[k];
        }
    }
    [c0, c1, c2, c3]
}

/// One input row against one panel (same summation order as `tile4`).
#[inline(never)]
fn tile1(panel: &[f32], x: &[f32], bias: &[f32; NR]) -> [f32; NR] {
    let mut acc = *bias;
    for (w, a) in panel.chunks_exact(NR).zip(x) {
        let Ok(w) = <&[f32; NR]>::try_from(w) else {
            continue;
        };
        for k in 0..NR {
            acc[k] += a * w[k];
        }
    }
    acc
}

/// In-place LayerNorm of each `gamma.len()`-wide row.
pub fn layer_norm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = gamma.len();
    for row in x.chunks_exact_mut(n) {
        let mean = row.iter().sum::<f32>() / n as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

/// `a += b`, element-wise.
pub fn add_assign(a: &mut [f32], b: &[f32]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

/// Error function, Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7, i.e. f32 precision).
pub fn erf(x: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * (-x * x).exp();
    if x < 0.0 {
        -y
    } else {
        y
    }
}

/// BERT's exact GELU: x·Φ(x) = ½x(1 + erf(x/√2)).
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// In-place softmax.
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// Dot product with 8 independent partial sums (vectorisable).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `y += a·x`.
pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (v, w) in y.iter_mut().zip(x) {
        *v += a * w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f32, tol: f32) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn linear_matches_naive_for_all_row_counts() {
        let (n_out, n_in) = (11, 5);
        let w: Vec<f32> = (0..n_out * n_in)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0)
            .collect();
        let b: Vec<f32> = (0..n_out).map(|i| i as f32 * 0.1).collect();
        let lin = Linear::new(&w, &b, n_out, n_in);
        for rows in 1..=9 {
            let x: Vec<f32> = (0..rows * n_in)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) / 3.0)
                .collect();
            let mut y = vec![0.0; rows * n_out];
            lin.forward(&x, rows, &mut y);
            for r in 0..rows {
                for o in 0..n_out {
                    let want: f32 = b[o]
                        + (0..n_in)
                            .map(|i| x[r * n_in + i] * w[o * n_in + i])
                            .sum::<f32>();
                    assert!(
                        close(y[r * n_out + o], want, 1e-5),
                        "rows {rows} r {r} o {o}"
                    );
                }
            }
        }
    }

    #[test]
    fn layer_norm_by_hand() {
        // mean 2.5, variance 1.25 → (x − 2.5)/√1.25.
        let mut x = vec![1.0, 2.0, 3.0, 4.0];
        layer_norm(&mut x, &[1.0, 1.0, 2.0, 1.0], &[0.0, 0.0, 0.0, 1.0], 0.0);
        let s = 1.25f32.sqrt();
        let want = [-1.5 / s, -0.5 / s, 2.0 * 0.5 / s, 1.5 / s + 1.0];
        for (a, b) in x.iter().zip(want) {
            assert!(close(*a, b, 1e-6), "{x:?}");
        }
    }

    #[test]
    fn gelu_and_erf_by_hand() {
        assert_eq!(gelu(0.0), 0.0);
        assert!(close(gelu(1.0), 0.841_344_7, 2e-7));
        assert!(close(gelu(-1.0), -0.158_655_25, 2e-7));
        assert!(close(gelu(3.0), 2.995_950_5, 1e-6));
        assert!(close(erf(0.5), 0.520_499_9, 2e-7));
        assert!(close(erf(-2.0), -0.995_322_3, 2e-7));
    }

    #[test]
    fn softmax_and_dot() {
        let mut x = vec![0.0, (2.0f32).ln(), 1000.0];
        softmax(&mut x);
        assert!(close(x[2], 1.0, 1e-6) && x[0] >= 0.0);
        let mut y = vec![0.0, (3.0f32).ln()];
        softmax(&mut y);
        assert!(close(y[0], 0.25, 1e-6) && close(y[1], 0.75, 1e-6));
        let a: Vec<f32> = (0..19).map(|i| i as f32).collect();
        assert_eq!(dot(&a, &a), (0..19).map(|i| (i * i) as f32).sum::<f32>());
    }
}
