//! SPEC 2.2: checkpoints as C2SP signed notes (c2sp.org/signed-note, tlog-checkpoint).
//!
//! Written here rather than taken from `signed_note` 0.2.0, which refuses notes over
//! 1,000,000 bytes (the SPEC allows 1 MiB), keeps its parsed signatures private, and whose
//! `Note::verify` accepts a repeated log line and rejects a note for a failing witness
//! line: the SPEC's rules would need re-implementing around it anyway.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use thiserror::Error;

use super::keys::{is_key_name, log_key_id, verify_under_usable_key, KeyId};
use super::Hash;
use crate::ed25519;
use crate::error::Error as CrateError;

/// SPEC 2.2: a note is at most 1 MiB in all ...
pub const MAX_NOTE_LEN: usize = 1 << 20;
/// ... and has at most 100 signature lines.
pub const MAX_SIGNATURE_LINES: usize = 100;

/// What makes a note or checkpoint unusable; the message names the rule broken.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NoteError {
    #[error("note is {0} bytes, more than 1 MiB")]
    TooLarge(usize),
    #[error("note is not UTF-8")]
    NotUtf8,
    #[error("note contains a control character other than newline")]
    ControlCharacter,
    #[error("note has no blank line between text and signatures")]
    NoBlankLine,
    #[error("note does not end with a newline")]
    NoFinalNewline,
    #[error("note has no signature line")]
    NoSignatureLines,
    #[error("note has more than 100 signature lines")]
    TooManySignatureLines,
    #[error("signature line {0}: {1}")]
    BadSignatureLine(usize, &'static str),
    #[error("checkpoint body: {0}")]
    BadBody(&'static str),
    #[error("checkpoint origin is not the trusted origin")]
    WrongOrigin,
    #[error("note has no signature line by the log key")]
    NoLogLine,
    #[error("note has more than one signature line by the log key")]
    RepeatedLogLine,
    #[error("the log key's signature line does not verify")]
    LogLineFails,
}

impl From<NoteError> for CrateError {
    fn from(e: NoteError) -> Self {
        CrateError::InvalidArgument(e.to_string())
    }
}

/// One signature line `— name b64(key_id || sig)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLine {
    pub name: String,
    pub key_id: KeyId,
    /// The bytes after the key ID: a 64-byte signature, or a cosignature's 72-byte value.
    pub signature: Vec<u8>,
}

impl SignatureLine {
    /// The line as it appears in a note, final newline included.
    pub fn encode(&self) -> String {
        let mut raw = self.key_id.to_vec();
        raw.extend_from_slice(&self.signature);
        format!("\u{2014} {} {}\n", self.name, STANDARD.encode(raw))
    }

    fn parse(number: usize, line: &str) -> Result<Self, NoteError> {
        let bad = |why| NoteError::BadSignatureLine(number, why);
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or(bad("does not start with an em dash and a space"))?;
        let (name, b64) = rest.split_once(' ').ok_or(bad("has no key name"))?;
        if !is_key_name(name) {
            return Err(bad("the key name is not a C2SP key name"));
        }
        // The base64 engine is canonical: padding required, trailing bits zero.
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| bad("is not canonical base64"))?;
        if raw.len() < 5 {
            return Err(bad("is shorter than a key ID and a signature"));
        }
        Ok(SignatureLine {
            name: name.to_owned(),
            key_id: [raw[0], raw[1], raw[2], raw[3]],
            signature: raw[4..].to_vec(),
        })
    }
}

/// A parsed signed note: its text (ending in a newline) and its signature lines in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub lines: Vec<SignatureLine>,
}

impl Note {
    /// Parses a note as C2SP signed-note and Go's `note.Open` do: a format error anywhere,
    /// even in an unknown key's line, makes the whole note unreadable (vectors README
    /// decision 8). Text and signatures split at the last blank line.
    pub fn parse(bytes: &[u8]) -> Result<Self, NoteError> {
        if bytes.len() > MAX_NOTE_LEN {
            return Err(NoteError::TooLarge(bytes.len()));
        }
        let s = std::str::from_utf8(bytes).map_err(|_| NoteError::NotUtf8)?;
        if s.chars().any(|c| c < ' ' && c != '\n') {
            return Err(NoteError::ControlCharacter);
        }
        let (text, sigs) = s.rsplit_once("\n\n").ok_or(NoteError::NoBlankLine)?;
        let sigs = sigs.strip_suffix('\n').ok_or(NoteError::NoFinalNewline)?;
        if sigs.is_empty() {
            return Err(NoteError::NoSignatureLines);
        }
        let mut lines = Vec::new();
        for (i, line) in sigs.split('\n').enumerate() {
            if i == MAX_SIGNATURE_LINES {
                return Err(NoteError::TooManySignatureLines);
            }
            lines.push(SignatureLine::parse(i + 1, line)?);
        }
        Ok(Note {
            text: format!("{text}\n"),
            lines,
        })
    }

    /// The note's bytes: text, blank line, signature lines.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.text.clone().into_bytes();
        out.push(b'\n');
        for line in &self.lines {
            out.extend_from_slice(line.encode().as_bytes());
        }
        out
    }
}

/// A checkpoint body `origin\n dec(size)\n b64(root)\n` (no extension lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub tree_size: u64,
    pub root: Hash,
}

impl Checkpoint {
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.tree_size,
            STANDARD.encode(self.root)
        )
    }

    /// Parses a note text as a checkpoint body: exactly three lines, a C2SP key name as
    /// origin, `dec(n)` with no leading zero, the canonical base64 of 32 bytes.
    pub fn parse_body(text: &str) -> Result<Self, NoteError> {
        let bad = NoteError::BadBody;
        let body = text
            .strip_suffix('\n')
            .ok_or(bad("does not end with a newline"))?;
        let fields: Vec<&str> = body.split('\n').collect();
        let [origin, size, root] = fields[..] else {
            return Err(if fields.len() > 3 {
                bad("has extension lines")
            } else {
                bad("has fewer than three lines")
            });
        };
        if !is_key_name(origin) {
            return Err(bad("the origin is not a C2SP key name"));
        }
        let canonical = size.bytes().all(|b| b.is_ascii_digit())
            && !size.is_empty()
            && (size == "0" || !size.starts_with('0'));
        let tree_size = size.parse::<u64>().ok().filter(|_| canonical).ok_or(bad(
            "the tree size is not a decimal u64 without leading zeros",
        ))?;
        let root = STANDARD
            .decode(root)
            .ok()
            .and_then(|r| Hash::try_from(r).ok())
            .ok_or(bad("the root is not the canonical base64 of 32 bytes"))?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            tree_size,
            root,
        })
    }
}

/// SPEC 2.2: whether the note is valid for the log `(origin, log_key)`: exactly one line
/// with the log's name and key ID, and it verifies over the text. A second such line, or
/// a failing one, rejects the note whatever the order; other lines are ignored.
pub fn check_log_line(note: &Note, origin: &str, log_key: &[u8; 32]) -> Result<(), NoteError> {
    let sig = log_line_signature(note, origin, &log_key_id(origin, log_key))?;
    if verify_under_usable_key(log_key, note.text.as_bytes(), sig) {
        Ok(())
    } else {
        Err(NoteError::LogLineFails)
    }
}

/// `check_log_line` but the verification: the signature of the note's one line with the
/// log's name and key ID `id`, which then must verify over the text. A second such line
/// is `RepeatedLogLine` (whatever the order), none `NoLogLine`, and a value that is not
/// 64 bytes `LogLineFails`.
pub fn log_line_signature<'a>(
    note: &'a Note,
    origin: &str,
    id: &KeyId,
) -> Result<&'a [u8; 64], NoteError> {
    let mut found = None;
    for line in note
        .lines
        .iter()
        .filter(|l| l.name == origin && l.key_id == *id)
    {
        if found.is_some() {
            return Err(NoteError::RepeatedLogLine);
        }
        found = Some(line);
    }
    let line = found.ok_or(NoteError::NoLogLine)?;
    line.signature
        .as_slice()
        .try_into()
        .map_err(|_| NoteError::LogLineFails)
}

/// SPEC 5.2's first bullet but the comparison with a bundle row, and vectors README
/// decision 2 ("a valid relay line"): the note parses, its body is a checkpoint of the
/// trusted origin, and it is valid for the log.
pub fn verify_checkpoint(
    note_bytes: &[u8],
    origin: &str,
    log_key: &[u8; 32],
) -> Result<(Note, Checkpoint), NoteError> {
    let (note, checkpoint) = parse_checkpoint(note_bytes)?;
    if checkpoint.origin != origin {
        return Err(NoteError::WrongOrigin);
    }
    check_log_line(&note, origin, log_key)?;
    Ok((note, checkpoint))
}

/// `verify_checkpoint`'s structural part: the note parses and its text is a checkpoint
/// body (of any origin).
pub fn parse_checkpoint(note_bytes: &[u8]) -> Result<(Note, Checkpoint), NoteError> {
    let note = Note::parse(note_bytes)?;
    let checkpoint = Checkpoint::parse_body(&note.text)?;
    Ok((note, checkpoint))
}

/// The relay's signed note of a checkpoint: body, blank line, its one line.
pub fn sign_checkpoint(log_seed: &[u8; 32], checkpoint: &Checkpoint) -> Result<Vec<u8>, NoteError> {
    if !is_key_name(&checkpoint.origin) {
        return Err(NoteError::BadBody("the origin is not a C2SP key name"));
    }
    let body = checkpoint.body();
    let log_key = ed25519::public_key_from_seed(log_seed);
    let line = SignatureLine {
        name: checkpoint.origin.clone(),
        key_id: log_key_id(&checkpoint.origin, &log_key),
        signature: ed25519::sign(log_seed, body.as_bytes()).to_vec(),
    };
    Ok(Note {
        text: body,
        lines: vec![line],
    }
    .encode())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A note of the log "example.org/log" with, after its line, an unknown key's line
    /// whose name is padded with `pad` extra bytes.
    fn padded(seed: &[u8; 32], pad: usize) -> Vec<u8> {
        let cp = Checkpoint {
            origin: "example.org/log".into(),
            tree_size: 7,
            root: [9; 32],
        };
        let mut note = Note::parse(&sign_checkpoint(seed, &cp).unwrap()).unwrap();
        note.lines.push(SignatureLine {
            name: format!("unknown{}", "x".repeat(pad)),
            key_id: [0; 4],
            signature: vec![0; 64],
        });
        note.encode()
    }

    #[test]
    fn note_of_exactly_one_mib_verifies_and_one_byte_more_is_refused() {
        let seed = [3u8; 32];
        let key = ed25519::public_key_from_seed(&seed);
        let pad = MAX_NOTE_LEN - padded(&seed, 0).len();
        let exact = padded(&seed, pad);
        assert_eq!(exact.len(), MAX_NOTE_LEN);
        assert!(verify_checkpoint(&exact, "example.org/log", &key).is_ok());
        let over = padded(&seed, pad + 1);
        assert_eq!(
            verify_checkpoint(&over, "example.org/log", &key).unwrap_err(),
            NoteError::TooLarge(MAX_NOTE_LEN + 1)
        );
    }

    #[test]
    fn small_order_log_key_verifies_nothing() {
        // The identity point: ZIP-215 accepts (R = identity, S = 0) under it for any message.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut sig = [0u8; 64];
        sig[0] = 1;
        let cp = Checkpoint {
            origin: "o".into(),
            tree_size: 0,
            root: [0; 32],
        };
        let note = Note {
            text: cp.body(),
            lines: vec![SignatureLine {
                name: "o".into(),
                key_id: log_key_id("o", &identity),
                signature: sig.to_vec(),
            }],
        };
        assert!(ed25519::verify(&identity, cp.body().as_bytes(), &sig));
        assert_eq!(
            verify_checkpoint(&note.encode(), "o", &identity),
            Err(NoteError::LogLineFails)
        );
    }
}
