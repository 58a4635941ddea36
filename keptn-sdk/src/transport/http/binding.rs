//! The CloudEvents HTTP binding: structured and binary content modes.
//!
//! - Structured: the whole event is the JSON body, `Content-Type:
//!   application/cloudevents+json`. Lossless.
//! - Binary: attributes travel as `ce-<name>` headers (percent-encoded where the binding asks
//!   for it), `data` is the body and `datacontenttype` the `Content-Type`. Header values are
//!   strings, so an extension that held a number, a boolean or an object arrives as its text.

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::event::{EventDraft, KeptnEvent};

/// The content type of structured mode.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json";

/// How an event is put into an HTTP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ContentMode {
    /// The event as a JSON document (what Keptn's services send).
    #[default]
    Structured,
    /// Attributes in `ce-*` headers, `data` as the body.
    Binary,
}

/// Headers and body of `event` in `mode`.
pub(crate) fn encode(event: &KeptnEvent, mode: ContentMode) -> Result<(HeaderMap, Bytes), String> {
    let mut headers = HeaderMap::new();
    match mode {
        ContentMode::Structured => {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static(STRUCTURED_CONTENT_TYPE),
            );
            Ok((headers, Bytes::from(event.to_json())))
        }
        ContentMode::Binary => {
            let draft = EventDraft::from(event.clone());
            let mut put = |name: &str, value: &str| -> Result<(), String> {
                let header = HeaderName::from_bytes(format!("ce-{name}").as_bytes())
                    .map_err(|_| format!("attribute name {name:?} cannot be an HTTP header"))?;
                let value = HeaderValue::from_str(&percent_encode(value))
                    .map_err(|_| format!("attribute {name} cannot be an HTTP header value"))?;
                headers.insert(header, value);
                Ok(())
            };
            let attributes = [
                ("specversion", &draft.specversion),
                ("id", &draft.id),
                ("source", &draft.source),
                ("type", &draft.event_type),
                ("time", &draft.time),
                ("dataschema", &draft.dataschema),
                ("subject", &draft.subject),
                ("shkeptncontext", &draft.shkeptncontext),
                ("triggeredid", &draft.triggeredid),
                ("gitcommitid", &draft.gitcommitid),
                ("shkeptnspecversion", &draft.shkeptnspecversion),
            ];
            for (name, value) in attributes {
                if let Some(value) = value {
                    put(name, value)?;
                }
            }
            for (name, value) in &draft.extensions {
                let text = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                put(&name.to_ascii_lowercase(), &text)?;
            }
            let content_type = event
                .datacontenttype
                .clone()
                .unwrap_or_else(|| "application/json".to_owned());
            let body = match &event.data {
                Value::Null => Bytes::new(),
                Value::String(s) if !is_json(&content_type) => Bytes::from(s.clone()),
                data => Bytes::from(serde_json::to_vec(data).unwrap_or_default()),
            };
            let content_type = HeaderValue::from_str(&content_type)
                .map_err(|_| format!("datacontenttype {content_type:?} is not a header value"))?;
            headers.insert(CONTENT_TYPE, content_type);
            Ok((headers, body))
        }
    }
}

/// Reads an event from a request: binary mode if a `ce-specversion` header is present,
/// structured mode otherwise. The error says what is wrong, for a 400 answer.
pub(crate) fn decode(headers: &HeaderMap, body: &[u8]) -> Result<KeptnEvent, String> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if headers.contains_key("ce-specversion") {
        return decode_binary(headers, &content_type, body);
    }
    let media = media_type(&content_type);
    if media == "application/cloudevents-batch+json" {
        return Err("batched CloudEvents are not supported: send one event per request".into());
    }
    if !media.is_empty() && !is_json(&media) {
        return Err(format!(
            "unsupported content type {content_type:?}: expected {STRUCTURED_CONTENT_TYPE} \
             (structured mode) or ce-* headers (binary mode)"
        ));
    }
    KeptnEvent::from_json(body).map_err(|e| format!("invalid CloudEvent: {e}"))
}

fn decode_binary(
    headers: &HeaderMap,
    content_type: &str,
    body: &[u8],
) -> Result<KeptnEvent, String> {
    let mut draft = EventDraft::default();
    for (name, value) in headers {
        let Some(attribute) = name.as_str().strip_prefix("ce-") else {
            continue;
        };
        let raw = value
            .to_str()
            .map_err(|_| format!("header {name} is not ASCII"))?;
        let text =
            percent_decode(raw).ok_or_else(|| format!("header {name} is badly percent-encoded"))?;
        let slot = match attribute {
            "specversion" => &mut draft.specversion,
            "id" => &mut draft.id,
            "source" => &mut draft.source,
            "type" => &mut draft.event_type,
            "time" => &mut draft.time,
            "dataschema" => &mut draft.dataschema,
            "subject" => &mut draft.subject,
            "shkeptncontext" => &mut draft.shkeptncontext,
            "triggeredid" => &mut draft.triggeredid,
            "gitcommitid" => &mut draft.gitcommitid,
            "shkeptnspecversion" => &mut draft.shkeptnspecversion,
            other => {
                draft
                    .extensions
                    .insert(other.to_owned(), Value::String(text));
                continue;
            }
        };
        *slot = Some(text);
    }
    if !content_type.is_empty() {
        draft.datacontenttype = Some(content_type.to_owned());
    }
    draft.data = Some(if body.is_empty() {
        Value::Null
    } else if content_type.is_empty() || is_json(&media_type(content_type)) {
        serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))?
    } else {
        let text = std::str::from_utf8(body)
            .map_err(|_| format!("data of content type {content_type:?} is not UTF-8 text"))?;
        Value::String(text.to_owned())
    });
    draft
        .into_event()
        .map_err(|e| format!("invalid CloudEvent: {e}"))
}

/// The media type of a `Content-Type` value, lowercase, without parameters.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn is_json(media: &str) -> bool {
    let media = media_type(media);
    media == "application/json" || media == "text/json" || media.ends_with("+json")
}

/// Percent-encodes what the CloudEvents HTTP binding asks for: every byte outside printable
/// ASCII, space, `"` and `%`.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if (0x21..=0x7e).contains(&byte) && byte != b'"' && byte != b'%' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventType, Phase};
    use serde_json::json;

    fn event() -> KeptnEvent {
        KeptnEvent::builder(EventType::task("test", Phase::Finished))
            .source("jmeter service")
            .triggered_id("t-1")
            .git_commit_id("c0ffee")
            .extension("note", "grüße \"quoted\" 100%")
            .data_json(json!({"project": "p", "result": "pass"}))
            .build()
            .unwrap()
    }

    #[test]
    fn structured_mode_round_trips() {
        let e = event();
        let (headers, body) = encode(&e, ContentMode::Structured).unwrap();
        assert_eq!(headers[CONTENT_TYPE], STRUCTURED_CONTENT_TYPE);
        assert_eq!(decode(&headers, &body).unwrap(), e);
    }

    #[test]
    fn binary_mode_round_trips_string_attributes() {
        let e = event();
        let (headers, body) = encode(&e, ContentMode::Binary).unwrap();
        assert_eq!(headers["ce-type"], "sh.keptn.event.test.finished");
        assert_eq!(headers["ce-source"], "jmeter%20service");
        assert_eq!(headers[CONTENT_TYPE], "application/json");
        assert_eq!(decode(&headers, &body).unwrap(), e);
    }

    #[test]
    fn binary_mode_carries_text_data() {
        let mut e = event();
        e.datacontenttype = Some("text/plain".into());
        e.data = json!("plain text");
        let (headers, body) = encode(&e, ContentMode::Binary).unwrap();
        assert_eq!(&body[..], b"plain text");
        assert_eq!(decode(&headers, &body).unwrap(), e);
    }

    #[test]
    fn bad_requests_get_a_clear_message() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(STRUCTURED_CONTENT_TYPE),
        );
        let err = decode(&headers, b"{\"specversion\":\"1.0\"}").unwrap_err();
        assert!(err.contains("missing required attribute `id`"), "{err}");
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(
            decode(&headers, b"x")
                .unwrap_err()
                .contains("unsupported content type")
        );
        let mut binary = HeaderMap::new();
        binary.insert("ce-specversion", HeaderValue::from_static("1.0"));
        binary.insert("ce-id", HeaderValue::from_static("%zz"));
        assert!(
            decode(&binary, b"{}")
                .unwrap_err()
                .contains("percent-encoded")
        );
    }
}
