//! The one SQL lexer: finds where a statement ends and counts its row tuples.
//!
//! Owns: quotes, comments and statement ends, for the dump scanner (all three dialects) and for
//! the SQLite restore path (`source::sqlite`, which splits a `.dump` into statements with it).
//! Must not: classify statements or know sections (the scanner does), or allocate per byte.
//!
//! Per dialect:
//! - PostgreSQL: `'`, `"` and `` ` `` quotes; no comments (only `INSERT` data lines reach it).
//! - MySQL: the same, with backslash escapes inside `'` and `"` quotes.
//! - SQLite: `'`, `"`, `` ` `` and `[ ]` quotes, `--` and `/* */` comments, and the statement
//!   end `sqlite3_complete` finds: a `;` outside quotes and comments, except inside
//!   `CREATE [TEMP|TEMPORARY] TRIGGER … ; END ;`, where only the `;` after an `END` that follows
//!   a `;` ends the statement. `CASE … END`, columns named `end` or `begin`, and `WHEN` clauses
//!   of triggers therefore neither end nor extend it.

use memchr::{memchr, memchr2};

use super::syntax::is_ident;
use crate::format::source::Dialect;

/// Bytes the fast path must stop at outside quotes and comments.
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 10 {
        t[b"'\"`();[-*/"[i] as usize] = true;
        i += 1;
    }
    t
};

/// Longest word kept for keyword matching; longer words are no keywords (`TEMPORARY` is 9).
const WORD: usize = 10;

/// Where the lexer is inside a token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Lex {
    /// Between tokens, or inside a word.
    #[default]
    Normal,
    /// Inside a quoted string or identifier, until this closing byte.
    Quote(u8),
    /// After a `-` that may start a `--` comment (SQLite).
    Dash,
    /// Inside a `--` comment, until the end of the line.
    LineComment,
    /// After a `/` that may start a `/* */` comment (SQLite).
    Slash,
    /// Inside a `/* */` comment.
    BlockComment,
    /// Inside a `/* */` comment, just after a `*`.
    BlockStar,
}

/// `sqlite3_complete`'s token-level states; the other dialects stay in `Body`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Stmt {
    /// No token of the statement yet.
    #[default]
    Start,
    /// An ordinary statement: only its `;` matters.
    Body,
    /// After `CREATE` (and `TEMP`/`TEMPORARY`).
    Create,
    /// Inside `CREATE TRIGGER`.
    Trigger,
    /// Inside a trigger, after a `;`.
    TriggerSemi,
    /// Inside a trigger, after `; END`.
    TriggerEnd,
}

/// A token, as far as statement ends are concerned.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    Semi,
    Word(&'a [u8]),
    Other,
}

/// Finds the end of one SQL statement and counts its row tuples (parenthesised groups at depth
/// 0). Start a statement with [`begin`](Self::begin), then [`feed`](Self::feed) its bytes in any
/// slicing until [`active`](Self::active) is false.
#[derive(Debug, Default)]
pub(crate) struct Lexer {
    /// A statement is being read.
    active: bool,
    /// Backslash escapes inside quotes (MySQL).
    backslash: bool,
    /// Comments, `[ ]` quotes and trigger bodies (SQLite).
    sqlite: bool,
    lex: Lex,
    stmt: Stmt,
    /// The byte after a backslash inside a quote is next.
    escape: bool,
    depth: u32,
    /// Count depth-0 groups as rows.
    count: bool,
    /// Leading column list still to skip.
    skip_cols: bool,
    tuples: u64,
    /// The current word, upper-cased, while the statement's state still depends on keywords.
    word: [u8; WORD],
    word_len: usize,
}

impl Lexer {
    /// An idle lexer for `dialect`.
    pub(crate) fn new(dialect: Dialect) -> Self {
        Lexer {
            backslash: dialect == Dialect::MySql,
            sqlite: dialect == Dialect::Sqlite,
            ..Lexer::default()
        }
    }

    /// Starts a statement. With `count`, parenthesised groups at depth 0 count as row tuples,
    /// except a first one when `skip_cols` (an `INSERT`'s column list). Rows counted before
    /// and not yet taken are kept.
    pub(crate) fn begin(&mut self, count: bool, skip_cols: bool) {
        *self = Lexer {
            active: true,
            stmt: if self.sqlite { Stmt::Start } else { Stmt::Body },
            count,
            skip_cols,
            tuples: self.tuples,
            backslash: self.backslash,
            sqlite: self.sqlite,
            ..Lexer::default()
        };
    }

    /// A statement has begun and not ended yet.
    pub(crate) fn active(&self) -> bool {
        self.active
    }

    /// Row tuples counted since the last call.
    pub(crate) fn take_tuples(&mut self) -> u64 {
        std::mem::take(&mut self.tuples)
    }

    /// Whether nothing but blanks and comments came since [`begin`](Self::begin) (or since the
    /// lexer was made), counting a word still being read; the end of input is assumed, so a
    /// `-` or `/` that might have started a comment counts as a token.
    pub(crate) fn at_rest(&self) -> bool {
        self.stmt == Stmt::Start
            && self.word_len == 0
            && matches!(self.lex, Lex::Normal | Lex::LineComment)
    }

    /// Reads bytes of the current statement; stops after the `;` that ends it. Returns the
    /// bytes used: all of `b` unless the statement ended.
    pub(crate) fn feed(&mut self, b: &[u8]) -> usize {
        let mut i = 0;
        while i < b.len() && self.active {
            match self.lex {
                Lex::Quote(q) => i += self.quoted(q, &b[i..]),
                Lex::Normal if self.stmt == Stmt::Body => {
                    // Only quotes, comments, groups and `;` matter here: skip to the next one.
                    let Some(k) = b[i..].iter().position(|&c| SPECIAL[c as usize]) else {
                        return b.len();
                    };
                    i += k + 1;
                    self.normal(b[i - 1]);
                }
                Lex::Normal if is_ident(b[i]) => i += self.word_bytes(&b[i..]),
                _ => {
                    i += 1;
                    self.byte(b[i - 1]);
                }
            }
        }
        i
    }

    /// Reads the bytes of a word (`b` starts with one) while keywords matter; returns the bytes
    /// used.
    fn word_bytes(&mut self, b: &[u8]) -> usize {
        let n = b.iter().take_while(|&&c| is_ident(c)).count();
        if let Some(free) = self.word.get_mut(self.word_len..) {
            for (w, c) in free.iter_mut().zip(&b[..n]) {
                *w = c.to_ascii_uppercase();
            }
        }
        self.word_len += n;
        n
    }

    /// Reads quoted bytes up to and including the closing quote; returns the bytes used.
    #[inline]
    fn quoted(&mut self, q: u8, b: &[u8]) -> usize {
        if self.escape {
            self.escape = false;
            return 1;
        }
        let hit = if self.backslash && q != b'`' {
            memchr2(q, b'\\', b)
        } else {
            memchr(q, b)
        };
        let Some(k) = hit else { return b.len() };
        if b[k] == b'\\' {
            self.escape = true;
        } else {
            self.lex = Lex::Normal;
        }
        k + 1
    }

    /// One byte outside quotes.
    #[inline]
    fn byte(&mut self, c: u8) {
        self.lex = match (self.lex, c) {
            (Lex::LineComment, b'\n') | (Lex::BlockStar, b'/') => Lex::Normal,
            (Lex::LineComment, _) => Lex::LineComment,
            (Lex::BlockComment | Lex::BlockStar, b'*') => Lex::BlockStar,
            (Lex::BlockComment | Lex::BlockStar, _) => Lex::BlockComment,
            (Lex::Dash, b'-') => Lex::LineComment,
            (Lex::Slash, b'*') => Lex::BlockComment,
            (Lex::Dash | Lex::Slash, _) => {
                self.token(Token::Other); // the lone operator
                self.lex = Lex::Normal;
                return self.normal(c);
            }
            (Lex::Normal | Lex::Quote(_), _) => return self.normal(c),
        };
    }

    /// One byte between tokens or inside a word.
    #[inline]
    fn normal(&mut self, c: u8) {
        // In a statement's body no keyword matters: words are not kept.
        if self.stmt != Stmt::Body {
            if is_ident(c) {
                if let Some(w) = self.word.get_mut(self.word_len) {
                    *w = c.to_ascii_uppercase();
                }
                self.word_len += 1;
                return;
            }
            self.end_word();
        }
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => {}
            b'-' if self.sqlite => self.lex = Lex::Dash,
            b'/' if self.sqlite => self.lex = Lex::Slash,
            b'\'' | b'"' | b'`' => {
                self.token(Token::Other);
                self.lex = Lex::Quote(c);
            }
            b'[' if self.sqlite => {
                self.token(Token::Other);
                self.lex = Lex::Quote(b']');
            }
            b'(' => {
                if self.depth == 0 && self.count {
                    if self.skip_cols {
                        self.skip_cols = false;
                    } else {
                        self.tuples += 1;
                    }
                }
                self.depth += 1;
                self.token(Token::Other);
            }
            b')' => {
                self.depth = self.depth.saturating_sub(1);
                self.token(Token::Other);
            }
            b';' => self.token(Token::Semi),
            _ => self.token(Token::Other),
        }
    }

    /// Ends the word being read, if any, as a token.
    fn end_word(&mut self) {
        if self.word_len > 0 {
            let len = std::mem::take(&mut self.word_len);
            let word = self.word;
            // A longer word was cut to `WORD` bytes; it is no keyword.
            let token = match word.get(..len) {
                Some(w) => Token::Word(w),
                None => Token::Other,
            };
            self.token(token);
        }
    }

    /// Advances the statement state on one token (blanks and comments are none); a `;` that
    /// leaves it at the start ends the statement.
    #[inline]
    fn token(&mut self, tok: Token<'_>) {
        use Stmt::*;
        if self.stmt == Body && tok != Token::Semi {
            return;
        }
        self.stmt = match (self.stmt, tok) {
            (Start | Body | Create | TriggerEnd, Token::Semi) => Start,
            (Start, Token::Word(b"CREATE")) | (Create, Token::Word(b"TEMP" | b"TEMPORARY")) => {
                Create
            }
            (Create, Token::Word(b"TRIGGER")) => Trigger,
            (Trigger | TriggerSemi, Token::Semi) => TriggerSemi,
            (TriggerSemi, Token::Word(b"END")) => TriggerEnd,
            (Trigger | TriggerSemi | TriggerEnd, _) => Trigger,
            _ => Body,
        };
        if tok == Token::Semi && self.stmt == Start {
            self.active = false;
        }
    }
}
