//! A body typed straight from its bytes. Once the canonical walk has passed, the layout
//! is known good (fields in order, lengths in bounds, minimal varints), so one more pass
//! reads each field as a slice of the body and types it: no intermediate vectors and
//! strings as a general protobuf decoder builds them, and one allocation per transfer
//! (its claims) where prost made one per field. The checks and their order are those of
//! decoding with prost and then typing the fields (the test below holds the two side by
//! side): text must be UTF-8, then signer, prev, the kind and its fields in order.

use super::body::{Body, Checkpoint, Kind, MAX_CLAIMS, MAX_TEXT_BYTES, Mint, Revoke, Transfer};
use super::canonical::{self, varint};
use crate::id::{AccountId, RecordId};
use crate::reject::Reject;

/// Checks that `bytes` is a canonical `RecordBody` and types it.
pub fn decode_body(bytes: &[u8]) -> Result<Body, Reject> {
    canonical::check_body(bytes)?;
    let mut raw = RawBody::default();
    for f in Fields(bytes) {
        match f? {
            (1, Value::Bytes(b)) => raw.signer = b,
            (2, Value::Varint(v)) => raw.seq = v,
            (3, Value::Bytes(b)) => raw.prev = b,
            (4, Value::Varint(v)) => raw.timestamp_ms = v,
            (n @ 5..=8, Value::Bytes(b)) => raw.kind = Some((n, b)),
            _ => return Err(layout()),
        }
    }
    // A general decoder refuses text that is not UTF-8 while it reads the message,
    // before any field is typed; the kind is typed after signer and prev.
    let mut text = "";
    if let Some((number, msg)) = raw.kind {
        let text_field = match number {
            5 => 6,
            6 | 8 => 3,
            _ => 0,
        };
        for f in Fields(msg) {
            if let (n, Value::Bytes(b)) = f? {
                if n == text_field {
                    text = std::str::from_utf8(b).map_err(|_| Reject::Undecodable {
                        reason: "text is not UTF-8".into(),
                    })?;
                }
            }
        }
    }
    let signer = account(raw.signer, "signer")?;
    let prev = optional_id(raw.prev, "prev")?;
    let (number, msg) = raw.kind.ok_or(Reject::NoKind)?;
    let kind = match number {
        5 => Kind::Transfer(transfer(msg, text)?),
        6 => {
            let (mut to, mut amount) = (&[][..], 0);
            for f in Fields(msg) {
                match f? {
                    (1, Value::Bytes(b)) => to = b,
                    (2, Value::Varint(v)) => amount = v,
                    _ => {}
                }
            }
            Kind::Mint(Mint {
                to: account(to, "to")?,
                amount,
                memo: bounded(text)?,
            })
        }
        7 => {
            let (mut acct, mut at_seq, mut head, mut balance, mut previous) =
                (&[][..], 0, &[][..], 0, &[][..]);
            for f in Fields(msg) {
                match f? {
                    (1, Value::Bytes(b)) => acct = b,
                    (2, Value::Varint(v)) => at_seq = v,
                    (3, Value::Bytes(b)) => head = b,
                    (4, Value::Varint(v)) => balance = v,
                    (5, Value::Bytes(b)) => previous = b,
                    _ => {}
                }
            }
            Kind::Checkpoint(Checkpoint {
                account: account(acct, "account")?,
                at_seq,
                head: id(head, "head")?,
                balance,
                previous: optional_id(previous, "previous")?,
            })
        }
        _ => {
            let (mut acct, mut after_seq) = (&[][..], 0);
            for f in Fields(msg) {
                match f? {
                    (1, Value::Bytes(b)) => acct = b,
                    (2, Value::Varint(v)) => after_seq = v,
                    _ => {}
                }
            }
            Kind::Revoke(Revoke {
                account: account(acct, "account")?,
                after_seq,
                reason: bounded(text)?,
            })
        }
    };
    Ok(Body {
        signer,
        seq: raw.seq,
        prev,
        timestamp_ms: raw.timestamp_ms,
        kind,
    })
}

/// A transfer's fields, typed in the order the checks run: the claims' count, each
/// claim, the request, the payee, the memo.
fn transfer(msg: &[u8], memo: &str) -> Result<Transfer, Reject> {
    let count = Fields(msg)
        .filter(|f| matches!(f, Ok((1, _)) | Err(_)))
        .count();
    if count > MAX_CLAIMS {
        return Err(Reject::TooManyClaims {
            count,
            max: MAX_CLAIMS,
        });
    }
    let mut t = Transfer {
        claims: Vec::with_capacity(count),
        ..Transfer::default()
    };
    let (mut to, mut request) = (&[][..], &[][..]);
    for f in Fields(msg) {
        match f? {
            (1, Value::Bytes(b)) => t.claims.push(id(b, "claim")?),
            (2, Value::Bytes(b)) => to = b,
            (3, Value::Varint(v)) => t.amount = v,
            (4, Value::Varint(v)) => t.balance = v,
            (5, Value::Bytes(b)) => request = b,
            _ => {}
        }
    }
    t.request = match request.len() {
        0 => None,
        16 => Some(request.try_into().expect("length checked")),
        len => {
            return Err(Reject::FieldLength {
                field: "request",
                len,
                want: "16 or 0",
            });
        }
    };
    t.to = if to.is_empty() {
        None
    } else {
        Some(account(to, "to")?)
    };
    t.memo = bounded(memo)?;
    Ok(t)
}

/// The body's top-level fields as slices, before typing.
#[derive(Default)]
struct RawBody<'a> {
    signer: &'a [u8],
    seq: u64,
    prev: &'a [u8],
    timestamp_ms: u64,
    /// The kind's field number and message bytes.
    kind: Option<(u32, &'a [u8])>,
}

/// A field's value: a varint, or length-delimited bytes.
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

/// The fields of a message the canonical walk accepted, in order.
struct Fields<'a>(&'a [u8]);

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>), Reject>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let r = self.read();
        if r.is_err() {
            // The walk passed, so this does not happen; should it, stop here.
            self.0 = &[];
        }
        Some(r)
    }
}

impl<'a> Fields<'a> {
    fn read(&mut self) -> Result<(u32, Value<'a>), Reject> {
        let (tag, n) = varint(self.0)?;
        let rest = &self.0[n..];
        let number = u32::try_from(tag >> 3).map_err(|_| layout())?;
        let (value, used) = match tag & 7 {
            0 => {
                let (v, n) = varint(rest)?;
                (Value::Varint(v), n)
            }
            2 => {
                let (len, n) = varint(rest)?;
                let len = usize::try_from(len).map_err(|_| layout())?;
                let end = n.checked_add(len).ok_or_else(layout)?;
                (Value::Bytes(rest.get(n..end).ok_or_else(layout)?), end)
            }
            _ => return Err(layout()),
        };
        self.0 = &rest[used..];
        Ok((number, value))
    }
}

/// What a layout the canonical walk accepted cannot show; kept an error, not a panic.
fn layout() -> Reject {
    Reject::Undecodable {
        reason: "unexpected layout".into(),
    }
}

pub(super) fn account(b: &[u8], field: &'static str) -> Result<AccountId, Reject> {
    AccountId::from_slice(b).ok_or(Reject::FieldLength {
        field,
        len: b.len(),
        want: "32",
    })
}

pub(super) fn id(b: &[u8], field: &'static str) -> Result<RecordId, Reject> {
    RecordId::from_slice(b).ok_or(Reject::FieldLength {
        field,
        len: b.len(),
        want: "32",
    })
}

pub(super) fn optional_id(b: &[u8], field: &'static str) -> Result<Option<RecordId>, Reject> {
    if b.is_empty() {
        Ok(None)
    } else {
        id(b, field).map(Some)
    }
}

pub(super) fn bounded(s: &str) -> Result<String, Reject> {
    if s.len() > MAX_TEXT_BYTES {
        return Err(Reject::TextTooLong {
            len: s.len(),
            max: MAX_TEXT_BYTES,
        });
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use prost::Message;

    use super::*;
    use crate::wire;

    /// The reference: prost's decoder, then typing the fields, as bodies were parsed
    /// before; only the wording of a UTF-8 refusal differs.
    fn reference(bytes: &[u8]) -> Result<Body, Reject> {
        canonical::check_body(bytes)?;
        let w = wire::RecordBody::decode(bytes).map_err(|_| Reject::Undecodable {
            reason: "text is not UTF-8".into(),
        })?;
        Body::from_wire(w)
    }

    fn samples() -> Vec<Vec<u8>> {
        let id = |b: u8| vec![b; 32];
        let kinds = [
            wire::record_body::Kind::Transfer(wire::Transfer {
                claims: vec![id(1), id(2)],
                to: id(3),
                amount: 5,
                balance: 10,
                request: vec![4; 16],
                memo: "tea".into(),
            }),
            wire::record_body::Kind::Transfer(wire::Transfer {
                claims: vec![id(1)],
                balance: 10,
                ..Default::default()
            }),
            wire::record_body::Kind::Mint(wire::Mint {
                to: id(3),
                amount: 7,
                memo: "ration".into(),
            }),
            wire::record_body::Kind::Checkpoint(wire::Checkpoint {
                account: id(3),
                at_seq: 4,
                head: id(5),
                balance: 6,
                previous: id(7),
            }),
            wire::record_body::Kind::Revoke(wire::Revoke {
                account: id(3),
                after_seq: 2,
                reason: "lost".into(),
            }),
        ];
        kinds
            .into_iter()
            .map(|kind| {
                wire::RecordBody {
                    signer: id(9),
                    seq: 300,
                    prev: id(8),
                    timestamp_ms: 1,
                    kind: Some(kind),
                }
                .encode_to_vec()
            })
            .collect()
    }

    #[test]
    fn samples_decode_as_the_reference_does() {
        for b in samples() {
            let body = decode_body(&b).expect("decodes");
            assert_eq!(Ok(body.clone()), reference(&b));
            assert_eq!(body.encode(), b);
        }
    }

    #[test]
    fn bad_text_and_lengths_are_refused_as_the_reference_refuses_them() {
        let with = |edit: &dyn Fn(&mut wire::Transfer)| {
            let mut t = wire::Transfer {
                claims: vec![vec![1; 32]],
                to: vec![3; 32],
                amount: 5,
                balance: 10,
                ..Default::default()
            };
            edit(&mut t);
            wire::RecordBody {
                signer: vec![9; 32],
                seq: 1,
                kind: Some(wire::record_body::Kind::Transfer(t)),
                ..Default::default()
            }
            .encode_to_vec()
        };
        let cases = [
            with(&|t| t.claims = vec![vec![1; 32]; MAX_CLAIMS + 1]),
            with(&|t| t.claims = vec![vec![1; 31]]),
            with(&|t| t.request = vec![1; 15]),
            with(&|t| t.to = vec![3; 33]),
            with(&|t| t.memo = "x".repeat(MAX_TEXT_BYTES + 1)),
        ];
        for b in cases {
            let r = decode_body(&b);
            assert!(r.is_err(), "{r:?}");
            assert_eq!(r, reference(&b));
        }
        let mut b = with(&|t| t.memo = "ab".into());
        let at = b.len() - 1;
        b[at] = 0xff;
        assert_eq!(
            decode_body(&b),
            Err(Reject::Undecodable {
                reason: "text is not UTF-8".into()
            })
        );
        assert_eq!(decode_body(&b), reference(&b));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::testkit::cases()))]

        /// Edited bodies: the same body or the same refusal as the reference.
        #[test]
        fn edited_bodies_decode_as_the_reference_does(
            pick in any::<prop::sample::Index>(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 0..4),
        ) {
            let samples = samples();
            let mut b = samples[pick.index(samples.len())].clone();
            crate::testkit::apply_edits(&mut b, edits);
            prop_assert_eq!(decode_body(&b), reference(&b));
        }

        /// Arbitrary bytes: never a panic, and the reference's answer.
        #[test]
        fn arbitrary_bytes_decode_as_the_reference_does(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(decode_body(&b), reference(&b));
        }
    }
}
