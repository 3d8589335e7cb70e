//! The single lexical pass behind the stage-1 features: one walk over the text that splits
//! ASCII words (lower-cased in a reused buffer), counts cue words by category, numbers,
//! maths symbols, quotes and code markers. A pass of regexes cost 30+ µs a prompt; this
//! costs a few, which keeps stage 1 inside its 20 µs p99 budget.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::features::{FnvBuild, Vocabulary};

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
/// Maths symbols, as a `match` (a string search per character would dominate the pass).
fn is_math_char(c: char) -> bool {
    matches!(
        c,
        '=' | '+'
            | '*'
            | '/'
            | '^'
            | '<'
            | '>'
            | '≤'
            | '≥'
            | '≠'
            | '±'
            | '×'
            | '÷'
            | '√'
            | '∑'
            | '∫'
            | '∞'
            | 'π'
            | 'θ'
            | 'λ'
            | 'μ'
            | 'σ'
            | 'Δ'
            | '∂'
            | '$'
    )
}
const LOOKUP_WORDS: [&str; 5] = ["who", "what", "when", "where", "which"];

const STEP: u8 = 1;
const ANALYSE: u8 = 2;
const NEGATION: u8 = 4;
const SCENARIO: u8 = 8;
const SCENARIO_NOUN: u8 = 16;
const LOOKUP: u8 = 32;

/// Every cue word with its categories: one hash look-up per word instead of ~75 compares.
fn cue_words() -> &'static HashMap<&'static str, u8, FnvBuild> {
    static CUES: OnceLock<HashMap<&'static str, u8, FnvBuild>> = OnceLock::new();
    CUES.get_or_init(|| {
        let mut m: HashMap<&'static str, u8, FnvBuild> = HashMap::default();
        let lists: [(&[&'static str], u8); 6] = [
            (&STEP_WORDS, STEP),
            (&ANALYSE_WORDS, ANALYSE),
            (&NEGATION_WORDS, NEGATION),
            (&SCENARIO_WORDS, SCENARIO),
            (&SCENARIO_NOUNS, SCENARIO_NOUN),
            (&LOOKUP_WORDS, LOOKUP),
        ];
        for (words, flag) in lists {
            for w in words {
                *m.entry(*w).or_default() |= flag;
            }
        }
        m
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

/// Word-level state: the last few words, to recognise short phrases.
#[derive(Default)]
struct Recent {
    prev: String,
    prev2: String,
    count: usize,
}

impl Recent {
    fn push(&mut self, w: &str) {
        std::mem::swap(&mut self.prev2, &mut self.prev);
        self.prev.clear();
        self.prev.push_str(w);
        self.count += 1;
    }
}

pub fn scan(text: &str, stem_end: usize, vocab: &dyn Vocabulary) -> Scan {
    let mut s = Scan::default();
    let bytes = text.as_bytes();
    let mut word = String::new();
    let mut recent = Recent::default();
    let mut word_start = 0usize;
    let mut in_number = false;
    let mut prev: Option<char> = None;
    let mut line_tail: Option<char> = None;
    for (i, c) in text.char_indices() {
        s.chars += 1;
        if c.is_ascii_alphabetic() || (c == '\'' && !word.is_empty() && next_is_lower(bytes, i)) {
            if word.is_empty() {
                word_start = i;
            }
            word.push(c.to_ascii_lowercase());
        } else if !word.is_empty() {
            end_word(
                &mut s,
                &word,
                word_start < stem_end,
                (bytes, i),
                &mut recent,
                vocab,
            );
            word.clear();
        }
        if c.is_ascii_digit() {
            s.digits += 1;
            if !in_number && !prev.is_some_and(|p| p.is_ascii_alphabetic()) {
                s.numbers += 1;
            }
            in_number = true;
        } else if !(in_number && matches!(c, '.' | ',' | '/') && next_is_digit(bytes, i)) {
            in_number = false;
        }
        match c {
            '"' | '“' | '”' => s.quotes += 1,
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
            '`' if text[i..].starts_with("```") && prev.is_none_or(|p| p != '`') => s.code += 1,
            '#' if text[i..].starts_with("#include") => s.code += 1,
            '>' if prev == Some('=') => s.code += 1,
            _ => {}
        }
        if c == '$' {
            s.latex = true;
        }
        if is_math_char(c) {
            s.math += 1;
        }
        // A line ending in `;` or `{` (trailing blanks aside) looks like code.
        if c == '\n' {
            if matches!(line_tail, Some(';' | '{')) {
                s.code += 1;
            }
            line_tail = None;
        } else if !c.is_whitespace() {
            line_tail = Some(c);
        }
        prev = Some(c);
    }
    if !word.is_empty() {
        end_word(
            &mut s,
            &word,
            word_start < stem_end,
            (bytes, text.len()),
            &mut recent,
            vocab,
        );
    }
    if matches!(line_tail, Some(';' | '{')) {
        s.code += 1;
    }
    s
}

fn next_is_lower(bytes: &[u8], i: usize) -> bool {
    bytes.get(i + 1).is_some_and(u8::is_ascii_lowercase)
}

fn next_is_digit(bytes: &[u8], i: usize) -> bool {
    bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
}

/// Account one finished word; `at` is the text and the byte just after the word.
fn end_word(
    s: &mut Scan,
    w: &str,
    in_stem: bool,
    at: (&[u8], usize),
    recent: &mut Recent,
    vocab: &dyn Vocabulary,
) {
    let (bytes, end) = at;
    let next = bytes.get(end).copied();
    s.words += 1;
    if !vocab.contains_word(w) {
        s.oov_words += 1;
    }
    let cue = cue_words().get(w).copied().unwrap_or(0);
    if in_stem {
        let phrase_step = (recent.prev == "how" && (w == "many" || w == "much"))
            || (recent.prev2 == "is"
                && recent.prev == "the"
                && matches!(w, "value" | "probability" | "number"));
        if cue & STEP != 0 || phrase_step {
            s.steps_stem += 1;
        }
        if cue & NEGATION != 0 {
            s.negation_stem += 1;
        }
        if cue & SCENARIO != 0 || (recent.prev == "a" && cue & SCENARIO_NOUN != 0) {
            s.scenario_stem = true;
        }
        if recent.count == 0 && cue & LOOKUP != 0 {
            s.lookup_stem = true;
        }
        if recent.count == 2 && recent.prev2 == "which" && recent.prev == "of" && w == "the" {
            // "which of the following" names an option list, not a lookup.
            s.lookup_stem = false;
        }
    }
    let analyse = match w {
        "detail" => recent.prev == "in",
        "step" => recent.prev2 == "step" && recent.prev == "by",
        "trade" => bytes.get(end..end + 4) == Some(b"-off"),
        _ => cue & ANALYSE != 0,
    };
    if analyse {
        s.analyse += 1;
    }
    match w {
        "return" | "function" => s.code += 1,
        "def" | "class" | "import" if next == Some(b' ') => s.code += 1,
        "print" if next == Some(b'(') => s.code += 1,
        _ => {}
    }
    let (p1, p2) = (recent.prev.as_str(), recent.prev2.as_str());
    if (p2 == "write" && p1 == "a" && w == "function")
        || w == "refactor"
        || (p1 == "write" && w == "code")
        || (p1 == "unit" && matches!(w, "test" | "tests"))
        || (p1 == "this" && w == "bug")
    {
        s.code_request = true;
    }
    recent.push(w);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn scan_all(t: &str) -> Scan {
        let v: HashSet<String> = ["what", "is", "the"]
            .iter()
            .map(|s| s.to_string())
            .collect();
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
    fn lookup_and_which_of_the_following() {
        assert!(scan_all("Who wrote Hamlet?").lookup_stem);
        assert!(!scan_all("Which of the following is a prime?").lookup_stem);
        assert!(scan_all("Suppose a firm sells widgets").scenario_stem);
        assert_eq!(scan_all("This is NOT true, except here").negation_stem, 2);
    }
}
