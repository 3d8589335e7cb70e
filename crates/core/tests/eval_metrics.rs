//! RouteLLM's metrics on small hand-made data sets whose answers are worked out by hand:
//! perfect, constant and random routers, CPT interpolation and the APGR area.

use frugal_core::eval::metrics::{
    cpt, oracle_curve, pair_metrics, quantile_thresholds, router_curve, CurvePoint, PairQuality,
};
use frugal_core::eval::random_scores;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn point(share: f64, quality: f64) -> CurvePoint {
    CurvePoint {
        threshold: None,
        strong_share: share,
        quality,
    }
}

/// Five rows, scored 1..5 by the router. Row by score: (strong, weak) =
/// 1: (0, 1)  2: (1, 0)  3: (0, 0)  4: (1, 0)  5: (1, 1). Strong 0.6, weak 0.4.
fn five_rows() -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    (
        vec![1.0, 2.0, 3.0, 4.0, 5.0],
        vec![0.0, 1.0, 0.0, 1.0, 1.0],
        vec![1.0, 0.0, 0.0, 0.0, 1.0],
    )
}

#[test]
fn thresholds_are_numpy_linear_quantiles() {
    let t = quantile_thresholds(&[5.0, 3.0, 1.0, 4.0, 2.0], 10);
    let want = [1.0, 1.4, 1.8, 2.2, 2.6, 3.0, 3.4, 3.8, 4.2, 4.6, 5.0];
    assert_eq!(t.len(), 11);
    for (a, b) in t.iter().zip(want) {
        assert!((a - b).abs() < 1e-12, "{t:?}");
    }
}

#[test]
fn curve_cpt_and_apgr_match_hand_computation() {
    let (scores, strong, weak) = five_rows();
    let q = PairQuality {
        strong: &strong,
        weak: &weak,
    };
    let curve = router_curve(&scores, q, 10);
    // Strong calls per threshold: >=1 → 5, >=1.4 → 4, >=1.8 → 4, >=2.2 → 3, >=2.6 → 3,
    // >=3 → 3, >=3.4 → 2, >=3.8 → 2, >=4.2 → 1, >=4.6 → 1, >5 → 0; sorted by share.
    let got: Vec<(f64, f64)> = curve.iter().map(|p| (p.strong_share, p.quality)).collect();
    let want = [
        (0.0, 0.4),
        (0.2, 0.4),
        (0.2, 0.4),
        (0.4, 0.6),
        (0.4, 0.6),
        (0.6, 0.6),
        (0.6, 0.6),
        (0.6, 0.6),
        (0.8, 0.8),
        (0.8, 0.8),
        (1.0, 0.6),
    ];
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!(close(g.0, w.0) && close(g.1, w.1), "{got:?}");
    }
    // Normalised gap recovered: 0, 0, 1, 1, 2, 1 at shares 0, .2, .4, .6, .8, 1.
    // Trapezoids: 0 + .1 + .2 + .3 + .3 = 0.9.
    let m = pair_metrics(&curve, 0.4, 0.6).unwrap();
    assert!(close(m.apgr, 0.9), "{m:?}");
    // Quality first crosses 0.5 between (0.2, 0.4) and (0.4, 0.6): halfway, 30 %.
    assert!(close(m.cpt50, 0.3), "{m:?}");
    assert!(close(m.cpt20, 0.24), "{m:?}");
    assert!(close(m.cpt80, 0.36), "{m:?}");
}

#[test]
fn cpt_interpolates_linearly_between_curve_points() {
    let q = [0.5, 0.6, 0.65, 0.7, 0.72, 0.75, 0.8, 0.82, 0.85, 0.88, 0.9];
    let curve: Vec<CurvePoint> = q
        .iter()
        .enumerate()
        .map(|(i, &y)| point(i as f64 / 10.0, y))
        .collect();
    // Targets: 20 % → 0.58 (between 0.5 @ 0 and 0.6 @ 0.1), 50 % → 0.70 (exactly @ 0.3),
    // 60 % → 0.74 (between 0.72 @ 0.4 and 0.75 @ 0.5: 0.4 + 0.1 · 2/3).
    assert!(close(cpt(&curve, 0.5, 0.9, 0.2), 0.08));
    assert!(close(cpt(&curve, 0.5, 0.9, 0.5), 0.3));
    assert!(close(cpt(&curve, 0.5, 0.9, 0.6), 0.4 + 0.1 * 2.0 / 3.0));
    // Normalised: 0, .25, .375, .5, .55, .625, .75, .8, .875, .95, 1 → area 0.6175.
    let m = pair_metrics(&curve, 0.5, 0.9).unwrap();
    assert!(close(m.apgr, 0.6175), "{m:?}");
    assert!(close(m.auc, 0.5 + 0.4 * 0.6175), "{m:?}");
}

#[test]
fn perfect_router_traces_the_oracle_curve() {
    // 20 rows: 6 only the strong model gets right, 8 both, 6 neither; no row where the
    // weak model alone is right, so "send exactly the 6 to strong" is reachable.
    let mut strong = vec![1.0; 6];
    strong.extend([1.0; 8]);
    strong.extend([0.0; 6]);
    let mut weak = vec![0.0; 6];
    weak.extend([1.0; 8]);
    weak.extend([0.0; 6]);
    let perfect: Vec<f64> = strong.iter().zip(&weak).map(|(s, w)| s - w).collect();
    let q = PairQuality {
        strong: &strong,
        weak: &weak,
    };
    let (s_mean, w_mean) = (q.strong_mean(), q.weak_mean());
    let oracle = oracle_curve(q, 10);
    // RouteLLM's optimum: weak (0.4) + min(share · 20, 6) / 20.
    for p in &oracle {
        assert!(
            close(p.quality, 0.4 + (p.strong_share * 20.0).min(6.0) / 20.0),
            "{oracle:?}"
        );
    }
    let curve = router_curve(&perfect, q, 10);
    for p in &curve {
        let optimum = 0.4 + (p.strong_share * 20.0).min(6.0) / 20.0;
        assert!(
            close(p.quality, optimum),
            "router point {p:?} is off the oracle curve"
        );
    }
    let router = pair_metrics(&curve, w_mean, s_mean).unwrap();
    let best = pair_metrics(&oracle, w_mean, s_mean).unwrap();
    assert!(close(router.apgr, best.apgr), "{router:?} vs {best:?}");
    // Every strong-only row first: all of the gap is recovered at 30 % strong calls.
    assert!(
        close(router.cpt80, 0.3 * 0.8) && close(best.cpt50, 0.15),
        "{router:?} {best:?}"
    );
}

#[test]
fn constant_router_gives_the_straight_line() {
    let (_, strong, weak) = five_rows();
    let q = PairQuality {
        strong: &strong,
        weak: &weak,
    };
    let curve = router_curve(&[0.7; 5], q, 10);
    // Every threshold equals the constant: ">=" takes everything, the last ">" nothing.
    assert!(curve
        .iter()
        .all(|p| p.strong_share == 0.0 || p.strong_share == 1.0));
    let m = pair_metrics(&curve, 0.4, 0.6).unwrap();
    assert!(close(m.apgr, 0.5), "{m:?}");
    assert!(
        close(m.cpt20, 0.2) && close(m.cpt50, 0.5) && close(m.cpt80, 0.8),
        "{m:?}"
    );
}

#[test]
fn random_router_recovers_about_half_the_gap() {
    // 4,000 rows with independent 0/1 qualities: strong right 80 %, weak right 60 %.
    let u = random_scores(8_000, 99);
    let strong: Vec<f64> = u[..4_000]
        .iter()
        .map(|x| f64::from(u8::from(*x < 0.8)))
        .collect();
    let weak: Vec<f64> = u[4_000..]
        .iter()
        .map(|x| f64::from(u8::from(*x < 0.6)))
        .collect();
    let q = PairQuality {
        strong: &strong,
        weak: &weak,
    };
    let apgrs: Vec<f64> = (0..10)
        .map(|seed| {
            let curve = router_curve(&random_scores(4_000, seed), q, 10);
            pair_metrics(&curve, q.weak_mean(), q.strong_mean())
                .unwrap()
                .apgr
        })
        .collect();
    let mean = apgrs.iter().sum::<f64>() / apgrs.len() as f64;
    assert!(
        (mean - 0.5).abs() < 0.03,
        "mean APGR of random routers {mean} ({apgrs:?})"
    );
}

#[test]
fn no_gap_is_an_error_not_nan() {
    let (scores, strong, weak) = five_rows();
    let q = PairQuality {
        strong: &weak,
        weak: &strong,
    };
    let curve = router_curve(&scores, q, 10);
    let err = pair_metrics(&curve, 0.6, 0.4).unwrap_err().to_string();
    assert!(err.contains("not above"), "{err}");
    assert!(pair_metrics(&curve, 0.5, 0.5).is_err());
}
