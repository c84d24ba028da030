//! Human durations (`"300ms"`, `"5s"`, `"7d"`) and sizes (`1048576`, `"1MiB"`).

use super::raw::RawSize;
use std::time::Duration;

pub fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

pub fn size(raw: &RawSize) -> Result<u64, String> {
    match raw {
        RawSize::Bytes(n) => Ok(*n),
        RawSize::Text(s) => s
            .trim()
            .parse::<bytesize::ByteSize>()
            .map(|b| b.as_u64())
            .map_err(|_| format!("invalid size {s:?}: use bytes or a string like \"1MiB\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_human_units() {
        assert_eq!(duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(duration("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert!(duration("soon").is_err());
        assert_eq!(size(&RawSize::Text("1MiB".into())), Ok(1 << 20));
        assert_eq!(size(&RawSize::Bytes(42)), Ok(42));
        assert!(size(&RawSize::Text("big".into())).is_err());
    }
}
