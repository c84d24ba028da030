//! A `nats` route's `subject` (SPEC §5): a route template
//! (`route/template.rs`, the one template engine) whose every placeholder
//! value is sanitised so it stays one subject token: `.`, `*`, `>`,
//! whitespace (and other control characters) become `_`, and an empty
//! value is `_`. The literal text is checked once at load to be a subject a
//! publisher may use. Pure; no IO.

use crate::route::template::{Event, Template};

/// A compiled `subject` template, and the text it was compiled from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    template: Template,
    pub text: String,
}

impl Subject {
    /// Compile `text`: SPEC §5's placeholders (an unknown one is an error),
    /// `{{` and `}}` literal braces; with each placeholder standing for one
    /// token, the subject must be `token(.token)*`, without wildcards or
    /// whitespace.
    pub fn compile(text: &str) -> Result<Subject, String> {
        let template = Template::parse(text)?;
        let shape = template.shape("x");
        if shape.is_empty() {
            return Err("is empty".into());
        }
        if shape.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("{text:?} has whitespace"));
        }
        if shape.contains(['*', '>']) {
            return Err(format!("{text:?} has a wildcard (* or >): a message is published to one subject"));
        }
        if shape.split('.').any(str::is_empty) {
            return Err(format!("{text:?} has an empty token (a leading, trailing or doubled '.')"));
        }
        Ok(Subject { template, text: text.to_string() })
    }

    /// The sender headers it reads (lower-case), so ingress keeps them.
    pub fn headers(&self) -> impl Iterator<Item = String> + '_ {
        self.template.headers()
    }

    /// The subject for one attempt.
    pub fn render(&self, ev: &Event) -> String {
        self.template.render_escaped(ev, &mut None, token)
    }
}

/// `value` as one subject token.
fn token(value: &str, out: &mut String) {
    if value.is_empty() {
        out.push('_');
        return;
    }
    let unsafe_char = |c: char| matches!(c, '.' | '*' | '>') || c.is_whitespace() || c.is_control();
    out.extend(value.chars().map(|c| if unsafe_char(c) { '_' } else { c }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<'a>(body: &'a [u8], headers: &'a [(String, String)]) -> Event<'a> {
        Event {
            source: "stripe",
            event_id: "evt.1 *>",
            event_type: "invoice.paid",
            id: "01J",
            attempt: 3,
            received_at: "2026-01-02T03:04:05.678Z",
            headers,
            body,
        }
    }

    fn render(text: &str, ev: &Event) -> String {
        Subject::compile(text).expect("valid subject").render(ev)
    }

    #[test]
    fn placeholders_render_as_single_sanitised_tokens() {
        let ev = event(b"{}", &[]);
        assert_eq!(render("webhooks.{source}.{event_type}", &ev), "webhooks.stripe.invoice_paid");
        let got = render("w.{event_id}.{attempt}.{received_at}.{id}", &ev);
        assert_eq!(got, "w.evt_1___.3.2026-01-02T03:04:05_678Z.01J");
    }

    #[test]
    fn json_header_and_form_values() {
        let headers = vec![("x-github-event".to_string(), "push".to_string())];
        let body = br#"{"repo":{"name":"acme/app.rs"},"n":7,"o":{"a b":1}}"#;
        let got = render(
            "gh.{header:X-GitHub-Event}.{json:/repo/name}.{json:/n}.{json:/missing}.{json:/o}",
            &event(body, &headers),
        );
        assert_eq!(got, "gh.push.acme/app_rs.7._.{\"a_b\":1}");
        // A form body: `payload=<json>` is read as that JSON; form fields too.
        let form = vec![("content-type".to_string(), "application/x-www-form-urlencoded".to_string())];
        let body = b"payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D&x=1";
        assert_eq!(render("gh.{json:/ref}.{form:x}.{form:none}", &event(body, &form)), "gh.refs/heads/main.1._");
        let t = Subject::compile("a.{header:X-A}.{header:x-b}").expect("valid");
        assert_eq!(t.headers().collect::<Vec<_>>(), ["x-a", "x-b"]);
    }

    #[test]
    fn braces_and_bad_subjects() {
        assert_eq!(render("a{{b}}.{source}", &event(b"", &[])), "a{b}.stripe");
        for bad in ["", "a..b", ".a", "a.", "a.*", "a.>", "a b", "{nope}", "{source", "{json:x}", "{header:a b}"] {
            assert!(Subject::compile(bad).is_err(), "{bad:?} should be refused");
        }
        let e = Subject::compile("a.*.{nope}").expect_err("refused");
        assert!(e.contains("unknown placeholder {nope}"), "{e}");
    }
}
