//! Plain-text output for people at a terminal: section headings, aligned tables, hex,
//! and escaping of text that came from a file, so a hostile bundle cannot send control
//! sequences to the operator's terminal.

use std::fmt::Write as _;

/// How a column's cells line up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// Text: padded on the right.
    Left,
    /// Numbers: padded on the left.
    Right,
}

/// A table of text cells, rendered with every column as wide as its widest cell.
#[derive(Debug)]
pub struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headings.
    pub fn new(columns: &[(&'static str, Align)]) -> Self {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are blank, extra cells are dropped. Cells are escaped.
    pub fn row(&mut self, cells: Vec<String>) {
        let mut cells: Vec<String> = cells.iter().map(|c| clean(c)).collect();
        cells.resize(self.columns.len(), String::new());
        self.rows.push(cells);
    }

    /// Writes the table, each line indented by `indent` spaces, with no trailing blanks.
    pub fn render(&self, out: &mut String, indent: usize) {
        let mut widths: Vec<usize> = self
            .columns
            .iter()
            .map(|(h, _)| h.chars().count())
            .collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let headings: Vec<String> = self.columns.iter().map(|(h, _)| (*h).to_owned()).collect();
        for row in std::iter::once(&headings).chain(&self.rows) {
            let mut line = " ".repeat(indent);
            for (i, cell) in row.iter().enumerate() {
                let (_, align) = self.columns[i];
                let pad = widths[i].saturating_sub(cell.chars().count());
                if i > 0 {
                    line.push_str("  ");
                }
                match align {
                    Align::Left => {
                        line.push_str(cell);
                        line.push_str(&" ".repeat(pad));
                    }
                    Align::Right => {
                        line.push_str(&" ".repeat(pad));
                        line.push_str(cell);
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}

/// Writes a section heading, preceded by a blank line unless it opens the output.
pub fn heading(out: &mut String, title: &str) {
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(&clean(title));
    out.push('\n');
}

/// Writes an indented "label  value" line, labels padded to `width`.
pub fn field(out: &mut String, width: usize, label: &str, value: &str) {
    let _ = writeln!(out, "  {:width$}  {}", label, clean(value), width = width);
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Text that came from outside, safe to print: control characters (escape sequences,
/// carriage returns, newlines) are shown escaped instead of interpreted.
pub fn clean(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// "yes" or "no".
pub fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let mut t = Table::new(&[
            ("NAME", Align::Left),
            ("AMOUNT", Align::Right),
            ("NOTE", Align::Left),
        ]);
        t.row(vec!["a".into(), "5".into(), "x".into()]);
        t.row(vec!["long name".into(), "12345678".into(), String::new()]);
        let mut out = String::new();
        t.render(&mut out, 2);
        assert_eq!(
            out,
            "  NAME         AMOUNT  NOTE\n  a                 5  x\n  long name  12345678\n"
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(clean("ok"), "ok");
        assert_eq!(clean("a\u{1b}[2Jb\n"), "a\\u{1b}[2Jb\\n");
        assert_eq!(hex(&[0, 255, 16]), "00ff10");
    }
}
