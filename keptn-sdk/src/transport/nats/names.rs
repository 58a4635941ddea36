//! Consumer names from queue groups and subject patterns.

/// The durable consumer name of a queue group subscribed to a pattern.
///
/// JetStream names allow letters, digits, `-` and `_`; the group and the pattern are mapped to
/// those (`.` becomes `_`, `*` becomes `any`, `>` becomes `all`) and followed by a hash of the
/// exact group and pattern, so that two different pairs never share a consumer:
/// `my-service` on `sh.keptn.event.test.triggered` is
/// `my-service_sh_keptn_event_test_triggered_<8 hex digits>`.
pub fn consumer_name(group: &str, pattern: &str) -> String {
    let mut name = sanitize(group, 64);
    name.push('_');
    name.push_str(&sanitize(pattern, 96));
    name.push('_');
    name.push_str(&format!("{:08x}", fnv1a(group, pattern)));
    name
}

fn sanitize(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => out.push(c),
            '*' => out.push_str("any"),
            '>' => out.push_str("all"),
            _ => out.push('_'),
        }
        if out.len() >= max {
            out.truncate(max);
            break;
        }
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// 32-bit FNV-1a over `group`, a separator byte and `pattern`.
fn fnv1a(group: &str, pattern: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in group.bytes().chain([0u8]).chain(pattern.bytes()) {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_readable_and_valid() {
        let name = consumer_name("my-service", "sh.keptn.event.*.triggered");
        assert!(
            name.starts_with("my-service_sh_keptn_event_any_triggered_"),
            "{name}"
        );
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(
            consumer_name("g", "sh.keptn.>"),
            consumer_name("g", "sh.keptn.>")
        );
    }

    #[test]
    fn look_alike_inputs_get_different_names() {
        assert_ne!(consumer_name("a.b", "x"), consumer_name("a_b", "x"));
        assert_ne!(consumer_name("g", "a.b"), consumer_name("g", "a_b"));
        assert_ne!(consumer_name("", "x"), consumer_name(" ", "x"));
    }

    #[test]
    fn long_inputs_are_cut() {
        let name = consumer_name(&"g".repeat(500), &"p".repeat(500));
        assert!(name.len() <= 64 + 96 + 10, "{}", name.len());
    }
}
