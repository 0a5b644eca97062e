//! The forms a secret takes on the wire and in text: raw, base64 (standard and URL-safe, padded
//! or not, and inside a longer base64 text), percent-encoded and JSON-escaped.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use secrecy::zeroize::Zeroizing;

/// The shortest piece of a longer base64 text that is matched on its own: shorter pieces could
/// match unrelated base64 by chance.
const MIN_BASE64_PIECE: usize = 8;

/// Every form of `secret`, the raw one first; duplicates are left for the caller to remove.
/// Each form is in a buffer zeroized on drop.
pub(super) fn forms(secret: &str, long: bool) -> Vec<Zeroizing<String>> {
    let mut out = vec![Zeroizing::new(secret.to_owned())];
    // JSON: `"` `\` and control characters escaped, and `/` escaped by some encoders.
    if let Ok(quoted) = serde_json::to_string(secret)
        && let Some(inner) = quoted.get(1..quoted.len().saturating_sub(1))
    {
        out.push(Zeroizing::new(inner.to_owned()));
        out.push(Zeroizing::new(inner.replace('/', "\\/")));
    }
    // Percent-encoding: RFC 3986 (upper- and lowercase hex) and forms (`+` for a space).
    out.push(Zeroizing::new(percent_encoded(secret, false, false)));
    out.push(Zeroizing::new(percent_encoded(secret, true, false)));
    out.push(Zeroizing::new(percent_encoded(secret, false, true)));
    // Base64 of the secret alone, as every engine writes it.
    let bytes = secret.as_bytes();
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        out.push(Zeroizing::new(engine.encode(bytes)));
    }
    // Base64 of a longer text holding the secret (`Basic base64(user:password)`): at each of
    // the three alignments, the characters that depend on the secret's bytes only.
    if long {
        for offset in 0..3 {
            let mut padded = Zeroizing::new(vec![0u8; offset]);
            padded.extend_from_slice(bytes);
            for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
                let encoded = Zeroizing::new(engine.encode(&*padded));
                // Characters holding bits of the zero prefix, and the last ones that would
                // hold bits of what follows the secret, are not the secret's alone.
                let start = (offset * 8).div_ceil(6);
                let end = padded.len() * 8 / 6;
                if let Some(piece) = encoded.get(start..end)
                    && piece.len() >= MIN_BASE64_PIECE
                {
                    out.push(Zeroizing::new(piece.to_owned()));
                }
            }
        }
    }
    out
}

/// `text` percent-encoded: every byte but the unreserved ones (`A-Z a-z 0-9 - . _ ~`) as `%XX`;
/// with `lower`, lowercase hex; with `form`, a space as `+`.
fn percent_encoded(text: &str, lower: bool, form: bool) -> String {
    const UPPER: &[u8; 16] = b"0123456789ABCDEF";
    const LOWER: &[u8; 16] = b"0123456789abcdef";
    let hex = if lower { LOWER } else { UPPER };
    let mut out = String::with_capacity(text.len() * 3);
    for &b in text.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            b' ' if form => out.push('+'),
            _ => {
                out.push('%');
                out.push(hex[usize::from(b >> 4)] as char);
                out.push(hex[usize::from(b & 0xF)] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(forms: &[Zeroizing<String>], form: &str) -> bool {
        forms.iter().any(|f| f.as_str() == form)
    }

    #[test]
    fn every_encoding_is_a_form() {
        let secret = "p@ss w/rd\"?";
        let forms = forms(secret, true);
        assert!(has(&forms, secret));
        assert!(has(&forms, "p@ss w/rd\\\"?"));
        assert!(has(&forms, "p@ss w\\/rd\\\"?"));
        assert!(has(&forms, "p%40ss%20w%2Frd%22%3F"));
        assert!(has(&forms, "p%40ss%20w%2frd%22%3f"));
        assert!(has(&forms, "p%40ss+w%2Frd%22%3F"));
        assert!(has(&forms, &STANDARD.encode(secret)));
        assert!(has(&forms, &URL_SAFE_NO_PAD.encode(secret)));
    }

    #[test]
    fn base64_pieces_are_found_inside_a_longer_encoding() {
        let secret = "hunter2-correct-horse";
        let forms = forms(secret, true);
        for user in ["a", "al", "ali", "alice"] {
            let encoded = STANDARD.encode(format!("{user}:{secret}"));
            assert!(
                forms[1..]
                    .iter()
                    .any(|f| f.len() >= MIN_BASE64_PIECE && encoded.contains(f.as_str())),
                "{user}: {encoded}"
            );
        }
    }
}
