//! The canonical-bytes check: a body is accepted only if it is exactly the encoding prost
//! would produce for what it decodes to (fields in ascending order, no unknown, repeated
//! or default-valued fields, minimal varints). Checked by one walk over the wire bytes,
//! without re-encoding, because this runs on every record a node hears.

use crate::reject::Reject;

#[derive(Clone, Copy)]
enum Field {
    Varint,
    Bytes,
    Text,
    RepeatedBytes,
    Message(&'static Schema),
}

struct Schema {
    fields: &'static [(u32, Field)],
    /// Fields of which at most one may be present (a protobuf `oneof`).
    oneof: &'static [u32],
}

static TRANSFER: Schema = Schema {
    fields: &[
        (1, Field::RepeatedBytes),
        (2, Field::Bytes),
        (3, Field::Varint),
        (4, Field::Varint),
        (5, Field::Bytes),
        (6, Field::Text),
    ],
    oneof: &[],
};
static MINT: Schema = Schema {
    fields: &[(1, Field::Bytes), (2, Field::Varint), (3, Field::Text)],
    oneof: &[],
};
static CHECKPOINT: Schema = Schema {
    fields: &[
        (1, Field::Bytes),
        (2, Field::Varint),
        (3, Field::Bytes),
        (4, Field::Varint),
        (5, Field::Bytes),
    ],
    oneof: &[],
};
static REVOKE: Schema = Schema {
    fields: &[(1, Field::Bytes), (2, Field::Varint), (3, Field::Text)],
    oneof: &[],
};
static BODY: Schema = Schema {
    fields: &[
        (1, Field::Bytes),
        (2, Field::Varint),
        (3, Field::Bytes),
        (4, Field::Varint),
        (5, Field::Message(&TRANSFER)),
        (6, Field::Message(&MINT)),
        (7, Field::Message(&CHECKPOINT)),
        (8, Field::Message(&REVOKE)),
    ],
    oneof: &[5, 6, 7, 8],
};
static LIMITS: Schema = Schema {
    fields: &[(1, Field::Varint), (2, Field::Varint), (3, Field::Varint)],
    oneof: &[],
};
static CHAIN_SPEC: Schema = Schema {
    fields: &[
        (1, Field::Text),
        (2, Field::RepeatedBytes),
        (3, Field::Message(&LIMITS)),
    ],
    oneof: &[],
};

/// Checks that `bytes` is the canonical encoding of a `RecordBody`.
pub fn check_body(bytes: &[u8]) -> Result<(), Reject> {
    walk(bytes, &BODY)
}

/// Checks that `bytes` is the canonical encoding of a `ChainSpec`.
pub fn check_chain_spec(bytes: &[u8]) -> Result<(), Reject> {
    walk(bytes, &CHAIN_SPEC)
}

fn non_canonical(reason: &'static str) -> Reject {
    Reject::NonCanonical { reason }
}

fn truncated() -> Reject {
    Reject::Undecodable {
        reason: "truncated".into(),
    }
}

/// Reads a varint that must be minimally encoded; returns (value, bytes read).
pub(super) fn varint(bytes: &[u8]) -> Result<(u64, usize), Reject> {
    let mut value: u64 = 0;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        if i == 9 && b > 1 {
            return Err(Reject::Undecodable {
                reason: "varint overflows 64 bits".into(),
            });
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if i > 0 && b == 0 {
                return Err(non_canonical("varint not minimally encoded"));
            }
            return Ok((value, i + 1));
        }
    }
    if bytes.len() >= 10 {
        Err(Reject::Undecodable {
            reason: "varint longer than 10 bytes".into(),
        })
    } else {
        Err(truncated())
    }
}

fn walk(bytes: &[u8], schema: &Schema) -> Result<(), Reject> {
    let mut pos = 0;
    let mut last_field = 0u32;
    let mut oneof_seen = false;
    while pos < bytes.len() {
        let (tag, n) = varint(&bytes[pos..])?;
        pos += n;
        let number =
            u32::try_from(tag >> 3).map_err(|_| non_canonical("field number too large"))?;
        let wire_type = tag & 7;
        let Some(&(_, field)) = schema.fields.iter().find(|(f, _)| *f == number) else {
            return Err(non_canonical("unknown field"));
        };
        let repeatable = matches!(field, Field::RepeatedBytes);
        if number < last_field || (number == last_field && !repeatable) {
            return Err(non_canonical("fields repeated or out of order"));
        }
        if schema.oneof.contains(&number) {
            if oneof_seen {
                return Err(non_canonical("more than one kind"));
            }
            oneof_seen = true;
        }
        last_field = number;
        match field {
            Field::Varint => {
                if wire_type != 0 {
                    return Err(non_canonical("wrong wire type"));
                }
                let (value, n) = varint(&bytes[pos..])?;
                pos += n;
                if value == 0 {
                    return Err(non_canonical("default value encoded"));
                }
            }
            Field::Bytes | Field::Text | Field::RepeatedBytes | Field::Message(_) => {
                if wire_type != 2 {
                    return Err(non_canonical("wrong wire type"));
                }
                let (len, n) = varint(&bytes[pos..])?;
                pos += n;
                let len = usize::try_from(len).map_err(|_| truncated())?;
                let end = pos.checked_add(len).ok_or_else(truncated)?;
                let inner = bytes.get(pos..end).ok_or_else(truncated)?;
                match field {
                    Field::Bytes | Field::Text if inner.is_empty() => {
                        return Err(non_canonical("default value encoded"));
                    }
                    Field::Message(sub) => walk(inner, sub)?,
                    _ => {}
                }
                pos = end;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire;
    use proptest::prelude::*;
    use prost::Message;

    fn sample() -> Vec<u8> {
        wire::RecordBody {
            signer: vec![7; 32],
            seq: 300,
            prev: vec![9; 32],
            timestamp_ms: 1,
            kind: Some(wire::record_body::Kind::Transfer(wire::Transfer {
                claims: vec![vec![1; 32], vec![2; 32]],
                to: vec![3; 32],
                amount: 5,
                balance: 10,
                request: vec![4; 16],
                memo: "tea".into(),
            })),
        }
        .encode_to_vec()
    }

    #[test]
    fn prost_output_is_canonical() {
        assert_eq!(check_body(&sample()), Ok(()));
    }

    #[test]
    fn unknown_field_refused() {
        let mut b = sample();
        b.extend_from_slice(&[(9 << 3) as u8, 1]);
        assert_eq!(check_body(&b), Err(non_canonical("unknown field")));
    }

    #[test]
    fn repeated_field_refused() {
        let mut b = sample();
        // seq again at the end: prost would keep the last value.
        b.extend_from_slice(&[2 << 3, 5]);
        assert_eq!(
            check_body(&b),
            Err(non_canonical("fields repeated or out of order"))
        );
    }

    #[test]
    fn default_value_refused() {
        let mut b = vec![(2 << 3) as u8, 0];
        b.extend_from_slice(&sample()[..0]);
        assert_eq!(check_body(&b), Err(non_canonical("default value encoded")));
    }

    #[test]
    fn padded_varint_refused() {
        // seq = 1 written in two bytes.
        let b = [2 << 3, 0x81, 0x00];
        assert_eq!(
            check_body(&b),
            Err(non_canonical("varint not minimally encoded"))
        );
    }

    #[test]
    fn truncated_is_undecodable() {
        let b = sample();
        let r = check_body(&b[..b.len() - 3]);
        assert!(matches!(r, Err(Reject::Undecodable { .. })), "{r:?}");
    }

    fn reencodes_identically(bytes: &[u8]) -> bool {
        wire::RecordBody::decode(bytes).is_ok_and(|m| m.encode_to_vec() == bytes)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::testkit::cases()))]

        /// The walk accepts exactly what prost re-encodes to the same bytes.
        #[test]
        fn walk_agrees_with_reencoding(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 0..4),
        ) {
            let mut b = sample();
            crate::testkit::apply_edits(&mut b, edits);
            let walk_ok = check_body(&b).is_ok() && wire::RecordBody::decode(&b[..]).is_ok();
            prop_assert_eq!(walk_ok, reencodes_identically(&b));
        }

        /// Arbitrary bytes never panic the walk, and it never accepts a non-canonical body.
        #[test]
        fn walk_never_accepts_noncanonical(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            if check_body(&b).is_ok() && wire::RecordBody::decode(&b[..]).is_ok() {
                prop_assert!(reencodes_identically(&b));
            }
        }
    }
}
