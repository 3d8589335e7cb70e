//! Distil a sentence encoder into a static token table (the model2vec recipe, as in
//! research/classifier/embed.py): run every vocabulary token through the encoder as
//! `[CLS] tok [SEP]`, mean-pool, reduce with PCA (covariance + cyclic Jacobi, deterministic),
//! scale row `id` by ln(1 + id) (BERT's vocabulary is roughly frequency-ordered, so rarer
//! tokens weigh more in a prompt's mean), then quantise to int8.
//! `frugal distill --model DIR --out FILE [--dims 128]`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::bail;
use clap::Args;

use super::bert::SentenceEncoder;
use super::static_table::StaticEmbedding;

/// Options of `distill`.
#[derive(Debug, Clone)]
pub struct DistillOptions {
    /// Output dimension (PCA); the encoder's own dimension keeps every component.
    pub dims: usize,
    /// Scale row `id` by ln(1 + id).
    pub zipf: bool,
    /// Worker threads (results do not depend on it).
    pub threads: usize,
    /// Vocabulary tokens per forward pass.
    pub batch: usize,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

impl Default for DistillOptions {
    fn default() -> Self {
        DistillOptions {
            dims: 128,
            zipf: true,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            batch: 128,
            progress: false,
        }
    }
}

/// `frugal distill`: build a static embedding from a sentence-transformers model.
#[derive(Args, Debug)]
pub struct DistillArgs {
    /// A sentence-transformers folder (config.json, tokenizer.json, model.safetensors).
    #[arg(long)]
    pub model: PathBuf,
    /// Where to write the table.
    #[arg(long)]
    pub out: PathBuf,
    /// Output dimension (PCA).
    #[arg(long, default_value_t = 128)]
    pub dims: usize,
    /// Do not weight rows by ln(1 + token id).
    #[arg(long)]
    pub no_zipf: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn distill_command(args: &DistillArgs) -> anyhow::Result<()> {
    let start = Instant::now();
    let enc = SentenceEncoder::load(&args.model)?;
    eprintln!(
        "loaded {} in {:.1} s",
        args.model.display(),
        start.elapsed().as_secs_f64()
    );
    let mut opts = DistillOptions {
        dims: args.dims,
        zipf: !args.no_zipf,
        progress: true,
        ..Default::default()
    };
    if let Some(t) = args.threads {
        opts.threads = t;
    }
    let table = distill(&enc, &opts)?;
    let mut meta: serde_json::Value = serde_json::from_str(table.metadata())?;
    meta["source"] = serde_json::json!(model_name(&args.model));
    let table = table.with_metadata(meta.to_string());
    table.save(&args.out)?;
    let size = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "wrote {} ({} rows × {} dims, {size} bytes) in {:.1} s",
        args.out.display(),
        table.rows(),
        table.dim(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The model folder's name, or its parent's when the folder is a generic `model`.
fn model_name(dir: &Path) -> String {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    match name(dir) {
        Some(n) if n != "model" => n,
        _ => dir
            .parent()
            .and_then(name)
            .unwrap_or_else(|| dir.display().to_string()),
    }
}

/// Distil `enc` into a static embedding of `opts.dims` dimensions.
pub fn distill(enc: &SentenceEncoder, opts: &DistillOptions) -> anyhow::Result<StaticEmbedding> {
    let h = enc.dim();
    if opts.dims == 0 || opts.dims > h {
        bail!("--dims must be between 1 and the model's dimension {h}");
    }
    let raw = token_table(enc, opts)?;
    let pca = Pca::fit(&raw, h);
    let mut rows = pca.project(&raw, opts.dims);
    if opts.zipf {
        for (id, row) in rows.chunks_exact_mut(opts.dims).enumerate() {
            let w = (1.0 + id as f64).ln() as f32;
            row.iter_mut().for_each(|v| *v *= w);
        }
    }
    let meta = serde_json::json!({
        "recipe": "mean-pooled [CLS] tok [SEP] through the encoder, PCA, int8 per-row scale",
        "dims": opts.dims,
        "weighting": if opts.zipf { "ln(1+id)" } else { "none" },
        "explained_variance": pca.explained(opts.dims),
    });
    Ok(StaticEmbedding::quantize(opts.dims, &rows)?
        .with_vocab(enc.vocab().to_vec())?
        .with_metadata(meta.to_string()))
}

/// One batch's index and its pooled vectors.
type Pooled = (usize, Vec<Vec<f32>>);

/// Mean-pooled encoder output of `[CLS] tok [SEP]` for every vocabulary token
/// (`vocab × hidden`, row-major). Parallel over batches, identical for any thread count.
pub fn token_table(enc: &SentenceEncoder, opts: &DistillOptions) -> anyhow::Result<Vec<f32>> {
    let (h, n) = (enc.dim(), enc.vocab().len());
    let (cls, sep) = enc.special_ids();
    let batch = opts.batch.max(1);
    let batches = n.div_ceil(batch);
    let bar = if opts.progress {
        let bar = indicatif::ProgressBar::new(n as u64);
        bar.set_style(indicatif::ProgressStyle::with_template(
            "distilling {bar:40} {pos}/{len} tokens, {elapsed} (eta {eta})",
        )?);
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let next = AtomicUsize::new(0);
    let work = || -> anyhow::Result<Vec<Pooled>> {
        let mut done = vec![];
        loop {
            let b = next.fetch_add(1, Ordering::Relaxed);
            if b >= batches {
                return Ok(done);
            }
            let ids: Vec<[u32; 3]> = (b * batch..n.min((b + 1) * batch))
                .map(|t| [cls, t as u32, sep])
                .collect();
            let seqs: Vec<&[u32]> = ids.iter().map(|s| s.as_slice()).collect();
            done.push((b, enc.bert().mean_pooled(&seqs)?));
            bar.inc(ids.len() as u64);
        }
    };
    let results: Vec<anyhow::Result<Vec<Pooled>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..opts.threads.max(1)).map(|_| s.spawn(work)).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("worker panicked")))
            })
            .collect()
    });
    bar.finish();
    let mut table = vec![0.0f32; n * h];
    for r in results {
        for (b, pooled) in r? {
            for (i, v) in pooled.iter().enumerate() {
                let t = b * batch + i;
                table[t * h..(t + 1) * h].copy_from_slice(v);
            }
        }
    }
    Ok(table)
}

/// Principal components of row vectors, in f64.
pub struct Pca {
    pub mean: Vec<f64>,
    /// Eigenvalues of the covariance, descending.
    pub values: Vec<f64>,
    /// Eigenvectors as rows (`d × d`), in the order of `values`, each with its largest
    /// component positive (a deterministic sign).
    pub vectors: Vec<f64>,
    d: usize,
}

impl Pca {
    /// Fit on `x` (`n × d`, row-major).
    pub fn fit(x: &[f32], d: usize) -> Pca {
        let n = (x.len() / d).max(1);
        let mut mean = vec![0.0f64; d];
        for row in x.chunks_exact(d) {
            mean.iter_mut()
                .zip(row)
                .for_each(|(m, v)| *m += f64::from(*v));
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut cov = vec![0.0f64; d * d];
        let mut c = vec![0.0f64; d];
        for row in x.chunks_exact(d) {
            c.iter_mut()
                .zip(row.iter().zip(&mean))
                .for_each(|(c, (v, m))| *c = f64::from(*v) - m);
            for i in 0..d {
                let ci = c[i];
                let dst = &mut cov[i * d + i..(i + 1) * d];
                dst.iter_mut()
                    .zip(&c[i..])
                    .for_each(|(a, cj)| *a += ci * cj);
            }
        }
        for i in 0..d {
            for j in i..d {
                let v = cov[i * d + j] / n as f64;
                cov[i * d + j] = v;
                cov[j * d + i] = v;
            }
        }
        let (values, vectors) = jacobi_eigen(cov, d);
        Pca {
            mean,
            values,
            vectors,
            d,
        }
    }

    /// Share of the total variance in the first `k` components.
    pub fn explained(&self, k: usize) -> f64 {
        let total: f64 = self.values.iter().map(|v| v.max(0.0)).sum();
        if total > 0.0 {
            self.values[..k].iter().map(|v| v.max(0.0)).sum::<f64>() / total
        } else {
            0.0
        }
    }

    /// Project the rows of `x` on the first `k` components (`n × k`).
    pub fn project(&self, x: &[f32], k: usize) -> Vec<f32> {
        let d = self.d;
        let mut out = Vec::with_capacity(x.len() / d * k);
        let mut c = vec![0.0f64; d];
        for row in x.chunks_exact(d) {
            c.iter_mut()
                .zip(row.iter().zip(&self.mean))
                .for_each(|(c, (v, m))| *c = f64::from(*v) - m);
            for comp in self.vectors.chunks_exact(d).take(k) {
                out.push(comp.iter().zip(&c).map(|(a, b)| a * b).sum::<f64>() as f32);
            }
        }
        out
    }
}

/// Eigen-decomposition of a symmetric `n × n` matrix by cyclic Jacobi rotations.
/// Returns eigenvalues (descending) and eigenvectors as rows.
pub fn jacobi_eigen(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    // v holds the eigenvectors as rows (the transpose of the usual V), so each rotation
    // touches two contiguous rows.
    let mut v = vec![0.0f64; n * n];
    (0..n).for_each(|i| v[i * n + i] = 1.0);
    let scale: f64 = a
        .iter()
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |j| *j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum::<f64>()
            .sqrt();
        if off <= 1e-13 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() <= 1e-300 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                rotate(&mut a, n, (p, q), (c, s));
                for k in 0..n {
                    let (vp, vq) = (v[p * n + k], v[q * n + k]);
                    v[p * n + k] = c * vp - s * vq;
                    v[q * n + k] = s * vp + c * vq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[j * n + j].total_cmp(&a[i * n + i]).then(i.cmp(&j)));
    let values = order.iter().map(|&i| a[i * n + i]).collect();
    let mut vectors = Vec::with_capacity(n * n);
    for &i in &order {
        let row = &v[i * n..(i + 1) * n];
        let big = row
            .iter()
            .fold(0.0f64, |m, x| if x.abs() > m.abs() { *x } else { m });
        let sign = if big < 0.0 { -1.0 } else { 1.0 };
        vectors.extend(row.iter().map(|x| x * sign));
    }
    (values, vectors)
}

/// Apply the rotation (c, s) in the (p, q) plane to both sides of symmetric `a`.
fn rotate(a: &mut [f64], n: usize, (p, q): (usize, usize), (c, s): (f64, f64)) {
    for k in 0..n {
        let (akp, akq) = (a[k * n + p], a[k * n + q]);
        a[k * n + p] = c * akp - s * akq;
        a[k * n + q] = s * akp + c * akq;
    }
    for k in 0..n {
        let (apk, aqk) = (a[p * n + k], a[q * n + k]);
        a[p * n + k] = c * apk - s * aqk;
        a[q * n + k] = s * apk + c * aqk;
    }
}

/// Cosine similarity (0 if either vector is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na > 0.0 && nb > 0.0 {
        dot / (na * nb)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::testutil::{lcg, tiny_model_dir, HIDDEN, VOCAB};

    #[test]
    fn jacobi_recovers_eigenpairs() {
        let n = 6;
        let r = lcg(3, n * n, 1.0);
        let mut a = vec![0.0f64; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..n).map(|k| f64::from(r[i * n + k] * r[j * n + k])).sum();
            }
        }
        let (vals, vecs) = jacobi_eigen(a.clone(), n);
        assert!(vals.windows(2).all(|w| w[0] >= w[1]));
        for (l, v) in vals.iter().zip(vecs.chunks_exact(n)) {
            for i in 0..n {
                let av: f64 = (0..n).map(|j| a[i * n + j] * v[j]).sum();
                assert!((av - l * v[i]).abs() < 1e-9, "A·v ≠ λ·v");
            }
            assert!((v.iter().map(|x| x * x).sum::<f64>() - 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn distils_tiny_model_deterministically() {
        let dir = tiny_model_dir("distill");
        let enc = SentenceEncoder::load(&dir).expect("load");
        let _ = std::fs::remove_dir_all(dir);
        let one = DistillOptions {
            dims: 4,
            threads: 1,
            batch: 3,
            ..Default::default()
        };
        let two = DistillOptions {
            threads: 2,
            batch: 5,
            ..one.clone()
        };
        let a = distill(&enc, &one).expect("distill");
        assert_eq!((a.rows(), a.dim()), (VOCAB.len(), 4));
        assert_eq!(
            a,
            distill(&enc, &two).expect("distill"),
            "thread count must not matter"
        );
        // Row 0 ([PAD]) has weight ln(1) = 0; the raw table is the pooled encoder output.
        assert_eq!(a.row(0).expect("row"), vec![0.0; 4]);
        let raw = token_table(&enc, &one).expect("table");
        let pooled = enc.bert().mean_pooled(&[&[2, 7, 3]]).expect("pool");
        assert_eq!(&raw[7 * HIDDEN..8 * HIDDEN], pooled[0].as_slice());
        // Without weighting, PCA to the full dimension keeps distances (rotation only).
        let full = DistillOptions {
            dims: HIDDEN,
            zipf: false,
            ..one
        };
        let b = distill(&enc, &full).expect("distill");
        let dist = |x: &[f32], y: &[f32]| {
            x.iter()
                .zip(y)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f32>()
                .sqrt()
        };
        let (r4, r9) = (b.row(4).expect("row"), b.row(9).expect("row"));
        let d_raw = dist(&raw[4 * HIDDEN..5 * HIDDEN], &raw[9 * HIDDEN..10 * HIDDEN]);
        assert!(
            (dist(&r4, &r9) - d_raw).abs() < 0.02 * d_raw,
            "{} vs {d_raw}",
            dist(&r4, &r9)
        );
        assert!(distill(
            &enc,
            &DistillOptions {
                dims: 0,
                ..Default::default()
            }
        )
        .is_err());
    }
}
