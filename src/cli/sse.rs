//! Reads `hookd serve`'s own `/v1/tail` stream: `event:` and `data:` lines
//! up to a blank line make one message; comments (`:`) and `retry:` are
//! skipped. Only what `admin/tail.rs` writes (one `data:` line a message);
//! not a general server-sent-events client.

#[derive(Default)]
pub struct Parser {
    pending: Vec<u8>,
    event: String,
    data: String,
}

impl Parser {
    /// Take the next bytes of the stream; `each(event, data)` per message
    /// they complete.
    pub fn feed(&mut self, bytes: &[u8], each: &mut impl FnMut(&str, &str)) {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line[..end]);
            let line = line.strip_suffix('\r').unwrap_or(&line);
            if line.is_empty() {
                if !self.data.is_empty() {
                    let event = if self.event.is_empty() { "message" } else { &self.event };
                    each(event, &self.data);
                }
                self.event.clear();
                self.data.clear();
            } else if let Some(v) = line.strip_prefix("event:") {
                self.event = v.trim_start().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                if !self.data.is_empty() {
                    self.data.push('\n');
                }
                self.data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn messages_split_anywhere_come_out_whole() {
        let mut p = super::Parser::default();
        let mut got = Vec::new();
        let stream =
            b": hi\nretry: 2000\n\nevent: received\ndata: {\"a\":1}\n\n: keep-alive\n\nevent: dead\r\ndata: {}\r\n\r\n";
        for chunk in stream.chunks(5) {
            p.feed(chunk, &mut |e, d| got.push((e.to_string(), d.to_string())));
        }
        assert_eq!(got, [("received".into(), "{\"a\":1}".into()), ("dead".to_string(), "{}".to_string())]);
    }
}
