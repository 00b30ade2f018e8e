//! Blob compression: a one-byte tag in front of the payload, then the payload.
//!
//! Tag `0` = stored as is, tag `1` = zstd frame (RFC 8878). Compression is skipped when it does
//! not make the blob smaller, so random data costs one byte, not a zstd frame.

/// Tag byte: payload stored uncompressed.
pub const TAG_NONE: u8 = 0;
/// Tag byte: payload is one zstd frame.
pub const TAG_ZSTD: u8 = 1;

/// Decompression failed: unknown tag, damaged frame, or a size different from the expected one.
#[derive(Debug, thiserror::Error)]
#[error("cannot decompress blob: {0}")]
pub struct DecompressError(pub String);

/// Compresses `data` at zstd `level` (1..=22), returning `tag || payload`.
pub fn compress(data: &[u8], level: i32) -> Vec<u8> {
    if level > 0 {
        if let Ok(z) = zstd::bulk::compress(data, level) {
            if z.len() < data.len() {
                let mut out = Vec::with_capacity(z.len() + 1);
                out.push(TAG_ZSTD);
                out.extend_from_slice(&z);
                return out;
            }
        }
    }
    let mut out = Vec::with_capacity(data.len() + 1);
    out.push(TAG_NONE);
    out.extend_from_slice(data);
    out
}

/// Reverses [`compress`]; `raw_len` is the expected plaintext length in bytes (from the index).
pub fn decompress(tagged: &[u8], raw_len: usize) -> Result<Vec<u8>, DecompressError> {
    let (tag, payload) = tagged
        .split_first()
        .ok_or_else(|| DecompressError("empty blob".into()))?;
    let out = match *tag {
        TAG_NONE => payload.to_vec(),
        TAG_ZSTD => {
            zstd::bulk::decompress(payload, raw_len).map_err(|e| DecompressError(e.to_string()))?
        }
        t => return Err(DecompressError(format!("unknown compression tag {t}"))),
    };
    if out.len() != raw_len {
        return Err(DecompressError(format!(
            "expected {raw_len} bytes, got {}",
            out.len()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let text = b"abcabcabcabcabcabcabcabcabcabcabcabc".repeat(10);
        let c = compress(&text, 3);
        assert_eq!(c[0], TAG_ZSTD);
        assert_eq!(decompress(&c, text.len()).unwrap(), text);
        let c = compress(b"x", 3);
        assert_eq!(c, vec![TAG_NONE, b'x']);
        assert!(decompress(&c, 2).is_err());
        assert!(decompress(&[9, 1], 1).is_err());
    }
}
