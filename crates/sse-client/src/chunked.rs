//! `Transfer-Encoding: chunked`, undone as bytes arrive however they are cut: each chunk is a
//! size in hex (perhaps followed by `;extensions`), CRLF, that many bytes, CRLF; a size of 0
//! ends the body.
//!
//! A size that is not hex, is missing, or does not fit in 64 bits is an error that says what
//! came: read as 0 it would end the body early and look like a clean end.

use std::fmt;

/// Where the reader is in a chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunked {
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk's size: its digits so far, and whether an extension (`;...`) began.
    Size {
        size: u64,
        digits: u8,
        extension: bool,
    },
    /// In a chunk's data, this many bytes left.
    Data(u64),
    /// After a chunk's data: its CR, then LF.
    DataEnd { cr: bool },
    /// The last chunk was read: the body is over.
    Done,
}

/// A body whose chunked framing is broken: what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadChunk(String);

impl fmt::Display for BadChunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a broken chunked body: {}", self.0)
    }
}

impl std::error::Error for BadChunk {}

impl Default for Chunked {
    fn default() -> Self {
        Self {
            state: State::Size {
                size: 0,
                digits: 0,
                extension: false,
            },
        }
    }
}

impl Chunked {
    /// Whether the last chunk has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Reads `bytes`, calling `data` with each piece of the body's data in them; whether the
    /// body ended in them. Bytes after the end are not read.
    pub fn feed(
        &mut self,
        mut bytes: &[u8],
        mut data: impl FnMut(&[u8]),
    ) -> Result<bool, BadChunk> {
        while !bytes.is_empty() {
            if let State::Data(left) = &mut self.state {
                let take = bytes
                    .len()
                    .min(usize::try_from(*left).unwrap_or(usize::MAX));
                data(&bytes[..take]);
                bytes = &bytes[take..];
                *left -= take as u64;
                if *left == 0 {
                    self.state = State::DataEnd { cr: false };
                }
                continue;
            }
            if self.state == State::Done {
                return Ok(true);
            }
            self.framing_byte(bytes[0])?;
            bytes = &bytes[1..];
        }
        Ok(self.is_done())
    }

    /// One byte of a size line or of the CRLF after a chunk's data.
    fn framing_byte(&mut self, byte: u8) -> Result<(), BadChunk> {
        match &mut self.state {
            State::Size {
                size,
                digits,
                extension,
            } => match byte {
                b'\n' if *digits == 0 => return Err(BadChunk("a chunk with no size".into())),
                b'\n' if *size == 0 => self.state = State::Done,
                b'\n' => self.state = State::Data(*size),
                _ if *extension => {}
                b';' | b' ' | b'\t' if *digits > 0 => *extension = true,
                b'\r' => {}
                _ => {
                    let Some(digit) = (byte as char).to_digit(16) else {
                        let what = format!("{:?} in a chunk's size", byte as char);
                        return Err(BadChunk(what));
                    };
                    if *digits == 16 {
                        return Err(BadChunk("a chunk's size over 64 bits".into()));
                    }
                    *size = *size * 16 + u64::from(digit);
                    *digits += 1;
                }
            },
            State::DataEnd { cr } => match byte {
                b'\r' if !*cr => *cr = true,
                b'\n' => *self = Self::default(),
                _ => {
                    let what = format!("{:?} after a chunk's data, not CRLF", byte as char);
                    return Err(BadChunk(what));
                }
            },
            State::Data(_) | State::Done => unreachable!("feed handles data and the end"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unframe(pieces: &[&[u8]]) -> Result<(Vec<u8>, bool), BadChunk> {
        let mut chunked = Chunked::default();
        let mut seen = Vec::new();
        let mut ended = false;
        for piece in pieces {
            ended = chunked.feed(piece, |data| seen.extend_from_slice(data))?;
        }
        Ok((seen, ended))
    }

    #[test]
    fn a_chunked_body_is_unframed_however_it_is_cut() {
        let wire: &[u8] = b"5;ext=1\r\nhello\r\n7\r\n, world\r\nA\r\n0123456789\r\n0\r\n\r\n";
        for cut in 0..=wire.len() {
            let (head, tail) = wire.split_at(cut);
            let (seen, ended) = unframe(&[head, tail]).expect("a good body");
            assert_eq!(seen, b"hello, world0123456789", "cut at {cut}");
            assert!(ended, "cut at {cut}");
        }
        assert_eq!(unframe(&[&wire[..20]]).map(|(_, ended)| ended), Ok(false));
    }

    #[test]
    fn a_bad_size_is_an_error_that_names_it_not_the_end_of_the_body() {
        for (wire, says) in [
            (&b"5\r\nhello\r\nzz\r\n"[..], "'z' in a chunk's size"),
            (b"\r\nhello", "no size"),
            (b"5\r\nhello\r\n;x\r\n", "';' in a chunk's size"),
            (b"11111111111111111\r\n", "over 64 bits"),
            (b"5\r\nhelloXY", "'X' after a chunk's data"),
        ] {
            let error = unframe(&[wire]).expect_err("a broken body");
            assert!(error.to_string().contains(says), "{error} for {wire:?}");
        }
    }
}
