//! Property tests: bit packing round trips, and hostile wallet-file text never panics.

use ann_keys::net::{bits_to_bytes, bytes_to_bits};
use ann_keys::wallet_file::{FORMAT_LINE, parse_wallet_file};
use proptest::prelude::*;

proptest! {
    #[test]
    fn bytes_bits_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let bits = bytes_to_bits(&bytes);
        prop_assert_eq!(bits.len(), bytes.len() * 8);
        prop_assert_eq!(bits_to_bytes(&bits), bytes);
    }

    #[test]
    fn arbitrary_text_is_refused_without_panic(text in ".{0,400}") {
        prop_assert!(parse_wallet_file(&text).is_err());
    }

    #[test]
    fn arbitrary_lines_after_the_format_line_never_panic(body in "[a-z0-9 \\-\\r\\n]{0,300}") {
        // A valid file needs a 256-digit key and a matching address: random bodies are refused.
        let text = format!("{FORMAT_LINE}\n{body}");
        prop_assert!(parse_wallet_file(&text).is_err());
    }
}
