//! What the classifier reads from a conversation: the latest user text (what is being asked
//! now) and the earlier user turns (what the conversation is about, so a short follow-up
//! inherits its weight). System prompts are left out on purpose: they are the same for every
//! request of an application and would make every request of an agent look "long".
//! Also owns the shared lexical resource: the vocabulary's whole words (for word rarity),
//! read from the shipped static embedding, which carries all-MiniLM-L6-v2's vocabulary.

use std::sync::Arc;

use crate::types::{ChatRequest, Part, Role};

use super::features::{vocabulary, Vocabulary, WordTable};

pub struct RequestTexts {
    /// The text of the last user message (tool results excluded).
    pub last_user: String,
    /// Earlier user messages, oldest first, joined.
    pub earlier_user: String,
}

/// The text the classifier scores, as serving and training both see it.
pub struct Scored<'a> {
    pub text: &'a str,
    pub part: ScoredPart,
}

/// Which part of the last user message `Scored::text` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoredPart {
    Whole,
    /// The instruction of a transformation of pasted material (`transform.rs`).
    Instruction,
    /// The question asked about supplied reference material (`grounded.rs`).
    Question,
}

impl ScoredPart {
    /// The name shown among a decision's signals; `None` for the whole message.
    pub fn signal(self) -> Option<&'static str> {
        match self {
            ScoredPart::Whole => None,
            ScoredPart::Instruction => Some("transformation"),
            ScoredPart::Question => Some("grounded_question"),
        }
    }
}

impl RequestTexts {
    /// What stage 1 and stage 2 read: the last user message, or only its instruction when
    /// it transforms pasted material, or only its question when it asks about reference
    /// material it supplies. One function, so training featurises exactly what serving
    /// classifies.
    pub fn scored(&self) -> Scored<'_> {
        let text = &self.last_user;
        if let Some(instruction) = super::transform::instruction(text) {
            return Scored {
                text: instruction,
                part: ScoredPart::Instruction,
            };
        }
        if let Some(question) = super::grounded::question(text) {
            return Scored {
                text: question,
                part: ScoredPart::Question,
            };
        }
        Scored {
            text,
            part: ScoredPart::Whole,
        }
    }
}

fn user_text(content: &[Part]) -> String {
    content
        .iter()
        .filter_map(|p| match p {
            Part::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn request_texts(req: &ChatRequest) -> RequestTexts {
    let users: Vec<String> = req
        .messages
        .iter()
        .filter(|m| m.role == Role::User)
        .map(|m| user_text(&m.content))
        .filter(|t| !t.trim().is_empty())
        .collect();
    match users.split_last() {
        Some((last, earlier)) => RequestTexts {
            last_user: last.clone(),
            earlier_user: earlier.join("\n"),
        },
        None => RequestTexts {
            last_user: String::new(),
            earlier_user: String::new(),
        },
    }
}

/// Shared lexical resources, loaded once.
pub struct Signals {
    words: WordTable<()>,
}

/// The built-in signals, built on first use and shared by every router loaded after (a
/// SIGHUP reload, each `frugal train` fold) instead of rebuilding the 30k-word table.
static BUILTIN: std::sync::OnceLock<Arc<Signals>> = std::sync::OnceLock::new();

impl Signals {
    /// The shipped MiniLM vocabulary (Apache-2.0), from the built-in static embedding.
    pub fn builtin() -> anyhow::Result<Arc<Signals>> {
        if let Some(s) = BUILTIN.get() {
            return Ok(s.clone());
        }
        let built = Arc::new(Signals::load_builtin()?);
        Ok(BUILTIN.get_or_init(|| built).clone())
    }

    fn load_builtin() -> anyhow::Result<Signals> {
        let text = crate::embed::static_table::StaticEmbedding::vocab_text(
            super::embedder::BUILTIN_STATIC,
        )?;
        let words = vocabulary(
            text.lines()
                .filter(|t| !t.starts_with("##") && !t.starts_with('[')),
        );
        Ok(Signals { words })
    }

    pub fn vocab(&self) -> &dyn Vocabulary {
        &self.words
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Message;

    #[test]
    fn last_and_earlier_user_turns() {
        let m = |role, t: &str| Message {
            role,
            content: vec![Part::text(t)],
        };
        let req = ChatRequest {
            messages: vec![
                m(Role::User, "design a schema"),
                m(Role::Assistant, "ok"),
                m(Role::User, "now commit it"),
            ],
            ..Default::default()
        };
        let t = request_texts(&req);
        assert_eq!(t.last_user, "now commit it");
        assert_eq!(t.earlier_user, "design a schema");
        let s = Signals::builtin().expect("vocab");
        assert!(s.vocab().contains_word("capital"));
        assert!(!s.vocab().contains_word("##s"));
    }
}
