//! The JSON a route reads from a body: the body itself, or — for a form
//! body (`application/x-www-form-urlencoded`, GitHub's default content
//! type) — its `payload` field's JSON; and a form body's fields. Pure.

use serde_json::Value;

/// The body's JSON document, if it has one.
pub fn json(body: &[u8], content_type: Option<&str>) -> Option<Value> {
    if is_form(content_type) {
        let payload = form_field(body, "payload")?;
        return serde_json::from_str(&payload).ok();
    }
    serde_json::from_slice(body).ok()
}

/// The bytes identify and `order_by` read: a form body's `payload` field
/// (GitHub's default content type), else the body itself.
pub fn json_bytes<'a>(body: &'a [u8], content_type: Option<&str>) -> std::borrow::Cow<'a, [u8]> {
    match is_form(content_type).then(|| form_field(body, "payload")).flatten() {
        Some(payload) => std::borrow::Cow::Owned(payload.into_bytes()),
        None => std::borrow::Cow::Borrowed(body),
    }
}

/// A form body's first value of `field`.
pub fn form_field(body: &[u8], field: &str) -> Option<String> {
    form_urlencoded::parse(body).find(|(k, _)| k == field).map(|(_, v)| v.into_owned())
}

fn is_form(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|c| c.split(';').next())
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}
