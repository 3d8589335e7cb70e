//! Closed-form ridge regression on standardised inputs: w = (ZᵀZ + αI)⁻¹ Zᵀy, solved by
//! Cholesky. Tiny dense linear algebra, enough for a few hundred input dimensions.

use anyhow::bail;

/// Column means and standard deviations (a constant column gets sd 1).
pub fn standardiser(x: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
    let d = x.first().map_or(0, Vec::len);
    let n = x.len().max(1) as f64;
    let mut mu = vec![0.0; d];
    for row in x {
        for (m, v) in mu.iter_mut().zip(row) {
            *m += v / n;
        }
    }
    let mut sd = vec![0.0; d];
    for row in x {
        for ((s, v), m) in sd.iter_mut().zip(row).zip(&mu) {
            *s += (v - m) * (v - m) / n;
        }
    }
    let sd = sd
        .into_iter()
        .map(|v| if v > 1e-18 { v.sqrt() } else { 1.0 })
        .collect();
    (mu, sd)
}

/// Ridge weights for standardised inputs and a centred target (no intercept: a router's
/// constant shifts every score alike and carries no ranking information).
pub fn fit(
    x: &[Vec<f64>],
    y: &[f64],
    mu: &[f64],
    sd: &[f64],
    alpha: f64,
) -> anyhow::Result<Vec<f64>> {
    let d = mu.len();
    if x.len() != y.len() || x.is_empty() {
        bail!("ridge: {} rows but {} labels", x.len(), y.len());
    }
    let y_mean = y.iter().sum::<f64>() / y.len() as f64;
    let mut a = vec![0.0; d * d];
    let mut b = vec![0.0; d];
    let mut z = vec![0.0; d];
    for (row, yi) in x.iter().zip(y) {
        for j in 0..d {
            z[j] = (row[j] - mu[j]) / sd[j];
        }
        for j in 0..d {
            b[j] += z[j] * (yi - y_mean);
            for k in 0..=j {
                a[j * d + k] += z[j] * z[k];
            }
        }
    }
    for j in 0..d {
        for k in 0..j {
            a[k * d + j] = a[j * d + k];
        }
        a[j * d + j] += alpha;
    }
    cholesky_solve(&mut a, &mut b, d)?;
    Ok(b)
}

/// Solve A x = b in place (A symmetric positive definite, row-major d×d); x lands in b.
fn cholesky_solve(a: &mut [f64], b: &mut [f64], d: usize) -> anyhow::Result<()> {
    for j in 0..d {
        let mut s = a[j * d + j];
        for k in 0..j {
            s -= a[j * d + k] * a[j * d + k];
        }
        if s <= 0.0 {
            bail!("ridge: matrix not positive definite (increase alpha)");
        }
        let l = s.sqrt();
        a[j * d + j] = l;
        for i in j + 1..d {
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= a[i * d + k] * a[j * d + k];
            }
            a[i * d + j] = s / l;
        }
    }
    for i in 0..d {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i * d + k] * b[k];
        }
        b[i] = s / a[i * d + i];
    }
    for i in (0..d).rev() {
        let mut s = b[i];
        for k in i + 1..d {
            s -= a[k * d + i] * b[k];
        }
        b[i] = s / a[i * d + i];
    }
    Ok(())
}

/// Raw scores of rows under weights `w`.
pub fn predict(x: &[Vec<f64>], mu: &[f64], sd: &[f64], w: &[f64]) -> Vec<f64> {
    x.iter()
        .map(|row| {
            row.iter()
                .zip(mu)
                .zip(sd)
                .zip(w)
                .map(|(((v, m), s), w)| w * (v - m) / s)
                .sum()
        })
        .collect()
}

/// The 0..=100th percentiles of `scores` (linear interpolation), ascending.
pub fn percentiles(scores: &[f64]) -> Vec<f64> {
    let mut s: Vec<f64> = scores.iter().copied().filter(|v| v.is_finite()).collect();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return vec![0.0, 1.0];
    }
    (0..=100)
        .map(|p| {
            let pos = p as f64 / 100.0 * (s.len() - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_linear_law() {
        // y = 2·x0 − x1 (+ constant), inputs with different scales.
        let x: Vec<Vec<f64>> = (0..200)
            .map(|i| vec![(i % 17) as f64, ((i * 7) % 13) as f64 * 10.0])
            .collect();
        let y: Vec<f64> = x.iter().map(|r| 2.0 * r[0] - r[1] + 5.0).collect();
        let (mu, sd) = standardiser(&x);
        let w = fit(&x, &y, &mu, &sd, 1e-9).expect("fit");
        // Weights are per standard deviation: w_j = coefficient × sd_j.
        assert!((w[0] - 2.0 * sd[0]).abs() < 1e-6, "{w:?}");
        assert!((w[1] + sd[1]).abs() < 1e-6, "{w:?}");
        let big = fit(&x, &y, &mu, &sd, 1e6).expect("fit");
        assert!(big[0].abs() < w[0].abs(), "alpha shrinks");
    }

    #[test]
    fn percentiles_are_ascending_and_span() {
        let p = percentiles(&[3.0, 1.0, 2.0]);
        assert_eq!(p.len(), 101);
        assert_eq!(p[0], 1.0);
        assert_eq!(p[100], 3.0);
        assert!((p[50] - 2.0).abs() < 1e-12);
    }
}
