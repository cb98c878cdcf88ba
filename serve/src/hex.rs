//! Bytes as hex, and random hex names: job ids, the scratch root's parts, the
//! registry's staging directories. The API keys' and plugins' digests and keys are
//! read with [`parse_hex32`].

/// 32 bytes from 64 hex digits.
pub fn parse_hex32(hex: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    parse_hex(hex, &mut out).then_some(out)
}

/// Fills `out` from `2 * out.len()` hex digits.
pub fn parse_hex(hex: &str, out: &mut [u8]) -> bool {
    let hex = hex.trim();
    if hex.len() != 2 * out.len() || !hex.is_ascii() {
        return false;
    }
    for (i, b) in out.iter_mut().enumerate() {
        match u8::from_str_radix(&hex[2 * i..2 * i + 2], 16) {
            Ok(v) => *b = v,
            Err(_) => return false,
        }
    }
    true
}

/// Bytes in lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `n` random bytes in hex.
pub fn random_hex(n: usize) -> std::io::Result<String> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes)
        .map_err(|e| std::io::Error::other(format!("no randomness: {e}")))?;
    Ok(hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_goes_both_ways() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i * 7) as u8);
        assert_eq!(parse_hex32(&hex(&bytes)), Some(bytes));
        assert_eq!(parse_hex32("zz"), None);
        assert_eq!(random_hex(16).expect("random").len(), 32);
    }
}
