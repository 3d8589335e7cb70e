//! Multiple-choice answers with configurable correctness, for verified-answer tests: a model
//! whose name holds `acc-NN` answers a prompt with lettered options (`A) …` lines) correctly
//! with probability NN %, deterministically per (model, prompt). The key is the letter of a
//! `[key: X]` marker in the prompt (else `A`). Wrong answers agree across models (all pick the
//! same wrong letter for a prompt), unless the name also holds `indep` (each model errs its
//! own way); `refuser` in the name refuses instead of answering.

/// A quiz answer and whether it is the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QuizAnswer {
    pub text: String,
    pub correct: bool,
}

/// The answer of `model` to `prompt`, when the model plays a quiz taker and the prompt is a quiz.
pub(crate) fn answer(model: &str, prompt: &str) -> Option<QuizAnswer> {
    let accuracy = accuracy(model)?;
    let letters = option_letters(prompt);
    if letters.len() < 2 {
        return None;
    }
    if model.contains("refuser") {
        return Some(QuizAnswer {
            text: "I can't help with that.".into(),
            correct: false,
        });
    }
    let key = key_letter(prompt).unwrap_or('A');
    let draw = unit(&format!("{model}\u{0}{prompt}"));
    if draw < f64::from(accuracy) / 100.0 {
        return Some(QuizAnswer {
            text: key.to_string(),
            correct: true,
        });
    }
    let wrong: Vec<char> = letters.into_iter().filter(|l| *l != key).collect();
    let salt = if model.contains("indep") { model } else { "" };
    let pick = fnv(&format!("wrong\u{0}{salt}\u{0}{prompt}")) as usize % wrong.len().max(1);
    Some(QuizAnswer {
        text: wrong.get(pick).copied().unwrap_or(key).to_string(),
        correct: false,
    })
}

/// NN of an `acc-NN` token (0..=100).
fn accuracy(model: &str) -> Option<u8> {
    let at = model.find("acc-")?;
    let digits: String = model[at + 4..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().filter(|n| *n <= 100)
}

/// Letters of the `X) …` option lines.
fn option_letters(prompt: &str) -> Vec<char> {
    let mut out = vec![];
    for line in prompt.lines() {
        let mut chars = line.trim_start().chars();
        if let (Some(l), Some(')')) = (chars.next(), chars.next()) {
            if l.is_ascii_uppercase() && !out.contains(&l) {
                out.push(l);
            }
        }
    }
    out
}

fn key_letter(prompt: &str) -> Option<char> {
    let at = prompt.find("[key: ")?;
    prompt[at + 6..]
        .chars()
        .next()
        .filter(char::is_ascii_uppercase)
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A uniform draw in [0, 1) from a string.
fn unit(s: &str) -> f64 {
    (fnv(s) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: &str = "Which is a gas? [key: B]\nA) iron\nB) helium\nC) salt\nD) wood";

    #[test]
    fn accuracy_bounds_are_exact_and_answers_are_deterministic() {
        assert_eq!(answer("m-acc-100", Q).unwrap().text, "B");
        let wrong = answer("m-acc-0", Q).unwrap();
        assert!(!wrong.correct && wrong.text != "B");
        // Shared wrong answers agree; independent ones are per model.
        assert_eq!(answer("other-acc-0", Q).unwrap().text, wrong.text);
        assert_eq!(answer("m-acc-37", Q), answer("m-acc-37", Q));
        assert_eq!(answer("m-acc-50", "no options here"), None);
        assert_eq!(answer("plain-model", Q), None);
        assert!(answer("m-acc-100-refuser", Q)
            .unwrap()
            .text
            .starts_with("I can't"));
    }

    #[test]
    fn accuracy_is_roughly_the_share_of_right_answers() {
        let right = (0..2000)
            .filter(|i| {
                let q = format!("Question {i}? [key: C]\nA) a\nB) b\nC) c\nD) d");
                answer("m-acc-70", &q).unwrap().correct
            })
            .count();
        assert!((1300..1500).contains(&right), "{right}");
    }
}
