//! Test helpers: a tiny random BERT (hidden 8, 2 layers, 2 heads) written to a temporary
//! sentence-transformers folder, so the loader, encoder and distiller run end to end.

use std::path::PathBuf;

use super::safetensors::serialize_f32;

pub const HIDDEN: usize = 8;
pub const LAYERS: usize = 2;
pub const INTER: usize = 16;
pub const MAX_POS: usize = 16;

pub const VOCAB: [&str; 16] = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world", "the", "cat", "sat", "on", "mat", ",",
    "!", "dog", "##s", "a",
];

/// Deterministic pseudo-random values in [-scale, scale].
pub fn lcg(seed: u64, n: usize, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// All weights of the tiny model, by name, with their shapes.
pub fn tiny_weights() -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let (h, v) = (HIDDEN, VOCAB.len());
    let mut t: Vec<(String, Vec<usize>, Vec<f32>)> = vec![];
    let mut seed = 1;
    let mut add = |name: String, shape: Vec<usize>, scale: f32, offset: f32| {
        seed += 1;
        let data = lcg(seed, shape.iter().product(), scale)
            .into_iter()
            .map(|x| x + offset)
            .collect();
        t.push((name, shape, data));
    };
    add(
        "embeddings.word_embeddings.weight".into(),
        vec![v, h],
        1.0,
        0.0,
    );
    add(
        "embeddings.position_embeddings.weight".into(),
        vec![MAX_POS, h],
        0.5,
        0.0,
    );
    add(
        "embeddings.token_type_embeddings.weight".into(),
        vec![2, h],
        0.2,
        0.0,
    );
    add("embeddings.LayerNorm.weight".into(), vec![h], 0.2, 1.0);
    add("embeddings.LayerNorm.bias".into(), vec![h], 0.1, 0.0);
    for l in 0..LAYERS {
        let p = format!("encoder.layer.{l}.");
        for n in [
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
        ] {
            add(format!("{p}{n}.weight"), vec![h, h], 0.6, 0.0);
            add(format!("{p}{n}.bias"), vec![h], 0.1, 0.0);
        }
        add(
            format!("{p}intermediate.dense.weight"),
            vec![INTER, h],
            0.6,
            0.0,
        );
        add(format!("{p}intermediate.dense.bias"), vec![INTER], 0.1, 0.0);
        add(format!("{p}output.dense.weight"), vec![h, INTER], 0.4, 0.0);
        add(format!("{p}output.dense.bias"), vec![h], 0.1, 0.0);
        for n in ["attention.output.LayerNorm", "output.LayerNorm"] {
            add(format!("{p}{n}.weight"), vec![h], 0.2, 1.0);
            add(format!("{p}{n}.bias"), vec![h], 0.1, 0.0);
        }
    }
    t
}

/// Write the tiny model to a fresh folder and return its path.
pub fn tiny_model_dir(tag: &str) -> PathBuf {
    // Unique per call: tests run in parallel and each removes its folder when done.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("frugal-tiny-bert-{}-{tag}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let w = tiny_weights();
    let refs: Vec<(&str, &[usize], &[f32])> = w
        .iter()
        .map(|(n, s, d)| (n.as_str(), s.as_slice(), d.as_slice()))
        .collect();
    std::fs::write(
        dir.join("model.safetensors"),
        serialize_f32(&refs).expect("serialize"),
    )
    .expect("write");
    let config = serde_json::json!({
        "vocab_size": VOCAB.len(), "hidden_size": HIDDEN, "num_hidden_layers": LAYERS,
        "num_attention_heads": 2, "intermediate_size": INTER, "max_position_embeddings": MAX_POS,
        "layer_norm_eps": 1e-12, "hidden_act": "gelu"
    });
    std::fs::write(dir.join("config.json"), config.to_string()).expect("write");
    let vocab: serde_json::Map<String, serde_json::Value> = VOCAB
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_string(), i.into()))
        .collect();
    let tok = serde_json::json!({"model": {"type": "WordPiece", "vocab": vocab}});
    std::fs::write(dir.join("tokenizer.json"), tok.to_string()).expect("write");
    dir
}
