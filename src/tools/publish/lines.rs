//! NDJSON read one line at a time through a buffer that never grows past a bound, so
//! `publish` holds one line of a file, not the file: a 10-million-event export costs
//! the same memory as a ten-line one, and a file with no newline at all (a binary
//! dumped by mistake) costs `max` bytes, not its size.

use std::io::{self, BufRead, Read, Write};

/// One non-blank line: its 1-based number in the file and its bytes (without the
/// `\n` or `\r\n`), or, past the reader's bound, only its length.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    Text(u64, &'a [u8]),
    /// A line longer than the bound: its number and full length; its bytes were
    /// read and dropped.
    TooLong(u64, u64),
}

impl Line<'_> {
    pub fn number(&self) -> u64 {
        match self {
            Line::Text(n, _) | Line::TooLong(n, _) => *n,
        }
    }
}

/// Numbered non-blank lines of `inner`, each at most `max` bytes kept.
pub struct Lines<R> {
    inner: R,
    buf: Vec<u8>,
    number: u64,
    max: usize,
    bytes: u64,
}

impl<R: BufRead> Lines<R> {
    pub fn new(inner: R, max: usize) -> Lines<R> {
        Lines {
            inner,
            buf: Vec::new(),
            number: 0,
            max,
            bytes: 0,
        }
    }

    /// Bytes consumed so far, newlines included (for a progress bar over a file's size).
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// The next non-blank line, `None` at the end of the input. (Not an `Iterator`:
    /// the line borrows the reader's buffer, reused for the next one.)
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        loop {
            let Some(len) = self.read_line()? else {
                return Ok(None);
            };
            self.number += 1;
            if len > self.max as u64 {
                return Ok(Some(Line::TooLong(self.number, len)));
            }
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
            if !self.buf.iter().all(u8::is_ascii_whitespace) {
                return Ok(Some(Line::Text(self.number, &self.buf)));
            }
        }
    }

    /// Reads one line into `buf` (its first `max` bytes) and returns its full length,
    /// or `None` at the end of the input.
    fn read_line(&mut self) -> io::Result<Option<u64>> {
        self.buf.clear();
        let mut len: u64 = 0;
        let mut any = false;
        loop {
            let avail = match self.inner.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                break;
            }
            any = true;
            let end = avail.iter().position(|b| *b == b'\n');
            let chunk = &avail[..end.unwrap_or(avail.len())];
            let room = self.max.saturating_sub(self.buf.len());
            self.buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            len += chunk.len() as u64;
            let used = chunk.len() + usize::from(end.is_some());
            self.inner.consume(used);
            self.bytes += used as u64;
            if end.is_some() {
                break;
            }
        }
        Ok(any.then_some(len))
    }

    #[cfg(test)]
    fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }
}

/// Reads from `inner` and writes a copy of every byte read to `copy`: standard input
/// is spooled to a file while it is validated, so it can be published afterwards
/// without holding it in memory.
pub struct Tee<R, W> {
    pub inner: R,
    pub copy: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        self.copy.write_all(&out[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &[u8], max: usize) -> Vec<(u64, Vec<u8>, Option<u64>)> {
        let mut lines = Lines::new(text, max);
        let mut out = Vec::new();
        while let Some(l) = lines.next_line().unwrap() {
            out.push(match l {
                Line::Text(n, b) => (n, b.to_vec(), None),
                Line::TooLong(n, len) => (n, Vec::new(), Some(len)),
            });
        }
        assert_eq!(lines.bytes_read(), text.len() as u64);
        out
    }

    #[test]
    fn lines_are_numbered_from_one_and_blank_lines_skipped() {
        let got = all(b"a\n\n  \nb\r\nc", 10);
        assert_eq!(
            got,
            vec![
                (1, b"a".to_vec(), None),
                (4, b"b".to_vec(), None),
                (5, b"c".to_vec(), None)
            ]
        );
        assert!(all(b"", 10).is_empty());
        assert!(all(b"\n\n", 10).is_empty());
    }

    #[test]
    fn a_line_past_the_bound_is_measured_not_kept() {
        let got = all(b"12345\n123456789\n12", 5);
        assert_eq!(
            got,
            vec![
                (1, b"12345".to_vec(), None),
                (2, Vec::new(), Some(9)),
                (3, b"12".to_vec(), None)
            ]
        );
    }

    /// The memory bound: 64 MiB with no newline, then a short line, read through a
    /// small `BufReader` from a generator (no file, nothing held): the line buffer
    /// never grows past the bound.
    #[test]
    fn memory_stays_within_the_bound_whatever_the_input() {
        let huge = io::repeat(b'x').take(64 << 20);
        let input = huge.chain(&b"\n{\"a\":1}\n"[..]);
        let mut lines = Lines::new(io::BufReader::with_capacity(8192, input), 1024);
        let first = lines.next_line().unwrap().unwrap();
        assert_eq!(first, Line::TooLong(1, 64 << 20));
        assert!(
            lines.buffer_capacity() <= 2048,
            "{}",
            lines.buffer_capacity()
        );
        assert_eq!(
            lines.next_line().unwrap(),
            Some(Line::Text(2, &b"{\"a\":1}"[..]))
        );
        assert_eq!(lines.next_line().unwrap(), None);
        assert!(lines.buffer_capacity() <= 2048);
    }

    #[test]
    fn a_tee_copies_what_is_read() {
        let mut copy = Vec::new();
        let mut lines = Lines::new(
            io::BufReader::new(Tee {
                inner: &b"a\n\nb\n"[..],
                copy: &mut copy,
            }),
            10,
        );
        while lines.next_line().unwrap().is_some() {}
        drop(lines);
        assert_eq!(copy, b"a\n\nb\n");
    }
}
