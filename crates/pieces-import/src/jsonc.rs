//! A reader that turns VS Code's lenient JSON into JSON as it streams: `//` and `/* */`
//! comments become spaces and trailing commas are dropped, outside strings only. Newlines
//! are kept, so `serde_json`'s line numbers still point into the user's file.
//!
//! (`json_comments`' reader does not drop trailing commas, and `json-strip-comments`' only
//! within one read buffer: a comma at the end of one read and a `}` at the start of the next
//! stays.)

use std::io::{self, BufRead, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Code,
    String,
    Escape,
    /// A `/` in code: a comment starts if `/` or `*` follows.
    Slash,
    LineComment,
    BlockComment,
    /// A `*` inside a block comment: `/` ends it.
    BlockStar,
}

pub(crate) struct Jsonc<R> {
    inner: R,
    strip: Strip,
    out: Vec<u8>,
    pos: usize,
}

/// The state carried from one byte to the next.
struct Strip {
    state: State,
    /// A comma in code, held back until the next token shows whether it is trailing.
    comma: bool,
}

impl Strip {
    /// A token other than `}` or `]` follows: the held comma was a separator after all.
    fn flush_comma(&mut self, out: &mut Vec<u8>) {
        if self.comma {
            out.push(b',');
            self.comma = false;
        }
    }

    fn byte(&mut self, b: u8, out: &mut Vec<u8>) {
        match self.state {
            State::Code => match b {
                b'/' => self.state = State::Slash,
                b',' => {
                    // Two commas in a row are kept as they are, for the parser to refuse.
                    self.flush_comma(out);
                    self.comma = true;
                }
                b'}' | b']' => {
                    self.comma = false;
                    out.push(b);
                }
                b' ' | b'\t' | b'\n' | b'\r' => out.push(b),
                _ => {
                    self.flush_comma(out);
                    if b == b'"' {
                        self.state = State::String;
                    }
                    out.push(b);
                }
            },
            State::String => {
                self.state = match b {
                    b'"' => State::Code,
                    b'\\' => State::Escape,
                    _ => State::String,
                };
                out.push(b);
            }
            State::Escape => {
                self.state = State::String;
                out.push(b);
            }
            State::Slash => match b {
                b'/' | b'*' => {
                    self.state = if b == b'/' {
                        State::LineComment
                    } else {
                        State::BlockComment
                    };
                    out.extend_from_slice(b"  ");
                }
                _ => {
                    // Not a comment: the parser reports the stray `/`.
                    self.flush_comma(out);
                    out.push(b'/');
                    self.state = State::Code;
                    self.byte(b, out);
                }
            },
            State::LineComment => {
                if b == b'\n' {
                    self.state = State::Code;
                }
                out.push(if b == b'\n' { b'\n' } else { b' ' });
            }
            State::BlockComment | State::BlockStar => {
                self.state = match (self.state, b) {
                    (State::BlockStar, b'/') => State::Code,
                    (_, b'*') => State::BlockStar,
                    _ => State::BlockComment,
                };
                out.push(if b == b'\n' { b'\n' } else { b' ' });
            }
        }
    }
}

impl<R: BufRead> Jsonc<R> {
    pub(crate) fn new(inner: R) -> Self {
        Jsonc {
            inner,
            strip: Strip {
                state: State::Code,
                comma: false,
            },
            out: Vec::new(),
            pos: 0,
        }
    }

    /// Fills `out` from the inner reader; leaves it empty only at the end of the input.
    fn refill(&mut self) -> io::Result<()> {
        self.out.clear();
        self.pos = 0;
        while self.out.is_empty() {
            let chunk = self.inner.fill_buf()?;
            if chunk.is_empty() {
                if self.strip.state == State::Slash {
                    self.out.push(b'/');
                    self.strip.state = State::Code;
                }
                self.strip.flush_comma(&mut self.out);
                return Ok(());
            }
            for &b in chunk {
                self.strip.byte(b, &mut self.out);
            }
            let len = chunk.len();
            self.inner.consume(len);
        }
        Ok(())
    }
}

impl<R: BufRead> Read for Jsonc<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.out.len() {
            self.refill()?;
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
