//! Whitespace normalisation of prose: trailing spaces, runs of blank lines and (in prose)
//! runs of inner spaces. Code fences, indented lines (code, YAML, nested lists), tables
//! and blank lines between two such lines are left byte-identical, as is every line
//! holding inline code or a tab. Line-local and stateless apart from fences, so the
//! result never depends on text that comes later in the conversation.

/// How much may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Human-written text: trailing whitespace, blank-line runs and inner space runs.
    Prose,
    /// Tool output that is not JSON: only trailing whitespace and blank-line runs (inner
    /// spacing may be column alignment).
    ToolOutput,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// Fence delimiter or inside a fence: byte-identical.
    Fence,
    /// Indented, table row, inline code or tab: byte-identical.
    Protected,
    Blank,
    Plain,
}

/// The normalised text, or `None` when nothing changes.
pub fn normalize(text: &str, mode: Mode) -> Option<String> {
    if !might_change(text) {
        return None;
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let kinds = classify(&lines);
    let mut out = String::with_capacity(text.len());
    let mut first = true;
    let mut push = |out: &mut String, s: &str| {
        if !first {
            out.push('\n');
        }
        first = false;
        out.push_str(s);
    };
    let mut i = 0;
    while i < lines.len() {
        match kinds[i] {
            Line::Fence | Line::Protected => push(&mut out, lines[i]),
            Line::Plain => push(&mut out, &plain(lines[i], mode)),
            Line::Blank => {
                let start = i;
                while i + 1 < lines.len() && kinds[i + 1] == Line::Blank {
                    i += 1;
                }
                let before = start.checked_sub(1).map(|j| kinds[j]);
                let after = kinds.get(i + 1).copied();
                let verbatim = |k: Option<Line>| matches!(k, Some(Line::Fence | Line::Protected));
                if verbatim(before) && verbatim(after) {
                    for line in &lines[start..=i] {
                        push(&mut out, line);
                    }
                } else if before.is_some() && after.is_some() {
                    push(&mut out, "");
                }
                // Leading and trailing blank runs are dropped.
            }
        }
        i += 1;
    }
    (out != text).then_some(out)
}

/// Cheap pre-check: text without trailing spaces, double spaces or blank lines is kept.
fn might_change(text: &str) -> bool {
    let b = text.as_bytes();
    b.first().is_some_and(|c| c.is_ascii_whitespace())
        || b.last().is_some_and(|c| c.is_ascii_whitespace())
        || b.windows(2).any(|w| {
            matches!(
                w,
                [b' ' | b'\t' | b'\r' | b'\n', b'\n'] | [b' ', b' '] | [b'\n', b' ' | b'\t']
            )
        })
}

fn classify(lines: &[&str]) -> Vec<Line> {
    let mut kinds = Vec::with_capacity(lines.len());
    let mut fence: Option<(u8, usize)> = None;
    for line in lines {
        if let Some((c, n)) = fence {
            if fence_marker(line)
                .is_some_and(|(c2, n2, rest)| c2 == c && n2 >= n && rest.trim().is_empty())
            {
                fence = None;
            }
            kinds.push(Line::Fence);
            continue;
        }
        if let Some((c, n, _)) = fence_marker(line) {
            fence = Some((c, n));
            kinds.push(Line::Fence);
            continue;
        }
        let kind = if line.trim().is_empty() {
            Line::Blank
        } else if line.starts_with([' ', '\t']) || line.contains(['|', '`', '\t']) {
            Line::Protected
        } else {
            Line::Plain
        };
        kinds.push(kind);
    }
    kinds
}

/// A CommonMark fence: up to 3 spaces, then 3+ backticks or tildes.
fn fence_marker(line: &str) -> Option<(u8, usize, &str)> {
    let indent = line.bytes().take_while(|b| *b == b' ').count();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let c = *rest.as_bytes().first()?;
    if c != b'`' && c != b'~' {
        return None;
    }
    let n = rest.bytes().take_while(|b| *b == c).count();
    (n >= 3).then(|| (c, n, &rest[n..]))
}

/// A plain line (starts with a non-blank, has no tab, pipe or backtick).
fn plain(line: &str, mode: Mode) -> String {
    let trimmed = line.trim_end();
    match mode {
        Mode::ToolOutput => trimmed.to_string(),
        Mode::Prose => {
            let mut out = String::with_capacity(trimmed.len());
            let mut prev_space = false;
            for ch in trimmed.chars() {
                if ch == ' ' {
                    if !prev_space {
                        out.push(ch);
                    }
                    prev_space = true;
                } else {
                    out.push(ch);
                    prev_space = false;
                }
            }
            out
        }
    }
}

/// The contents of every code fence in `text`, delimiters included, in order (what
/// `--check` and the tests compare byte for byte).
pub fn fenced_blocks(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.split('\n').collect();
    let kinds = classify(&lines);
    let mut blocks = Vec::new();
    let mut cur: Option<String> = None;
    for (line, kind) in lines.iter().zip(&kinds) {
        if *kind == Line::Fence {
            let c = cur.get_or_insert_with(String::new);
            c.push_str(line);
            c.push('\n');
        } else if let Some(c) = cur.take() {
            blocks.push(c);
        }
    }
    blocks.extend(cur);
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        let cases: &[(&str, Mode, Option<&str>)] = &[
            ("hello  world  ", Mode::Prose, Some("hello world")),
            ("hello  world  ", Mode::ToolOutput, Some("hello  world")),
            ("a\n\n\n\nb", Mode::Prose, Some("a\n\nb")),
            ("\n\na\n\n", Mode::Prose, Some("a")),
            ("a \r\nb", Mode::Prose, Some("a\nb")),
            (
                "a\n```py\nx  =  1   \n\n\n\n```\nb  c",
                Mode::Prose,
                Some("a\n```py\nx  =  1   \n\n\n\n```\nb c"),
            ),
            (
                "~~~~\n  keep  \n~~~\nstill fence  \n~~~~\nout  ",
                Mode::Prose,
                Some("~~~~\n  keep  \n~~~\nstill fence  \n~~~~\nout"),
            ),
            (
                "def f():\n    x  =  1   \n\n\n    return x",
                Mode::Prose,
                None,
            ),
            ("| a  | b |\n|---|---|\n| 1  | 2 |", Mode::Prose, None),
            ("use `a  b` here  ", Mode::Prose, None),
            ("key:\n  child:  1\n\n\n  other: 2", Mode::Prose, None),
            ("unclosed\n```\ncode  \n\n\n", Mode::Prose, None),
            ("fine", Mode::Prose, None),
        ];
        for (input, mode, want) in cases {
            let got = normalize(input, *mode);
            assert_eq!(got.as_deref(), *want, "input {input:?}");
            let out = got.unwrap_or_else(|| input.to_string());
            assert_eq!(normalize(&out, *mode), None, "idempotent on {out:?}");
            assert_eq!(fenced_blocks(input), fenced_blocks(&out));
        }
    }

    proptest! {
        #[test]
        fn idempotent_and_fences_untouched(
            parts in prop::collection::vec(prop_oneof![
                Just("```".to_string()), Just("~~~".to_string()), Just("    ".to_string()),
                Just("\n".to_string()), Just("  ".to_string()), Just("|".to_string()),
                Just("`".to_string()), Just("\t".to_string()), Just("\r".to_string()),
                "[a-z é]{0,8}",
            ], 0..40),
            prose in any::<bool>(),
        ) {
            let text: String = parts.concat();
            let mode = if prose { Mode::Prose } else { Mode::ToolOutput };
            let out = normalize(&text, mode).unwrap_or_else(|| text.clone());
            prop_assert_eq!(normalize(&out, mode), None);
            prop_assert_eq!(fenced_blocks(&text), fenced_blocks(&out));
            let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
            prop_assert_eq!(squash(&text), squash(&out));
        }
    }
}
