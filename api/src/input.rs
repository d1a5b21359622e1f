//! Checks every request passes before it reaches a handler, so that input PostgreSQL or the
//! extractors would choke on, or silently misread, gets a 4xx problem instead:
//!
//! - a request target over [`MAX_URI`] bytes (414) or headers over [`MAX_HEADERS`] bytes in
//!   all (431): bounds far above any client's, below the HTTP layer's own buffer;
//! - a path or query whose percent-decoded text holds a NUL character or is not UTF-8
//!   (400 for the path, 422 naming the query parameter): PostgreSQL cannot store NUL in
//!   text, and the query extractor would read invalid UTF-8 with replacement characters;
//! - a JSON body (`application/json` or `+json`, not compressed) that is a top-level array
//!   (serde would fill a struct from it by position) or whose strings hold a NUL character
//!   (422 naming the field). The body is read here, up to the largest JSON limit, and given
//!   back to the handler unchanged; a copy is kept for [`crate::error::extract::json`], which
//!   names the field where a body of the wrong shape failed to parse.
//!
//! The problems themselves are built in [`crate::error`], like every other.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{mime, HttpMessage};
use futures_util::StreamExt;
use percent_encoding::percent_decode_str;
use serde_json::Value;

use crate::domain::nul_paths;
use crate::error::extract::RawJson;
use crate::error::{ApiError, FieldError};

/// Longest request target (path and query) read.
pub const MAX_URI: usize = 8 * 1024;
/// Most header bytes (names and values) in one request.
pub const MAX_HEADERS: usize = 32 * 1024;

/// The request body encodings the server decodes (actix-web's decoders); any other
/// `Content-Encoding` is 415 rather than read as if it were plain.
const DECODED_ENCODINGS: &[&str] = &["identity", "gzip", "x-gzip", "deflate", "br", "zstd"];

/// The largest JSON body any route takes (sync push); a longer one is passed on unread,
/// for the route's own limit to refuse.
pub const MAX_SCANNED_JSON: usize = crate::routes::sync::PUSH_LIMIT;

/// The middleware (wired in `startup` with `from_fn`).
pub async fn check(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let checked = match check_head(&req) {
        Ok(()) => check_json_body(&mut req).await,
        Err(error) => Err(error),
    };
    match checked {
        Ok(()) => Ok(next.call(req).await?.map_into_left_body()),
        Err(error) => Ok(req.error_response(error).map_into_right_body()),
    }
}

fn check_head(req: &ServiceRequest) -> Result<(), ApiError> {
    let uri_len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_len > MAX_URI {
        return Err(ApiError::UriTooLong { limit: MAX_URI });
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > MAX_HEADERS {
        return Err(ApiError::HeadersTooLarge { limit: MAX_HEADERS });
    }
    if let Some(encoding) = req.headers().get(header::CONTENT_ENCODING) {
        let known = encoding.to_str().is_ok_and(|v| {
            v.split(',')
                .all(|e| DECODED_ENCODINGS.iter().any(|k| e.trim().eq_ignore_ascii_case(k)))
        });
        if !known {
            return Err(ApiError::UnsupportedMediaType {
                detail: format!(
                    "Content-Encoding {:?} is not one this server decodes (it decodes {}).",
                    String::from_utf8_lossy(encoding.as_bytes()),
                    DECODED_ENCODINGS.join(", ")
                ),
            });
        }
    }
    if text_problem(req.path()).is_some() {
        return Err(ApiError::bad_request(
            "invalid_path",
            "The path holds a NUL character or bytes that are not UTF-8 text.",
        ));
    }
    let mut errors = Vec::new();
    for pair in req.query_string().split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode_str(raw_key).decode_utf8_lossy().into_owned();
        if let Some((code, message)) = text_problem(raw_key).or_else(|| text_problem(raw_value)) {
            errors.push(FieldError {
                field: key,
                code: code.into(),
                message: message.into(),
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// What is wrong with percent-encoded text, if anything.
fn text_problem(encoded: &str) -> Option<(&'static str, &'static str)> {
    match percent_decode_str(encoded).decode_utf8() {
        Err(_) => Some(("invalid_text", "must be UTF-8 text")),
        Ok(text) if text.contains('\0') => Some(("nul_character", "must not contain a NUL character")),
        Ok(_) => None,
    }
}

fn is_uncompressed_json(req: &ServiceRequest) -> bool {
    let json = req.mime_type().ok().flatten().is_some_and(|mime| {
        mime.type_() == mime::APPLICATION
            && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
    });
    let encoded = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.trim().eq_ignore_ascii_case("identity"));
    json && !encoded
}

async fn check_json_body(req: &mut ServiceRequest) -> Result<(), ApiError> {
    if !is_uncompressed_json(req) {
        return Ok(());
    }
    let mut payload = req.take_payload();
    let mut body = BytesMut::new();
    let mut failed = None;
    while body.len() <= MAX_SCANNED_JSON {
        match payload.next().await {
            Some(Ok(chunk)) => body.extend_from_slice(&chunk),
            Some(Err(error)) => {
                failed = Some(error);
                break;
            }
            None => break,
        }
    }
    let body = body.freeze();
    let complete = failed.is_none() && body.len() <= MAX_SCANNED_JSON;
    // Give the body back as it came: what was read, then the rest (or the read error).
    let head = futures_util::stream::iter([Ok(body.clone())]);
    let rest: Payload = match failed {
        Some(error) => Payload::Stream {
            payload: Box::pin(futures_util::stream::iter([Err(error)])),
        },
        None => payload,
    };
    req.set_payload(Payload::Stream {
        payload: Box::pin(head.chain(rest)),
    });
    if !complete {
        return Ok(());
    }
    req.extensions_mut().insert(RawJson(body.clone()));
    check_json(req.path(), &body)
}

/// Bodies whose list its route checks item by item, so that one bad item is refused alone
/// (a phone's queue must move on past one bad edit): the path, and the list's field.
const CHECKED_PER_ITEM: &[(&str, &str)] = &[("/v1/sync/push", "mutations")];

fn checked_per_item(path: &str) -> Option<&'static str> {
    CHECKED_PER_ITEM
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, list)| *list)
}

/// The checks on a complete JSON body sent to `path`.
fn check_json(path: &str, body: &Bytes) -> Result<(), ApiError> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::Validation(vec![FieldError {
            field: String::new(),
            code: "invalid_type".into(),
            message: "invalid type: an array, expected the body to be a JSON object".into(),
        }]));
    }
    // A NUL can only be written escaped in JSON; only then is the body parsed to find it
    // (`\\u0000` is a backslash and text, which the walk below tells apart).
    if memchr::memmem::find(body, b"\\u0000").is_none() {
        return Ok(());
    }
    let Ok(mut value) = serde_json::from_slice::<Value>(body) else {
        return Ok(()); // malformed: the extractor says so
    };
    if let (Some(list), Value::Object(map)) = (checked_per_item(path), &mut value) {
        map.remove(list);
    }
    let fields = nul_paths(&value);
    if fields.is_empty() {
        return Ok(());
    }
    Err(ApiError::Validation(
        fields
            .into_iter()
            .map(|field| FieldError {
                field,
                code: "nul_character".into(),
                message: "must not contain a NUL character".into(),
            })
            .collect(),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fields(body: &str) -> Vec<String> {
        match check_json("/v1/contacts", &Bytes::from(body.to_string())) {
            Ok(()) => Vec::new(),
            Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn nul_characters_are_found_with_their_field() {
        assert_eq!(fields(r#"{"email": "a\u0000@x.example"}"#), ["email"]);
        assert_eq!(
            fields(r#"{"card": {"links": ["ok", "b\u0000"]}}"#),
            ["card.links[1]"]
        );
        assert!(fields(r#"{"notes": "a backslash: \\u0000"}"#).is_empty());
        assert!(fields(r#"{"notes": "fine"}"#).is_empty());
        assert_eq!(fields(r#" ["a", "b"]"#), [""]);
    }

    #[test]
    fn a_push_leaves_its_mutations_to_the_route() {
        let body = Bytes::from_static(br#"{"device_id": "d\u0000", "mutations": [{"id": "a\u0000"}]}"#);
        match check_json("/v1/sync/push", &body) {
            Err(ApiError::Validation(errors)) => {
                let fields: Vec<_> = errors.into_iter().map(|e| e.field).collect();
                assert_eq!(fields, ["device_id"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn percent_encoded_nul_and_bad_utf8_are_found() {
        assert_eq!(text_problem("a%00b").map(|p| p.0), Some("nul_character"));
        assert_eq!(text_problem("%FF").map(|p| p.0), Some("invalid_text"));
        assert_eq!(text_problem("caf%C3%A9"), None);
    }
}
