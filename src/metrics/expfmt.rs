//! The two exposition formats of `GET /metrics` (SPEC §6): which one a
//! request's `Accept` asks for, and the translation of prometheus-client's
//! OpenMetrics 1.0 text into Prometheus text format 0.0.4. Pure string work;
//! refuses (rather than guesses at) any input it does not fully understand.
//!
//! What differs between the two, and what the translation does about it:
//! - a counter family is named without `_total` in OpenMetrics' `# HELP` /
//!   `# TYPE` and with it in 0.0.4 (whose parsers otherwise see the
//!   `_total` samples as a second family without metadata);
//! - an info family `x` is a gauge `x_info` in 0.0.4; `unknown` is `untyped`;
//! - `# UNIT`, `# EOF`, `_created` samples and exemplars do not exist in
//!   0.0.4 and are dropped; sample timestamps are seconds in OpenMetrics and
//!   milliseconds in 0.0.4;
//! - `# HELP` text escapes `\\`, `\n` and `\"` in OpenMetrics but only `\\`
//!   and `\n` in 0.0.4 (`\"` is an error there), so `\"` becomes `"`.
//!
//! Label values escape `\\`, `\"` and `\n` in both formats and pass through.

/// Which exposition format an answer is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4, the default.
    Text004,
    /// OpenMetrics 1.0 text, only when `Accept` asks for it.
    OpenMetrics,
}

impl Format {
    /// The format for a request with this `Accept` header: OpenMetrics when
    /// `application/openmetrics-text` is acceptable (q > 0) and preferred at
    /// least as much as any range that covers `text/plain`; otherwise 0.0.4.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else { return Format::Text004 };
        let (mut open, mut text) = (0.0f32, 0.0f32);
        for range in split_outside_quotes(accept, ',') {
            let mut parts = split_outside_quotes(range, ';').into_iter();
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut q = 1.0f32;
            for param in parts {
                if let Some((k, v)) = param.split_once('=') {
                    if k.trim().eq_ignore_ascii_case("q") {
                        q = v.trim().parse::<f32>().ok().filter(|q| (0.0..=1.0).contains(q)).unwrap_or(0.0);
                    }
                }
            }
            match media.as_str() {
                "application/openmetrics-text" => open = open.max(q),
                "text/plain" | "text/*" | "*/*" => text = text.max(q),
                _ => {}
            }
        }
        if open > 0.0 && open >= text {
            Format::OpenMetrics
        } else {
            Format::Text004
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text004 => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// `s` split at `sep` where `sep` is not inside a quoted string.
fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let (mut out, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Info,
    Unknown,
}

/// The family being translated: its OpenMetrics name and type.
struct Family<'a> {
    name: &'a str,
    kind: Kind,
}

impl Family<'_> {
    /// Keep (`Some(true)`), drop (`Some(false)`) or refuse (`None`) a sample
    /// of this family named `sample`.
    fn keeps(&self, sample: &str) -> Option<bool> {
        let suffix = sample.strip_prefix(self.name)?;
        let kept: &[&str] = match self.kind {
            Kind::Counter => &["_total"],
            Kind::Gauge | Kind::Unknown => &[""],
            Kind::Histogram => &["_bucket", "_sum", "_count"],
            Kind::Summary => &["", "_sum", "_count"],
            Kind::Info => &["_info"],
        };
        let created = matches!(self.kind, Kind::Counter | Kind::Histogram | Kind::Summary) && suffix == "_created";
        if kept.contains(&suffix) {
            Some(true)
        } else if created {
            Some(false)
        } else {
            None
        }
    }
}

/// OpenMetrics 1.0 text, as prometheus-client writes it, to Prometheus text
/// format 0.0.4. An error names the line it could not translate.
pub fn to_text004(open: &str) -> Result<String, String> {
    let mut out = String::with_capacity(open.len() + open.len() / 16);
    let mut family: Option<Family> = None;
    let mut help: Option<(&str, &str)> = None;
    let mut eof = false;
    for (n, line) in open.lines().enumerate() {
        let at = |why: &str| format!("line {}: {why}: {line:?}", n + 1);
        if eof {
            return Err(at("text after # EOF"));
        }
        if line == "# EOF" {
            eof = true;
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            if help.is_some() {
                return Err(at("two # HELP lines in a row"));
            }
            help = Some((name, text));
            family = None;
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest.split_once(' ').ok_or_else(|| at("# TYPE without a type"))?;
            let (kind, suffix, ty004) = match ty {
                "counter" => (Kind::Counter, "_total", "counter"),
                "gauge" => (Kind::Gauge, "", "gauge"),
                "histogram" => (Kind::Histogram, "", "histogram"),
                "summary" => (Kind::Summary, "", "summary"),
                "info" => (Kind::Info, "_info", "gauge"),
                "unknown" => (Kind::Unknown, "", "untyped"),
                _ => return Err(at("a type Prometheus text 0.0.4 cannot express")),
            };
            if let Some((help_name, text)) = help.take() {
                if help_name != name {
                    return Err(at("# TYPE names another family than the # HELP before it"));
                }
                out.push_str(&format!("# HELP {name}{suffix} {}\n", help_text(text).map_err(&at)?));
            }
            out.push_str(&format!("# TYPE {name}{suffix} {ty004}\n"));
            family = Some(Family { name, kind });
        } else if line.starts_with("# UNIT ") {
            // 0.0.4 has no units; the unit is already the name's suffix.
        } else if line.starts_with('#') || line.is_empty() {
            return Err(at("not OpenMetrics"));
        } else {
            if help.is_some() {
                return Err(at("a sample between # HELP and # TYPE"));
            }
            let sample = Sample::parse(line).map_err(&at)?;
            let keep = match &family {
                Some(f) => f.keeps(sample.name).ok_or_else(|| at("a sample that is not of its family"))?,
                // A family without metadata is `unknown` in OpenMetrics,
                // untyped in 0.0.4: the same line.
                None => true,
            };
            if keep {
                sample.write_to(&mut out).map_err(&at)?;
            }
        }
    }
    if !eof {
        return Err("no # EOF: the OpenMetrics text is incomplete".into());
    }
    Ok(out)
}

/// OpenMetrics `# HELP` text → 0.0.4 `# HELP` text.
fn help_text(text: &str) -> Result<String, &'static str> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('"') => out.push('"'),
                Some('\\') => out.push_str("\\\\"),
                Some('n') => out.push_str("\\n"),
                _ => return Err("a bad escape in # HELP"),
            },
            c => out.push(c),
        }
    }
    Ok(out)
}

/// One sample line: `name{labels} value [timestamp] [# exemplar]`.
struct Sample<'a> {
    name: &'a str,
    /// `{…}` verbatim (label escaping is the same in both formats), or "".
    labels: &'a str,
    value: &'a str,
    /// Seconds, as OpenMetrics writes it.
    timestamp: Option<&'a str>,
}

impl<'a> Sample<'a> {
    fn parse(line: &'a str) -> Result<Sample<'a>, &'static str> {
        let name_end = line.find(['{', ' ']).ok_or("a sample without a value")?;
        let name = &line[..name_end];
        if !valid_name(name) {
            return Err("a bad metric name");
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            let close = label_set_end(&line[name_end..]).ok_or("an unterminated label set")?;
            line[name_end..].split_at(close + 1)
        } else {
            ("", &line[name_end..])
        };
        let rest = rest.strip_prefix(' ').ok_or("no space before the value")?;
        let (point, exemplar) = match rest.split_once(" # ") {
            Some((point, exemplar)) => (point, Some(exemplar)),
            None => (rest, None),
        };
        if exemplar.is_some_and(|e| !e.starts_with('{')) {
            return Err("a bad exemplar");
        }
        let mut fields = point.split(' ');
        let value = fields.next().filter(|v| valid_number(v)).ok_or("a bad value")?;
        let timestamp = fields.next();
        if fields.next().is_some() || timestamp.is_some_and(|t| t.parse::<f64>().map_or(true, |t| !t.is_finite())) {
            return Err("a bad timestamp");
        }
        Ok(Sample { name, labels, value, timestamp })
    }

    fn write_to(&self, out: &mut String) -> Result<(), &'static str> {
        out.push_str(self.name);
        out.push_str(self.labels);
        out.push(' ');
        out.push_str(self.value);
        if let Some(t) = self.timestamp {
            let seconds: f64 = t.parse().map_err(|_| "a bad timestamp")?;
            out.push_str(&format!(" {}", (seconds * 1000.0).round() as i64));
        }
        out.push('\n');
        Ok(())
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A value both formats read the same way (Go's `ParseFloat` syntax).
fn valid_number(v: &str) -> bool {
    matches!(v, "+Inf" | "-Inf" | "NaN") || v.parse::<f64>().is_ok_and(f64::is_finite)
}

/// The index of the `}` closing the label set `s` starts with, checking
/// every value is a complete quoted string with only `\\`, `\"`, `\n`.
fn label_set_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 1;
    if *b.get(i)? == b'}' {
        return Some(i);
    }
    loop {
        let eq = i + s[i..].find('=')?;
        if !valid_label_name(&s[i..eq]) || b.get(eq + 1) != Some(&b'"') {
            return None;
        }
        i = eq + 2;
        loop {
            match b.get(i)? {
                b'\\' => match b.get(i + 1)? {
                    b'\\' | b'"' | b'n' => i += 2,
                    _ => return None,
                },
                b'"' => break,
                _ => i += 1,
            }
        }
        i += 1;
        match b.get(i)? {
            b'}' => return Some(i),
            b',' => i += 1,
            _ => return None,
        }
    }
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests;
