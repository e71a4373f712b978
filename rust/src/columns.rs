//! Read-only views over Arrow-layout columns (the SPEC section 3 table), borrowed from
//! whatever owns the memory (pyarrow buffers in the extension, `Vec`s in tests). Nothing
//! here copies: a value is a slice of the column's data buffer.
//!
//! Integers are decoded from little-endian bytes rather than cast from `&[u64]`, so a buffer
//! of any alignment works.

use crate::error::{Error, Result};

/// An Arrow validity bitmap (bit set = value present), with the array's element offset.
#[derive(Debug, Clone, Copy)]
pub struct Validity<'a> {
    pub bits: &'a [u8],
}

impl Validity<'_> {
    fn is_valid(&self, i: usize) -> bool {
        self.bits.get(i / 8).is_some_and(|b| b >> (i % 8) & 1 == 1)
    }
}

/// The value storage of a binary column.
#[derive(Debug, Clone, Copy)]
pub enum Values<'a> {
    /// `fixed_size_binary(width)`.
    Fixed { data: &'a [u8], width: usize },
    /// `binary` (i32 offsets, little-endian bytes).
    Var32 { offsets: &'a [u8], data: &'a [u8] },
    /// `large_binary` (i64 offsets, little-endian bytes).
    Var64 { offsets: &'a [u8], data: &'a [u8] },
}

/// A binary column: `len` values starting at element `offset` of the buffers.
#[derive(Debug, Clone, Copy)]
pub struct BinaryColumn<'a> {
    pub values: Values<'a>,
    pub validity: Option<Validity<'a>>,
    pub offset: usize,
    pub len: usize,
}

fn le_i32(b: &[u8], i: usize) -> usize {
    i32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().expect("4 bytes")) as usize
}

fn le_i64(b: &[u8], i: usize) -> usize {
    i64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes")) as usize
}

impl<'a> BinaryColumn<'a> {
    /// Checks once, up front, that every value lies inside its buffers, so that `get`
    /// can index without a failure path.
    pub fn validate(&self, name: &str) -> Result<()> {
        let bad = |message: String| Error::Column {
            column: name.to_string(),
            message,
        };
        // Checked arithmetic: positions come from the caller, and a sum or product that
        // wrapped would pass the checks and then index out of bounds (found by fuzzing).
        let too_long = || bad("offset and length overflow".into());
        let end = self.offset.checked_add(self.len).ok_or_else(too_long)?;
        if let Some(v) = self.validity {
            if v.bits.len() < end.div_ceil(8) {
                return Err(bad("validity bitmap is shorter than the column".into()));
            }
        }
        match self.values {
            Values::Fixed { data, width } => {
                if end.checked_mul(width).is_none_or(|n| data.len() < n) {
                    return Err(bad("data buffer is shorter than the column".into()));
                }
            }
            Values::Var32 { offsets, data } | Values::Var64 { offsets, data } => {
                let wide = matches!(self.values, Values::Var64 { .. });
                let size = if wide { 8 } else { 4 };
                if end
                    .checked_add(1)
                    .and_then(|n| n.checked_mul(size))
                    .is_none_or(|n| offsets.len() < n)
                {
                    return Err(bad("offsets buffer is shorter than the column".into()));
                }
                let at = |i| {
                    if wide {
                        le_i64(offsets, i)
                    } else {
                        le_i32(offsets, i)
                    }
                };
                let mut last = at(self.offset);
                for i in self.offset + 1..=end {
                    let next = at(i);
                    if next < last || next > data.len() {
                        return Err(bad(format!(
                            "offsets are not monotonic at row {}",
                            i - 1 - self.offset
                        )));
                    }
                    last = next;
                }
            }
        }
        Ok(())
    }

    /// The value of row `i`, or `None` where it is null.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        let j = self.offset + i;
        if let Some(v) = self.validity {
            if !v.is_valid(j) {
                return None;
            }
        }
        Some(match self.values {
            Values::Fixed { data, width } => &data[j * width..(j + 1) * width],
            Values::Var32 { offsets, data } => &data[le_i32(offsets, j)..le_i32(offsets, j + 1)],
            Values::Var64 { offsets, data } => &data[le_i64(offsets, j)..le_i64(offsets, j + 1)],
        })
    }

    /// Row `i` as a fixed-size array, or `None` where it is null or of another size.
    #[inline]
    pub fn get_array<const N: usize>(&self, i: usize) -> Option<&'a [u8; N]> {
        self.get(i).and_then(|v| v.try_into().ok())
    }
}

/// A primitive integer column of `WIDTH`-byte little-endian values.
#[derive(Debug, Clone, Copy)]
pub struct IntColumn<'a, const WIDTH: usize> {
    pub data: &'a [u8],
    pub validity: Option<Validity<'a>>,
    pub offset: usize,
    pub len: usize,
}

impl<'a, const WIDTH: usize> IntColumn<'a, WIDTH> {
    pub fn validate(&self, name: &str) -> Result<()> {
        // Checked, as in BinaryColumn::validate: a wrapped product would pass.
        let end = self.offset.checked_add(self.len);
        let short = end.is_none_or(|end| {
            end.checked_mul(WIDTH).is_none_or(|n| self.data.len() < n)
                || self
                    .validity
                    .is_some_and(|v| v.bits.len() < end.div_ceil(8))
        });
        if short {
            return Err(Error::Column {
                column: name.to_string(),
                message: "buffer is shorter than the column".into(),
            });
        }
        Ok(())
    }

    #[inline]
    fn raw(&self, i: usize) -> Option<[u8; WIDTH]> {
        let j = self.offset + i;
        if let Some(v) = self.validity {
            if !v.is_valid(j) {
                return None;
            }
        }
        Some(
            self.data[j * WIDTH..(j + 1) * WIDTH]
                .try_into()
                .expect("width"),
        )
    }
}

impl IntColumn<'_, 8> {
    #[inline]
    pub fn get_u64(&self, i: usize) -> Option<u64> {
        self.raw(i).map(u64::from_le_bytes)
    }
    #[inline]
    pub fn get_i64(&self, i: usize) -> Option<i64> {
        self.raw(i).map(i64::from_le_bytes)
    }
}

impl IntColumn<'_, 1> {
    #[inline]
    pub fn get_u8(&self, i: usize) -> Option<u8> {
        self.raw(i).map(|b| b[0])
    }
}
