//! RouteLLM's strong/weak router evaluation, reproduced number for number: quantile
//! thresholds, the quality curve, CPT(x%), APGR and the oracle curve. Pure math on plain
//! slices; it must not know about files, models or the pipeline.
//!
//! The reference is `routellm/evals/benchmarks.py` + `evaluate.py`: thresholds are
//! `pd.qcut(scores, 10, retbins=True)` edges; threshold i sends `score >= t_i` to the
//! strong model, except the last which uses `score > t_max` (0 % strong calls); CPT is
//! `np.interp(target, quality, share)` on the curve sorted by share; APGR is
//! `(trapz(quality) - weak area) / (strong area - weak area)`. Shares and qualities are
//! fractions here (RouteLLM uses percent), which changes nothing but the units.

use anyhow::{bail, Result};
use serde::Serialize;

/// Per-row quality of the two models of a pair, aligned with the rows.
#[derive(Debug, Clone, Copy)]
pub struct PairQuality<'a> {
    pub strong: &'a [f64],
    pub weak: &'a [f64],
}

impl PairQuality<'_> {
    pub fn len(&self) -> usize {
        self.strong.len()
    }

    pub fn is_empty(&self) -> bool {
        self.strong.is_empty()
    }

    pub fn strong_mean(&self) -> f64 {
        mean(self.strong)
    }

    pub fn weak_mean(&self) -> f64 {
        mean(self.weak)
    }
}

/// One point of a quality curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    /// The score threshold that produced the point (none for the oracle and averages).
    pub threshold: Option<f64>,
    /// Share of calls sent to the strong model, 0..1.
    pub strong_share: f64,
    /// Mean quality over all rows, 0..1.
    pub quality: f64,
}

/// The summary numbers RouteLLM reports for one router.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairMetrics {
    /// Average performance gap recovered: 0 = always weak, 1 = always strong, 0.5 = random.
    pub apgr: f64,
    /// Area under the quality curve over strong share 0..1.
    pub auc: f64,
    /// Share of strong calls needed to recover 20 %, 50 %, 80 % of the quality gap.
    pub cpt20: f64,
    pub cpt50: f64,
    pub cpt80: f64,
}

pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// The `bins + 1` edges `pd.qcut(scores, bins)` computes: numpy's "linear" quantiles at
/// `np.linspace(0, 1, bins + 1)`, which pandas passes as percentages and numpy divides
/// back. The float round trip and numpy's two-sided lerp are kept because a threshold
/// one ulp above a score changes which rows `>=` selects.
pub fn quantile_thresholds(scores: &[f64], bins: usize) -> Vec<f64> {
    let mut sorted = scores.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let step = 1.0 / bins as f64;
    (0..=bins)
        .map(|i| {
            let q = if i == bins { 1.0 } else { i as f64 * step };
            numpy_linear_quantile(&sorted, q * 100.0 / 100.0, n)
        })
        .collect()
}

fn numpy_linear_quantile(sorted: &[f64], q: f64, n: usize) -> f64 {
    if n == 0 {
        return f64::NAN;
    }
    let virtual_index = (n - 1) as f64 * q;
    if virtual_index >= (n - 1) as f64 {
        return sorted[n - 1];
    }
    if virtual_index < 0.0 {
        return sorted[0];
    }
    let lo = virtual_index.floor();
    let gamma = virtual_index - lo;
    let a = sorted[lo as usize];
    let b = sorted[lo as usize + 1];
    let diff = b - a;
    // numpy's _lerp: interpolate from the nearer end for stability.
    if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    }
}

/// Routes every row at each quantile threshold and returns the curve sorted by strong
/// share (RouteLLM sorts before computing CPT and area). `scores` are aligned with the
/// rows; a higher score means "needs the strong model".
pub fn router_curve(scores: &[f64], q: PairQuality<'_>, bins: usize) -> Vec<CurvePoint> {
    let n = scores.len();
    let thresholds = quantile_thresholds(scores, bins);
    let mut points: Vec<CurvePoint> = thresholds
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let last = i == thresholds.len() - 1;
            let mut strong_calls = 0usize;
            let mut total = 0.0;
            for (r, &s) in scores.iter().enumerate() {
                let to_strong = if last { s > t } else { s >= t };
                if to_strong {
                    strong_calls += 1;
                    total += q.strong[r];
                } else {
                    total += q.weak[r];
                }
            }
            CurvePoint {
                threshold: Some(t),
                strong_share: strong_calls as f64 / n as f64,
                quality: total / n as f64,
            }
        })
        .collect();
    sort_by_share(&mut points);
    points
}

pub fn sort_by_share(points: &mut [CurvePoint]) {
    points.sort_by(|a, b| a.strong_share.total_cmp(&b.strong_share));
}

/// RouteLLM's `get_optimal_accuracy` at strong shares 0, 1/bins, ..., 1: the weak
/// model everywhere plus the `share * n` largest positive gains of the strong model.
/// For 0/1 quality this is exactly `weak + min(share * n, #(weak wrong, strong right))`;
/// for graded quality the gains are taken largest first (what its MT-Bench variant does),
/// with a fractional last row so the curve stays continuous in the share.
pub fn oracle_curve(q: PairQuality<'_>, bins: usize) -> Vec<CurvePoint> {
    let n = q.len();
    let mut gains: Vec<f64> = q
        .strong
        .iter()
        .zip(q.weak)
        .map(|(s, w)| s - w)
        .filter(|g| *g > 0.0)
        .collect();
    gains.sort_by(|a, b| b.total_cmp(a));
    let weak_total: f64 = q.weak.iter().sum();
    (0..=bins)
        .map(|i| {
            let share = i as f64 / bins as f64;
            let calls = n as f64 * share;
            let whole = (calls.floor() as usize).min(gains.len());
            let mut bonus: f64 = gains[..whole].iter().sum();
            if let Some(next) = gains.get(whole) {
                bonus += (calls - whole as f64) * next;
            }
            CurvePoint {
                threshold: None,
                strong_share: share,
                quality: (weak_total + bonus) / n as f64,
            }
        })
        .collect()
}

/// `np.interp(x, xp, fp)` including its behaviour when `xp` is not increasing (a noisy
/// quality curve): numpy does not sort, it searches with a guess, so the exact search
/// is reproduced to land on the same segment numpy does.
pub fn np_interp(x: f64, xp: &[f64], fp: &[f64]) -> f64 {
    let len = xp.len();
    if len == 0 {
        return f64::NAN;
    }
    if len == 1 {
        return fp[0];
    }
    let j = numpy_search(x, xp);
    if j < 0 {
        return fp[0];
    }
    let j = j as usize;
    if j >= len - 1 {
        return fp[len - 1];
    }
    if xp[j] == x {
        return fp[j];
    }
    let slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
    let y = slope * (x - xp[j]) + fp[j];
    if !y.is_nan() {
        return y;
    }
    let y = slope * (x - xp[j + 1]) + fp[j + 1];
    if y.is_nan() && fp[j] == fp[j + 1] {
        fp[j]
    } else {
        y
    }
}

/// numpy's `binary_search_with_guess` for a single key (guess 0, as in one `np.interp`
/// call per target): -1 below the range, `len` above it.
fn numpy_search(key: f64, arr: &[f64]) -> isize {
    const LIKELY_IN_CACHE: usize = 8;
    let len = arr.len();
    if key > arr[len - 1] {
        return len as isize;
    }
    if key < arr[0] {
        return -1;
    }
    if len <= 4 {
        let mut i = 1;
        while i < len && key >= arr[i] {
            i += 1;
        }
        return i as isize - 1;
    }
    let guess = 1usize; // guess 0 clamped to [1, len - 3]
    let (mut imin, mut imax) = (0usize, len);
    if key < arr[guess] {
        if key < arr[guess - 1] {
            imax = guess - 1;
        } else {
            return guess as isize - 1;
        }
    } else if key < arr[guess + 1] {
        return guess as isize;
    } else if key < arr[guess + 2] {
        return guess as isize + 1;
    } else {
        imin = guess + 2;
        // Signed in numpy: for short arrays the right side is negative, not a wrap-around.
        if (guess as isize) < len as isize - LIKELY_IN_CACHE as isize - 1
            && key < arr[guess + LIKELY_IN_CACHE]
        {
            imax = guess + LIKELY_IN_CACHE;
        }
    }
    while imin < imax {
        let mid = imin + ((imax - imin) >> 1);
        if key >= arr[mid] {
            imin = mid + 1;
        } else {
            imax = mid;
        }
    }
    imin as isize - 1
}

/// `np.trapz(y, x)`.
pub fn trapezoid(y: &[f64], x: &[f64]) -> f64 {
    x.windows(2)
        .zip(y.windows(2))
        .map(|(xs, ys)| (xs[1] - xs[0]) * (ys[0] + ys[1]) / 2.0)
        .sum()
}

/// Share of strong calls needed to recover `fraction` of the gap (CPT), on a curve
/// sorted by share.
pub fn cpt(curve: &[CurvePoint], weak: f64, strong: f64, fraction: f64) -> f64 {
    let xp: Vec<f64> = curve.iter().map(|p| p.quality).collect();
    let fp: Vec<f64> = curve.iter().map(|p| p.strong_share).collect();
    np_interp(fraction * (strong - weak) + weak, &xp, &fp)
}

/// APGR, AUC and CPTs of a curve sorted by share. Errors when the strong model is not
/// better than the weak one: every number would divide by that gap.
pub fn pair_metrics(curve: &[CurvePoint], weak: f64, strong: f64) -> Result<PairMetrics> {
    check_gap(weak, strong)?;
    let x: Vec<f64> = curve.iter().map(|p| p.strong_share).collect();
    let y: Vec<f64> = curve.iter().map(|p| p.quality).collect();
    let auc = trapezoid(&y, &x);
    let span = match (x.first(), x.last()) {
        (Some(a), Some(b)) => b - a,
        _ => 0.0,
    };
    if span <= 0.0 {
        bail!("the curve spans no range of strong shares; APGR is undefined");
    }
    let weak_area = weak * span;
    let strong_area = strong * span;
    Ok(PairMetrics {
        apgr: (auc - weak_area) / (strong_area - weak_area),
        auc,
        cpt20: cpt(curve, weak, strong, 0.2),
        cpt50: cpt(curve, weak, strong, 0.5),
        cpt80: cpt(curve, weak, strong, 0.8),
    })
}

/// The smallest strong−weak gap the metrics accept; below it they are 0/0.
pub const MIN_GAP: f64 = 1e-9;

pub fn check_gap(weak: f64, strong: f64) -> Result<()> {
    let gap = strong - weak;
    if !gap.is_finite() || gap <= MIN_GAP {
        bail!(
            "the strong model's quality ({:.4}) is not above the weak model's ({:.4}): \
             APGR and CPT divide by that gap; swap --strong and --weak or pick another pair",
            strong,
            weak
        );
    }
    Ok(())
}

/// Standard error of the mean per-row difference strong − weak: a gap within about two
/// of these is noise, and the metrics computed on it are too.
pub fn gap_standard_error(q: PairQuality<'_>) -> f64 {
    let n = q.len();
    if n < 2 {
        return f64::INFINITY;
    }
    let d: Vec<f64> = q.strong.iter().zip(q.weak).map(|(s, w)| s - w).collect();
    let m = mean(&d);
    let var = d.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1) as f64;
    (var / n as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_numpy_linear() {
        // np.quantile([1,2,3,4], [0, .1, .5, 1]) = [1, 1.3, 2.5, 4]
        let t = quantile_thresholds(&[4.0, 1.0, 3.0, 2.0], 10);
        assert_eq!(t.len(), 11);
        assert_eq!(t[0], 1.0);
        assert!((t[1] - 1.3).abs() < 1e-12);
        assert!((t[5] - 2.5).abs() < 1e-12);
        assert_eq!(t[10], 4.0);
    }

    #[test]
    fn interp_monotone_and_clamped() {
        let xp = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        let fp = [0.0, 10.0, 20.0, 30.0, 40.0, 50.0];
        assert_eq!(np_interp(2.5, &xp, &fp), 25.0);
        assert_eq!(np_interp(-1.0, &xp, &fp), 0.0);
        assert_eq!(np_interp(9.0, &xp, &fp), 50.0);
        assert_eq!(np_interp(5.0, &xp, &fp), 50.0);
        assert_eq!(np_interp(4.5, &xp, &fp), 45.0);
    }

    #[test]
    fn interp_non_monotone_follows_numpy() {
        // numpy: np.interp(0.5, [0, 1, 0, 1, 2, 3], [0, 1, 2, 3, 4, 5]) == 0.5
        // (guess lands on segment 0); a naive "last crossing" would say 2.5.
        let xp = [0.0, 1.0, 0.0, 1.0, 2.0, 3.0];
        let fp = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(np_interp(0.5, &xp, &fp), 0.5);
    }

    #[test]
    fn gap_guard() {
        assert!(check_gap(0.5, 0.5).is_err());
        assert!(check_gap(0.6, 0.5).is_err());
        assert!(check_gap(0.5, f64::NAN).is_err());
        assert!(check_gap(0.5, 0.6).is_ok());
    }
}
