//! The "grounded question" hand rule: a question asked about reference material the request
//! itself supplies (retrieval-augmented generation: "Use the context below to answer…
//! Document [1] … Question: who sings X? Answer:") is as hard as its question, not as long
//! as its documents. Stage 1 learned length and quotes from exam questions, where a long
//! text is a long question; on RAG traffic the same signals sent lookup questions whose
//! answer sits in the pasted passage to the top tiers. So such a request is scored on its
//! question alone, as a transformation is on its instruction (`transform.rs`); what the
//! question asks still counts ("…which clauses conflict, and why?" keeps its analysis cue).
//!
//! The shapes recognised are the common RAG prompt templates: a last line labelled
//! `Question:` / `Query:` / `Q:` (or a `<question>…</question>` element) after material
//! that names itself as context, documents, search results, passages, articles, sources or
//! excerpts. Answer options make the text an exam question, and the rule never fires then.

use super::features::split_options;

/// Labels that introduce the question, at the start of a line, before a ':'.
const LABELS: [&str; 3] = ["question", "query", "q"];

/// Words by which RAG templates name their material (ASCII, lower case).
const MARKERS: [&str; 8] = [
    "context",
    "document",
    "search result",
    "passage",
    "article",
    "source",
    "excerpt",
    "snippet",
];

/// The longest question the rule considers, in bytes: a longer "question" is the request.
const QUESTION_MAX: usize = 1_000;
/// The material must be at least this long, in bytes, and twice the question.
const MATERIAL_MIN: usize = 200;

/// The question of a grounded request, when `text` is one.
pub fn question(text: &str) -> Option<&str> {
    if text.len() < MATERIAL_MIN {
        return None;
    }
    let (material, question) = labelled(text).or_else(|| tagged(text))?;
    let question = question.trim();
    if question.is_empty()
        || question.len() > QUESTION_MAX
        || material.len() < MATERIAL_MIN
        || material.len() < 2 * question.len()
        || !names_material(material)
        || !split_options(text).1.is_empty()
    {
        return None;
    }
    Some(question)
}

/// `(material, question)` split at the last line that starts with a question label; the
/// question ends before an `Answer:` line (templates end with one for the model to fill).
fn labelled(text: &str) -> Option<(&str, &str)> {
    let mut found = None;
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        if let Some(rest) = after_label(line, &LABELS) {
            found = Some((start, start + (line.len() - rest.len())));
        }
        start += line.len();
    }
    let (line_start, body_start) = found?;
    let body = &text[body_start..];
    let mut end = body.len();
    let mut at = 0;
    for line in body.split_inclusive('\n') {
        if at > 0 && is_answer_label(line) {
            end = at;
            break;
        }
        at += line.len();
    }
    // "Question: …? Answer:" on one line.
    let q = &body[..end];
    let q = match find_ascii_ci(q, "answer:") {
        Some(i) if i > 0 => &q[..i],
        _ => q,
    };
    Some((&text[..line_start], q))
}

/// `(material, question)` of a text whose question is a `<question>` element (lower
/// case, as XML prompt templates write it: an exact search is what keeps this rule cheap
/// on the text of every request).
fn tagged(text: &str) -> Option<(&str, &str)> {
    let open = text.find("<question>")?;
    let body = &text[open + "<question>".len()..];
    let close = body.find("</question>")?;
    Some((&text[..open], &body[..close]))
}

/// The rest of `line` after one of `labels` and a ':', when it starts with one (leading
/// whitespace, `#` and `*` of Markdown headings or bold allowed).
fn after_label<'a>(line: &'a str, labels: &[&str]) -> Option<&'a str> {
    let l = line.trim_start_matches(|c: char| c.is_whitespace() || c == '#' || c == '*');
    labels.iter().find_map(|label| {
        let head = l.get(..label.len())?;
        if !head.eq_ignore_ascii_case(label) {
            return None;
        }
        let rest = l[label.len()..].trim_start_matches([' ', '*']);
        Some(rest.strip_prefix(':')?.trim_start_matches('*'))
    })
}

fn is_answer_label(line: &str) -> bool {
    after_label(line, &["answer", "helpful answer", "final answer"]).is_some()
}

/// Whether the material names itself as reference material.
fn names_material(material: &str) -> bool {
    MARKERS.iter().any(|m| find_ascii_ci(material, m).is_some())
}

/// Byte offset of `needle` (ASCII) in `hay`, ignoring ASCII case.
fn find_ascii_ci(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let first = n.first()?.to_ascii_lowercase();
    let last_start = h.len().checked_sub(n.len())?;
    let mut i = 0;
    while i <= last_start {
        i += h[i..=last_start]
            .iter()
            .position(|b| b.to_ascii_lowercase() == first)?;
        if h[i..i + n.len()].eq_ignore_ascii_case(n) {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSAGE: &str =
        "Frank Sinatra recorded the song in 1969 for his album of the same name; \
        it was written by Teddy Randazzo and later covered by Sammy Davis Jr., who made it a \
        signature tune of his live shows through the following decade.";

    #[test]
    fn rag_templates_are_their_question() {
        // lost-in-the-middle / NQ-open
        let t = format!(
            "Write a high-quality answer for the given question using only the provided search \
             results.\n\nDocument [1](Title: I've Gotta Be Me) {PASSAGE}\n\nQuestion: who sings \
             i've got to be me\nAnswer:"
        );
        assert_eq!(question(&t), Some("who sings i've got to be me"));
        // LangChain's default
        let t = format!(
            "Use the following pieces of context to answer the question at the end.\n\n\
             {PASSAGE}\n\nQuestion: Who wrote the song?\nHelpful Answer:"
        );
        assert_eq!(question(&t), Some("Who wrote the song?"));
        // LlamaIndex's default, and a Markdown label
        let t = format!(
            "Context information is below.\n---------------------\n{PASSAGE}\n\
             ---------------------\nGiven the context information, answer the query.\n\
             **Query:** When was it recorded?\nAnswer: "
        );
        assert_eq!(question(&t), Some("When was it recorded?"));
        // XML elements
        assert_eq!(find_ascii_ci("a <Question>b", "<question>"), Some(2));
        assert_eq!(find_ascii_ci("ab", "abc"), None);
        let t = format!(
            "<documents><document index=\"1\">{PASSAGE}</document></documents>\n\
             <question>Who covered it?</question>"
        );
        assert_eq!(question(&t), Some("Who covered it?"));
        // The answer label on the question's own line
        let t = format!("Context: {PASSAGE}\nQ: Who covered it? Answer:");
        assert_eq!(question(&t), Some("Who covered it?"));
    }

    #[test]
    fn questions_without_named_material_are_not() {
        // A long question with no material: the whole text is the request.
        let t = format!("{PASSAGE}\n\nQuestion: Who wrote the song?");
        assert_eq!(question(&t), None, "material not named as such");
        let t = format!("Context: {PASSAGE}\nWho wrote the song?");
        assert_eq!(question(&t), None, "no question label");
        let t = "Context: the meeting is at noon.\nQuestion: when is the meeting?";
        assert_eq!(question(t), None, "material too short");
        // Answer options make it an exam question.
        let t = format!(
            "This question refers to the following passage.\n{PASSAGE}\n\
             Question: Which best describes the song's history?\nA. lost\nB. covered\nC. banned\nD. unknown"
        );
        assert_eq!(question(&t), None);
        // A "question" longer than the rule considers is the request itself.
        let long_q = "Why did it chart? ".repeat(80);
        let t = format!("Context: {}\nQuestion: {long_q}", PASSAGE.repeat(12));
        assert_eq!(question(&t), None);
    }

    #[test]
    fn labels_need_a_colon_at_a_line_start() {
        assert_eq!(after_label("Question: why?", &LABELS), Some(" why?"));
        assert_eq!(after_label("## QUERY : x", &LABELS), Some(" x"));
        assert_eq!(after_label("Questions remain: x", &LABELS), None);
        assert_eq!(after_label("Quick note: x", &LABELS), None);
        assert_eq!(after_label("The question: x", &LABELS), None);
    }
}
