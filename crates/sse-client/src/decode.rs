//! `Content-Encoding: gzip` or `deflate`, undone as bytes arrive, keeping only what the
//! decompressor can already give: a chunk that decodes to nothing is the compressor holding
//! back what the server sent, which is what `sse doctor` looks for.

use std::io::Write as _;

use bytes::Bytes;
use hyper::header::{CONTENT_ENCODING, HeaderMap};

use crate::Error;

/// A decompressor for one body.
pub enum Decoder {
    /// `gzip` (or `x-gzip`).
    Gzip(flate2::write::GzDecoder<Vec<u8>>),
    /// `deflate` (zlib's format, as browsers read it).
    Deflate(flate2::write::ZlibDecoder<Vec<u8>>),
}

impl Decoder {
    /// The decoder for a response's `Content-Encoding`: none when absent or `identity`, an
    /// error naming it when it is one this client does not offer.
    pub fn for_encoding(headers: &HeaderMap) -> Result<Option<Self>, Error> {
        let Some(encoding) = headers.get(CONTENT_ENCODING) else {
            return Ok(None);
        };
        match encoding.to_str().unwrap_or_default().trim() {
            "" | "identity" => Ok(None),
            "gzip" | "x-gzip" => Ok(Some(Self::Gzip(flate2::write::GzDecoder::new(Vec::new())))),
            "deflate" => Ok(Some(Self::Deflate(flate2::write::ZlibDecoder::new(
                Vec::new(),
            )))),
            other => {
                Err(format!("Content-Encoding: {other}, which this client did not offer").into())
            }
        }
    }

    /// `gzip` or `deflate`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Gzip(_) => "gzip",
            Self::Deflate(_) => "deflate",
        }
    }

    /// Decodes `bytes`: what the decompressor can give so far (perhaps nothing).
    pub fn decode(&mut self, bytes: &[u8]) -> Result<Bytes, Error> {
        let out = match self {
            Self::Gzip(d) => {
                d.write_all(bytes)?;
                d.flush()?;
                d.get_mut()
            }
            Self::Deflate(d) => {
                d.write_all(bytes)?;
                d.flush()?;
                d.get_mut()
            }
        };
        Ok(Bytes::from(std::mem::take(out)))
    }
}
