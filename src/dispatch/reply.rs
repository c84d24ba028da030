//! Reply routes (SPEC §5): a sender's request waits, after its durable
//! accept, for the first attempt of its source's reply route, and is
//! answered with that attempt's output when it succeeded in time. A registry
//! of one-shot channels keyed by (source, sender's event id): ingress
//! registers before the accept, so no attempt can end unseen; the
//! dispatcher takes the channel as that attempt starts and fulfils it once
//! the attempt's end is recorded. Never runs a handler and never changes
//! what the dispatcher records: a sender that stopped waiting costs nothing
//! but the captured output.

use crate::config::Sources;
use crate::route::Reply;
use crate::store::keys::Id;
use crate::store::Claim;
use bytes::Bytes;
use http::HeaderValue;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// The most output a reply carries (a command's stdout, a callback's
/// response body): Twilio reads at most 64 KB of TwiML, Slack a message
/// far shorter. More is no answer (202), and a warning.
pub const REPLY_MAX: usize = 64 * 1024;

/// (source, the sender's event id).
type Key = (String, String);

/// Who waits for which event's reply; shared by ingress and the dispatcher.
#[derive(Clone, Default)]
pub struct Replies(Arc<Mutex<Waiting>>);

#[derive(Default)]
struct Waiting {
    next_token: u64,
    by_event: HashMap<Key, (u64, oneshot::Sender<Output>)>,
}

/// What the attempt sends back: whose attempt it was, and its output when
/// it succeeded within `REPLY_MAX`.
struct Output {
    id: Id,
    body: Option<Bytes>,
}

/// A sender's request waiting for its event's reply.
pub struct Waiter {
    replies: Replies,
    key: Key,
    token: u64,
    rx: oneshot::Receiver<Output>,
    spec: Reply,
}

/// The dispatcher's side: the channel of the attempt a sender waits for.
pub struct Taker {
    id: Id,
    tx: oneshot::Sender<Output>,
}

/// The 200 answer of a reply route.
pub struct Answer {
    pub body: Bytes,
    pub content_type: HeaderValue,
}

impl Replies {
    /// Before the accept of an event that `spec`'s route takes: wait for its
    /// first attempt. `None` when a request for the same event waits
    /// already (a duplicate in flight: it is answered as one).
    pub fn expect(&self, source: &str, event_id: &str, spec: &Reply) -> Option<Waiter> {
        let key = (source.to_string(), event_id.to_string());
        let (tx, rx) = oneshot::channel();
        let mut waiting = self.lock();
        if waiting.by_event.contains_key(&key) {
            return None;
        }
        waiting.next_token += 1;
        let token = waiting.next_token;
        waiting.by_event.insert(key.clone(), (token, tx));
        drop(waiting);
        Some(Waiter { replies: self.clone(), key, token, rx, spec: spec.clone() })
    }

    /// As `claim`'s attempt starts: `Some` when a sender waits for its
    /// output (the first attempt of its source's reply route).
    pub fn take(&self, claim: &Claim, sources: &Sources) -> Option<Taker> {
        let route = sources.get(&claim.event.source)?.routes.iter().find(|r| r.name == claim.route)?;
        if route.reply.is_none() || claim.attempt != 1 {
            return None;
        }
        let key = (claim.event.source.clone(), claim.event.event_id.clone());
        let (_, tx) = self.lock().by_event.remove(&key)?;
        Some(Taker { id: claim.due.id, tx })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Ingress, before the accept of an event of `source` that `routes` take:
/// a waiter when one of them is the source's reply route.
pub fn waiter(
    replies: &Replies,
    source: &crate::config::Source,
    source_name: &str,
    routes: &[String],
    event_id: &str,
) -> Option<Waiter> {
    let route = source.routes.iter().find(|r| r.reply.is_some())?;
    if !routes.contains(&route.name) {
        return None;
    }
    replies.expect(source_name, event_id, route.reply.as_ref()?)
}

impl Taker {
    /// The attempt's end is recorded: `output` is what the sender is
    /// answered when it was `delivered` (`None`: over `REPLY_MAX`, or not
    /// read whole).
    pub fn send(self, delivered: bool, output: Option<Bytes>) {
        if delivered && output.is_none() {
            tracing::warn!(
                max_bytes = REPLY_MAX,
                "a reply route's output was over the reply limit, not read whole, or not text holding a secret; the sender was answered 202"
            );
        }
        let body = output.filter(|_| delivered);
        // The sender may have stopped waiting: nothing to do then.
        let _ = self.tx.send(Output { id: self.id, body });
    }
}

impl Waiter {
    /// After the accept of `id`: the answer when its attempt succeeded
    /// within `reply_within`; `None` (answer 202) otherwise.
    pub async fn answer(mut self, id: &Id) -> Option<Answer> {
        let within = self.spec.within;
        let output = tokio::time::timeout(within, &mut self.rx).await.ok()?.ok()?;
        let body = output.body.filter(|_| output.id == *id)?;
        let content_type = self.spec.content_type.clone().unwrap_or_else(|| sniffed(&body));
        Some(Answer { body, content_type })
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut waiting = self.replies.lock();
        if waiting.by_event.get(&self.key).is_some_and(|(token, _)| *token == self.token) {
            waiting.by_event.remove(&self.key);
        }
    }
}

/// The output a sender may be answered with: as it is when it holds no
/// configured secret (the usual case, left byte for byte), else scrubbed
/// like an output tail; `None` when it is not text and holds one.
pub fn scrubbed(output: Bytes, secrets: &[&[u8]]) -> Option<Bytes> {
    let holds = |s: &&[u8]| !s.is_empty() && output.windows(s.len()).any(|w| w == *s);
    if !secrets.iter().any(holds) {
        return Some(output);
    }
    let text = String::from_utf8(output.to_vec()).ok()?;
    Some(Bytes::from(super::child::scrub(text, secrets)))
}

/// A reply's output as it arrives: all of it up to `cap` bytes; a byte
/// more spoils it (`None`), as does `cap` 0 (not asked for).
pub struct Whole {
    cap: usize,
    buf: Option<Vec<u8>>,
}

impl Whole {
    pub fn new(cap: usize) -> Self {
        Self { cap, buf: (cap > 0).then(Vec::new) }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        if self.buf.as_ref().is_some_and(|b| b.len() + chunk.len() > self.cap) {
            self.buf = None;
        }
        if let Some(buf) = &mut self.buf {
            buf.extend_from_slice(chunk);
        }
    }

    /// Not read to its end after all: no answer.
    pub fn spoil(&mut self) {
        self.buf = None;
    }

    pub fn into_bytes(self) -> Option<Bytes> {
        self.buf.map(Bytes::from)
    }
}

/// SPEC §5's default: `application/json` when the output parses as JSON,
/// else `text/plain`.
fn sniffed(body: &[u8]) -> HeaderValue {
    match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        Ok(_) => HeaderValue::from_static("application/json"),
        Err(_) => HeaderValue::from_static("text/plain"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_output_is_json_anything_else_plain_text() {
        assert_eq!(sniffed(br#"{"text":"ok"}"#), "application/json");
        assert_eq!(sniffed(b" [1, 2]\n"), "application/json");
        assert_eq!(sniffed(b"<Response><Message>hi</Message></Response>"), "text/plain");
        assert_eq!(sniffed(b""), "text/plain");
        assert_eq!(sniffed(b"{\"cut"), "text/plain");
    }

    #[test]
    fn a_reply_never_carries_a_secret() {
        let secrets: Vec<&[u8]> = vec![b"whsec_abcdefgh"];
        let clean = Bytes::from_static(b"<Response/>");
        assert_eq!(scrubbed(clean.clone(), &secrets), Some(clean));
        let leaky = Bytes::from_static(b"key=whsec_abcdefgh");
        assert_eq!(scrubbed(leaky, &secrets).as_deref(), Some(&b"key=[redacted]"[..]));
        assert_eq!(scrubbed(Bytes::from_static(b"\xffwhsec_abcdefgh"), &secrets), None);
    }

    #[test]
    fn one_waiter_per_event_and_a_dropped_one_leaves_no_trace() {
        let replies = Replies::default();
        let spec = Reply { within: std::time::Duration::from_millis(10), content_type: None };
        let first = replies.expect("s", "e1", &spec).expect("first waits");
        assert!(replies.expect("s", "e1", &spec).is_none(), "a duplicate in flight does not wait");
        assert!(replies.expect("s", "e2", &spec).is_some(), "another event does");
        drop(first);
        assert!(replies.lock().by_event.is_empty());
        assert!(replies.expect("s", "e1", &spec).is_some(), "free again");
    }
}
