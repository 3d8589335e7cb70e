//! A minimal reader (and writer, for tests and tools) of the `.safetensors` format: an
//! 8-byte little-endian header length, a JSON header mapping tensor names to
//! `{dtype, shape, data_offsets}`, then the raw little-endian data. F32, F16 and BF16
//! tensors are read as `f32`.
//!
//! Why not the `safetensors` crate: it hands out byte views and dtypes, and the F16/BF16 →
//! f32 conversion (another dependency, `half`) and the bounds checks would still be ours;
//! the format is an 8-byte length, a JSON header and offsets, which this file reads and
//! checks in full (every tensor within the data section, shapes matching lengths), and
//! the writer serves `frugal distill` and the tests. It reads files given by the user, so
//! every field is checked and a malformed file is an error, never a panic.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};

/// Where one tensor lives in the data section.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub dtype: String,
    pub shape: Vec<usize>,
    start: usize,
    end: usize,
}

/// A parsed safetensors file held in memory.
pub struct SafeTensors {
    /// The file's name, for error messages.
    source: String,
    data: Vec<u8>,
    /// Offset of the data section in `data`.
    base: usize,
    tensors: BTreeMap<String, TensorInfo>,
}

/// A dense row-major f32 tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

fn dtype_size(dtype: &str) -> Option<usize> {
    Some(match dtype {
        "F64" | "I64" | "U64" => 8,
        "F32" | "I32" | "U32" => 4,
        "F16" | "BF16" | "I16" | "U16" => 2,
        "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2" => 1,
        _ => return None,
    })
}

impl SafeTensors {
    /// Read and parse a file.
    pub fn read(path: &Path) -> anyhow::Result<SafeTensors> {
        let data =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        SafeTensors::from_bytes(data, &path.display().to_string())
    }

    /// Parse bytes; `source` names them in errors.
    pub fn from_bytes(data: Vec<u8>, source: &str) -> anyhow::Result<SafeTensors> {
        let source = source.to_string();
        let len_bytes: [u8; 8] = data
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .with_context(|| format!("{source}: too short for a safetensors header"))?;
        let header_len = u64::from_le_bytes(len_bytes) as usize;
        let base = 8usize
            .checked_add(header_len)
            .filter(|b| *b <= data.len())
            .with_context(|| format!("{source}: header length {header_len} exceeds the file"))?;
        let header: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&data[8..base])
            .with_context(|| format!("{source}: the safetensors header is not valid JSON"))?;
        let data_len = data.len() - base;
        let mut tensors = BTreeMap::new();
        for (name, v) in header {
            if name == "__metadata__" {
                continue;
            }
            let info: RawInfo = serde_json::from_value(v)
                .with_context(|| format!("{source}: bad header entry for tensor `{name}`"))?;
            let [start, end] = info.data_offsets;
            let size = dtype_size(&info.dtype).with_context(|| {
                format!("{source}: tensor `{name}` has unknown dtype {}", info.dtype)
            })?;
            // A crafted shape must not overflow the size it implies.
            let want = info
                .shape
                .iter()
                .try_fold(size, |n, &d| n.checked_mul(d))
                .with_context(|| {
                    format!(
                        "{source}: tensor `{name}` has an impossible shape {:?}",
                        info.shape
                    )
                })?;
            if start > end || end > data_len || end - start != want {
                bail!(
                    "{source}: tensor `{name}` ({} {:?}) has offsets {start}..{end}, \
                     expected {want} bytes within {data_len}",
                    info.dtype,
                    info.shape
                );
            }
            let info = TensorInfo {
                dtype: info.dtype,
                shape: info.shape,
                start,
                end,
            };
            tensors.insert(name, info);
        }
        Ok(SafeTensors {
            source,
            data,
            base,
            tensors,
        })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    pub fn info(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.get(name)
    }

    /// A tensor converted to f32 (from F32, F16 or BF16).
    pub fn f32(&self, name: &str) -> anyhow::Result<Tensor> {
        let info = self
            .tensors
            .get(name)
            .with_context(|| format!("{}: no tensor named `{name}`", self.source))?;
        let bytes = &self.data[self.base + info.start..self.base + info.end];
        let data: Vec<f32> = match info.dtype.as_str() {
            "F32" => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            "F16" => bytes
                .chunks_exact(2)
                .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
                .collect(),
            "BF16" => bytes
                .chunks_exact(2)
                .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
                .collect(),
            other => bail!(
                "{}: tensor `{name}` has dtype {other}; only F32, F16 and BF16 are supported",
                self.source
            ),
        };
        Ok(Tensor {
            shape: info.shape.clone(),
            data,
        })
    }

    /// A tensor that must have exactly this shape.
    pub fn f32_shaped(&self, name: &str, shape: &[usize]) -> anyhow::Result<Tensor> {
        let t = self.f32(name)?;
        if t.shape != shape {
            bail!(
                "{}: tensor `{name}` has shape {:?}, expected {shape:?}",
                self.source,
                t.shape
            );
        }
        Ok(t)
    }
}

#[derive(serde::Deserialize)]
struct RawInfo {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

/// IEEE half → single precision (exact).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: value = man · 2⁻²⁴.
            let v = man as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, _) => sign | 0x7fc0_0000 | (man << 13),
        _ => sign | ((exp + 112) << 23) | (man << 13),
    };
    f32::from_bits(bits)
}

/// Serialise f32 tensors `(name, shape, data)` as a safetensors file.
pub fn serialize_f32(tensors: &[(&str, &[usize], &[f32])]) -> anyhow::Result<Vec<u8>> {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, shape, data) in tensors {
        if shape.iter().product::<usize>() != data.len() {
            bail!(
                "tensor `{name}`: shape {shape:?} does not match {} values",
                data.len()
            );
        }
        let end = offset + data.len() * 4;
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut json = serde_json::to_vec(&header)?;
    while json.len() % 8 != 0 {
        json.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + json.len() + offset);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    for (_, _, data) in tensors {
        for v in *data {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_shapes() {
        let a = [1.0f32, -2.5, 3.25, 0.0, 7.0, 8.0];
        let bytes = serialize_f32(&[("a.w", &[2, 3], &a), ("b", &[1], &[9.0])]).expect("serialize");
        let st = SafeTensors::from_bytes(bytes, "mem").expect("parse");
        assert_eq!(st.names().collect::<Vec<_>>(), vec!["a.w", "b"]);
        let t = st.f32("a.w").expect("a.w");
        assert_eq!(t.shape, vec![2, 3]);
        assert_eq!(t.data, a);
        assert!(st.f32_shaped("a.w", &[3, 2]).is_err());
        let err = st.f32("missing").expect_err("error").to_string();
        assert!(err.contains("mem") && err.contains("missing"), "{err}");
    }

    #[test]
    fn rejects_corrupt_files() {
        assert!(SafeTensors::from_bytes(vec![1, 2, 3], "x").is_err());
        let mut bytes = serialize_f32(&[("a", &[2], &[1.0, 2.0])]).expect("serialize");
        bytes.truncate(bytes.len() - 1);
        let err = SafeTensors::from_bytes(bytes, "cut.safetensors")
            .err()
            .expect("error");
        assert!(err.to_string().contains("cut.safetensors"), "{err}");
    }

    /// A header whose shape multiplies past `usize` is an error, not an overflow panic.
    #[test]
    fn an_impossible_shape_is_an_error() {
        let header =
            br#"{"t":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(&[0; 4]);
        let err = SafeTensors::from_bytes(bytes, "big").err().expect("error");
        assert!(err.to_string().contains("impossible shape"), "{err}");
    }

    #[test]
    fn converts_half_precision() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
    }
}
