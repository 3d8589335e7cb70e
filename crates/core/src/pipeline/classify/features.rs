//! Stage-1 features: fifteen cheap, format-neutral measurements of a prompt (length,
//! numbers, maths, code, reasoning and analysis cues, answer-option shape, word rarity,
//! question form). Definitions follow research/classifier/FINDINGS.md, where each was
//! measured; features that identify a benchmark rather than difficulty (option counts,
//! line counts) are deliberately absent. One lexical pass (`scan`) plus an option split.

use super::scan;

/// Feature names, in the order of `Features::values`.
pub const NAMES: [&str; 15] = [
    "log_chars",
    "log_numbers",
    "digit_rate",
    "math_symbols",
    "latex",
    "steps",
    "code",
    "analyse",
    "opt_similarity",
    "opt_numeric",
    "oov_rate",
    "quotes",
    "scenario",
    "negation",
    "lookup_q",
];

pub const COUNT: usize = NAMES.len();

pub type Features = [f64; COUNT];

/// Whole words the vocabulary knows; used for the rarity feature. Asked by hash, which the
/// lexical pass computes while it reads each word.
pub trait Vocabulary {
    /// Whether the word whose FNV-1a 64 hash (of its lower-case bytes) is `h` is known.
    fn contains_hash(&self, h: u64) -> bool;

    fn contains_word(&self, lowercase_word: &str) -> bool {
        self.contains_hash(crate::hashing::fnv1a(lowercase_word.as_bytes()))
    }
}

impl Vocabulary for WordTable<()> {
    fn contains_hash(&self, h: u64) -> bool {
        self.get(h).is_some()
    }
}

/// A vocabulary of the given lower-case words.
pub fn vocabulary<'a>(words: impl IntoIterator<Item = &'a str>) -> WordTable<()> {
    WordTable::new(words.into_iter().map(|w| (w, ())), |a, _| a)
}

pub use crate::hashing::WordTable;

/// Split a trailing run of labelled answer options (A., B., … or 1., 2., …; also `(A)`,
/// `A)`, `A:`) from the stem. Line by line, no regex: this runs on every request.
pub(super) fn split_options(text: &str) -> (&str, Vec<&str>) {
    let mut run: Vec<(usize, u8, &str)> = vec![];
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let line_start = offset;
        offset += line.len();
        let t = line.trim_start();
        let t = t.strip_prefix('(').unwrap_or(t);
        let b = t.as_bytes();
        let labelled = b.len() >= 3
            && matches!(b[0], b'A'..=b'H' | b'a'..=b'h' | b'1'..=b'8')
            && matches!(b[1], b'.' | b')' | b':')
            && (b[2] == b' ' || b[2] == b'\t');
        if !labelled {
            continue;
        }
        let label = b[0].to_ascii_uppercase();
        let body = t[2..].trim();
        if label == b'A' || label == b'1' {
            run = vec![(line_start, label, body)];
        } else if run.last().is_some_and(|(_, prev, _)| prev + 1 == label) {
            run.push((line_start, label, body));
        }
    }
    if run.len() < 2 {
        return (text, vec![]);
    }
    (
        &text[..run[0].0],
        run.into_iter().map(|(_, _, b)| b).collect(),
    )
}

/// Append the distinct lower-cased ASCII words of `text` to `out`, as sorted FNV-1a hashes
/// (no allocation of its own: this runs on every option of every request). A word is a run
/// of ASCII letters and apostrophes that starts with a letter; any other byte (a UTF-8
/// continuation byte included) ends it, which splits the text exactly as its characters
/// would.
fn push_word_set(text: &str, out: &mut Vec<u64>) {
    let start = out.len();
    // The hash of the run being read, and whether it started with a letter.
    let mut run: Option<(u64, bool)> = None;
    for &b in text.as_bytes() {
        if b.is_ascii_alphabetic() || b == b'\'' {
            let (h, word) = run.unwrap_or((crate::hashing::FNV_OFFSET, b != b'\''));
            run = Some((crate::hashing::fnv1a_step(h, b.to_ascii_lowercase()), word));
        } else if let Some((h, word)) = run.take() {
            if word {
                out.push(h);
            }
        }
    }
    if let Some((h, true)) = run {
        out.push(h);
    }
    let set = &mut out[start..];
    set.sort_unstable();
    // Deduplicate this set in place (not `Vec::dedup`, which would also merge across the
    // previous set's last word).
    let mut kept = 0;
    for i in 0..set.len() {
        if i == 0 || set[i] != set[kept - 1] {
            set[kept] = set[i];
            kept += 1;
        }
    }
    out.truncate(start + kept);
}

fn jaccard(a: &[u64], b: &[u64]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    inter as f64 / (a.len() + b.len() - inter) as f64
}

/// "12", "$3.50", "1/2 cup": an answer option that is a number (with a short unit).
fn is_numeric_option(o: &str) -> bool {
    let o = o.strip_prefix(['-', '+', '$']).unwrap_or(o);
    let body = o.trim_end_matches(|c: char| c.is_alphanumeric() && !c.is_ascii_digit());
    let unit = o.len() - body.len();
    unit <= 6
        && !body.is_empty()
        && body.chars().any(|c| c.is_ascii_digit())
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | ',' | '/' | '%') || c.is_whitespace())
}

fn ln1p(n: usize) -> f64 {
    (n as f64).ln_1p()
}

/// Compute the features of one prompt.
pub fn extract(text: &str, vocab: &dyn Vocabulary) -> Features {
    analyse(text, vocab).0
}

/// Bytes of a long prompt that are read: its head and its tail (where the question usually
/// is). Counts saturate on a log scale long before this, and it bounds the cost of a pasted
/// 100 kB document to that of a 4 kB prompt.
const SCAN_HEAD: usize = 2_048;
const SCAN_TAIL: usize = 2_048;

/// The head and tail of a long text, cut on character boundaries.
fn bounded(text: &str) -> (&str, &str) {
    if text.len() <= SCAN_HEAD + SCAN_TAIL {
        return (text, "");
    }
    let mut h = SCAN_HEAD;
    while !text.is_char_boundary(h) {
        h -= 1;
    }
    let mut t = text.len() - SCAN_TAIL;
    while !text.is_char_boundary(t) {
        t += 1;
    }
    (&text[..h], &text[t..])
}

/// The features of one prompt and the hand rule it triggers, from one lexical pass.
pub fn analyse(text: &str, vocab: &dyn Vocabulary) -> (Features, Option<HandRule>) {
    let (head, tail) = bounded(text);
    let (stem, options) = split_options(if tail.is_empty() { head } else { tail });
    let mut s = if tail.is_empty() {
        scan::scan(head, stem.len(), vocab)
    } else {
        // Options live in the tail; the head is all stem.
        let mut s = scan::scan(head, head.len(), vocab);
        s.add(&scan::scan(tail, stem.len(), vocab));
        s
    };
    let scanned_chars = s.chars.max(1);
    s.chars = text.chars().count();
    let (opt_similarity, opt_numeric) = option_shape(&options);
    let features = [
        ln1p(s.chars),
        ln1p(s.numbers),
        s.digits as f64 / scanned_chars as f64,
        ln1p(s.math),
        f64::from(u8::from(s.latex)),
        ln1p(s.steps_stem),
        ln1p(s.code),
        ln1p(s.analyse),
        opt_similarity,
        opt_numeric,
        s.oov_words as f64 / s.words.max(1) as f64,
        ln1p(s.quotes),
        f64::from(u8::from(s.scenario_stem)),
        ln1p(s.negation_stem),
        f64::from(u8::from(s.lookup_stem)),
    ];
    let rule = if is_greeting(text) {
        Some(HandRule::Greeting)
    } else if s.code_request || text.contains("```") {
        Some(HandRule::Code)
    } else {
        None
    };
    (features, rule)
}

/// Mean pairwise word overlap (Jaccard) of the options, and the share that are numbers.
fn option_shape(options: &[&str]) -> (f64, f64) {
    if options.is_empty() {
        return (0.0, 0.0);
    }
    // Every option's word set in one buffer; option k's is words[bounds[k]..bounds[k + 1]].
    let mut words = Vec::with_capacity(16 * options.len());
    let mut bounds = Vec::with_capacity(options.len() + 1);
    bounds.push(0);
    for o in options {
        push_word_set(o, &mut words);
        bounds.push(words.len());
    }
    let set = |k: usize| &words[bounds[k]..bounds[k + 1]];
    let mut sims = vec![];
    for i in 0..options.len() {
        for j in i + 1..options.len() {
            sims.push(jaccard(set(i), set(j)));
        }
    }
    let numeric = options.iter().filter(|o| is_numeric_option(o)).count();
    (
        sims.iter().sum::<f64>() / sims.len() as f64,
        numeric as f64 / options.len() as f64,
    )
}

/// High-precision hand rules that hold whatever the learned weights say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandRule {
    /// A short greeting or thanks: the cheapest tier answers it.
    Greeting,
    /// Code to read or write: never the simple tier.
    Code,
}

/// Openings of a greeting or thanks.
const GREETINGS: [&str; 11] = [
    "hi",
    "hello",
    "hey",
    "thanks",
    "thank you",
    "good morning",
    "good afternoon",
    "good evening",
    "bye",
    "ok thanks",
    "cheers",
];
/// Words that may follow a greeting without making it a question.
const SMALL_TALK: [&str; 48] = [
    "a",
    "again",
    "all",
    "and",
    "appreciate",
    "appreciated",
    "are",
    "awesome",
    "bye",
    "cheers",
    "cool",
    "day",
    "doing",
    "everyone",
    "folks",
    "for",
    "friend",
    "going",
    "good",
    "great",
    "have",
    "help",
    "how",
    "i",
    "is",
    "it",
    "lot",
    "mate",
    "much",
    "nice",
    "ok",
    "okay",
    "perfect",
    "see",
    "so",
    "team",
    "thank",
    "thanks",
    "that",
    "the",
    "there",
    "this",
    "today",
    "very",
    "worked",
    "works",
    "you",
    "your",
];

/// A greeting or thanks and nothing else ("hi", "thanks, that worked!", "hello there, how
/// are you?"), not a word that starts like one ("history") and not a greeting in front of a
/// request ("hi, prove Fermat's last theorem"): every word after the greeting must be
/// small talk. This rule overrides the learned score, so it must be precise.
fn is_greeting(text: &str) -> bool {
    let t = text.trim();
    if t.chars().count() > 60 {
        return false;
    }
    let lower = t.to_lowercase();
    GREETINGS.iter().any(|g| {
        lower.strip_prefix(g).is_some_and(|rest| {
            !rest.starts_with(|c: char| c.is_alphanumeric())
                && rest
                    .split(|c: char| !c.is_alphabetic())
                    .filter(|w| !w.is_empty())
                    .all(|w| SMALL_TALK.contains(&w))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word sets as first written: split on characters, keep pieces starting with a
    /// letter, hash, sort, dedup.
    fn reference_word_set(text: &str) -> Vec<u64> {
        let mut words: Vec<u64> = text
            .split(|c: char| !(c.is_ascii_alphabetic() || c == '\''))
            .filter(|w| w.starts_with(|c: char| c.is_ascii_alphabetic()))
            .map(|w| {
                w.bytes().fold(crate::hashing::FNV_OFFSET, |h, b| {
                    crate::hashing::fnv1a_step(h, b.to_ascii_lowercase())
                })
            })
            .collect();
        words.sort_unstable();
        words.dedup();
        words
    }

    #[test]
    fn word_sets_split_bytes_as_characters_would() {
        let texts = [
            "",
            "The cat and THE dog",
            "'tis the dog's bone' isn't it''",
            "café naïve über straße — déjà vu, 'x' y'",
            "12 apples, 3.5 pears; x=y",
            "a a a b",
        ];
        let mut out = vec![u64::MAX];
        for t in texts {
            let before = out.len();
            push_word_set(t, &mut out);
            assert_eq!(out[before..], reference_word_set(t)[..], "{t:?}");
        }
        assert_eq!(out[0], u64::MAX, "earlier sets are left alone");
    }

    fn vocab() -> WordTable<()> {
        vocabulary([
            "what", "is", "the", "capital", "of", "france", "a", "b", "c", "d",
        ])
    }

    #[test]
    fn lookup_question() {
        let f = extract("What is the capital of France?", &vocab());
        assert_eq!(f[14], 1.0, "lookup_q");
        assert_eq!(f[10], 0.0, "every word known");
        assert!((f[0] - (30f64).ln_1p()).abs() < 1e-9);
    }

    #[test]
    fn options_math_and_numbers() {
        let text = "Let p = (1, 2, 5, 4)(2, 3) in S_5. Find the index of <p> in S_5.\nA. 8\nB. 2\nC. 24\nD. 120";
        let f = extract(text, &vocab());
        assert_eq!(f[9], 1.0, "all options numeric");
        assert!(f[1] > 2.0, "numbers counted");
        assert!(f[3] > 0.0, "math symbols");
        assert!(f[5] > 0.0, "'find' is a step cue");
        let (stem, opts) = split_options(text);
        assert_eq!(opts, vec!["8", "2", "24", "120"]);
        assert!(stem.ends_with("S_5.\n"));
    }

    #[test]
    fn option_similarity_is_jaccard() {
        let f = extract("Pick one.\nA. red apple\nB. green apple", &vocab());
        // {red, apple} vs {green, apple}: 1 shared of 3.
        assert!((f[8] - 1.0 / 3.0).abs() < 1e-9, "{}", f[8]);
    }

    #[test]
    fn hand_rules() {
        let hand_rule = |t: &str| analyse(t, &vocabulary([])).1;
        assert_eq!(hand_rule("hi!"), Some(HandRule::Greeting));
        assert_eq!(hand_rule("Thanks, that worked"), Some(HandRule::Greeting));
        assert_eq!(hand_rule("history of the highland clearances"), None);
        assert_eq!(
            hand_rule("Hello there, how are you today?"),
            Some(HandRule::Greeting)
        );
        assert_eq!(hand_rule("hi, prove Fermat's last theorem"), None);
        assert_eq!(hand_rule("hey can you summarise this for me"), None);
        assert_eq!(hand_rule("fix:\n```py\nx=1\n```"), Some(HandRule::Code));
    }
}

/// Where stage-1 time goes, pattern by pattern, on the MMLU prompts (release build):
/// `cargo test --release -p frugal --lib profile_features -- --ignored --nocapture`
#[cfg(test)]
mod profile {
    use super::*;

    #[test]
    #[ignore]
    fn profile_features() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/routing/routellm_mmlu_dev.jsonl"
        );
        let texts: Vec<String> = std::fs::read_to_string(path)
            .expect("data")
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["prompt"].as_str().map(str::to_string))
            .collect();
        let time = |name: &str, f: &dyn Fn(&str) -> usize| {
            let t = std::time::Instant::now();
            let n: usize = texts.iter().map(|t| f(t)).sum();
            println!(
                "{name:<16} {:>8.2} µs/prompt ({n})",
                t.elapsed().as_secs_f64() * 1e6 / texts.len() as f64
            );
        };
        time("options", &|t| split_options(t).1.len());
        let vocab = vocabulary([]);
        time("extract(all)", &|t| extract(t, &vocab).len());
    }
}
