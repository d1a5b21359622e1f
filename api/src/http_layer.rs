//! The connection under the HTTP/1 parser, so that its own refusals are problems too.
//!
//! When actix's parser cannot read a request (bytes a URL may not hold, a URL longer than
//! the `http` crate accepts, a head over its buffer), it answers on its own, before any
//! route or middleware runs, with a bodiless `400` or `431` and closes the connection;
//! there is no hook for that answer. [`ProblemIo`] wraps each connection and, seeing such
//! an answer go out (a single response head, 400 or 431, `content-length: 0`: the app
//! itself never answers an error without a problem body), sends the same status as
//! `application/problem+json` instead, built by [`crate::error`] like every other.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::{ApiError, PROBLEM_JSON};

/// The parser's own head buffer: a request head larger than this is refused with 431.
const PARSER_HEAD_LIMIT: usize = 128 * 1024;

/// A connection whose bare parser refusals are rewritten as problems.
pub struct ProblemIo<T> {
    inner: T,
    /// A rewritten answer being written: its bytes, how many are out, and the length of
    /// the original to report once all are.
    rewriting: Option<(Vec<u8>, usize, usize)>,
}

impl<T> ProblemIo<T> {
    pub fn new(inner: T) -> Self {
        ProblemIo {
            inner,
            rewriting: None,
        }
    }
}

/// The problem answer replacing `head`, when `head` is one of the parser's bare refusals.
fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    let error = if head.starts_with(b"HTTP/1.1 400 ") {
        ApiError::bad_request(
            "malformed_request",
            "The request could not be read as HTTP: its URL holds bytes a URL may not hold, or is longer than 64 KiB, or its head is malformed.",
        )
    } else if head.starts_with(b"HTTP/1.1 431 ") {
        ApiError::HeadersTooLarge {
            limit: PARSER_HEAD_LIMIT,
        }
    } else {
        return None;
    };
    let text = std::str::from_utf8(head).ok()?;
    // Exactly one head and nothing after it: a response with a body, or several
    // pipelined responses, are not the parser's refusal.
    let end = text.find("\r\n\r\n")?;
    if end + 4 != text.len() {
        return None;
    }
    let mut lines = text[..end].split("\r\n");
    let status_line = lines.next()?;
    let headers: Vec<&str> = lines.collect();
    if !headers
        .iter()
        .any(|h| h.eq_ignore_ascii_case("content-length: 0"))
    {
        return None;
    }
    let body = serde_json::to_vec(&error.problem()).ok()?;
    let mut out = format!(
        "{status_line}\r\ncontent-type: {PROBLEM_JSON}\r\ncontent-length: {}\r\n",
        body.len()
    );
    for header in headers {
        if !header.to_ascii_lowercase().starts_with("content-length:") {
            out.push_str(header);
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&body);
    Some(bytes)
}

impl<T: AsyncRead + Unpin> AsyncRead for ProblemIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ProblemIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.rewriting.is_none() {
            match rewrite(buf) {
                Some(bytes) => this.rewriting = Some((bytes, 0, buf.len())),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        while let Some((bytes, written, original)) = this.rewriting.as_mut() {
            if *written == bytes.len() {
                let original = *original;
                this.rewriting = None;
                return Poll::Ready(Ok(original));
            }
            match Pin::new(&mut this.inner).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(0))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_bare_refusals_are_rewritten() {
        let bare = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\ndate: Wed, 02 Dec 2026 20:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(rewrite(bare).unwrap()).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(head.contains("content-type: application/problem+json"));
        assert!(head.contains("connection: close"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["code"], "malformed_request");
        assert_eq!(problem["status"], 400);

        let large = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        assert!(String::from_utf8(rewrite(large).unwrap())
            .unwrap()
            .contains("headers_too_large"));

        // The app's own answers carry their body; other statuses are left alone.
        let problem = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}";
        assert!(rewrite(problem).is_none());
        assert!(rewrite(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(rewrite(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nHTTP/1.1 200 OK").is_none());
    }
}
