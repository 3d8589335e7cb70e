//! The "transformation" hand rule: a request that pastes material and asks for a mechanical
//! change of it ("Reformat this JSON as YAML:", "Summarise in two sentences:", "Translate to
//! French:") is as hard as its instruction, not as long as its material. Stage 1 learned
//! length and quote counts from exam questions, where a long text is a long question; here
//! the same signals would send the cheapest traffic of all to the top tier. So such a
//! request is scored on its instruction alone (what is asked still counts: "Summarise and
//! critique the methodology:" keeps its analysis cue).

use super::features::split_options;

/// Imperatives that ask for a change of given material, not for knowledge or reasoning.
const VERBS: [&str; 24] = [
    "reformat",
    "convert",
    "translate",
    "summarise",
    "summarize",
    "extract",
    "rewrite",
    "paraphrase",
    "proofread",
    "format",
    "shorten",
    "condense",
    "reword",
    "transcribe",
    "tabulate",
    "sort",
    "alphabetize",
    "alphabetise",
    "capitalize",
    "capitalise",
    "lowercase",
    "uppercase",
    "redact",
    "anonymise",
];

/// Polite openings before the verb.
const OPENINGS: [&str; 4] = ["please ", "can you ", "could you ", "kindly "];

/// The longest instruction the rule considers, in bytes.
const INSTRUCTION_MAX: usize = 200;
/// The material must be at least this long, in bytes, and twice the instruction.
const MATERIAL_MIN: usize = 80;

/// The instruction of a transformation request, when `text` is one: its opening clause (up
/// to the first ':' or line break) starts with a transformation verb, and material at least
/// twice as long follows. A list of answer options makes it a question, never a transform.
pub fn instruction(text: &str) -> Option<&str> {
    let start = text.len() - text.trim_start().len();
    let body = &text[start..];
    let cut = body.find([':', '\n'])?;
    let (head, rest) = (&body[..cut], &body[cut + 1..]);
    let material = rest.trim();
    if head.len() > INSTRUCTION_MAX
        || material.len() < MATERIAL_MIN
        || material.len() < 2 * head.len()
    {
        return None;
    }
    let mut lower = head.trim().to_ascii_lowercase();
    while let Some(o) = OPENINGS.iter().find(|o| lower.starts_with(**o)) {
        lower.drain(..o.len());
    }
    let verb: String = lower
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect();
    if !VERBS.contains(&verb.as_str()) || !split_options(text).1.is_empty() {
        return None;
    }
    Some(head.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str =
        r#"[{"id": 1, "name": "Ada", "tags": ["a", "b"]}, {"id": 2, "name": "Grace", "tags": []}]"#;

    #[test]
    fn transformations_are_their_instruction() {
        let t = format!("Reformat this JSON as YAML: {JSON}");
        assert_eq!(instruction(&t), Some("Reformat this JSON as YAML"));
        let t = format!(
            "Please summarise in two sentences:\n{}",
            "The meeting covered the budget. ".repeat(5)
        );
        assert_eq!(instruction(&t), Some("Please summarise in two sentences"));
        let t = format!(
            "Can you translate to French\n{}",
            "Bonjour is not needed here. ".repeat(4)
        );
        assert_eq!(instruction(&t), Some("Can you translate to French"));
    }

    #[test]
    fn questions_and_short_requests_are_not() {
        // No material: the whole text is the request.
        assert_eq!(instruction("Translate 'good morning' to French"), None);
        assert_eq!(
            instruction("Convert $199_{10}$ to base 2. Let x be the number of zeros."),
            None
        );
        // A noun, not an imperative.
        let t = format!(
            "What sort of instruments are these: {}",
            "timbal, tabla, bodhran ".repeat(5)
        );
        assert_eq!(instruction(&t), None);
        // Answer options make it an exam question.
        let t = format!(
            "Translate the following into predicate logic: {}\nA. Lx\nB. Ly\nC. Lz\nD. Lw",
            "some lawyers are not liars and all judges are ".repeat(3)
        );
        assert_eq!(instruction(&t), None);
        // Material shorter than twice the instruction.
        let t = "Summarise the causes, course and consequences of the French Revolution for students: 1789 to 1799, France";
        assert_eq!(instruction(t), None);
    }
}
