//! A JSON layout for model files: pretty-printed like `json.dump(indent=2)`, except that an
//! array of numbers stays on one line. Weight rows read as rows, and a hash table is one line
//! instead of one line per value (the seed's 131k-value table takes 3.7 MB that way; a 2^19
//! table would take 390 MB).

use serde_json::ser::Formatter;
use std::io::{self, Write};

/// The formatter. Values whose type is only known when they start (numbers or containers)
/// decide how the separator before them is written.
#[derive(Default)]
pub struct CompactNumbers {
    indent: usize,
    /// Per open array: (is this the first value, has a non-number value been seen).
    arrays: Vec<(bool, bool)>,
    /// A separator is owed before the next value of the innermost array.
    pending: bool,
}

impl CompactNumbers {
    fn newline<W: ?Sized + Write>(&self, w: &mut W) -> io::Result<()> {
        w.write_all(b"\n")?;
        for _ in 0..self.indent {
            w.write_all(b"  ")?;
        }
        Ok(())
    }

    /// Writes the owed separator before a value; `number` says what kind of value follows.
    fn before_value<W: ?Sized + Write>(&mut self, w: &mut W, number: bool) -> io::Result<()> {
        if !self.pending {
            return Ok(());
        }
        self.pending = false;
        let Some((first, nested)) = self.arrays.last_mut() else { return Ok(()) };
        let was_first = *first;
        *first = false;
        if number && !*nested {
            if !was_first {
                w.write_all(b", ")?;
            }
            Ok(())
        } else {
            *nested = true;
            if !was_first {
                w.write_all(b",")?;
            }
            self.newline(w)
        }
    }
}

macro_rules! number {
    ($name:ident, $t:ty) => {
        fn $name<W: ?Sized + Write>(&mut self, w: &mut W, value: $t) -> io::Result<()> {
            self.before_value(w, true)?;
            serde_json::ser::CompactFormatter.$name(w, value)
        }
    };
}

impl Formatter for CompactNumbers {
    number!(write_f32, f32);
    number!(write_f64, f64);
    number!(write_i64, i64);
    number!(write_u64, u64);
    number!(write_i32, i32);
    number!(write_u32, u32);
    number!(write_u8, u8);
    number!(write_u16, u16);
    number!(write_i8, i8);
    number!(write_i16, i16);

    fn write_null<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.before_value(w, true)?;
        w.write_all(b"null")
    }

    fn write_bool<W: ?Sized + Write>(&mut self, w: &mut W, value: bool) -> io::Result<()> {
        self.before_value(w, true)?;
        w.write_all(if value { b"true" } else { b"false" })
    }

    fn begin_string<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.before_value(w, false)?;
        w.write_all(b"\"")
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.before_value(w, false)?;
        self.arrays.push((true, false));
        self.indent += 1;
        w.write_all(b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.indent -= 1;
        self.pending = false;
        let (_, nested) = self.arrays.pop().unwrap_or((true, false));
        if nested {
            self.newline(w)?;
        }
        w.write_all(b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, _w: &mut W, _first: bool) -> io::Result<()> {
        self.pending = true;
        Ok(())
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.before_value(w, false)?;
        self.indent += 1;
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.indent -= 1;
        self.newline(w)?;
        w.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if !first {
            w.write_all(b",")?;
        }
        self.newline(w)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(v: &serde_json::Value) -> String {
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut out, CompactNumbers::default());
        serde::Serialize::serialize(v, &mut ser).expect("serialise");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn number_arrays_stay_on_one_line() {
        let v = serde_json::json!({"a": [1, 2.5, 3], "m": [[1, 2], [3, 4]], "s": [{"x": 1}], "e": [], "t": "x"});
        let text = render(&v);
        assert_eq!(
            text,
            "{\n  \"a\": [1, 2.5, 3],\n  \"e\": [],\n  \"m\": [\n    [1, 2],\n    [3, 4]\n  ],\n  \"s\": [\n    {\n      \"x\": 1\n    }\n  ],\n  \"t\": \"x\"\n}"
        );
        let back: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(back, v);
    }
}
