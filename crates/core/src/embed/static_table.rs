//! A static (per-token) embedding: one int8 row per vocabulary token with one f32 scale per
//! row; a text's embedding is the mean of its tokens' rows, L2-normalised (a lookup and
//! a few hundred multiply-adds per prompt: about a microsecond after tokenisation).
//!
//! File format (little-endian), version 1:
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `FRGSTEMB` |
//! | 4 | version (1) |
//! | 4 | rows (vocabulary size) |
//! | 4 | dim |
//! | 4 | metadata length M (bytes of UTF-8 JSON) |
//! | 4 | vocabulary length V (bytes; 0 = no vocabulary) |
//! | M | metadata JSON (source model, recipe) |
//! | V | vocabulary: the tokens in id order, each followed by `\n` |
//! | 4·rows | per-row scale (f32) |
//! | rows·dim | quantised rows (i8): value = scale · q |

use std::path::Path;

use anyhow::{bail, Context};

use crate::pipeline::classify::wordpiece::WordPiece;

const MAGIC: &[u8; 8] = b"FRGSTEMB";
const VERSION: u32 = 1;

/// A quantised token-embedding table.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticEmbedding {
    dim: usize,
    scales: Vec<f32>,
    vectors: Vec<i8>,
    vocab: Vec<String>,
    metadata: String,
}

impl StaticEmbedding {
    /// Quantise f32 rows (`rows × dim`, row-major) to int8 with one scale per row
    /// (max |value| / 127: every value is within scale/2 of the original).
    pub fn quantize(dim: usize, rows: &[f32]) -> anyhow::Result<StaticEmbedding> {
        if dim == 0 || rows.len() % dim != 0 {
            bail!("{} values are not rows of {dim}", rows.len());
        }
        let n = rows.len() / dim;
        let mut scales = Vec::with_capacity(n);
        let mut vectors = Vec::with_capacity(rows.len());
        for row in rows.chunks_exact(dim) {
            let max = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            if !max.is_finite() {
                bail!("row {} has a non-finite value", scales.len());
            }
            let scale = max / 127.0;
            let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
            vectors.extend(
                row.iter()
                    .map(|v| (v * inv).round().clamp(-127.0, 127.0) as i8),
            );
            scales.push(scale);
        }
        Ok(StaticEmbedding {
            dim,
            scales,
            vectors,
            vocab: vec![],
            metadata: String::new(),
        })
    }

    /// Attach the tokenizer vocabulary (id order) so the file is self-contained.
    pub fn with_vocab(mut self, vocab: Vec<String>) -> anyhow::Result<StaticEmbedding> {
        if vocab.len() != self.rows() {
            bail!(
                "vocabulary has {} tokens for {} rows",
                vocab.len(),
                self.rows()
            );
        }
        if let Some(t) = vocab.iter().find(|t| t.contains('\n')) {
            bail!("token {t:?} contains a newline");
        }
        self.vocab = vocab;
        Ok(self)
    }

    /// Attach free-form metadata (JSON: source model, recipe).
    pub fn with_metadata(mut self, metadata: String) -> StaticEmbedding {
        self.metadata = metadata;
        self
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn rows(&self) -> usize {
        self.scales.len()
    }

    pub fn vocab(&self) -> &[String] {
        &self.vocab
    }

    pub fn metadata(&self) -> &str {
        &self.metadata
    }

    /// Row `id`, dequantised.
    pub fn row(&self, id: u32) -> Option<Vec<f32>> {
        let i = id as usize;
        let s = *self.scales.get(i)?;
        Some(
            self.vectors[i * self.dim..(i + 1) * self.dim]
                .iter()
                .map(|q| s * f32::from(*q))
                .collect(),
        )
    }

    /// A WordPiece tokenizer over the stored vocabulary.
    pub fn tokenizer(&self) -> anyhow::Result<WordPiece> {
        if self.vocab.is_empty() {
            bail!("this static embedding carries no vocabulary");
        }
        WordPiece::from_tokens(&self.vocab)
    }

    /// Mean of the rows of `ids` (ids outside the table are skipped), L2-normalised; all
    /// zeros if no id is known.
    pub fn embed(&self, ids: &[u32]) -> Vec<f32> {
        let mut out = vec![0.0; self.dim];
        self.embed_into(ids, &mut out);
        out
    }

    /// `embed` into a caller's buffer of `dim` values (no allocation).
    pub fn embed_into(&self, ids: &[u32], out: &mut [f32]) {
        let out = &mut out[..self.dim];
        out.iter_mut().for_each(|v| *v = 0.0);
        let mut n = 0usize;
        for &id in ids {
            let i = id as usize;
            let Some(&s) = self.scales.get(i) else {
                continue;
            };
            n += 1;
            let q = &self.vectors[i * self.dim..(i + 1) * self.dim];
            for (o, v) in out.iter_mut().zip(q) {
                *o += s * f32::from(*v);
            }
        }
        if n == 0 {
            return;
        }
        let inv_n = 1.0 / n as f32;
        out.iter_mut().for_each(|v| *v *= inv_n);
        super::bert::l2_normalize(out);
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let vocab: String = self.vocab.iter().map(|t| format!("{t}\n")).collect();
        let mut out = Vec::with_capacity(
            28 + self.metadata.len() + vocab.len() + 4 * self.rows() + self.vectors.len(),
        );
        out.extend_from_slice(MAGIC);
        for v in [
            VERSION,
            self.rows() as u32,
            self.dim as u32,
            self.metadata.len() as u32,
            vocab.len() as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(self.metadata.as_bytes());
        out.extend_from_slice(vocab.as_bytes());
        for s in &self.scales {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out.extend(self.vectors.iter().map(|q| q.to_le_bytes()[0]));
        out
    }

    /// The vocabulary section of a file's bytes (tokens in id order, `\n`-terminated)
    /// without parsing the rows: the classifier's word list comes from the shipped table.
    pub fn vocab_text(bytes: &[u8]) -> anyhow::Result<&str> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(8)? != MAGIC {
            bail!("not a frugal static embedding (bad magic)");
        }
        r.take(12)?; // version, rows, dim
        let (meta_len, vocab_len) = (r.u32()? as usize, r.u32()? as usize);
        r.take(meta_len)?;
        std::str::from_utf8(r.take(vocab_len)?).context("vocabulary is not UTF-8")
    }

    /// Parse a file's bytes (e.g. from `include_bytes!`).
    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<StaticEmbedding> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(8)? != MAGIC {
            bail!("not a frugal static embedding (bad magic)");
        }
        let version = r.u32()?;
        if version != VERSION {
            bail!("static embedding version {version} is not supported (expected {VERSION})");
        }
        let (rows, dim) = (r.u32()? as usize, r.u32()? as usize);
        let (meta_len, vocab_len) = (r.u32()? as usize, r.u32()? as usize);
        if dim == 0 {
            bail!("static embedding has dimension 0");
        }
        let metadata = std::str::from_utf8(r.take(meta_len)?)
            .context("metadata is not UTF-8")?
            .to_string();
        let vocab_text =
            std::str::from_utf8(r.take(vocab_len)?).context("vocabulary is not UTF-8")?;
        let vocab: Vec<String> = vocab_text
            .split_terminator('\n')
            .map(str::to_string)
            .collect();
        if vocab_len > 0 && vocab.len() != rows {
            bail!("vocabulary has {} tokens for {rows} rows", vocab.len());
        }
        let scales: Vec<f32> = r
            .take(4 * rows)?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let vectors: Vec<i8> = r
            .take(rows * dim)?
            .iter()
            .map(|b| i8::from_le_bytes([*b]))
            .collect();
        if r.at != bytes.len() {
            bail!("{} trailing bytes after the table", bytes.len() - r.at);
        }
        Ok(StaticEmbedding {
            dim,
            scales,
            vectors,
            vocab,
            metadata,
        })
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, self.to_bytes())
            .with_context(|| format!("cannot write {}", path.display()))
    }

    pub fn load(path: &Path) -> anyhow::Result<StaticEmbedding> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        StaticEmbedding::from_bytes(&bytes).with_context(|| format!("{}", path.display()))
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .context("file is truncated")?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u32(&mut self) -> anyhow::Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::testutil::lcg;

    fn table() -> (Vec<f32>, StaticEmbedding) {
        let mut rows = lcg(7, 6 * 5, 3.0);
        rows[5..10].iter_mut().for_each(|v| *v = 0.0); // an all-zero row
        let vocab = ["[PAD]", "[UNK]", "a", "b", "##c", "d"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let t = StaticEmbedding::quantize(5, &rows)
            .expect("quantize")
            .with_vocab(vocab)
            .expect("vocab");
        (rows, t.with_metadata("{\"model\":\"test\"}".into()))
    }

    #[test]
    fn quantisation_error_is_within_half_a_step() {
        let (rows, t) = table();
        for (i, orig) in rows.chunks_exact(5).enumerate() {
            let got = t.row(i as u32).expect("row");
            let step = orig.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0;
            for (a, b) in got.iter().zip(orig) {
                assert!((a - b).abs() <= step * 0.5 + 1e-6, "row {i}: {a} vs {b}");
            }
        }
        assert_eq!(t.row(1).expect("zero row"), vec![0.0; 5]);
        assert!(t.row(6).is_none());
    }

    #[test]
    fn save_load_round_trip() {
        let (_, t) = table();
        let path = std::env::temp_dir().join(format!("frugal-static-{}.bin", std::process::id()));
        t.save(&path).expect("save");
        let back = StaticEmbedding::load(&path).expect("load");
        let _ = std::fs::remove_file(&path);
        assert_eq!(back, t);
        assert_eq!(back.metadata(), "{\"model\":\"test\"}");
        let mut tokens = vec![];
        back.tokenizer()
            .expect("tokenizer")
            .tokenize("a bc", &mut tokens);
        assert_eq!(tokens, vec![2, 3, 4]);
        let bytes = t.to_bytes();
        assert!(StaticEmbedding::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        assert!(StaticEmbedding::from_bytes(b"NOTATABLEATALL..........").is_err());
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(StaticEmbedding::from_bytes(&extra).is_err());
    }

    #[test]
    fn embedding_is_normalised_mean_of_rows() {
        let (_, t) = table();
        let ids = [2u32, 3, 3, 5, 99];
        let got = t.embed(&ids);
        let mut want = vec![0.0f32; 5];
        for &id in &ids[..4] {
            for (w, v) in want.iter_mut().zip(t.row(id).expect("row")) {
                *w += v / 4.0;
            }
        }
        let n = want.iter().map(|v| v * v).sum::<f32>().sqrt();
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w / n).abs() < 1e-6, "{got:?} vs {want:?}");
        }
        assert_eq!(t.embed(&[]), vec![0.0; 5]);
        assert_eq!(t.embed(&[42]), vec![0.0; 5]);
    }
}
