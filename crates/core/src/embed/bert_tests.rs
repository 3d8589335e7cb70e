//! Tests of the BERT encoder: a tiny random model against a naive reference, batching
//! (the implicit attention mask), truncation, and parity with the real all-MiniLM-L6-v2.

use super::*;
use crate::embed::linalg::{erf, gelu as gelu_fast};
use crate::embed::testutil::{tiny_model_dir, tiny_weights, HIDDEN, LAYERS};

fn tiny() -> SentenceEncoder {
    let dir = tiny_model_dir("bert");
    let enc = SentenceEncoder::load(&dir).expect("load tiny model");
    let _ = std::fs::remove_dir_all(dir);
    enc
}

/// Textbook BERT over one sequence, straight from the weights (no packing, no fusion).
fn naive_forward(ids: &[u32]) -> Vec<Vec<f64>> {
    let w: std::collections::HashMap<String, Vec<f64>> = tiny_weights()
        .into_iter()
        .map(|(n, _, d)| (n, d.into_iter().map(f64::from).collect()))
        .collect();
    let h = HIDDEN;
    let ln = |x: &mut Vec<f64>, name: &str| {
        let m = x.iter().sum::<f64>() / h as f64;
        let v = x.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / h as f64;
        let (g, b) = (&w[&format!("{name}.weight")], &w[&format!("{name}.bias")]);
        for k in 0..h {
            x[k] = (x[k] - m) / (v + 1e-12).sqrt() * g[k] + b[k];
        }
    };
    let lin = |x: &[f64], name: &str| -> Vec<f64> {
        let (wt, b) = (&w[&format!("{name}.weight")], &w[&format!("{name}.bias")]);
        (0..b.len())
            .map(|o| {
                b[o] + (0..x.len())
                    .map(|i| x[i] * wt[o * x.len() + i])
                    .sum::<f64>()
            })
            .collect()
    };
    let mut xs: Vec<Vec<f64>> = ids
        .iter()
        .enumerate()
        .map(|(p, &id)| {
            let mut x: Vec<f64> = (0..h)
                .map(|k| {
                    w["embeddings.word_embeddings.weight"][id as usize * h + k]
                        + w["embeddings.position_embeddings.weight"][p * h + k]
                        + w["embeddings.token_type_embeddings.weight"][k]
                })
                .collect();
            ln(&mut x, "embeddings.LayerNorm");
            x
        })
        .collect();
    let (heads, dh) = (2, h / 2);
    for l in 0..LAYERS {
        let p = format!("encoder.layer.{l}.");
        let q: Vec<_> = xs
            .iter()
            .map(|x| lin(x, &format!("{p}attention.self.query")))
            .collect();
        let k: Vec<_> = xs
            .iter()
            .map(|x| lin(x, &format!("{p}attention.self.key")))
            .collect();
        let v: Vec<_> = xs
            .iter()
            .map(|x| lin(x, &format!("{p}attention.self.value")))
            .collect();
        for i in 0..xs.len() {
            let mut ctx = vec![0.0; h];
            for hd in 0..heads {
                let r = hd * dh..(hd + 1) * dh;
                let s: Vec<f64> = (0..xs.len())
                    .map(|j| r.clone().map(|c| q[i][c] * k[j][c]).sum::<f64>() / (dh as f64).sqrt())
                    .collect();
                let mx = s.iter().cloned().fold(f64::MIN, f64::max);
                let e: Vec<f64> = s.iter().map(|a| (a - mx).exp()).collect();
                let z: f64 = e.iter().sum();
                for c in r {
                    ctx[c] = (0..xs.len()).map(|j| e[j] / z * v[j][c]).sum();
                }
            }
            let a = lin(&ctx, &format!("{p}attention.output.dense"));
            let mut y: Vec<f64> = xs[i].iter().zip(&a).map(|(x, a)| x + a).collect();
            ln(&mut y, &format!("{p}attention.output.LayerNorm"));
            let mid: Vec<f64> = lin(&y, &format!("{p}intermediate.dense"))
                .into_iter()
                .map(|t| 0.5 * t * (1.0 + f64::from(erf((t as f32) / 2f32.sqrt()))))
                .collect();
            let o = lin(&mid, &format!("{p}output.dense"));
            let mut z: Vec<f64> = y.iter().zip(&o).map(|(y, o)| y + o).collect();
            ln(&mut z, &format!("{p}output.LayerNorm"));
            xs[i] = z;
        }
    }
    xs
}

#[test]
fn tiny_model_matches_naive_reference() {
    let enc = tiny();
    let ids = enc.encode_ids("hello, the cats sat on a mat!");
    assert_eq!(ids.first(), Some(&2));
    assert_eq!(ids.last(), Some(&3));
    let got = enc.bert().hidden_states(&[&ids]).expect("forward");
    assert_eq!(got.len(), ids.len() * HIDDEN);
    let want = naive_forward(&ids);
    for (r, row) in want.iter().enumerate() {
        for (k, v) in row.iter().enumerate() {
            let g = got[r * HIDDEN + k];
            assert!(
                (f64::from(g) - v).abs() < 2e-5,
                "row {r} col {k}: {g} vs {v}"
            );
        }
    }
    // The pooled, normalised embedding is the mean of those rows, scaled to unit length.
    let e = enc.embed("hello, the cats sat on a mat!");
    let mut mean: Vec<f64> = (0..HIDDEN)
        .map(|k| want.iter().map(|r| r[k]).sum::<f64>())
        .collect();
    let n = mean.iter().map(|a| a * a).sum::<f64>().sqrt();
    mean.iter_mut().for_each(|a| *a /= n);
    for (a, b) in e.iter().zip(&mean) {
        assert!((f64::from(*a) - b).abs() < 2e-5, "{e:?} vs {mean:?}");
    }
}

#[test]
fn batching_is_masked_and_deterministic() {
    let enc = tiny();
    let alone = enc.embed("the cat");
    assert_eq!(alone.len(), HIDDEN);
    let norm: f32 = alone.iter().map(|a| a * a).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5);
    let batch = enc.embed_batch(&["hello world, the dog sat on the mat!", "the cat", "a"]);
    assert_eq!(
        batch[1], alone,
        "a sequence must not attend to its batch neighbours"
    );
    assert_eq!(enc.embed("the cat"), alone);
    assert_ne!(batch[0], alone);
    let unnormalised = tiny().with_normalize(false).embed("the cat");
    let pooled = enc
        .bert()
        .mean_pooled(&[&enc.encode_ids("the cat")])
        .expect("pool");
    assert_eq!(unnormalised, pooled[0]);
}

#[test]
fn truncates_and_rejects_bad_input() {
    let enc = tiny().with_max_tokens(4);
    assert_eq!(enc.encode_ids("hello world the cat sat"), vec![2, 4, 5, 3]);
    assert_eq!(enc.encode_ids(""), vec![2, 3]);
    assert!(enc.bert().hidden_states(&[&[2, 99, 3]]).is_err());
    assert!(enc.bert().hidden_states(&[&[]]).is_err());
    let long = vec![4u32; 17];
    assert!(enc.bert().hidden_states(&[&long]).is_err());
    assert_eq!(gelu_fast(0.0), 0.0);
}

#[test]
fn missing_tensor_error_names_file_and_tensor() {
    let dir = tiny_model_dir("missing");
    let w: Vec<_> = tiny_weights()
        .into_iter()
        .filter(|(n, _, _)| !n.contains("layer.1.output.dense.bias"))
        .collect();
    let refs: Vec<(&str, &[usize], &[f32])> = w
        .iter()
        .map(|(n, s, d)| (n.as_str(), s.as_slice(), d.as_slice()))
        .collect();
    let bytes = crate::embed::safetensors::serialize_f32(&refs).expect("serialize");
    std::fs::write(dir.join("model.safetensors"), bytes).expect("write");
    let err = format!(
        "{:#}",
        SentenceEncoder::load(&dir).err().expect("must fail")
    );
    let _ = std::fs::remove_dir_all(dir);
    assert!(
        err.contains("model.safetensors") && err.contains("encoder.layer.1.output.dense.bias"),
        "{err}"
    );
}

/// Parity with an independent numpy implementation on the real model (fixture made by
/// crates/core/tests/fixtures/make_minilm_embeddings.py with Hugging Face `tokenizers`).
#[test]
fn matches_numpy_on_real_minilm() {
    let Some(dir) = std::env::var_os("FRUGAL_TEST_MINILM_DIR") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "FRUGAL_TEST_MINILM_DIR must be set in CI"
        );
        eprintln!(
            "SKIPPED: FRUGAL_TEST_MINILM_DIR not set (run scripts/test.sh): no MiniLM parity check"
        );
        return;
    };
    let enc = SentenceEncoder::load(Path::new(&dir)).expect("load all-MiniLM-L6-v2");
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/minilm_embeddings.json"
    );
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(fixture).expect("fixture")).expect("json");
    let texts: Vec<&str> = cases
        .iter()
        .map(|c| c["text"].as_str().expect("text"))
        .collect();
    let got = enc.embed_batch(&texts);
    for (case, e) in cases.iter().zip(&got) {
        let ids: Vec<u32> = serde_json::from_value(case["ids"].clone()).expect("ids");
        assert_eq!(enc.encode_ids(case["text"].as_str().expect("text")), ids);
        let want: Vec<f32> = serde_json::from_value(case["embedding"].clone()).expect("embedding");
        assert_eq!(e.len(), want.len());
        let max_abs = e
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        let cos: f32 = e.iter().zip(&want).map(|(a, b)| a * b).sum();
        eprintln!("{:?}: max abs {max_abs:e}, cosine {cos}", case["text"]);
        assert!(
            max_abs < 1e-4 && cos > 0.9999,
            "{:?}: max abs {max_abs}, cosine {cos}",
            case["text"]
        );
    }
}
