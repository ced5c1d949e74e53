//! Lowercase hexadecimal, both ways: the one encoder and decoder of the workspace
//! (webhook ids, hex signatures, JSON's `\u00xx` escapes, verifying hex signatures).
//!
//! A table of the 256 digit pairs: one load per byte. Webhook ids are encoded on every
//! enqueue, where this costs a fraction of `format!("{:032x}")` and allocates nothing.
//! The `hex` crate would do the same; it is not in the dependency tree, and these 40
//! lines are all the workspace needs (encoding into a fixed buffer, decoding a fixed
//! length).

/// The two lowercase hex digits of every byte.
const PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        pairs[i] = [DIGITS[i >> 4], DIGITS[i & 0xf]];
        i += 1;
    }
    pairs
};

/// The two lowercase hex digits of `byte`.
pub(crate) const fn pair(byte: u8) -> [u8; 2] {
    PAIRS[byte as usize]
}

/// Writes the lowercase hex of `bytes` into the first `2 * bytes.len()` bytes of `out`.
///
/// `out` must be at least that long (callers size it from `bytes`); a shorter `out`
/// receives the digits that fit.
pub(crate) fn encode_into(out: &mut [u8], bytes: &[u8]) {
    for (slot, &b) in out.chunks_exact_mut(2).zip(bytes) {
        slot.copy_from_slice(&PAIRS[usize::from(b)]);
    }
}

/// Appends the lowercase hex of `bytes` to `out`.
pub(crate) fn push(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        let [hi, lo] = PAIRS[usize::from(b)];
        out.push(char::from(hi));
        out.push(char::from(lo));
    }
}

/// Exactly `N` bytes from `2 * N` hex digits (either case); `None` for any other text.
pub(crate) fn decode<const N: usize>(text: &str) -> Option<[u8; N]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, digits) in out.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        *byte = nibble(digits[0])? << 4 | nibble(digits[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        let mut text = String::new();
        push(&mut text, &[0x00, 0x0f, 0xa5, 0xff]);
        assert_eq!(text, "000fa5ff");
        assert_eq!(pair(0xc3), *b"c3");
        let mut buf = [0u8; 6];
        encode_into(&mut buf, &[0x12, 0xab, 0x7f]);
        assert_eq!(&buf, b"12ab7f");
        assert_eq!(decode::<2>("ABcd"), Some([0xab, 0xcd]));
        assert_eq!(decode::<2>("abc"), None);
        assert_eq!(decode::<2>("abcde"), None);
        assert_eq!(decode::<1>("g0"), None);
        assert_eq!(decode::<1>("é"), None);
    }

    proptest! {
        #[test]
        fn encoding_matches_std_formatting_and_decodes_back(bytes in any::<[u8; 32]>()) {
            let mut text = String::new();
            push(&mut text, &bytes);
            let std: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            prop_assert_eq!(&text, &std);
            let mut buf = [0u8; 64];
            encode_into(&mut buf, &bytes);
            prop_assert_eq!(&buf[..], text.as_bytes());
            prop_assert_eq!(decode::<32>(&text), Some(bytes));
            prop_assert_eq!(decode::<32>(&text.to_uppercase()), Some(bytes));
        }

        #[test]
        fn decoding_any_text_never_panics(text in any::<String>()) {
            let decoded = decode::<4>(&text);
            if let Some(bytes) = decoded {
                let mut back = String::new();
                push(&mut back, &bytes);
                prop_assert_eq!(back, text.to_ascii_lowercase());
            }
        }
    }
}
