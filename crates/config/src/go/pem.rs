//! Go's `encoding/pem.Decode`, which decides which blocks `tls.X509KeyPair` and
//! `CertPool.AppendCertsFromPEM` see (headers, lenient whitespace, blocks that fail to decode
//! are skipped and the search goes on).

/// One decoded PEM block.
pub struct Block {
    /// The type after `BEGIN`, e.g. `CERTIFICATE`.
    pub kind: String,
    /// The decoded body.
    pub bytes: Vec<u8>,
    /// True when the block had `Key: value` headers (`AppendCertsFromPEM` skips those).
    pub has_headers: bool,
}

const PEM_START: &[u8] = b"\n-----BEGIN ";
const PEM_END: &[u8] = b"\n-----END ";
const PEM_END_OF_LINE: &[u8] = b"-----";

/// Every block `pem.Decode` would return when called in a loop over `data`.
pub fn decode_all(mut data: &[u8]) -> Vec<Block> {
    let mut blocks = Vec::new();
    while let Some((block, rest)) = decode(data) {
        blocks.push(block);
        data = rest;
    }
    blocks
}

/// Go's `pem.Decode`: the next block and the rest, or `None` when no block is left.
pub fn decode(data: &[u8]) -> Option<(Block, &[u8])> {
    let mut rest = data;
    loop {
        if rest.starts_with(&PEM_START[1..]) {
            rest = &rest[PEM_START.len() - 1..];
        } else if let Some(i) = find(rest, PEM_START) {
            rest = &rest[i + PEM_START.len()..];
        } else {
            return None;
        }
        let (type_line, after) = get_line(rest);
        rest = after;
        let Some(kind) = type_line.strip_suffix(PEM_END_OF_LINE) else {
            continue;
        };
        let mut headers = 0usize;
        let mut exhausted = false;
        loop {
            if rest.is_empty() {
                exhausted = true;
                break;
            }
            let (line, next) = get_line(rest);
            if !line.contains(&b':') {
                break;
            }
            headers += 1;
            rest = next;
        }
        if exhausted {
            return None;
        }
        let (end_index, end_trailer_index) = if headers == 0 && rest.starts_with(&PEM_END[1..]) {
            (0, PEM_END.len() - 1)
        } else {
            match find(rest, PEM_END) {
                Some(i) => (i, i + PEM_END.len()),
                None => continue,
            }
        };
        let end_trailer = &rest[end_trailer_index..];
        let trailer_len = kind.len() + PEM_END_OF_LINE.len();
        if end_trailer.len() < trailer_len {
            continue;
        }
        let rest_of_end_line = &end_trailer[trailer_len..];
        let end_trailer = &end_trailer[..trailer_len];
        if !end_trailer.starts_with(kind) || !end_trailer.ends_with(PEM_END_OF_LINE) {
            continue;
        }
        if !get_line(rest_of_end_line).0.is_empty() {
            continue;
        }
        let body: Vec<u8> = rest[..end_index]
            .iter()
            .copied()
            .filter(|c| *c != b' ' && *c != b'\t')
            .collect();
        let Some(bytes) = base64_std_decode(&body) else {
            continue;
        };
        let (_, after) = get_line(&rest[end_index + PEM_END.len() - 1..]);
        return Some((
            Block {
                kind: String::from_utf8_lossy(kind).into_owned(),
                bytes,
                has_headers: headers > 0,
            },
            after,
        ));
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Go's `getLine`: the line without its `\r\n` or `\n` and trailing spaces/tabs, and the rest.
fn get_line(data: &[u8]) -> (&[u8], &[u8]) {
    let (mut line, rest) = match data.iter().position(|c| *c == b'\n') {
        Some(i) => {
            let line = &data[..i];
            (line.strip_suffix(b"\r").unwrap_or(line), &data[i + 1..])
        }
        None => (data, &data[data.len()..]),
    };
    while let Some((last, head)) = line.split_last() {
        if *last == b' ' || *last == b'\t' {
            line = head;
        } else {
            break;
        }
    }
    (line, rest)
}

/// `base64.StdEncoding.Decode`: padded standard alphabet; `\r` and `\n` are ignored.
fn base64_std_decode(input: &[u8]) -> Option<Vec<u8>> {
    let clean: Vec<u8> = input
        .iter()
        .copied()
        .filter(|c| *c != b'\r' && *c != b'\n')
        .collect();
    if clean.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(clean.len() / 4 * 3);
    let chunks = clean.chunks(4);
    let count = chunks.len();
    for (n, chunk) in clean.chunks(4).enumerate() {
        let mut acc: u32 = 0;
        let mut pad = 0;
        for (i, &c) in chunk.iter().enumerate() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                b'=' if i >= 2 && n + 1 == count => {
                    pad += 1;
                    0
                }
                _ => return None,
            };
            if pad > 0 && c != b'=' {
                return None;
            }
            acc = (acc << 6) | u32::from(v);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_blocks_and_skips_garbage() {
        let data = b"junk\n-----BEGIN A-----\naGVsbG8=\n-----END A-----\n-----BEGIN B-----\nProc-Type: x\n\nd29ybGQ=\n-----END B-----\n";
        let blocks = decode_all(data);
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].kind, "A");
        assert_eq!(blocks[0].bytes, b"hello");
        assert_eq!(blocks[1].bytes, b"world");
        assert!(decode_all(b"hello").is_empty());
        assert!(decode_all(b"-----BEGIN A-----\n!!!!\n-----END A-----\n").is_empty());
    }
}
