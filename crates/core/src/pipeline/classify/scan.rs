//! The single lexical pass behind the stage-1 features: one walk over the text that splits
//! ASCII words (lower-cased in a reused buffer), counts cue words by category, numbers,
//! maths symbols, quotes and code markers. A pass of regexes cost 30+ µs a prompt; this
//! costs a few, which keeps stage 1 inside its 20 µs p99 budget.

use std::sync::OnceLock;

use super::features::{Vocabulary, WordTable};
use crate::hashing::{fnv1a_step, FNV_OFFSET};

/// Counts gathered in one pass. `*_stem` counts only words before `stem_end` (the question
/// without its answer options).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Scan {
    pub chars: usize,
    pub words: usize,
    pub oov_words: usize,
    pub digits: usize,
    pub numbers: usize,
    pub math: usize,
    pub latex: bool,
    pub quotes: usize,
    pub code: usize,
    pub steps_stem: usize,
    pub analyse: usize,
    pub negation_stem: usize,
    pub scenario_stem: bool,
    pub lookup_stem: bool,
    /// "write a function", "refactor", ...: a request for code.
    pub code_request: bool,
}

/// Single words; "how many/much" and "what is the value/probability/number" are phrases.
const STEP_WORDS: [&str; 25] = [
    "then",
    "after",
    "before",
    "first",
    "second",
    "finally",
    "each",
    "total",
    "remaining",
    "twice",
    "half",
    "times",
    "per",
    "if",
    "suppose",
    "assume",
    "given",
    "calculate",
    "compute",
    "find",
    "determine",
    "solve",
    "prove",
    "derive",
    "estimate",
];
/// Single words; "in detail", "step by step" and "trade-off" are phrases.
const ANALYSE_WORDS: [&str; 23] = [
    "explain",
    "why",
    "analyse",
    "analyze",
    "compare",
    "contrast",
    "evaluate",
    "justify",
    "discuss",
    "argue",
    "critique",
    "implication",
    "implications",
    "tradeoff",
    "tradeoffs",
    "design",
    "optimise",
    "optimize",
    "debug",
    "refactor",
    "implement",
    "essay",
    "proof",
];
const NEGATION_WORDS: [&str; 9] = [
    "not",
    "except",
    "least",
    "false",
    "incorrect",
    "never",
    "cannot",
    "neither",
    "nor",
];
const SCENARIO_WORDS: [&str; 4] = ["suppose", "assume", "consider", "imagine"];
const SCENARIO_NOUNS: [&str; 10] = [
    "man",
    "woman",
    "person",
    "company",
    "student",
    "patient",
    "plaintiff",
    "defendant",
    "firm",
    "state",
];
const LATEX_COMMANDS: [&str; 15] = [
    "frac", "sqrt", "sum", "int", "cdot", "times", "le", "ge", "pi", "alpha", "beta", "theta",
    "mathbb", "left", "right",
];
const LOOKUP_WORDS: [&str; 5] = ["who", "what", "when", "where", "which"];

const STEP: u8 = 1;
const ANALYSE: u8 = 2;
const NEGATION: u8 = 4;
const SCENARIO: u8 = 8;
const SCENARIO_NOUN: u8 = 16;
const LOOKUP: u8 = 32;

/// Every cue word with its categories: one probe per word (by the hash the pass already
/// computed) instead of ~75 compares.
fn cue_words() -> &'static WordTable<u8> {
    static CUES: OnceLock<WordTable<u8>> = OnceLock::new();
    CUES.get_or_init(|| {
        let lists: [(&[&'static str], u8); 6] = [
            (&STEP_WORDS, STEP),
            (&ANALYSE_WORDS, ANALYSE),
            (&NEGATION_WORDS, NEGATION),
            (&SCENARIO_WORDS, SCENARIO),
            (&SCENARIO_NOUNS, SCENARIO_NOUN),
            (&LOOKUP_WORDS, LOOKUP),
        ];
        let all = lists
            .into_iter()
            .flat_map(|(words, flag)| words.iter().map(move |w| (*w, flag)));
        WordTable::new(all, |a, b| a | b)
    })
}

impl Scan {
    /// Combine the scans of two pieces of one text (counts add, flags or).
    pub fn add(&mut self, o: &Scan) {
        self.chars += o.chars;
        self.words += o.words;
        self.oov_words += o.oov_words;
        self.digits += o.digits;
        self.numbers += o.numbers;
        self.math += o.math;
        self.latex |= o.latex;
        self.quotes += o.quotes;
        self.code += o.code;
        self.steps_stem += o.steps_stem;
        self.analyse += o.analyse;
        self.negation_stem += o.negation_stem;
        self.scenario_stem |= o.scenario_stem;
        self.code_request |= o.code_request;
        // The question form is read at the start of the stem, which is the head.
    }
}

/// The hash of a word as the pass computes it (FNV-1a of its lower-case bytes): phrase
/// checks compare these numbers instead of strings.
const fn h(word: &str) -> u64 {
    crate::hashing::fnv1a(word.as_bytes())
}

const HOW: u64 = h("how");
const MANY: u64 = h("many");
const MUCH: u64 = h("much");
const IS: u64 = h("is");
const THE: u64 = h("the");
const VALUE: u64 = h("value");
const PROBABILITY: u64 = h("probability");
const NUMBER: u64 = h("number");
const A: u64 = h("a");
const WHICH: u64 = h("which");
const OF: u64 = h("of");
const IN: u64 = h("in");
const DETAIL: u64 = h("detail");
const STEP_: u64 = h("step");
const BY: u64 = h("by");
const TRADE: u64 = h("trade");
const RETURN: u64 = h("return");
const FUNCTION: u64 = h("function");
const DEF: u64 = h("def");
const CLASS: u64 = h("class");
const IMPORT: u64 = h("import");
const PRINT: u64 = h("print");
const WRITE: u64 = h("write");
const REFACTOR: u64 = h("refactor");
const CODE: u64 = h("code");
const UNIT: u64 = h("unit");
const TEST: u64 = h("test");
const TESTS: u64 = h("tests");
const THIS: u64 = h("this");
const BUG: u64 = h("bug");

/// Word-level state: the hashes of the last two words, to recognise short phrases.
#[derive(Default)]
struct Recent {
    prev: u64,
    prev2: u64,
    count: usize,
}

impl Recent {
    fn push(&mut self, w: u64) {
        self.prev2 = self.prev;
        self.prev = w;
        self.count += 1;
    }
}

/// Per-byte classes of ASCII characters, so the pass tests one table entry per character
/// instead of a chain of comparisons.
const ALPHA: u8 = 1;
const DIGIT: u8 = 2;
const MATH: u8 = 4;
/// Characters with their own handling below (quotes, `\`, backticks, `#`, `>`, `$`).
const SPECIAL: u8 = 8;
const SPACE: u8 = 16;
const NUM_SEP: u8 = 32;

const ASCII_CLASS: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = if c.is_ascii_alphabetic() {
            ALPHA
        } else if c.is_ascii_digit() {
            DIGIT
        } else if c.is_ascii_whitespace() || c == 0x0b {
            SPACE
        } else {
            match c {
                b'=' | b'+' | b'*' | b'^' | b'<' => MATH,
                b'/' => MATH | NUM_SEP,
                b'>' => MATH | SPECIAL,
                b'$' => MATH | SPECIAL,
                b'.' | b',' => NUM_SEP,
                b'"' | b'\\' | b'`' | b'#' | b'{' | b'}' | b'[' | b']' => SPECIAL,
                _ => 0,
            }
        };
        b += 1;
    }
    t
};

/// The class of a character outside ASCII: maths symbols, curly quotes, blanks.
fn unicode_class(c: char) -> u8 {
    match c {
        '≤' | '≥' | '≠' | '±' | '×' | '÷' | '√' | '∑' | '∫' | '∞' | 'π' | 'θ' | 'λ' | 'μ' | 'σ'
        | 'Δ' | '∂' => MATH,
        '“' | '”' => SPECIAL,
        c if c.is_whitespace() => SPACE,
        _ => 0,
    }
}

pub fn scan(text: &str, stem_end: usize, vocab: &dyn Vocabulary) -> Scan {
    let mut s = Scan::default();
    let bytes = text.as_bytes();
    let mut in_word = false;
    let mut word_hash = FNV_OFFSET;
    let mut recent = Recent::default();
    let mut word_start = 0usize;
    let mut in_number = false;
    let mut prev: Option<char> = None;
    let mut line_tail: Option<char> = None;
    let mut data = Structure::default();
    for (i, c) in text.char_indices() {
        s.chars += 1;
        let class = if c.is_ascii() {
            ASCII_CLASS[c as usize]
        } else {
            unicode_class(c)
        };
        if class & ALPHA != 0 || (c == '\'' && in_word && next_is_lower(bytes, i)) {
            if !in_word {
                in_word = true;
                word_start = i;
                word_hash = FNV_OFFSET;
            }
            // ASCII here, so the character is one byte.
            word_hash = fnv1a_step(word_hash, c.to_ascii_lowercase() as u8);
        } else if in_word {
            in_word = false;
            let word = Word {
                hash: word_hash,
                in_stem: word_start < stem_end,
                next: bytes.get(i).copied(),
                after: bytes.get(i..i + 4),
            };
            end_word(&mut s, word, &mut recent, vocab);
        }
        if class & DIGIT != 0 {
            s.digits += 1;
            if !in_number && !prev.is_some_and(|p| p.is_ascii_alphabetic()) {
                s.numbers += 1;
            }
            in_number = true;
        } else if !(in_number && class & NUM_SEP != 0 && next_is_digit(bytes, i)) {
            in_number = false;
        }
        if class & SPECIAL != 0 {
            special(&mut s, &mut data, (text, i), c, prev);
        }
        if class & MATH != 0 {
            s.math += 1;
        }
        // A line ending in `;` or `{` (trailing blanks aside) looks like code.
        if c == '\n' {
            if matches!(line_tail, Some(';' | '{')) {
                s.code += 1;
            }
            line_tail = None;
        } else if class & SPACE == 0 {
            line_tail = Some(c);
        }
        prev = Some(c);
    }
    if in_word {
        let word = Word {
            hash: word_hash,
            in_stem: word_start < stem_end,
            next: None,
            after: None,
        };
        end_word(&mut s, word, &mut recent, vocab);
    }
    if matches!(line_tail, Some(';' | '{')) {
        s.code += 1;
    }
    s
}

/// Where the pass is in structured material: quotes inside JSON-like brackets or code
/// fences are syntax, not quoted speech, and do not count.
#[derive(Default)]
struct Structure {
    brackets: u32,
    in_fence: bool,
}

/// Quotes, brackets, LaTeX commands, code fences, `#include`, `=>` and `$`; `at` is the
/// text and the character's byte offset.
fn special(s: &mut Scan, data: &mut Structure, at: (&str, usize), c: char, prev: Option<char>) {
    let (text, i) = at;
    match c {
        '"' | '“' | '”' if data.brackets == 0 && !data.in_fence => s.quotes += 1,
        '{' | '[' => data.brackets += 1,
        '}' | ']' => data.brackets = data.brackets.saturating_sub(1),
        '\\' => {
            s.latex = true;
            let cmd: String = text[i + 1..]
                .chars()
                .take_while(char::is_ascii_alphabetic)
                .take(8)
                .collect();
            if LATEX_COMMANDS.contains(&cmd.as_str()) {
                s.math += 1;
            }
        }
        '`' if text[i..].starts_with("```") && prev.is_none_or(|p| p != '`') => {
            s.code += 1;
            data.in_fence = !data.in_fence;
        }
        '#' if text[i..].starts_with("#include") => s.code += 1,
        '>' if prev == Some('=') => s.code += 1,
        '$' => s.latex = true,
        _ => {}
    }
}

fn next_is_lower(bytes: &[u8], i: usize) -> bool {
    bytes.get(i + 1).is_some_and(u8::is_ascii_lowercase)
}

fn next_is_digit(bytes: &[u8], i: usize) -> bool {
    bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
}

/// One finished word: its hash, whether it starts in the stem, and the bytes after it.
struct Word<'a> {
    hash: u64,
    in_stem: bool,
    next: Option<u8>,
    after: Option<&'a [u8]>,
}

/// Account one finished word.
fn end_word(s: &mut Scan, word: Word<'_>, recent: &mut Recent, vocab: &dyn Vocabulary) {
    let w = word.hash;
    s.words += 1;
    if !vocab.contains_hash(w) {
        s.oov_words += 1;
    }
    let cue = cue_words().get(w).unwrap_or(0);
    let (p1, p2) = (recent.prev, recent.prev2);
    if word.in_stem {
        let phrase_step = (p1 == HOW && (w == MANY || w == MUCH))
            || (p2 == IS && p1 == THE && (w == VALUE || w == PROBABILITY || w == NUMBER));
        if cue & STEP != 0 || phrase_step {
            s.steps_stem += 1;
        }
        if cue & NEGATION != 0 {
            s.negation_stem += 1;
        }
        if cue & SCENARIO != 0 || (p1 == A && cue & SCENARIO_NOUN != 0) {
            s.scenario_stem = true;
        }
        if recent.count == 0 && cue & LOOKUP != 0 {
            s.lookup_stem = true;
        }
        if recent.count == 2 && p2 == WHICH && p1 == OF && w == THE {
            // "which of the following" names an option list, not a lookup.
            s.lookup_stem = false;
        }
    }
    let analyse = match w {
        DETAIL => p1 == IN,
        STEP_ => p2 == STEP_ && p1 == BY,
        TRADE => word.after == Some(&b"-off"[..]),
        _ => cue & ANALYSE != 0,
    };
    if analyse {
        s.analyse += 1;
    }
    match w {
        RETURN | FUNCTION => s.code += 1,
        DEF | CLASS | IMPORT if word.next == Some(b' ') => s.code += 1,
        PRINT if word.next == Some(b'(') => s.code += 1,
        _ => {}
    }
    if (p2 == WRITE && p1 == A && w == FUNCTION)
        || w == REFACTOR
        || (p1 == WRITE && w == CODE)
        || (p1 == UNIT && (w == TEST || w == TESTS))
        || (p1 == THIS && w == BUG)
    {
        s.code_request = true;
    }
    recent.push(w);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::classify::features::vocabulary;

    fn scan_all(t: &str) -> Scan {
        let v = vocabulary(["what", "is", "the"]);
        scan(t, t.len(), &v)
    }

    #[test]
    fn words_numbers_and_oov() {
        let s = scan_all("What is the value of x2 + 1,234.5 and 7/8? It's 50%.");
        assert_eq!(
            s.numbers, 3,
            "x2 is a name; 1,234.5, 7/8 and 50 are numbers"
        );
        assert!(s.steps_stem >= 1, "what is the value");
        assert_eq!(s.words, 8, "what is the value of x and it's");
        assert!(s.math >= 2);
    }

    #[test]
    fn phrases_and_code() {
        let s = scan_all(
            "Explain step by step. Please write a function:\n```py\ndef f(x):\n    return x;\n```",
        );
        assert_eq!(s.analyse, 2, "explain + step by step");
        assert!(s.code >= 4, "fences, def, return, trailing ;: {}", s.code);
        assert!(s.code_request);
    }

    #[test]
    fn quotes_in_json_or_code_are_syntax() {
        assert_eq!(scan_all(r#"He said "no" and "never"."#).quotes, 4);
        assert_eq!(
            scan_all(r#"config: {"a": "b", "c": ["d"]} then "ok""#).quotes,
            2
        );
        assert_eq!(
            scan_all("see:\n```\nx = \"s\"\n```\nand \"this\"").quotes,
            2
        );
    }

    #[test]
    fn lookup_and_which_of_the_following() {
        assert!(scan_all("Who wrote Hamlet?").lookup_stem);
        assert!(!scan_all("Which of the following is a prime?").lookup_stem);
        assert!(scan_all("Suppose a firm sells widgets").scenario_stem);
        assert_eq!(scan_all("This is NOT true, except here").negation_stem, 2);
    }
}
