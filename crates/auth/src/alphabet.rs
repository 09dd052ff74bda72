//! Reverse lookup tables for 64-symbol alphabets (standard base64 in the Basic header,
//! bcrypt's own base64 in stored hashes): decoding a byte is one table load, in constant time.

/// Marks a byte outside the alphabet.
pub(crate) const INVALID: u8 = 0xff;

/// The table mapping each byte to its index in `alphabet`, or [`INVALID`].
pub(crate) const fn reverse(alphabet: &[u8; 64]) -> [u8; 256] {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
}
