//! A record on disk: `len: u32 | crc: u32 | seq: u64 | payload`, little
//! endian, `len` counting `seq` and the payload, the CRC32C covering the
//! same bytes. The length is outside the CRC, so a damaged length is caught
//! by a CRC mismatch at the wrong place, and [`resync`] finds the next
//! intact frame by its CRC and a plausible sequence number.

pub(crate) const HEADER: usize = 8;
pub(crate) const SEQ: usize = 8;
/// Bytes a record costs on disk beyond its payload.
pub const OVERHEAD: u64 = (HEADER + SEQ) as u64;

pub(crate) fn encode(out: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    let len = (SEQ + payload.len()) as u32;
    let seq = seq.to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&seq), payload);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&seq);
    out.extend_from_slice(payload);
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// An intact frame: its sequence, payload range and where the next starts.
    Frame { seq: u64, payload: std::ops::Range<usize>, next: usize },
    /// `buf` ends inside this frame (or its header).
    Incomplete,
    /// The bytes here are not an intact frame.
    Bad,
}

/// Decodes the frame at `at`; `max_len` bounds a believable length.
pub(crate) fn decode(buf: &[u8], at: usize, max_len: usize) -> Decoded {
    let Some(header) = buf.get(at..at + HEADER) else { return Decoded::Incomplete };
    let len = u32::from_le_bytes(header[..4].try_into().unwrap()) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().unwrap());
    if len < SEQ || len > max_len + SEQ {
        return Decoded::Bad;
    }
    let Some(body) = buf.get(at + HEADER..at + HEADER + len) else { return Decoded::Incomplete };
    if crc32c::crc32c(body) != crc {
        return Decoded::Bad;
    }
    let seq = u64::from_le_bytes(body[..SEQ].try_into().unwrap());
    let start = at + HEADER + SEQ;
    Decoded::Frame { seq, payload: start..at + HEADER + len, next: at + HEADER + len }
}

/// After a bad frame at `at`, the offset of the next intact frame whose
/// sequence follows `after`, if `buf` holds one. The cheap sequence check
/// comes first, so the CRC runs only where a header is plausible.
pub(crate) fn resync(buf: &[u8], at: usize, after: Option<u64>, max_len: usize) -> Option<usize> {
    let low = after.map_or(0, |s| s + 1);
    (at + 1..buf.len().saturating_sub(HEADER + SEQ - 1)).find(|&pos| {
        let seq = u64::from_le_bytes(buf[pos + HEADER..pos + HEADER + SEQ].try_into().unwrap());
        seq >= low && seq - low < 1 << 40 && matches!(decode(buf, pos, max_len), Decoded::Frame { .. })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(seqs: std::ops::Range<u64>) -> Vec<u8> {
        let mut out = Vec::new();
        for seq in seqs {
            encode(&mut out, seq, format!("record {seq}").as_bytes());
        }
        out
    }

    #[test]
    fn frames_round_trip_and_a_cut_is_incomplete() {
        let buf = frames(7..9);
        let Decoded::Frame { seq, payload, next } = decode(&buf, 0, 1024) else { panic!() };
        assert_eq!((seq, &buf[payload]), (7, &b"record 7"[..]));
        assert!(matches!(decode(&buf, next, 1024), Decoded::Frame { seq: 8, .. }));
        assert_eq!(decode(&buf[..next + 3], next, 1024), Decoded::Incomplete);
        assert_eq!(decode(&buf[..next + 12], next, 1024), Decoded::Incomplete);
    }

    #[test]
    fn every_flipped_bit_is_caught_and_resync_finds_the_next_frame() {
        let buf = frames(0..3);
        let Decoded::Frame { next: second, .. } = decode(&buf, 0, 1024) else { panic!() };
        let Decoded::Frame { next: third, .. } = decode(&buf, second, 1024) else { panic!() };
        for bit in second * 8..third * 8 {
            let mut bad = buf.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(!matches!(decode(&bad, second, 1024), Decoded::Frame { .. }), "bit {bit} went unnoticed");
            assert_eq!(resync(&bad, second, Some(0), 1024), Some(third), "bit {bit}");
        }
    }

    #[test]
    fn an_oversized_length_is_bad_not_a_wait_for_more() {
        let mut buf = frames(0..1);
        buf[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&buf, 0, 1024), Decoded::Bad);
    }
}
