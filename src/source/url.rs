//! Percent-encoding of database URL parts (user, password, host, database, query values), shared
//! by the `postgres://` and `mysql://` parsers.
//!
//! Owns only the byte-level decoding and encoding. It must not know any URL shape or scheme, and
//! its errors never carry the input: a URL part may be a password.

/// Why [`percent_decode`] refused a URL part. Holds nothing of the input (it may be a password).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// A `%` not followed by two hexadecimal digits (`%zz`, `%4`, `%+1`, a `%` at the end).
    BadEscape,
    /// The decoded bytes are not UTF-8 (e.g. `%FF`).
    NotUtf8,
}

/// Decodes `%XX` escapes (two hexadecimal digits, either case) in `s`; every other character,
/// `+` included, stands for itself. The empty string decodes to the empty string.
///
/// Errors: [`DecodeError::BadEscape`] for a `%` not followed by two hexadecimal digits,
/// [`DecodeError::NotUtf8`] when the decoded bytes are not UTF-8.
pub fn percent_decode(s: &str) -> Result<String, DecodeError> {
    let bytes = s.as_bytes();
    let (mut out, mut i) = (Vec::with_capacity(bytes.len()), 0);
    while let Some(&b) = bytes.get(i) {
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let digit = |j: usize| bytes.get(j).and_then(|&c| (c as char).to_digit(16));
        match (digit(i + 1), digit(i + 2)) {
            (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
            _ => return Err(DecodeError::BadEscape),
        }
        i += 3;
    }
    String::from_utf8(out).map_err(|_| DecodeError::NotUtf8)
}

/// Encodes every byte of `s` except ASCII letters, digits and `-._~` as `%XX` (upper case), so
/// that [`percent_decode`] returns `s`.
pub fn percent_encode(s: &str) -> String {
    let keep = |c: u8| c.is_ascii_alphanumeric() || b"-._~".contains(&c);
    let enc = |c: u8| {
        if keep(c) {
            (c as char).to_string()
        } else {
            format!("%{c:02X}")
        }
    };
    s.bytes().map(enc).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_in_every_url_part() {
        let cases = [
            ("", ""),
            ("plain", "plain"),
            ("al%40ice", "al@ice"),
            ("s3cr%3At", "s3cr:t"),
            ("p%3aw%40d", "p:w@d"),
            ("shop%20db", "shop db"),
            ("%2Fvar%2Frun%2Fpostgresql", "/var/run/postgresql"),
            ("a+b", "a+b"),
            ("%25", "%"),
            ("caf%C3%A9", "café"),
            ("日本", "日本"),
        ];
        for (encoded, decoded) in cases {
            assert_eq!(percent_decode(encoded).as_deref(), Ok(decoded), "{encoded}");
        }
    }

    #[test]
    fn refuses_bad_escapes_without_echoing_them() {
        // `%+1` was accepted by both old decoders (u8::from_str_radix takes a `+` sign).
        for bad in ["%", "%4", "x%", "%zz", "%g0", "%+1", "%-1", "%%41", "a%é0"] {
            assert_eq!(percent_decode(bad), Err(DecodeError::BadEscape), "{bad}");
        }
        assert_eq!(percent_decode("%FF"), Err(DecodeError::NotUtf8));
        assert_eq!(percent_decode("%C3"), Err(DecodeError::NotUtf8));
    }

    #[test]
    fn encoding_round_trips() {
        assert_eq!(percent_encode("al@ice/x y~"), "al%40ice%2Fx%20y~");
        for s in ["", "p\"a'ss #x\\y z; é\t", "%41", "日本"] {
            assert_eq!(percent_decode(&percent_encode(s)).as_deref(), Ok(s));
        }
    }
}
