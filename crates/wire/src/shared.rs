//! Small conversions both formats need: data URLs, tool-call arguments, image media
//! types. No format-specific structure lives here.

use serde_json::Value;

use crate::error::Result;
use crate::types::{ImageSource, ToolChoice};

/// Image media types Anthropic accepts in a base64 source.
pub(crate) const ANTHROPIC_IMAGE_TYPES: [&str; 4] =
    ["image/jpeg", "image/png", "image/gif", "image/webp"];

/// An OpenAI `image_url.url`: a base64 `data:` URL becomes a base64 source, anything else
/// (http(s), or a non-base64 data URL) stays a URL.
pub(crate) fn image_from_url(url: &str) -> ImageSource {
    if let Some((media_type, data)) = split_base64_data_url(url) {
        return ImageSource::Base64 {
            media_type: media_type.to_string(),
            data: data.to_string(),
        };
    }
    ImageSource::Url {
        url: url.to_string(),
    }
}

/// `data:<media type>[;params];base64,<data>` → (media type, data).
pub(crate) fn split_base64_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let meta = meta.strip_suffix(";base64")?;
    let media_type = meta.split(';').next().unwrap_or(meta);
    Some((media_type, data))
}

/// The `data:` URL OpenAI expects for inline image bytes.
pub(crate) fn data_url(media_type: &str, data: &str) -> String {
    format!("data:{media_type};base64,{data}")
}

/// The string form of an OpenAI `tool_choice` (Chat Completions and Responses alike).
pub(crate) fn tool_choice_mode(top: &crate::check::Obj<'_>, s: &str) -> Result<ToolChoice> {
    match s {
        "auto" => Ok(ToolChoice::Auto),
        "none" => Ok(ToolChoice::None),
        "required" => Ok(ToolChoice::Required),
        other => Err(top.err(
            "tool_choice",
            format!("unknown value `{other}`; expected none, auto or required"),
        )),
    }
}

/// OpenAI's tool-call `arguments` string as JSON. Unparseable text is kept as a JSON
/// string so the OpenAI encoder can send it back verbatim and the Anthropic encoder can
/// refuse it; an empty string means "no arguments".
pub(crate) fn parse_arguments(args: &str) -> Value {
    if args.trim().is_empty() {
        return Value::Object(serde_json::Map::new());
    }
    serde_json::from_str(args).unwrap_or_else(|_| Value::String(args.to_string()))
}

/// The inverse of [`parse_arguments`].
pub(crate) fn arguments_string(input: &Value) -> String {
    match input {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

/// Why an image URL cannot go to Anthropic, if it cannot.
pub(crate) fn anthropic_image_problem(source: &ImageSource) -> Option<String> {
    match source {
        ImageSource::Url { url } if url.starts_with("data:") => {
            Some("a data: URL that is not base64 has no Anthropic equivalent".into())
        }
        ImageSource::Url { .. } => None,
        ImageSource::Base64 { media_type, .. } => {
            if ANTHROPIC_IMAGE_TYPES.contains(&media_type.as_str()) {
                None
            } else {
                Some(format!(
                    "image type `{media_type}` is not accepted by Anthropic (jpeg, png, gif, webp only)"
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn data_urls() {
        assert_eq!(
            image_from_url("data:image/png;base64,AAAA"),
            ImageSource::Base64 {
                media_type: "image/png".into(),
                data: "AAAA".into()
            }
        );
        assert_eq!(
            split_base64_data_url("data:image/png;name=x.png;base64,QQ=="),
            Some(("image/png", "QQ=="))
        );
        assert_eq!(
            image_from_url("data:image/svg+xml,%3Csvg%3E"),
            ImageSource::Url {
                url: "data:image/svg+xml,%3Csvg%3E".into()
            }
        );
        assert_eq!(
            image_from_url("https://x/y.png"),
            ImageSource::Url {
                url: "https://x/y.png".into()
            }
        );
        assert_eq!(data_url("image/jpeg", "QQ"), "data:image/jpeg;base64,QQ");
    }

    #[test]
    fn arguments() {
        assert_eq!(parse_arguments(r#"{"a":1}"#), json!({"a": 1}));
        assert_eq!(parse_arguments(""), json!({}));
        assert_eq!(parse_arguments("{oops"), json!("{oops"));
        assert_eq!(arguments_string(&json!("{oops")), "{oops");
        assert_eq!(arguments_string(&json!({"a": 1})), r#"{"a":1}"#);
    }

    #[test]
    fn image_problems() {
        assert!(anthropic_image_problem(&image_from_url("data:image/svg+xml,x")).is_some());
        assert!(anthropic_image_problem(&image_from_url("data:image/bmp;base64,x")).is_some());
        assert!(anthropic_image_problem(&image_from_url("data:image/webp;base64,x")).is_none());
        assert!(anthropic_image_problem(&image_from_url("https://x")).is_none());
    }
}

/// A response id in OpenAI's style (`chatcmpl-…`): a Claude answer rendered for an OpenAI
/// client keeps its own id after the prefix, so it can still be traced upstream.
pub fn openai_id(id: &str) -> String {
    if id.starts_with("chatcmpl-") {
        id.to_string()
    } else {
        format!("chatcmpl-{}", bare_id(id))
    }
}

/// An id without the prefix its format gives it (`msg_`, `chatcmpl-`, `resp_`).
pub(crate) fn bare_id(id: &str) -> &str {
    ["msg_", "chatcmpl-", "resp_"]
        .iter()
        .find_map(|p| id.strip_prefix(p))
        .unwrap_or(id)
}

/// A response id in Anthropic's style (`msg_…`), the mirror of [`openai_id`].
pub fn anthropic_id(id: &str) -> String {
    if id.starts_with("msg_") {
        id.to_string()
    } else {
        format!("msg_{}", bare_id(id))
    }
}

#[cfg(test)]
mod id_tests {
    use super::*;

    #[test]
    fn ids_take_the_clients_style() {
        assert_eq!(openai_id("msg_01abc"), "chatcmpl-01abc");
        assert_eq!(openai_id("chatcmpl-9"), "chatcmpl-9");
        assert_eq!(anthropic_id("chatcmpl-9"), "msg_9");
        assert_eq!(anthropic_id("msg_01abc"), "msg_01abc");
        assert_eq!(anthropic_id("resp_68af"), "msg_68af");
        assert_eq!(openai_id("resp_68af"), "chatcmpl-68af");
    }
}

/// Seconds since the epoch, for `created` / `created_at`.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
